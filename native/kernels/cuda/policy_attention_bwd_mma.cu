// policy_attention_bwd_mma.cu: the tensor-core kernels of the policyAttention backward (SPEC §4; the pipeline
// and formulas are in policy_attention_bwd.cu, the score element in policy_attention_bwd.cuh). BF16 inputs with
// Dh in {32, 64, 128} and 16-byte aligned rows: mma.sync m16n8k16 with FP32 accumulators; the recomputed S and
// dA are rounded to BF16 as operands of the next products. A CTA of 4 warps owns 64 rows of its own axis (16 per
// warp) and streams tiles of the other axis through shared memory (cp.async, double-buffered):
//   attn_bwd_dkdv_mma  owns keys: S^T = K Q^T, dP^T = V dO^T, then dv += S^T dO, dk += dA^T Q;
//   attn_bwd_dq_mma    owns queries: S = Q K^T, dP = dO V^T, then dq += dA K.
// Ran on an H200 on 2026-12-04 as part of policy_attention_bwd.cu: every GPU test passing (docs/gpu-results.md).
#include <cuda_runtime.h>

#include "kernels/cuda/attention_tiles.cuh"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/policy_attention_bwd.cuh"
#include "kernels/cuda/tc_common.cuh"

namespace r4p::cuda::attn_bwd {

using dev::bf16;

namespace {

constexpr int kMmaThreads = 128;  // 4 warps x 16 rows = a 64-row tile of the CTA's own axis

template <int DH, int BT>
constexpr size_t mma_smem() {  // 2 own tiles [64][LD] + 2 double-buffered streamed tiles [2][BT][LD] + stats
  return sizeof(bf16) * size_t(2 * 64 + 4 * BT) * (DH + 8) + sizeof(RowStats) * 2 * BT;
}

template <int DH, int R>
__device__ __forceinline__ void tile(bf16* dst, const bf16* src, int r0, int N, int tid) {
  dev::tile_async<DH, R, kMmaThreads>(dst, src, DH, r0, N, tid);
}

// dK/dV/dpolicy: CTA = 64 keys (warp w: keys 16w + g, +8); query tiles of BQ stream through smem.
template <int DH, int BQ>
__global__ void __launch_bounds__(kMmaThreads) attn_bwd_dkdv_mma(Params p) {
  constexpr int LD = DH + 8, NT = BQ / 8, DT = DH / 8, KC = DH / 16;
  R4P_DYNAMIC_SMEM(smraw);
  bf16* Ks = reinterpret_cast<bf16*>(smraw);  // [64][LD]
  bf16* Vs = Ks + 64 * LD;                    // [64][LD]
  bf16* Qs = Vs + 64 * LD;                    // [2][BQ][LD]
  bf16* Os = Qs + 2 * BQ * LD;                // [2][BQ][LD]
  RowStats* rs = reinterpret_cast<RowStats*>(Os + 2 * BQ * LD);  // [2][BQ] the query tile's rows

  const int N = p.N;
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / p.H;
  const int j0 = blockIdx.x * 64;
  const int64_t base = int64_t(bh) * N * DH, sbase = int64_t(bh) * N;
  const bf16* qb = static_cast<const bf16*>(p.q) + base;
  const bf16* ob = static_cast<const bf16*>(p.dout) + base;
  const int ntiles = (N + BQ - 1) / BQ;

  tile<DH, 64>(Ks, static_cast<const bf16*>(p.k) + base, j0, N, tid);
  tile<DH, 64>(Vs, static_cast<const bf16*>(p.v) + base, j0, N, tid);
  tile<DH, BQ>(Qs, qb, 0, N, tid);
  tile<DH, BQ>(Os, ob, 0, N, tid);
  if (tid < BQ) rs[tid] = load_row_stats(p, sbase, tid);
  dev::cp_async_commit();

  int jrow[2];
  float pol[2];
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    jrow[rr] = j0 + 16 * w + g + 8 * rr;
    pol[rr] = (jrow[rr] < N && p.policy) ? p.policy[int64_t(b) * N + jrow[rr]] : 1.f;
  }
  float dk[DT][4], dv[DT][4], dpol[2] = {0.f, 0.f};
#pragma unroll
  for (int dn = 0; dn < DT; ++dn)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk[dn][e] = dv[dn][e] = 0.f;
  const float c_eps = p.eps / float(N);

  for (int it = 0; it < ntiles; ++it) {
    const int stg = it & 1, ns = stg ^ 1, i1 = (it + 1) * BQ;
    dev::next_tile(it + 1 < ntiles, [&] {
      tile<DH, BQ>(Qs + ns * BQ * LD, qb, i1, N, tid);
      tile<DH, BQ>(Os + ns * BQ * LD, ob, i1, N, tid);
      if (tid < BQ) rs[ns * BQ + tid] = load_row_stats(p, sbase, i1 + tid);
    });
    const bf16* Qt = Qs + stg * BQ * LD;
    const bf16* Ot = Os + stg * BQ * LD;
    const RowStats* rt = rs + stg * BQ;
    const int i0 = it * BQ;

    float sT[NT][4], dpT[NT][4];
    dev::mma_scores<LD, NT, KC>(sT, Ks, 16 * w, Qt, g, t);   // S^T = K Q^T
    dev::mma_scores<LD, NT, KC>(dpT, Vs, 16 * w, Ot, g, t);  // dP^T = V dO^T
    // Element (row j, col i): sT <- S_ij, dpT <- dA_ij (as BF16 operands of the next two products).
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int rr = e >> 1, il = n * 8 + 2 * t + (e & 1), i = i0 + il, j = jrow[rr];
        ScoreGrad x{0.f, 0.f, 0.f};
        if (i < N) {
          x = score_grad<true>(sT[n][e], dpT[n][e], i, j, pol[rr], rt[il], p.scale, c_eps);
          if (i != j) dpol[rr] += x.T;
        }
        sT[n][e] = x.S;
        dpT[n][e] = x.G;
      }
    // dv += S^T dO, dk += dA^T Q over this tile's queries (k = i).
    dev::mma_accumulate<LD, BQ / 16, DT>(dv, sT, Ot, g, t);
    dev::mma_accumulate<LD, BQ / 16, DT>(dk, dpT, Qt, g, t);
    __syncthreads();
  }

#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    const float dpj = dev::quad_sum(dpol[rr]);
    const int j = jrow[rr];
    if (j >= N) continue;
    const int64_t ro = base + int64_t(j) * DH;
#pragma unroll
    for (int dn = 0; dn < DT; ++dn)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int d = dn * 8 + 2 * t + e;
        if (p.dk) p.dk[ro + d] = p.scale * dk[dn][2 * rr + e];
        if (p.dv) p.dv[ro + d] = dv[dn][2 * rr + e];
      }
    if (t == 0 && p.dpol_part) p.dpol_part[sbase + j] = dpj;
  }
}

// dQ: CTA = 64 queries (warp w: rows 16w + g, +8); key tiles of BK stream through smem.
template <int DH, int BK>
__global__ void __launch_bounds__(kMmaThreads) attn_bwd_dq_mma(Params p) {
  constexpr int LD = DH + 8, NT = BK / 8, DT = DH / 8, KC = DH / 16;
  R4P_DYNAMIC_SMEM(smraw);
  bf16* Qs = reinterpret_cast<bf16*>(smraw);  // [64][LD]
  bf16* Os = Qs + 64 * LD;                    // [64][LD]
  bf16* Ks = Os + 64 * LD;                    // [2][BK][LD]
  bf16* Vs = Ks + 2 * BK * LD;                // [2][BK][LD]
  float* pols = reinterpret_cast<float*>(Vs + 2 * BK * LD);  // [2][BK]

  const int N = p.N;
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / p.H;
  const int i0 = blockIdx.x * 64;
  const int64_t base = int64_t(bh) * N * DH, sbase = int64_t(bh) * N;
  const bf16* kb = static_cast<const bf16*>(p.k) + base;
  const bf16* vb = static_cast<const bf16*>(p.v) + base;
  const float* polb = p.policy ? p.policy + int64_t(b) * N : nullptr;
  const int ntiles = (N + BK - 1) / BK;

  tile<DH, 64>(Qs, static_cast<const bf16*>(p.q) + base, i0, N, tid);
  tile<DH, 64>(Os, static_cast<const bf16*>(p.dout) + base, i0, N, tid);
  tile<DH, BK>(Ks, kb, 0, N, tid);
  tile<DH, BK>(Vs, vb, 0, N, tid);
  if (tid < BK) pols[tid] = (polb && tid < N) ? polb[tid] : 1.f;
  dev::cp_async_commit();

  int irow[2];
  RowStats ri[2];
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    irow[rr] = i0 + 16 * w + g + 8 * rr;
    ri[rr] = load_row_stats(p, sbase, irow[rr]);
  }
  float dq[DT][4];
#pragma unroll
  for (int dn = 0; dn < DT; ++dn) dq[dn][0] = dq[dn][1] = dq[dn][2] = dq[dn][3] = 0.f;
  const float c_eps = p.eps / float(N);

  for (int jt = 0; jt < ntiles; ++jt) {
    const int stg = jt & 1, ns = stg ^ 1, j1 = (jt + 1) * BK;
    dev::next_tile(jt + 1 < ntiles, [&] {
      tile<DH, BK>(Ks + ns * BK * LD, kb, j1, N, tid);
      tile<DH, BK>(Vs + ns * BK * LD, vb, j1, N, tid);
      if (tid < BK) pols[ns * BK + tid] = (polb && j1 + tid < N) ? polb[j1 + tid] : 1.f;
    });
    const bf16* Kt = Ks + stg * BK * LD;
    const bf16* Vt = Vs + stg * BK * LD;
    const float* pt = pols + stg * BK;
    const int j0 = jt * BK;

    float s[NT][4], dp[NT][4];
    dev::mma_scores<LD, NT, KC>(s, Qs, 16 * w, Kt, g, t);   // S = Q K^T
    dev::mma_scores<LD, NT, KC>(dp, Os, 16 * w, Vt, g, t);  // dP = dO V^T
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int rr = e >> 1, jl = n * 8 + 2 * t + (e & 1), j = j0 + jl;
        s[n][e] = j < N ? score_grad<true>(s[n][e], dp[n][e], irow[rr], j, pt[jl], ri[rr], p.scale, c_eps).G : 0.f;
      }
    dev::mma_accumulate<LD, BK / 16, DT>(dq, s, Kt, g, t);  // dq += dA K over this tile's keys (k = j)
    __syncthreads();
  }

#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    const int i = irow[rr];
    if (i >= N) continue;
#pragma unroll
    for (int dn = 0; dn < DT; ++dn)
#pragma unroll
      for (int e = 0; e < 2; ++e) p.dq[base + int64_t(i) * DH + dn * 8 + 2 * t + e] = p.scale * dq[dn][2 * rr + e];
  }
}

template <int DH, int BT>
Status launch(const Params& p, bool want_kv, bool want_q, cudaStream_t stream, const char* op) {
  const dim3 grid((p.N + 63) / 64, p.B * p.H);
  constexpr size_t smem = mma_smem<DH, BT>();
  if (want_kv) {
    R4P_RETURN_IF_ERROR(allow_dynamic_smem(attn_bwd_dkdv_mma<DH, BT>, smem, op, "the backward", p.Dh));
    attn_bwd_dkdv_mma<DH, BT><<<grid, kMmaThreads, smem, stream>>>(p);
    R4P_RETURN_IF_ERROR(launch_status(op));
  }
  if (want_q) {
    R4P_RETURN_IF_ERROR(allow_dynamic_smem(attn_bwd_dq_mma<DH, BT>, smem, op, "the backward", p.Dh));
    attn_bwd_dq_mma<DH, BT><<<grid, kMmaThreads, smem, stream>>>(p);
    R4P_RETURN_IF_ERROR(launch_status(op));
  }
  return Status::Ok();
}

}  // namespace

Status launch_mma(const Params& p, bool want_kv, bool want_q, cudaStream_t stream, const char* op) {
  if (p.Dh == 32) return launch<32, 64>(p, want_kv, want_q, stream, op);
  if (p.Dh == 64) return launch<64, 64>(p, want_kv, want_q, stream, op);
  if (p.Dh == 128) return launch<128, 32>(p, want_kv, want_q, stream, op);
  return Status::Make(StatusCode::kInternal, detail::concat(op, ": the tensor-core backward takes Dh 32, 64 or 128, received ", p.Dh));
}

}  // namespace r4p::cuda::attn_bwd
