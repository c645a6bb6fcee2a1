// attention_ops.h: host launchers of the CUDA policyAttention (SPEC §4), the built-in tensor-core GEMM and
// prunedBlock (SPEC §5), over raw DEVICE pointers. Plain C++ (no cuda_runtime.h): the N-API bindings and the
// CPU-only build (native/kernels/cuda_attention_none.cc, which returns "reg4pru was built without CUDA"
// from each of these) include it too.
//
// Every launcher validates its sizes / dtypes / alignment on the host, enqueues its kernels on the library
// stream (r4p::cuda::stream()) and returns without waiting, except where noted (prunedBlock reads its index
// check back). A failed launch or CUDA call returns a Status "<op>: <cudaErrorName>: <message>".
// Semantics are those of the CPU ops of the same name (kernels/ops.h; the ref kernels are the spec).
//
// Precision: DType::F32 inputs run on FP32 SIMT kernels (FP32 FMA, expf: within ~1e-5 relative of the CPU
// op); DType::BF16 inputs run on BF16 tensor cores (mma.sync m16n8k16, FP32 accumulation, the softmax
// probabilities rounded to BF16 before the P·V product, as FlashAttention does). All statistics
// (row max, denominators, LayerNorm moments, epilogues) are FP32.
//
// STATUS: compiled for sm_80 / sm_90a / compute_90; test/gpu passed on an H200 on 2026-12-04 (docs/gpu-results.md).
// Changes since then have run on the CPU emulator (native/dev/cuda_emu) only.
#pragma once
#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/cuda_runtime_api.h"
#include "kernels/ops.h"

namespace r4p::cuda {

// ---------------------------------------------------------------- policyAttention (SPEC §4)
// q,k,v [B,H,N,Dh] (dtype F32 or BF16, all three the same), policy [B,N] f32 -> out [B,H,N,Dh] (out_dtype
// F32 or BF16). row_max / row_den [B,H,N] f32 (optional): max_k A_ik and sum_k E_ik + eps, as the CPU op.
// Dh must be in [1, 256]. BF16 with Dh in {32, 64, 128} and 16-byte aligned pointers takes the tensor-core
// kernel; every other case the SIMT kernel (force it with REG4PRU_CUDA_ATTN=simt, for tests).
struct PolicyAttentionDevArgs {
  const void *q, *k, *v;
  DType dtype;
  const float* policy;
  void* out;
  DType out_dtype;
  float* row_max;  // may be null
  float* row_den;  // may be null
  int64_t B, H, N, Dh;
  float scale, eps;
};
Status policy_attention_fwd(const PolicyAttentionDevArgs& a);

// Gradients (overwrite) of the exact forward above, including the path through the row max:
// dq, dk, dv [B,H,N,Dh] f32, dpolicy [B,N] f32 (summed over heads); each may be null (not computed).
// Recompute style: runs the forward once into FP32 scratch (out, row max, denominator, argmax), then a
// dK/dV kernel (one CTA per key tile, loops over all query tiles) and a dQ kernel (one CTA per query tile);
// no atomics, so the result is deterministic. Scratch: ~(B*H*N*(Dh + 6) + B*H*Dh*33) floats, stream-ordered.
struct PolicyAttentionBwdDevArgs {
  const void *q, *k, *v, *dout;
  DType dtype;  // q, k, v and dout share it
  const float* policy;
  float *dq, *dk, *dv, *dpolicy;
  int64_t B, H, N, Dh;
  float scale, eps;
};
Status policy_attention_bwd(const PolicyAttentionBwdDevArgs& a);

// ---------------------------------------------------------------- GEMM (NT: activations x Linear weight^T)
// C(m, n) = epilogue(alpha * sum_k A(m,k) W(n,k)),  A(m,k) = A[arow(m)*lda + k],  W(n,k) = W[n*ldw + k]
// (W is a Linear weight [out, in], as GemmArgs with transB). A and W share one dtype: BF16 -> tensor cores
// (mma.sync, FP32 accumulation), F32 -> SIMT FP32. Epilogue in GemmArgs's order:
//   v = alpha*acc (+ beta*C_old(m,n) if beta != 0) (+ bias[n]); v = act(v); v *= col_scale[n];
//   v += residual[rrow(m)*ldr + n];  C[crow(m)*ldc + n] = v   (rounded to c_dtype once)
// bias, col_scale and residual may each be F32 or BF16 (their own dtype field). Row maps are int32 device
// arrays (null = identity) that fuse a gather into A's loads and a scatter into C's stores; the caller
// guarantees their values are in range (prunedBlock checks its idx on the device first).
// C must not overlap A or W; residual may be exactly C (same element read then written by one thread).
struct GemmDevArgs {
  int64_t M = 0, N = 0, K = 0;
  const void* A = nullptr; int64_t lda = 0; const int32_t* a_rows = nullptr;
  const void* W = nullptr; int64_t ldw = 0;
  DType ab_dtype = DType::BF16;
  void* C = nullptr; int64_t ldc = 0; DType c_dtype = DType::F32; const int32_t* c_rows = nullptr;
  float alpha = 1.f, beta = 0.f;
  const void* bias = nullptr; DType bias_dtype = DType::F32;
  Activation act = Activation::kNone;
  const void* col_scale = nullptr; DType col_scale_dtype = DType::F32;
  const void* residual = nullptr; DType residual_dtype = DType::F32; int64_t ldr = 0;
  const int32_t* r_rows = nullptr;
};
Status gemm(const GemmDevArgs& a);

// ---------------------------------------------------------------- prunedBlock (SPEC §5)
// One block's 14 weights on the device (kernels/ops.h BlockWeights names), all of ONE dtype:
// BF16 -> tensor-core path (LayerNorm outputs, qkv, attention output and MLP hidden in BF16; the residual
// stream z in FP32); F32 -> FP32 SIMT path throughout (matches the CPU op to ~1e-5).
// vec_f32 (BF16 only): the ten 1-D parameters (LayerNorm weights and biases, Linear biases, LayerScale) are
// F32 while the four matrices are BF16 (the CUDA engine's BF16 mode: only GEMM operands are rounded).
struct BlockWeightsDev {
  const void *norm1_w, *norm1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ls1;
  const void *norm2_w, *norm2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b, *ls2;
  DType dtype;
  int64_t D, H, F;
  bool vec_f32 = false;
};
// x [B,N,D] (F32 or BF16), idx [B,K] int32 on the device (null = all N tokens, K = N) -> out [B,N,D] (x's
// dtype; may be x itself: in place). out = x with rows idx replaced by block(x[idx]).
// idx is checked ON THE DEVICE first (range and duplicates) and the check is read back synchronously, so
// a bad index is a RangeError with the CPU op's message (naming the position), never a wild write.
// Fusions: the gather is fused into LayerNorm 1's row loads and the proj GEMM's residual loads (row map),
// attention reads q/k/v as strided head slices of the qkv buffer [B*K,3D] (no per-head / gathered copy of
// K or V), and the scatter is fused into the fc2 GEMM's residual epilogue (c_rows).
struct PrunedBlockDevArgs {
  const void* x; DType x_dtype;
  const int32_t* idx;
  void* out;
  int64_t B, N, K;
  BlockWeightsDev w;
  float ln_eps;
  // true: idx comes from the library's own kernels (the CUDA engine's top-k), so the synchronous range and
  // duplicate check is skipped (no host synchronisation: the forward stays graph-capturable). An index out
  // of range is still never dereferenced: it is reported as a kDevErrIndexRange device error (RangeError at
  // the next synchronisation) and its row maps to row 0 of its batch row.
  bool idx_trusted = false;
  // Variable length (kernels/ops.h PrunedBlockArgs::offsets, FlashAttention's cu_seqlens): offsets [B+1] int32 ON THE
  // DEVICE, idx then the packed [K] list (K = offsets[B], the total), batch row b running on its own K_b = offsets[b+1]
  // - offsets[b] tokens (0..N; 0 leaves the row as x) with attention over that row's tokens only. Checked on the device
  // with idx (offsets[0] = 0, row lengths in [0, N], offsets[B] = K). max_len: the longest row when the caller knows it
  // (sizes the attention grid), 0 = N (the bound; CTAs past a row's length exit at once).
  const int32_t* offsets = nullptr;
  int64_t max_len = 0;
  // Optional caller-owned device scratch of at least pruned_block_scratch_bytes(*this) bytes, 256-byte aligned:
  // then the call allocates nothing (the CUDA engine's forward, which must be capturable as a CUDA graph).
  // Null: allocated per call (stream-ordered) and released after the last kernel that reads it.
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
};
// Scratch bytes for these args (sizes, dtypes and whether idx is given; pointers are not read).
size_t pruned_block_scratch_bytes(const PrunedBlockDevArgs& a);
Status pruned_block_fwd(const PrunedBlockDevArgs& a);

}  // namespace r4p::cuda
