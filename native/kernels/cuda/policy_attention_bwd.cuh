// policy_attention_bwd.cuh: what the policyAttention backward's kernels share (SPEC §4; formulas in
// policy_attention_bwd.cu): their parameters, the per-query-row statistics they read, the one home of the score
// element both the dK/dV and the dQ kernels recompute (SIMT and tensor-core alike), and the two kernel families'
// launchers (policy_attention_bwd_simt.cu, policy_attention_bwd_mma.cu). .cu-only (includes cuda_runtime.h).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/status.h"

namespace r4p::cuda::attn_bwd {

struct Params {
  const void *q, *k, *v, *dout;  // [B,H,N,Dh] contiguous
  const float* policy;           // [B,N]
  const float *row_max, *row_den, *Dv, *Gs;  // [B*H*N]
  const int32_t* row_arg;        // [B*H*N]
  float *dq, *dk, *dv;           // [B,H,N,Dh] or null
  float* dpol_part;              // [B*H*N] or null
  int B, H, N, Dh;
  float scale, eps;
};

// The forward's statistics of query row i of head slice `sbase` (= bh * N), and the backward's per-row terms:
// m_i (row max), Z_i (denominator), D_i = dout_i . out_i, Gs_i (the max path's weight), j*_i (first argmax).
// Rows past N read as neutral values (m 0, Z 1, no argmax) so that padded tile rows compute finite zeros.
struct RowStats {
  float m, z, d, g;
  int arg;
};
__device__ __forceinline__ RowStats load_row_stats(const Params& p, int64_t sbase, int i) {
  if (i >= p.N) return {0.f, 1.f, 0.f, 0.f, -1};
  return {p.row_max[sbase + i], p.row_den[sbase + i], p.Dv[sbase + i], p.Gs[sbase + i], p.row_arg[sbase + i]};
}

// The score element (query i, key j) both backward kernels recompute from s = q_i . k_j and dp = dout_i . v_j:
//   P = exp(scale s - m_i),  M = 1 if i == j else policy_j,  T = P (dp - D_i) / Z_i
//   S = (M P + eps/N) / Z_i   (the forward's probability: dV = S^T dout)
//   G = M T - [j == j*_i] Gs_i   (dA: dQ = scale G K, dK = scale G^T Q)
//   T also feeds dpolicy_j (summed over i != j).
// FastExp: the tensor-core kernels' __expf (their operands are BF16 anyway); the SIMT kernels use expf.
struct ScoreGrad {
  float S, G, T;
};
template <bool FastExp>
__device__ __forceinline__ ScoreGrad score_grad(float s, float dp, int i, int j, float pol_j, const RowStats& r, float scale,
                                                float c_eps) {
  const float P = FastExp ? __expf(s * scale - r.m) : expf(s * scale - r.m);
  const float T = P * (dp - r.d) / r.z;
  const float M = (i == j) ? 1.f : pol_j;
  return {(M * P + c_eps) / r.z, M * T - (r.arg == j ? r.g : 0.f), T};
}

// The dK/dV/dpolicy-partial kernel (want_kv) and the dQ kernel (want_q) of each family, enqueued on `stream`.
// SIMT: FP32 math for float or bf16 inputs, any Dh <= 256. MMA: bf16 inputs, Dh in {32, 64, 128}, 16-byte aligned.
Status launch_simt(const Params& p, bool in_bf16, bool want_kv, bool want_q, cudaStream_t stream, const char* op);
Status launch_mma(const Params& p, bool want_kv, bool want_q, cudaStream_t stream, const char* op);

}  // namespace r4p::cuda::attn_bwd
