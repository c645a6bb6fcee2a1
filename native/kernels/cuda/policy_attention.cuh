// policy_attention.cuh: the strided attention forward shared by policyAttention (SPEC §4) and prunedBlock's
// MHSA (SPEC §2, §5), and the scratch layout the backward reads. .cu-only (includes cuda_runtime.h).
// Ran on an H200 on 2026-12-04: every GPU test passing, compute-sanitizer clean (docs/gpu-results.md).
//
// One formula covers both ops (SPEC §4 with row r = (b*H + h)*N + i):
//   M_ij = 1 if i == j else policy[b, j]   (policy == null: M = 1)
//   A_ij = scale q_i.k_j;  m_i = max_j A_ij (over ALL keys);  E_ij = exp(A_ij - m_i) M_ij
//   Z_i = sum_j E_ij + eps;  out_i = sum_j (E_ij + eps/N) v_j / Z_i = (sum_j E_ij v_j + (eps/N) vsum) / Z_i
// With policy == null and eps == 0 this is plain softmax attention (prunedBlock). vsum = sum_j v_j [Dh] per
// (b, h) is computed once by a two-pass deterministic reduction, so the eps/N term costs nothing per key.
// q, k, v and out are addressed by (batch, head, row) strides in elements, so the kernels read
// [B,H,N,Dh] tensors and the head slices of a qkv buffer [B*K, 3D] alike (no per-head copy).
// Variable length (cu_seqlens, FlashAttention's varlen): batch b's sequence is rows cu_seqlens[b] ..
// cu_seqlens[b+1] of the packed row axis (its row 0 at row offset cu_seqlens[b] * s_n, the batch strides unused),
// N = the longest sequence (the grid); CTAs past their sequence exit at once. Plain softmax only (policy null,
// eps 0, no row statistics): prunedBlock's attention over images that keep different token counts.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/status.h"

namespace r4p::cuda {

struct AttnFwdParams {
  const void *q, *k, *v;
  bool in_bf16;                   // q, k, v dtype: BF16 (true) or F32
  int64_t q_sb, q_sh, q_sn;       // strides (elements) of batch, head, row; the Dh axis is contiguous
  int64_t k_sb, k_sh, k_sn;
  int64_t v_sb, v_sh, v_sn;
  const float* policy;            // [B, N] (row stride N) or null
  void* out;
  bool out_bf16;
  int64_t o_sb, o_sh, o_sn;
  float* row_max;                 // [B*H*N] or null: m_i
  float* row_den;                 // [B*H*N] or null: Z_i
  int32_t* row_arg;               // [B*H*N] or null: first j attaining m_i (for the backward's max path)
  const float* vsum;              // [B*H*Dh]; required when eps != 0 (attention_fwd computes it)
  int B, H, N, Dh;
  float scale, eps;
  const int32_t* cu_seqlens;      // [B+1] device, or null (every batch row has N rows)
};

// Batch b's row count and the row offset of its first row (0 without cu_seqlens).
__device__ __forceinline__ int attn_seq_len(const AttnFwdParams& p, int b, int64_t* first) {
  if (!p.cu_seqlens) {
    *first = 0;
    return p.N;
  }
  *first = p.cu_seqlens[b];
  return p.cu_seqlens[b + 1] - p.cu_seqlens[b];
}

// Contiguous [B,H,N,Dh] strides.
inline void attn_set_bhnd(AttnFwdParams& p) {
  const int64_t sn = p.Dh, sh = int64_t(p.N) * p.Dh, sb = int64_t(p.H) * sh;
  p.q_sb = p.k_sb = p.v_sb = p.o_sb = sb;
  p.q_sh = p.k_sh = p.v_sh = p.o_sh = sh;
  p.q_sn = p.k_sn = p.v_sn = p.o_sn = sn;
}

// Enqueues the forward on `stream`. When eps != 0 and p.vsum is null, computes vsum into `vsum_scratch`
// ([B*H*Dh] floats, caller-owned) first; vsum_partial ([B*H*32*Dh] floats) is its first pass's scratch.
// Picks the tensor-core kernel for BF16 inputs with Dh in {32, 64, 128} and 16-byte aligned rows, the
// SIMT kernel otherwise (or always, with REG4PRU_CUDA_ATTN=simt). Dh must be in [1, 256].
Status attention_fwd(AttnFwdParams p, float* vsum_scratch, float* vsum_partial, cudaStream_t stream, const char* op);

// vsum[bh*Dh + d] = sum_j v[b, h, j, d] (FP32, fixed order). partial: [B*H*32*Dh] floats.
Status attention_vsum(const AttnFwdParams& p, float* vsum, float* partial, cudaStream_t stream, const char* op);

// True when REG4PRU_CUDA_ATTN=simt asks every attention kernel to take the SIMT path (read once).
bool attention_force_simt();

}  // namespace r4p::cuda
