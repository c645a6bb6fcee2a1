// policy_attention_bwd_simt.cu: the SIMT FP32 kernels of the policyAttention backward (SPEC §4; the pipeline and
// formulas are in policy_attention_bwd.cu, the score element in policy_attention_bwd.cuh). float or bf16 inputs
// (read as float), any Dh <= 256 (NDV = ceil(Dh / 32) output columns per lane). A CTA of 8 warps owns a tile of
// 32 rows of its own axis (4 per warp) and streams tiles of 32 rows of the other axis through shared memory
// (lane = the streamed row):
//   attn_bwd_dkdv_simt  owns keys: dk, dv and the dpolicy partial of its keys are plain register sums;
//   attn_bwd_dq_simt    owns queries: dq.
// Ran on an H200 on 2026-12-04 as part of policy_attention_bwd.cu: every GPU test passing (docs/gpu-results.md).
#include <cuda_runtime.h>

#include "kernels/cuda/attention_tiles.cuh"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/policy_attention_bwd.cuh"
#include "kernels/cuda/tc_common.cuh"

namespace r4p::cuda::attn_bwd {

using dev::bf16;

namespace {

constexpr int kT = 32, kRW = 4, kThreads = 256;  // tile rows, rows per warp (8 warps x 4 = 32)
static_assert(kT == 32, "a streamed tile is one warp wide: lane = streamed row (dev::simt_scores, dev::simt_accumulate)");

size_t simt_dkdv_smem(int Dh) {
  return sizeof(float) * (2 * size_t(kT) * Dh + 2 * size_t(kT) * (Dh + 1) + 2 * 8 * kRW * kT) + sizeof(RowStats) * kT;
}
size_t simt_dq_smem(int Dh) {
  return sizeof(float) * (2 * size_t(kT) * Dh + 2 * size_t(kT) * (Dh + 1) + 8 * kRW * kT + kT);
}

// Rows [r0, r0 + 32) x Dh of a [N, Dh] matrix into smem as float, row stride ld; rows >= N are zeros.
template <typename T>
__device__ __forceinline__ void tile_f32(float* dst, int ld, const T* src, int r0, int N, int Dh, int tid) {
  for (int e = tid; e < kT * Dh; e += kThreads) {
    const int r = e / Dh, d = e % Dh, row = r0 + r;
    dst[r * ld + d] = row < N ? dev::to_f(src[int64_t(row) * Dh + d]) : 0.f;
  }
}

// dK, dV, dpolicy partial: a CTA owns keys j0..j0+31 (warp w: rows 4w..4w+3), lane = query in each tile.
template <typename T, int NDV>
__global__ void __launch_bounds__(kThreads) attn_bwd_dkdv_simt(Params p) {
  R4P_DYNAMIC_SMEM(smraw);
  float* sm = reinterpret_cast<float*>(smraw);
  const int Dh = p.Dh, N = p.N, ld = Dh + 1;
  float* Ks = sm;                    // [32][Dh] key rows (broadcast)
  float* Vs = Ks + kT * Dh;          // [32][Dh]
  float* Qs = Vs + kT * Dh;          // [32][Dh+1] lane = query row: odd stride
  float* Os = Qs + kT * ld;          // [32][Dh+1] dout
  float* Ss = Os + kT * ld;          // [8][RW][32]
  float* Gm = Ss + 8 * kRW * kT;     // [8][RW][32]
  RowStats* rs = reinterpret_cast<RowStats*>(Gm + 8 * kRW * kT);  // [32] the query tile's rows
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const int bh = blockIdx.y, b = bh / p.H;
  const int j0 = blockIdx.x * kT;
  const int64_t base = int64_t(bh) * N * Dh, sbase = int64_t(bh) * N;
  const T* qb = static_cast<const T*>(p.q) + base;
  const T* ob = static_cast<const T*>(p.dout) + base;

  tile_f32(Ks, Dh, static_cast<const T*>(p.k) + base, j0, N, Dh, tid);
  tile_f32(Vs, Dh, static_cast<const T*>(p.v) + base, j0, N, Dh, tid);
  float pol_j[kRW], dk[kRW][NDV], dv[kRW][NDV], dpol[kRW];
#pragma unroll
  for (int r = 0; r < kRW; ++r) {
    const int j = j0 + w * kRW + r;
    pol_j[r] = (j < N && p.policy) ? p.policy[int64_t(b) * N + j] : 1.f;
    dpol[r] = 0.f;
#pragma unroll
    for (int c = 0; c < NDV; ++c) dk[r][c] = dv[r][c] = 0.f;
  }
  const float c_eps = p.eps / float(N);

  for (int i0 = 0; i0 < N; i0 += kT) {
    __syncthreads();
    tile_f32(Qs, ld, qb, i0, N, Dh, tid);
    tile_f32(Os, ld, ob, i0, N, Dh, tid);
    if (tid < kT) rs[tid] = load_row_stats(p, sbase, i0 + tid);
    __syncthreads();

    const int i = i0 + lane;
    float s[kRW], dp[kRW];
    dev::simt_scores<kRW>(s, Ks, Dh, Qs, ld, Dh, w, lane);   // S^T: own keys . the lane's query
    dev::simt_scores<kRW>(dp, Vs, Dh, Os, ld, Dh, w, lane);  // dP^T: own values . the lane's dout
    const RowStats ri = rs[lane];
#pragma unroll
    for (int r = 0; r < kRW; ++r) {
      const int j = j0 + w * kRW + r;
      ScoreGrad e{0.f, 0.f, 0.f};
      if (i < N) {
        e = score_grad<false>(s[r], dp[r], i, j, pol_j[r], ri, p.scale, c_eps);
        if (i != j) dpol[r] += e.T;
      }
      Ss[(w * kRW + r) * kT + lane] = e.S;
      Gm[(w * kRW + r) * kT + lane] = e.G;
    }
    __syncwarp();
    dev::simt_accumulate<kRW, NDV>(dv, Ss + w * kRW * kT, Os, ld, Dh, lane);  // dv += S^T dO
    dev::simt_accumulate<kRW, NDV>(dk, Gm + w * kRW * kT, Qs, ld, Dh, lane);  // dk += dA^T Q
  }

#pragma unroll
  for (int r = 0; r < kRW; ++r) {
    const int j = j0 + w * kRW + r;
    const float dpj = dev::warp_sum(dpol[r]);
    if (j >= N) continue;
#pragma unroll
    for (int c = 0; c < NDV; ++c) {
      const int d = lane + 32 * c;
      if (d >= Dh) continue;
      if (p.dk) p.dk[base + int64_t(j) * Dh + d] = p.scale * dk[r][c];
      if (p.dv) p.dv[base + int64_t(j) * Dh + d] = dv[r][c];
    }
    if (lane == 0 && p.dpol_part) p.dpol_part[sbase + j] = dpj;
  }
}

// dQ: a CTA owns queries i0..i0+31 (warp w: rows 4w..4w+3), lane = key in each tile.
template <typename T, int NDV>
__global__ void __launch_bounds__(kThreads) attn_bwd_dq_simt(Params p) {
  R4P_DYNAMIC_SMEM(smraw);
  float* sm = reinterpret_cast<float*>(smraw);
  const int Dh = p.Dh, N = p.N, ld = Dh + 1;
  float* Qs = sm;                 // [32][Dh] broadcast
  float* Os = Qs + kT * Dh;       // [32][Dh]
  float* Ks = Os + kT * Dh;       // [32][Dh+1] lane = key
  float* Vs = Ks + kT * ld;       // [32][Dh+1]
  float* Gm = Vs + kT * ld;       // [8][RW][32]
  float* pols = Gm + 8 * kRW * kT;  // [32]
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const int bh = blockIdx.y, b = bh / p.H;
  const int i0 = blockIdx.x * kT;
  const int64_t base = int64_t(bh) * N * Dh, sbase = int64_t(bh) * N;
  const T* kb = static_cast<const T*>(p.k) + base;
  const T* vb = static_cast<const T*>(p.v) + base;

  tile_f32(Qs, Dh, static_cast<const T*>(p.q) + base, i0, N, Dh, tid);
  tile_f32(Os, Dh, static_cast<const T*>(p.dout) + base, i0, N, Dh, tid);
  RowStats ri[kRW];
  float dq[kRW][NDV];
#pragma unroll
  for (int r = 0; r < kRW; ++r) {
    ri[r] = load_row_stats(p, sbase, i0 + w * kRW + r);
#pragma unroll
    for (int c = 0; c < NDV; ++c) dq[r][c] = 0.f;
  }
  const float c_eps = p.eps / float(N);

  for (int j0 = 0; j0 < N; j0 += kT) {
    __syncthreads();
    tile_f32(Ks, ld, kb, j0, N, Dh, tid);
    tile_f32(Vs, ld, vb, j0, N, Dh, tid);
    if (tid < kT) pols[tid] = (p.policy && j0 + tid < N) ? p.policy[int64_t(b) * N + j0 + tid] : 1.f;
    __syncthreads();

    const int j = j0 + lane;
    float s[kRW], dp[kRW];
    dev::simt_scores<kRW>(s, Qs, Dh, Ks, ld, Dh, w, lane);   // S: own queries . the lane's key
    dev::simt_scores<kRW>(dp, Os, Dh, Vs, ld, Dh, w, lane);  // dP: own douts . the lane's value
#pragma unroll
    for (int r = 0; r < kRW; ++r) {
      const int i = i0 + w * kRW + r;
      Gm[(w * kRW + r) * kT + lane] = j < N ? score_grad<false>(s[r], dp[r], i, j, pols[lane], ri[r], p.scale, c_eps).G : 0.f;
    }
    __syncwarp();
    dev::simt_accumulate<kRW, NDV>(dq, Gm + w * kRW * kT, Ks, ld, Dh, lane);  // dq += dA K
  }

#pragma unroll
  for (int r = 0; r < kRW; ++r) {
    const int i = i0 + w * kRW + r;
    if (i >= N) continue;
#pragma unroll
    for (int c = 0; c < NDV; ++c) {
      const int d = lane + 32 * c;
      if (d < Dh) p.dq[base + int64_t(i) * Dh + d] = p.scale * dq[r][c];
    }
  }
}

template <typename T, int NDV>
Status launch(const Params& p, bool want_kv, bool want_q, cudaStream_t stream, const char* op) {
  const dim3 grid((p.N + kT - 1) / kT, p.B * p.H);
  if (want_kv) {
    const size_t smem = simt_dkdv_smem(p.Dh);
    R4P_RETURN_IF_ERROR(allow_dynamic_smem(attn_bwd_dkdv_simt<T, NDV>, smem, op, "the backward", p.Dh));
    attn_bwd_dkdv_simt<T, NDV><<<grid, kThreads, smem, stream>>>(p);
    R4P_RETURN_IF_ERROR(launch_status(op));
  }
  if (want_q) {
    const size_t smem = simt_dq_smem(p.Dh);
    R4P_RETURN_IF_ERROR(allow_dynamic_smem(attn_bwd_dq_simt<T, NDV>, smem, op, "the backward", p.Dh));
    attn_bwd_dq_simt<T, NDV><<<grid, kThreads, smem, stream>>>(p);
    R4P_RETURN_IF_ERROR(launch_status(op));
  }
  return Status::Ok();
}

template <typename T>
Status launch_t(const Params& p, bool want_kv, bool want_q, cudaStream_t stream, const char* op) {
  if (p.Dh <= 32) return launch<T, 1>(p, want_kv, want_q, stream, op);
  if (p.Dh <= 64) return launch<T, 2>(p, want_kv, want_q, stream, op);
  if (p.Dh <= 128) return launch<T, 4>(p, want_kv, want_q, stream, op);
  return launch<T, 8>(p, want_kv, want_q, stream, op);
}

}  // namespace

Status launch_simt(const Params& p, bool in_bf16, bool want_kv, bool want_q, cudaStream_t stream, const char* op) {
  return in_bf16 ? launch_t<bf16>(p, want_kv, want_q, stream, op) : launch_t<float>(p, want_kv, want_q, stream, op);
}

}  // namespace r4p::cuda::attn_bwd
