// policy_attention_bwd.cu: SPEC §4 policyAttention backward on CUDA (recompute style, deterministic).
// Compiled for sm_80 / sm_90a / compute_90. Ran on an H200 on 2026-12-04 (docs/gpu-results.md).
//   q,k,v,dout [B,H,N,Dh], policy [B,N] f32 -> dq,dk,dv [B,H,N,Dh] f32, dpolicy [B,N] f32 (summed over heads)
// The exact gradient of the CPU ref (policy_attention_ref.cc), including the path through the row max:
//   P_ij = exp(A_ij - m_i) (unmasked), E_ij = M_ij P_ij, S_ij = (E_ij + eps/N) / Z_i, dP_ij = dout_i . v_j
//   D_i = sum_j S_ij dP_ij = dout_i . out_i;  T_ij = P_ij (dP_ij - D_i) / Z_i;  G_ij = M_ij T_ij
//   Gs_i = sum_j G_ij = eps / Z_i * (D_i - dout_i . vsum / N)   (closed form: out_i Z_i = sum_j E_ij v_j + eps/N vsum)
//   dA_ij = G_ij - [j == j*_i] Gs_i   (j*_i = the forward's first argmax of row i)
//   dq_i = scale sum_j dA_ij k_j;  dk_j = scale sum_i dA_ij q_i;  dv_j = sum_i S_ij dout_i
//   dpolicy_j = sum_h sum_{i != j} T_ij
// Pipeline (all on the library stream): forward into FP32 scratch (out, m, Z, j*), vsum, a row kernel for D and
// Gs, then a dK/dV kernel (a CTA owns a key tile and loops over every query tile: dk, dv and the dpolicy
// partial of its keys are plain register sums) and a dQ kernel (a CTA owns a query tile and loops over every
// key tile), and a fixed-order sum of the per-head dpolicy partials. No atomics: the result is deterministic.
// BF16 inputs with Dh in {32, 64, 128} take tensor-core kernels (S^T/dP^T, then S^T dO and dA^T Q as mma.sync,
// FP32 accumulators, S and dA rounded to BF16 as operands); everything else the SIMT FP32 kernels.
// Files: this one (the pipeline: scratch, the rows kernel, the dpolicy sum, the kernel choice),
// policy_attention_bwd.cuh (parameters, row statistics and the score element both kernels recompute),
// policy_attention_bwd_simt.cu and policy_attention_bwd_mma.cu (the two kernel families).
#include <cuda_runtime.h>

#include <climits>
#include <cmath>

#include "kernels/cuda/attention_ops.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/policy_attention.cuh"
#include "kernels/cuda/policy_attention_bwd.cuh"
#include "kernels/cuda/tc_common.cuh"

namespace r4p::cuda {

using dev::bf16;

namespace {

// ---------------------------------------------------------------- per-row D_i and Gs_i (one warp per row)
template <typename T>
__global__ void __launch_bounds__(256) bwd_rows_kernel(const T* dout, const float* out, const float* vsum,
                                                       const float* row_den, float* Dv, float* Gs, int64_t rows,
                                                       int N, int Dh, float eps) {
  const int64_t r = int64_t(blockIdx.x) * 8 + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;  // warp-uniform
  const int64_t bh = r / N;
  float d1 = 0.f, d2 = 0.f;
  for (int d = lane; d < Dh; d += 32) {
    const float g = dev::to_f(dout[r * Dh + d]);
    d1 = fmaf(g, out[r * Dh + d], d1);
    if (eps != 0.f) d2 = fmaf(g, vsum[bh * Dh + d], d2);
  }
  d1 = dev::warp_sum(d1);
  d2 = dev::warp_sum(d2);
  if (lane == 0) {
    Dv[r] = d1;
    Gs[r] = eps != 0.f ? eps / row_den[r] * (d1 - d2 / float(N)) : 0.f;
  }
}

// dpolicy[b, j] = sum_h part[(b*H + h)*N + j], h ascending.
__global__ void dpol_reduce_kernel(const float* part, float* dpolicy, int B, int H, int N) {
  const int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= int64_t(B) * N) return;
  const int64_t b = e / N, j = e % N;
  float s = 0.f;
  for (int h = 0; h < H; ++h) s += part[(b * H + h) * N + j];
  dpolicy[e] = s;
}

// ---------------------------------------------------------------- the pipeline
Status run_bwd(const PolicyAttentionBwdDevArgs& a, char* scratch, cudaStream_t stream, const char* op) {
  const int64_t BH = a.B * a.H, BHN = BH * a.N, BHND = BHN * a.Dh, BHD = BH * a.Dh;
  float* out = reinterpret_cast<float*>(scratch);
  float* row_max = out + BHND;
  float* row_den = row_max + BHN;
  float* Dv = row_den + BHN;
  float* Gs = Dv + BHN;
  float* dpol_part = Gs + BHN;
  float* vsum = dpol_part + BHN;
  float* vpart = vsum + BHD;
  int32_t* row_arg = reinterpret_cast<int32_t*>(vpart + BHD * 32);

  AttnFwdParams f{};
  f.q = a.q; f.k = a.k; f.v = a.v;
  f.in_bf16 = a.dtype == DType::BF16;
  f.policy = a.policy;
  f.out = out; f.out_bf16 = false;
  f.row_max = row_max; f.row_den = row_den; f.row_arg = row_arg;
  f.B = int(a.B); f.H = int(a.H); f.N = int(a.N); f.Dh = int(a.Dh);
  f.scale = a.scale; f.eps = a.eps;
  attn_set_bhnd(f);
  if (a.eps != 0.f) {
    R4P_RETURN_IF_ERROR(attention_vsum(f, vsum, vpart, stream, op));
    f.vsum = vsum;
  }
  R4P_RETURN_IF_ERROR(attention_fwd(f, nullptr, nullptr, stream, op));

  const unsigned row_blocks = static_cast<unsigned>((BHN + 7) / 8);
  if (f.in_bf16)
    bwd_rows_kernel<bf16><<<row_blocks, 256, 0, stream>>>(static_cast<const bf16*>(a.dout), out, vsum, row_den, Dv, Gs,
                                                           BHN, f.N, f.Dh, a.eps);
  else
    bwd_rows_kernel<float><<<row_blocks, 256, 0, stream>>>(static_cast<const float*>(a.dout), out, vsum, row_den, Dv,
                                                            Gs, BHN, f.N, f.Dh, a.eps);
  R4P_RETURN_IF_ERROR(launch_status(op));

  attn_bwd::Params p{};
  p.q = a.q; p.k = a.k; p.v = a.v; p.dout = a.dout;
  p.policy = a.policy;
  p.row_max = row_max; p.row_den = row_den; p.Dv = Dv; p.Gs = Gs; p.row_arg = row_arg;
  p.dq = a.dq; p.dk = a.dk; p.dv = a.dv;
  p.dpol_part = a.dpolicy ? dpol_part : nullptr;
  p.B = f.B; p.H = f.H; p.N = f.N; p.Dh = f.Dh;
  p.scale = a.scale; p.eps = a.eps;
  const bool want_kv = a.dk || a.dv || a.dpolicy, want_q = a.dq != nullptr;

  const bool mma = f.in_bf16 && !attention_force_simt() && (f.Dh == 32 || f.Dh == 64 || f.Dh == 128) &&
                   aligned16(a.q) && aligned16(a.k) && aligned16(a.v) && aligned16(a.dout);
  R4P_RETURN_IF_ERROR(mma ? attn_bwd::launch_mma(p, want_kv, want_q, stream, op)
                          : attn_bwd::launch_simt(p, f.in_bf16, want_kv, want_q, stream, op));
  if (a.dpolicy) {
    const int64_t n = a.B * a.N;
    dpol_reduce_kernel<<<grid_for(n, 256), 256, 0, stream>>>(dpol_part, a.dpolicy, f.B, f.H, f.N);
    R4P_RETURN_IF_ERROR(launch_status(op));
  }
  return Status::Ok();
}

}  // namespace

Status policy_attention_bwd(const PolicyAttentionBwdDevArgs& a) {
  const char* op = "cudaPolicyAttentionBackward";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (a.dtype != DType::F32 && a.dtype != DType::BF16)
    return type_error(op, ": expected q, k, v, dout to be float32 or bfloat16, received ", dtype_name(a.dtype));
  if (a.B < 1 || a.H < 1 || a.N < 1 || a.Dh < 1 || a.N > INT_MAX || a.B * a.H > 65535)
    return range_error(op, ": sizes out of the supported range (B*H <= 65535, N < 2^31), received B=", a.B, " H=", a.H,
                       " N=", a.N, " Dh=", a.Dh);
  if (a.Dh > 256) return range_error(op, ": the CUDA kernels support Dh in [1, 256], received Dh=", a.Dh);
  if (!a.dq && !a.dk && !a.dv && !a.dpolicy) return Status::Ok();
  const int64_t BH = a.B * a.H, BHN = BH * a.N;
  // out [BHN*Dh] + m, Z, D, Gs, dpol_part [BHN] + vsum [BH*Dh] + vsum partials [BH*32*Dh] + argmax [BHN]
  const size_t bytes = sizeof(float) * size_t(BHN * a.Dh + 5 * BHN + 33 * BH * a.Dh) + sizeof(int32_t) * size_t(BHN);
  void* scratch = nullptr;
  R4P_RETURN_IF_ERROR(device_alloc(&scratch, bytes));
  const Status st = run_bwd(a, static_cast<char*>(scratch), lib_stream(), op);
  device_free(scratch);  // stream-ordered: after the kernels above
  return st;
}

}  // namespace r4p::cuda
