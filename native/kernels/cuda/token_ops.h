// token_ops.h: host launchers of the CUDA token ops (SPEC §3-§5; issue 6 part A). Plain C++ (no CUDA
// headers), implemented in cuda/{gather_scatter,gumbel_topk,gumbel_softmax}.cu, stubbed by
// kernels/cuda_runtime_none.cc in CPU-only builds.
//
// Semantics are exactly the CPU ops of the same name (ops.h Args structs; the ref kernels are the
// spec). All pointers are DEVICE pointers; sizes are validated by the caller (the bindings), each
// >= 1. Work is enqueued on the library stream (cuda_runtime_api.h) and these functions return as
// soon as it is enqueued: launch errors come back here, execution errors and device-detected input
// errors at the next synchronize() / download.
//
// dtype: F32 or BF16 for every floating tensor of a call (all the same dtype); math in FP32 (Gumbel
// keys in FP64, as on the CPU); indices int32, masks uint8.
// Out-of-range indices: never dereferenced. The output row is zeroed (gather, dsrc) or left unwritten
// (scatter, dx/dbase rows are computed from the valid indices only), and the first one is reported as
// a kDevErrIndexRange RangeError at the next synchronisation.
#pragma once
#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/cuda_runtime_api.h"

namespace r4p::cuda {

// x [B,N,D], idx [B,K] -> out [B,K,D]; out[b,k,:] = x[b, idx[b,k], :]. Duplicates allowed.
Status gather_tokens_fwd_cuda(DType dtype, const void* x, const int32_t* idx, void* out, int64_t B, int64_t N, int64_t K,
                              int64_t D);
// dout [B,K,D], idx [B,K] -> dx [B,N,D] (OVERWRITTEN): dx[b,n,:] = sum over k with idx[b,k] == n of
// dout[b,k,:], summed in ascending k in FP32 (bit-identical to the CPU ref for F32); zero elsewhere.
Status gather_tokens_bwd_cuda(DType dtype, const void* dout, const int32_t* idx, void* dx, int64_t B, int64_t N,
                              int64_t K, int64_t D);
// base [B,N,D], idx [B,K], src [B,K,D] -> out [B,N,D]; out may equal base (in place; then only the K
// rows are written). Duplicate indices (an error at the binding for the CPU op, not checkable here
// without a sync): the LAST k wins, as in the CPU ref.
Status scatter_tokens_fwd_cuda(DType dtype, const void* base, const int32_t* idx, const void* src, void* out, int64_t B,
                               int64_t N, int64_t K, int64_t D);
// dout [B,N,D], idx [B,K] -> dbase [B,N,D] = dout with rows idx zeroed, dsrc [B,K,D] = dout[idx]
// (both OVERWRITTEN; either may be null).
Status scatter_tokens_bwd_cuda(DType dtype, const void* dout, const int32_t* idx, void* dbase, void* dsrc, int64_t B,
                               int64_t N, int64_t K, int64_t D);
// logits [B,N], active [B,N] u8 (nullable) -> out int32 [B,k] ascending; the same Philox keys in
// double as gumbel_topk_ref, radix select per row, ties to the lower index. 1 <= k <= N. A NaN logit
// or a row with fewer than k active tokens: that row is filled with -1 and reported (RangeError).
// scratch (optional, caller-owned device memory of at least gumbel_topk_scratch_bytes(B, N) bytes, 8-byte
// aligned): then the call allocates nothing (graph capture); null: allocated per call, stream-ordered.
Status gumbel_topk_cuda(DType dtype, const void* logits, const uint8_t* active, int32_t* out, int64_t B, int64_t N,
                        int64_t k, uint64_t seed, bool noise, void* scratch = nullptr, size_t scratch_bytes = 0);
size_t gumbel_topk_scratch_bytes(int64_t B, int64_t N);
// logits [B,N,2] -> hard [B,N] in {0,1}, soft [B,N] (same dtype as logits). tau finite > 0.
Status gumbel_softmax_st_fwd_cuda(DType dtype, const void* logits, void* hard, void* soft, int64_t B, int64_t N, float tau,
                                  uint64_t seed);
// dhard [B,N], soft [B,N] -> dlogits [B,N,2] (OVERWRITTEN) = [g, -g], g = dhard * s(1-s) / tau.
Status gumbel_softmax_st_bwd_cuda(DType dtype, const void* dhard, const void* soft, void* dlogits, int64_t B, int64_t N,
                                  float tau);

}  // namespace r4p::cuda
