// policy_attention_bwd.cu: SPEC §4 policyAttention backward on CUDA (recompute style, deterministic).
// Compiled for sm_80 / sm_90a / compute_90; NEVER RUN ON A GPU as of 2026-11-22: unverified.
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
#include <cuda_runtime.h>

#include <climits>
#include <cmath>

#include "kernels/cuda/attention_ops.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/policy_attention.cuh"
#include "kernels/cuda/tc_common.cuh"

namespace r4p::cuda {

using dev::bf16;

namespace {

struct AttnBwdParams {
  const void *q, *k, *v, *dout;  // [B,H,N,Dh] contiguous
  const float* policy;           // [B,N]
  const float *row_max, *row_den, *Dv, *Gs;  // [B*H*N]
  const int32_t* row_arg;        // [B*H*N]
  float *dq, *dk, *dv;           // [B,H,N,Dh] or null
  float* dpol_part;              // [B*H*N] or null
  int B, H, N, Dh;
  float scale, eps;
};

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

// ---------------------------------------------------------------- SIMT kernels
constexpr int kT = 32, kRW = 4, kThreads = 256;  // tile rows, rows per warp (8 warps x 4 = 32)

size_t simt_dkdv_smem(int Dh) {
  return sizeof(float) * (2 * size_t(kT) * Dh + 2 * size_t(kT) * (Dh + 1) + 2 * 8 * kRW * kT + 5 * kT);
}
size_t simt_dq_smem(int Dh) {
  return sizeof(float) * (2 * size_t(kT) * Dh + 2 * size_t(kT) * (Dh + 1) + 8 * kRW * kT + kT);
}

// dK, dV, dpolicy partial: a CTA owns keys j0..j0+31 (warp w: rows 4w..4w+3), lane = query in each tile.
template <typename T, int NDV>
__global__ void __launch_bounds__(kThreads) attn_bwd_dkdv_simt(AttnBwdParams p) {
  R4P_DYNAMIC_SMEM(smraw);
  float* sm = reinterpret_cast<float*>(smraw);
  const int Dh = p.Dh, N = p.N, ld = Dh + 1;
  float* Ks = sm;                    // [32][Dh] key rows (broadcast)
  float* Vs = Ks + kT * Dh;          // [32][Dh]
  float* Qs = Vs + kT * Dh;          // [32][Dh+1] lane = query row: odd stride
  float* Os = Qs + kT * ld;          // [32][Dh+1] dout
  float* Ss = Os + kT * ld;          // [8][RW][32]
  float* Gm = Ss + 8 * kRW * kT;     // [8][RW][32]
  float* st_m = Gm + 8 * kRW * kT;   // [32] each
  float* st_z = st_m + kT;
  float* st_d = st_z + kT;
  float* st_g = st_d + kT;
  int* st_a = reinterpret_cast<int*>(st_g + kT);
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const int bh = blockIdx.y, b = bh / p.H;
  const int j0 = blockIdx.x * kT;
  const int64_t base = int64_t(bh) * N * Dh;
  const T* qb = static_cast<const T*>(p.q) + base;
  const T* kb = static_cast<const T*>(p.k) + base;
  const T* vb = static_cast<const T*>(p.v) + base;
  const T* ob = static_cast<const T*>(p.dout) + base;
  const int64_t sbase = int64_t(bh) * N;

  for (int e = tid; e < kT * Dh; e += kThreads) {
    const int r = e / Dh, d = e % Dh, j = j0 + r;
    Ks[e] = j < N ? dev::to_f(kb[int64_t(j) * Dh + d]) : 0.f;
    Vs[e] = j < N ? dev::to_f(vb[int64_t(j) * Dh + d]) : 0.f;
  }
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
    for (int e = tid; e < kT * Dh; e += kThreads) {
      const int r = e / Dh, d = e % Dh, i = i0 + r;
      Qs[r * ld + d] = i < N ? dev::to_f(qb[int64_t(i) * Dh + d]) : 0.f;
      Os[r * ld + d] = i < N ? dev::to_f(ob[int64_t(i) * Dh + d]) : 0.f;
    }
    if (tid < kT) {
      const int i = i0 + tid;
      const bool ok = i < N;
      st_m[tid] = ok ? p.row_max[sbase + i] : 0.f;
      st_z[tid] = ok ? p.row_den[sbase + i] : 1.f;
      st_d[tid] = ok ? p.Dv[sbase + i] : 0.f;
      st_g[tid] = ok ? p.Gs[sbase + i] : 0.f;
      st_a[tid] = ok ? p.row_arg[sbase + i] : -1;
    }
    __syncthreads();

    const int i = i0 + lane;
    const bool iv = i < N;
    float s[kRW], dp[kRW];
#pragma unroll
    for (int r = 0; r < kRW; ++r) s[r] = dp[r] = 0.f;
    for (int d = 0; d < Dh; ++d) {
      const float qv = Qs[lane * ld + d], ov = Os[lane * ld + d];
#pragma unroll
      for (int r = 0; r < kRW; ++r) {
        s[r] = fmaf(Ks[(w * kRW + r) * Dh + d], qv, s[r]);
        dp[r] = fmaf(Vs[(w * kRW + r) * Dh + d], ov, dp[r]);
      }
    }
    const float mi = st_m[lane], zi = st_z[lane], di = st_d[lane], gi = st_g[lane];
    const int ai = st_a[lane];
#pragma unroll
    for (int r = 0; r < kRW; ++r) {
      const int j = j0 + w * kRW + r;
      float S = 0.f, G = 0.f;
      if (iv) {
        const float P = expf(s[r] * p.scale - mi);
        const float T_ = P * (dp[r] - di) / zi;
        const float M = (i == j) ? 1.f : pol_j[r];
        S = (M * P + c_eps) / zi;
        G = M * T_ - (ai == j ? gi : 0.f);
        if (i != j) dpol[r] += T_;
      }
      Ss[(w * kRW + r) * kT + lane] = S;
      Gm[(w * kRW + r) * kT + lane] = G;
    }
    __syncwarp();
    for (int ii = 0; ii < kT; ++ii) {
#pragma unroll
      for (int c = 0; c < NDV; ++c) {
        const int d = lane + 32 * c;
        const float qv = d < Dh ? Qs[ii * ld + d] : 0.f;
        const float ov = d < Dh ? Os[ii * ld + d] : 0.f;
#pragma unroll
        for (int r = 0; r < kRW; ++r) {
          dv[r][c] = fmaf(Ss[(w * kRW + r) * kT + ii], ov, dv[r][c]);
          dk[r][c] = fmaf(Gm[(w * kRW + r) * kT + ii], qv, dk[r][c]);
        }
      }
    }
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
__global__ void __launch_bounds__(kThreads) attn_bwd_dq_simt(AttnBwdParams p) {
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
  const T* qb = static_cast<const T*>(p.q) + base;
  const T* kb = static_cast<const T*>(p.k) + base;
  const T* vb = static_cast<const T*>(p.v) + base;
  const T* ob = static_cast<const T*>(p.dout) + base;

  for (int e = tid; e < kT * Dh; e += kThreads) {
    const int r = e / Dh, d = e % Dh, i = i0 + r;
    Qs[e] = i < N ? dev::to_f(qb[int64_t(i) * Dh + d]) : 0.f;
    Os[e] = i < N ? dev::to_f(ob[int64_t(i) * Dh + d]) : 0.f;
  }
  float mi[kRW], zi[kRW], di[kRW], gi[kRW], dq[kRW][NDV];
  int ai[kRW];
#pragma unroll
  for (int r = 0; r < kRW; ++r) {
    const int i = i0 + w * kRW + r;
    const bool ok = i < N;
    mi[r] = ok ? p.row_max[sbase + i] : 0.f;
    zi[r] = ok ? p.row_den[sbase + i] : 1.f;
    di[r] = ok ? p.Dv[sbase + i] : 0.f;
    gi[r] = ok ? p.Gs[sbase + i] : 0.f;
    ai[r] = ok ? p.row_arg[sbase + i] : -1;
#pragma unroll
    for (int c = 0; c < NDV; ++c) dq[r][c] = 0.f;
  }

  for (int j0 = 0; j0 < N; j0 += kT) {
    __syncthreads();
    for (int e = tid; e < kT * Dh; e += kThreads) {
      const int r = e / Dh, d = e % Dh, j = j0 + r;
      Ks[r * ld + d] = j < N ? dev::to_f(kb[int64_t(j) * Dh + d]) : 0.f;
      Vs[r * ld + d] = j < N ? dev::to_f(vb[int64_t(j) * Dh + d]) : 0.f;
    }
    if (tid < kT) pols[tid] = (p.policy && j0 + tid < N) ? p.policy[int64_t(b) * N + j0 + tid] : 1.f;
    __syncthreads();

    const int j = j0 + lane;
    const bool jv = j < N;
    float s[kRW], dp[kRW];
#pragma unroll
    for (int r = 0; r < kRW; ++r) s[r] = dp[r] = 0.f;
    for (int d = 0; d < Dh; ++d) {
      const float kv = Ks[lane * ld + d], vv = Vs[lane * ld + d];
#pragma unroll
      for (int r = 0; r < kRW; ++r) {
        s[r] = fmaf(Qs[(w * kRW + r) * Dh + d], kv, s[r]);
        dp[r] = fmaf(Os[(w * kRW + r) * Dh + d], vv, dp[r]);
      }
    }
#pragma unroll
    for (int r = 0; r < kRW; ++r) {
      const int i = i0 + w * kRW + r;
      float G = 0.f;
      if (jv) {
        const float P = expf(s[r] * p.scale - mi[r]);
        const float M = (i == j) ? 1.f : pols[lane];
        G = M * P * (dp[r] - di[r]) / zi[r] - (j == ai[r] ? gi[r] : 0.f);
      }
      Gm[(w * kRW + r) * kT + lane] = G;
    }
    __syncwarp();
    for (int jj = 0; jj < kT; ++jj) {
#pragma unroll
      for (int c = 0; c < NDV; ++c) {
        const int d = lane + 32 * c;
        const float kv = d < Dh ? Ks[jj * ld + d] : 0.f;
#pragma unroll
        for (int r = 0; r < kRW; ++r) dq[r][c] = fmaf(Gm[(w * kRW + r) * kT + jj], kv, dq[r][c]);
      }
    }
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

// ---------------------------------------------------------------- tensor-core kernels (BF16)
constexpr int kMmaThreads = 128;  // 4 warps x 16 rows = a 64-row tile of the CTA's own axis

template <int DH, int BT>
constexpr size_t mma_smem() {  // 2 own tiles [64][LD] + 2 double-buffered streamed tiles [2][BT][LD] + stats
  return sizeof(bf16) * size_t(2 * 64 + 4 * BT) * (DH + 8) + sizeof(float) * 2 * 5 * BT;
}

// rows [r0, r0 + R) x DH of a contiguous [N, DH] BF16 matrix -> smem [R][DH+8], rows >= N zero-filled.
template <int DH, int R>
__device__ __forceinline__ void tile_async(bf16* dst, const bf16* src, int r0, int N, int tid) {
  constexpr int CPR = DH / 8, LD = DH + 8;
  for (int c = tid; c < R * CPR; c += kMmaThreads) {
    const int r = c / CPR, col = (c % CPR) * 8, row = r0 + r;
    const bool ok = row < N;
    dev::cp_async16(dst + r * LD + col, ok ? src + int64_t(row) * DH + col : src, ok ? 16 : 0);
  }
}

// Fragment of a 16-row block of a [*][LD] tile at (row0, k-col kc*16) as the mma A operand.
template <int LD>
__device__ __forceinline__ void frag_a(uint32_t a[4], const bf16* tile, int row0, int kc, int g, int t) {
  const bf16* pa = tile + (row0 + g) * LD + kc * 16 + 2 * t;
  a[0] = dev::ld32(pa);
  a[1] = dev::ld32(pa + 8 * LD);
  a[2] = dev::ld32(pa + 8);
  a[3] = dev::ld32(pa + 8 * LD + 8);
}

// dK/dV/dpolicy: CTA = 64 keys (warp w: keys 16w + g, +8); query tiles of BQ stream through smem.
// Per tile: S^T = K Q^T and dP^T = V dO^T (rows j, cols i), then dv += S^T dO, dk += dA^T Q.
template <int DH, int BQ>
__global__ void __launch_bounds__(kMmaThreads) attn_bwd_dkdv_mma(AttnBwdParams p) {
  constexpr int LD = DH + 8, NT = BQ / 8, DT = DH / 8, KC = DH / 16;
  R4P_DYNAMIC_SMEM(smraw);
  bf16* Ks = reinterpret_cast<bf16*>(smraw);  // [64][LD]
  bf16* Vs = Ks + 64 * LD;                    // [64][LD]
  bf16* Qs = Vs + 64 * LD;                    // [2][BQ][LD]
  bf16* Os = Qs + 2 * BQ * LD;                // [2][BQ][LD]
  float* stf = reinterpret_cast<float*>(Os + 2 * BQ * LD);  // [2][4][BQ]: m, Z, D, Gs
  int* sta = reinterpret_cast<int*>(stf + 2 * 4 * BQ);      // [2][BQ]: argmax

  const int N = p.N;
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t = lane & 3;
  const int bh = blockIdx.y, b = bh / p.H;
  const int j0 = blockIdx.x * 64;
  const int64_t base = int64_t(bh) * N * DH, sbase = int64_t(bh) * N;
  const bf16* qb = static_cast<const bf16*>(p.q) + base;
  const bf16* kb = static_cast<const bf16*>(p.k) + base;
  const bf16* vb = static_cast<const bf16*>(p.v) + base;
  const bf16* ob = static_cast<const bf16*>(p.dout) + base;
  const int ntiles = (N + BQ - 1) / BQ;

  auto load_stats = [&](int stage, int i0) {
    if (tid < BQ) {
      const int i = i0 + tid;
      const bool ok = i < N;
      float* s = stf + stage * 4 * BQ;
      s[tid] = ok ? p.row_max[sbase + i] : 0.f;
      s[BQ + tid] = ok ? p.row_den[sbase + i] : 1.f;
      s[2 * BQ + tid] = ok ? p.Dv[sbase + i] : 0.f;
      s[3 * BQ + tid] = ok ? p.Gs[sbase + i] : 0.f;
      sta[stage * BQ + tid] = ok ? p.row_arg[sbase + i] : -1;
    }
  };

  tile_async<DH, 64>(Ks, kb, j0, N, tid);
  tile_async<DH, 64>(Vs, vb, j0, N, tid);
  tile_async<DH, BQ>(Qs, qb, 0, N, tid);
  tile_async<DH, BQ>(Os, ob, 0, N, tid);
  load_stats(0, 0);
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
    const int stg = it & 1;
    if (it + 1 < ntiles) {
      const int ns = (it + 1) & 1;
      tile_async<DH, BQ>(Qs + ns * BQ * LD, qb, (it + 1) * BQ, N, tid);
      tile_async<DH, BQ>(Os + ns * BQ * LD, ob, (it + 1) * BQ, N, tid);
      load_stats(ns, (it + 1) * BQ);
      dev::cp_async_commit();
      dev::cp_async_wait<1>();
    } else {
      dev::cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* Qt = Qs + stg * BQ * LD;
    const bf16* Ot = Os + stg * BQ * LD;
    const float* sm_ = stf + stg * 4 * BQ;
    const int* sa = sta + stg * BQ;
    const int i0 = it * BQ;

    float sT[NT][4], dpT[NT][4];
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) sT[n][e] = dpT[n][e] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      uint32_t ak[4], av[4];
      frag_a<LD>(ak, Ks, 16 * w, kc, g, t);
      frag_a<LD>(av, Vs, 16 * w, kc, g, t);
#pragma unroll
      for (int n = 0; n < NT; ++n) {
        const bf16* qp = Qt + (n * 8 + g) * LD + kc * 16 + 2 * t;
        const bf16* op = Ot + (n * 8 + g) * LD + kc * 16 + 2 * t;
        const uint32_t bq[2] = {dev::ld32(qp), dev::ld32(qp + 8)};
        const uint32_t bo[2] = {dev::ld32(op), dev::ld32(op + 8)};
        dev::mma_bf16(sT[n], ak, bq);
        dev::mma_bf16(dpT[n], av, bo);
      }
    }
    // Element (row j, col i): sT <- S_ij, dpT <- dA_ij (as BF16 operands of the next two products).
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int rr = e >> 1, il = n * 8 + 2 * t + (e & 1), i = i0 + il, j = jrow[rr];
        float S = 0.f, G = 0.f;
        if (i < N) {
          const float zi = sm_[BQ + il];
          const float P = __expf(sT[n][e] * p.scale - sm_[il]);
          const float T_ = P * (dpT[n][e] - sm_[2 * BQ + il]) / zi;
          const float M = (i == j) ? 1.f : pol[rr];
          S = (M * P + c_eps) / zi;
          G = M * T_ - (sa[il] == j ? sm_[3 * BQ + il] : 0.f);
          if (i != j) dpol[rr] += T_;
        }
        sT[n][e] = S;
        dpT[n][e] = G;
      }
    // dv += S^T dO, dk += dA^T Q over this tile's queries (k = i).
#pragma unroll
    for (int kc = 0; kc < BQ / 16; ++kc) {
      const uint32_t as[4] = {dev::pack_bf16(sT[2 * kc][0], sT[2 * kc][1]), dev::pack_bf16(sT[2 * kc][2], sT[2 * kc][3]),
                              dev::pack_bf16(sT[2 * kc + 1][0], sT[2 * kc + 1][1]),
                              dev::pack_bf16(sT[2 * kc + 1][2], sT[2 * kc + 1][3])};
      const uint32_t ag[4] = {dev::pack_bf16(dpT[2 * kc][0], dpT[2 * kc][1]),
                              dev::pack_bf16(dpT[2 * kc][2], dpT[2 * kc][3]),
                              dev::pack_bf16(dpT[2 * kc + 1][0], dpT[2 * kc + 1][1]),
                              dev::pack_bf16(dpT[2 * kc + 1][2], dpT[2 * kc + 1][3])};
      const int r0 = kc * 16 + 2 * t;
#pragma unroll
      for (int dn = 0; dn < DT; ++dn) {
        const bf16* o0 = Ot + r0 * LD + dn * 8 + g;
        const bf16* q0 = Qt + r0 * LD + dn * 8 + g;
        const uint32_t bo[2] = {dev::pack2(o0, o0 + LD), dev::pack2(o0 + 8 * LD, o0 + 9 * LD)};
        const uint32_t bq[2] = {dev::pack2(q0, q0 + LD), dev::pack2(q0 + 8 * LD, q0 + 9 * LD)};
        dev::mma_bf16(dv[dn], as, bo);
        dev::mma_bf16(dk[dn], ag, bq);
      }
    }
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
__global__ void __launch_bounds__(kMmaThreads) attn_bwd_dq_mma(AttnBwdParams p) {
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
  const bf16* qb = static_cast<const bf16*>(p.q) + base;
  const bf16* kb = static_cast<const bf16*>(p.k) + base;
  const bf16* vb = static_cast<const bf16*>(p.v) + base;
  const bf16* ob = static_cast<const bf16*>(p.dout) + base;
  const float* polb = p.policy ? p.policy + int64_t(b) * N : nullptr;
  const int ntiles = (N + BK - 1) / BK;

  tile_async<DH, 64>(Qs, qb, i0, N, tid);
  tile_async<DH, 64>(Os, ob, i0, N, tid);
  tile_async<DH, BK>(Ks, kb, 0, N, tid);
  tile_async<DH, BK>(Vs, vb, 0, N, tid);
  if (tid < BK) pols[tid] = (polb && tid < N) ? polb[tid] : 1.f;
  dev::cp_async_commit();

  int irow[2], ai[2];
  float mi[2], zi[2], di[2], gi[2];
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    const int i = i0 + 16 * w + g + 8 * rr;
    const bool ok = i < N;
    irow[rr] = i;
    mi[rr] = ok ? p.row_max[sbase + i] : 0.f;
    zi[rr] = ok ? p.row_den[sbase + i] : 1.f;
    di[rr] = ok ? p.Dv[sbase + i] : 0.f;
    gi[rr] = ok ? p.Gs[sbase + i] : 0.f;
    ai[rr] = ok ? p.row_arg[sbase + i] : -1;
  }
  float dq[DT][4];
#pragma unroll
  for (int dn = 0; dn < DT; ++dn) dq[dn][0] = dq[dn][1] = dq[dn][2] = dq[dn][3] = 0.f;

  for (int jt = 0; jt < ntiles; ++jt) {
    const int stg = jt & 1;
    if (jt + 1 < ntiles) {
      const int ns = (jt + 1) & 1, j1 = (jt + 1) * BK;
      tile_async<DH, BK>(Ks + ns * BK * LD, kb, j1, N, tid);
      tile_async<DH, BK>(Vs + ns * BK * LD, vb, j1, N, tid);
      if (tid < BK) pols[ns * BK + tid] = (polb && j1 + tid < N) ? polb[j1 + tid] : 1.f;
      dev::cp_async_commit();
      dev::cp_async_wait<1>();
    } else {
      dev::cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* Kt = Ks + stg * BK * LD;
    const bf16* Vt = Vs + stg * BK * LD;
    const float* pt = pols + stg * BK;
    const int j0 = jt * BK;

    float s[NT][4], dp[NT][4];
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = dp[n][e] = 0.f;
#pragma unroll
    for (int kc = 0; kc < KC; ++kc) {
      uint32_t aq[4], ao[4];
      frag_a<LD>(aq, Qs, 16 * w, kc, g, t);
      frag_a<LD>(ao, Os, 16 * w, kc, g, t);
#pragma unroll
      for (int n = 0; n < NT; ++n) {
        const bf16* kp = Kt + (n * 8 + g) * LD + kc * 16 + 2 * t;
        const bf16* vp = Vt + (n * 8 + g) * LD + kc * 16 + 2 * t;
        const uint32_t bk[2] = {dev::ld32(kp), dev::ld32(kp + 8)};
        const uint32_t bv[2] = {dev::ld32(vp), dev::ld32(vp + 8)};
        dev::mma_bf16(s[n], aq, bk);
        dev::mma_bf16(dp[n], ao, bv);
      }
    }
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int rr = e >> 1, jl = n * 8 + 2 * t + (e & 1), j = j0 + jl;
        float G = 0.f;
        if (j < N) {
          const float P = __expf(s[n][e] * p.scale - mi[rr]);
          const float M = (irow[rr] == j) ? 1.f : pt[jl];
          G = M * P * (dp[n][e] - di[rr]) / zi[rr] - (ai[rr] == j ? gi[rr] : 0.f);
        }
        s[n][e] = G;
      }
    // dq += dA K over this tile's keys (k = j).
#pragma unroll
    for (int kc = 0; kc < BK / 16; ++kc) {
      const uint32_t a[4] = {dev::pack_bf16(s[2 * kc][0], s[2 * kc][1]), dev::pack_bf16(s[2 * kc][2], s[2 * kc][3]),
                             dev::pack_bf16(s[2 * kc + 1][0], s[2 * kc + 1][1]),
                             dev::pack_bf16(s[2 * kc + 1][2], s[2 * kc + 1][3])};
      const bf16* k0 = Kt + (kc * 16 + 2 * t) * LD + g;
#pragma unroll
      for (int dn = 0; dn < DT; ++dn) {
        const bf16* kk = k0 + dn * 8;
        const uint32_t bb[2] = {dev::pack2(kk, kk + LD), dev::pack2(kk + 8 * LD, kk + 9 * LD)};
        dev::mma_bf16(dq[dn], a, bb);
      }
    }
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

// ---------------------------------------------------------------- launch
template <typename Kernel>
Status launch_smem(Kernel kernel, dim3 grid, int threads, size_t smem, cudaStream_t stream, const AttnBwdParams& p,
                   const char* op) {
  if (smem > 48 * 1024) {
    int dev = 0, optin = 0;
    R4P_CUDA_TRY(op, cudaGetDevice(&dev));
    R4P_CUDA_TRY(op, cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (smem > size_t(optin))
      return Status::Make(StatusCode::kUnavailable,
                          detail::concat(op, ": the backward needs ", smem,
                                         " bytes of shared memory per block, the device allows ", optin, " (Dh = ", p.Dh, ")"));
    R4P_CUDA_TRY(op, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  }
  kernel<<<grid, threads, smem, stream>>>(p);
  return launch_status(op);
}

template <typename T, int NDV>
Status launch_simt(const AttnBwdParams& p, bool want_kv, bool want_q, cudaStream_t stream, const char* op) {
  const dim3 grid((p.N + kT - 1) / kT, p.B * p.H);
  if (want_kv) R4P_RETURN_IF_ERROR(launch_smem(attn_bwd_dkdv_simt<T, NDV>, grid, kThreads, simt_dkdv_smem(p.Dh), stream, p, op));
  if (want_q) R4P_RETURN_IF_ERROR(launch_smem(attn_bwd_dq_simt<T, NDV>, grid, kThreads, simt_dq_smem(p.Dh), stream, p, op));
  return Status::Ok();
}

template <int DH, int BT>
Status launch_mma(const AttnBwdParams& p, bool want_kv, bool want_q, cudaStream_t stream, const char* op) {
  const dim3 grid((p.N + 63) / 64, p.B * p.H);
  if (want_kv)
    R4P_RETURN_IF_ERROR(launch_smem(attn_bwd_dkdv_mma<DH, BT>, grid, kMmaThreads, mma_smem<DH, BT>(), stream, p, op));
  if (want_q) R4P_RETURN_IF_ERROR(launch_smem(attn_bwd_dq_mma<DH, BT>, grid, kMmaThreads, mma_smem<DH, BT>(), stream, p, op));
  return Status::Ok();
}

bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

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

  AttnBwdParams p{};
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
  if (mma) {
    if (f.Dh == 32) R4P_RETURN_IF_ERROR((launch_mma<32, 64>(p, want_kv, want_q, stream, op)));
    else if (f.Dh == 64) R4P_RETURN_IF_ERROR((launch_mma<64, 64>(p, want_kv, want_q, stream, op)));
    else R4P_RETURN_IF_ERROR((launch_mma<128, 32>(p, want_kv, want_q, stream, op)));
  } else if (f.in_bf16) {
    if (f.Dh <= 32) R4P_RETURN_IF_ERROR((launch_simt<bf16, 1>(p, want_kv, want_q, stream, op)));
    else if (f.Dh <= 64) R4P_RETURN_IF_ERROR((launch_simt<bf16, 2>(p, want_kv, want_q, stream, op)));
    else if (f.Dh <= 128) R4P_RETURN_IF_ERROR((launch_simt<bf16, 4>(p, want_kv, want_q, stream, op)));
    else R4P_RETURN_IF_ERROR((launch_simt<bf16, 8>(p, want_kv, want_q, stream, op)));
  } else {
    if (f.Dh <= 32) R4P_RETURN_IF_ERROR((launch_simt<float, 1>(p, want_kv, want_q, stream, op)));
    else if (f.Dh <= 64) R4P_RETURN_IF_ERROR((launch_simt<float, 2>(p, want_kv, want_q, stream, op)));
    else if (f.Dh <= 128) R4P_RETURN_IF_ERROR((launch_simt<float, 4>(p, want_kv, want_q, stream, op)));
    else R4P_RETURN_IF_ERROR((launch_simt<float, 8>(p, want_kv, want_q, stream, op)));
  }
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
