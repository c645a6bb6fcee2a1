// policy_attention_avx2.cc: SPEC §4 policy attention on the thread pool, forward and backward.
// q,k,v,dout,dq,dk,dv [B,H,N,Dh] f32, policy,dpolicy [B,N] f32; formulas in policy_attention_ref.cc.
//
// Forward: the flash-attention core (attention_core_avx2.cc) over an even split of the B*H*N query
// rows, K/V packed once per head per thread; each output row is written by one thread.
//
// Backward (overwrites every non-null gradient), two passes, both recomputing scores tile by tile
// with the core's micro-kernels (attention_tiles_avx2.h; the avx512 ones under 'avx512', same bits), no
// N x N buffer:
//  1. units (b, h, query block): the core gives out_i, m_i, Z_i; D_i = dout_i . out_i; then over key
//     tiles A = q (scale k)^T, dS = dout v^T, G = E (dS - D)/Z, dq_i += G K, and the first argmax
//     j*_i of the recomputed row; sumG_i = sum_j G_ij in closed form (see pass1); dq_i = scale (acc - sumG_i k_{j*_i}) (the path
//     through the max). m, Z, D, sumG, j* are kept per row for pass 2.
//  2. units (b, h, key block): over query tiles A^T, dS^T, then S^T and dA^T = G^T - [j == j*_i] sumG_i,
//     dv_j += S^T dout, dk_j += dA^T (scale q), and the per-head dpolicy_j partial
//     sum_{i != j} (dS_ij - D_i)/Z_i exp(A_ij - m_i); finally dpolicy sums heads in order h = 0..H-1.
// Every dq row, dk/dv row and dpolicy entry is produced by one thread in a fixed order, and query /
// key tiles start at absolute multiples of KT: results do not depend on the thread count.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "kernels/cpu/attention_core.h"
#include "kernels/cpu/attention_tiles_avx2.h"
#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

using attn::KT;
using attn::RMAX;
static constexpr int64_t QB = 96;      // rows per backward unit (queries in pass 1, keys in pass 2)
static constexpr int64_t QB_FWD = 192; // query rows per forward core call: one core super-block

static AttentionCoreArgs core_args(const float* q, const float* k, const float* v, const float* pol, float* out,
                                   int64_t N, int64_t Dh, float scale, float eps) {
  AttentionCoreArgs c;
  c.q = q; c.ldq = Dh;
  c.k = k; c.ldk = Dh;
  c.v = v; c.ldv = Dh;
  c.out = out; c.ldo = Dh;
  c.Nq = N; c.Nk = N; c.Dh = Dh;
  c.scale = scale; c.policy = pol; c.eps = eps;
  return c;
}

Status policy_attention_fwd_avx2(const PolicyAttentionArgs& a) {
  // The B*H*N query rows split evenly into one contiguous range per thread; a thread packs a head's
  // K/V once when its range enters the head and runs the core on chunks of <= QB_FWD rows (per-row
  // results do not depend on the chunking, so neither on the thread count).
  const int64_t N = a.N, Dh = a.Dh, rows_total = a.B * a.H * N;
  const AttnKernel attn_kernel = attention_core_kernel();  // on this thread: it knows the matmul precision
  std::atomic<bool> oom{false};
  ThreadPool::instance().run(
      [&](int ith, int nth) {
        int64_t g0, g1;
        split_range(rows_total, ith, nth, &g0, &g1);
        if (g0 >= g1) return;
        try {
          AttentionCoreArgs c0 = core_args(nullptr, nullptr, nullptr, a.policy, nullptr, N, Dh, a.scale, a.eps);
          std::vector<float> scratch(attention_core_scratch_floats(c0));
          std::vector<float> packed(attention_core_packed_floats(c0));
          int64_t packed_bh = -1;
          for (int64_t g = g0; g < g1;) {
            const int64_t bh = g / N, i0 = g % N, i1 = std::min({N, i0 + QB_FWD, i0 + (g1 - g)});
            const int64_t b = bh / a.H, base = bh * N * Dh;
            AttentionCoreArgs c = core_args(a.q + base, a.k + base, a.v + base, a.policy + b * N, a.out + base, N, Dh,
                                            a.scale, a.eps);
            c.row_max = a.row_max ? a.row_max + bh * N : nullptr;
            c.row_den = a.row_den ? a.row_den + bh * N : nullptr;
            if (bh != packed_bh) {
              attention_core_pack(attn_kernel, c, packed.data());
              packed_bh = bh;
            }
            attention_core_rows_packed(attn_kernel, c, packed.data(), i0, i1, scratch.data());
            g += i1 - i0;
          }
        } catch (const std::bad_alloc&) {
          oom = true;
        }
      },
      (rows_total + QB_FWD - 1) / QB_FWD);
  if (oom) return Status::Make(StatusCode::kOutOfMemory, "policyAttention: out of memory for scratch");
  return Status::Ok();
}

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Per-row statistics shared by the two backward passes, [B*H*N] each.
struct RowStats {
  std::vector<float> m, Z, D, sumG;
  std::vector<int32_t> jstar;
  explicit RowStats(int64_t n) : m(n), Z(n), D(n), sumG(n), jstar(n) {}
};

// Pass 1 for query rows [r0, r1) of one head.
struct Pass1Scratch {
  std::vector<float> core, out, kt, vt, kr, polt, sA, sdS, dqa, vsum;
  Pass1Scratch(const AttentionCoreArgs& c, int64_t Dh, int64_t Dp)
      : core(attention_core_scratch_floats(c)), out(QB * Dh), kt(Dh * KT), vt(Dh * KT), kr(KT * Dp), polt(KT),
        sA(RMAX * KT), sdS(RMAX * KT), dqa(QB * Dp), vsum(Dh) {}
};

void pass1(const PolicyAttentionBwdArgs& a, int64_t bh, int64_t r0, int64_t r1, RowStats& st, Pass1Scratch& w) {
  const AttnTileFns tiles = attention_tile_fns();
  const int64_t N = a.N, Dh = a.Dh, Dp = attn::pad8(Dh), b = bh / a.H, base = bh * N * Dh, nq = r1 - r0;
  const float *q = a.q + base, *k = a.k + base, *v = a.v + base, *dout = a.dout + base, *pol = a.policy + b * N;
  float *m = st.m.data() + bh * N, *Z = st.Z.data() + bh * N, *D = st.D.data() + bh * N;
  float* sumG = st.sumG.data() + bh * N;
  int32_t* jstar = st.jstar.data() + bh * N;

  // forward rows (m, Z, out) from the core, then D_i = dout_i . out_i
  AttentionCoreArgs c = core_args(q + r0 * Dh, k, v, pol, w.out.data(), N, Dh, a.scale, a.eps);
  c.Nq = nq;
  c.diag_offset = r0;
  c.row_max = m + r0;
  c.row_den = Z + r0;
  attention_core_rows(c, 0, nq, w.core.data());
  // sum_j G_ij in closed form: with sum_j E_ij dS_ij = D_i Z_i - (eps/N) dout_i . sum_j v_j,
  //   sumG_i = (eps D_i - (eps/N) dout_i . sum_j v_j) / Z_i
  // exact where summing the G_ij in float would cancel (the true value is O(eps)).
  const float cst = a.eps / static_cast<float>(N);
  std::fill(w.vsum.begin(), w.vsum.end(), 0.f);
  if (cst != 0.f)
    for (int64_t j = 0; j < N; ++j)
      for (int64_t d = 0; d < Dh; ++d) w.vsum[d] += v[j * Dh + d];
  for (int64_t r = 0; r < nq; ++r) {
    float acc = 0.f, dv = 0.f;
    for (int64_t d = 0; d < Dh; ++d) {
      acc += dout[(r0 + r) * Dh + d] * w.out[r * Dh + d];
      dv += dout[(r0 + r) * Dh + d] * w.vsum[d];
    }
    D[r0 + r] = acc;
    sumG[r0 + r] = (a.eps * acc - cst * dv) / Z[r0 + r];
  }

  std::fill(w.dqa.begin(), w.dqa.end(), 0.f);
  std::vector<float> best(nq, kNegInf);
  for (int64_t r = 0; r < nq; ++r) jstar[r0 + r] = 0;
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);

  for (int64_t j0 = 0; j0 < N; j0 += KT) {
    const int n = static_cast<int>(std::min<int64_t>(KT, N - j0));
    const int ngroups = (n + 15) / 16, width = ngroups * 16;
    attn::pack_t(k, Dh, j0, n, Dh, w.kt.data(), a.scale);
    attn::pack_t(v, Dh, j0, n, Dh, w.vt.data());
    attn::pack_rows(k, Dh, j0, n, Dh, Dp, w.kr.data());
    for (int j = 0; j < KT; ++j) w.polt[j] = j < n ? pol[j0 + j] : 0.f;
    for (int64_t rb = 0; rb < nq; rb += RMAX) {
      const int R = static_cast<int>(std::min<int64_t>(RMAX, nq - rb));
      tiles.scores(R, q + (r0 + rb) * Dh, Dh, Dh, w.kt.data(), ngroups, w.sA.data());
      tiles.scores(R, dout + (r0 + rb) * Dh, Dh, Dh, w.vt.data(), ngroups, w.sdS.data());
      for (int r = 0; r < R; ++r) {
        const int64_t lr = rb + r, i = r0 + lr;
        float* sa = w.sA.data() + r * KT;
        const float* sd = w.sdS.data() + r * KT;
        for (int j = 0; j < n; ++j)
          if (sa[j] > best[lr]) {
            best[lr] = sa[j];
            jstar[i] = static_cast<int32_t>(j0 + j);
          }
        for (int j = n; j < width; ++j) sa[j] = kNegInf;
        const __m256 vm = _mm256_set1_ps(m[i]), vD = _mm256_set1_ps(D[i]), vinvZ = _mm256_set1_ps(1.f / Z[i]);
        const int64_t jd = i - j0;
        for (int j = 0; j < width; j += 8) {
          const __m256 e = attn::exp_ps(_mm256_sub_ps(_mm256_loadu_ps(sa + j), vm));
          __m256 M = _mm256_loadu_ps(w.polt.data() + j);
          if (jd >= j && jd < j + 8) {
            const __m256 lane = _mm256_castsi256_ps(_mm256_cmpeq_epi32(iota, _mm256_set1_epi32(static_cast<int>(jd - j))));
            M = _mm256_blendv_ps(M, _mm256_set1_ps(1.f), lane);
          }
          const __m256 g = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(e, M), _mm256_sub_ps(_mm256_loadu_ps(sd + j), vD)), vinvZ);
          _mm256_storeu_ps(sa + j, g);
        }
      }
      tiles.pv(R, w.sA.data(), n, w.kr.data(), Dp, w.dqa.data() + rb * Dp, Dp);
    }
  }
  for (int64_t lr = 0; lr < nq; ++lr) {
    const int64_t i = r0 + lr;
    if (!a.dq) continue;
    const float* kj = k + int64_t(jstar[i]) * Dh;
    float* dqi = a.dq + base + i * Dh;
    for (int64_t d = 0; d < Dh; ++d) dqi[d] = a.scale * (w.dqa[lr * Dp + d] - sumG[i] * kj[d]);
  }
}

struct Pass2Scratch {
  std::vector<float> qt, dt, qr, dr, tm, tinvZ, tD, tsumG, tj, sA, sdS, sS, dka, dva;
  Pass2Scratch(int64_t Dh, int64_t Dp)
      : qt(Dh * KT), dt(Dh * KT), qr(KT * Dp), dr(KT * Dp), tm(KT), tinvZ(KT), tD(KT), tsumG(KT), tj(KT),
        sA(RMAX * KT), sdS(RMAX * KT), sS(RMAX * KT), dka(QB * Dp), dva(QB * Dp) {}
};

// Pass 2 for key rows [c0, c1) of one head; dpol_h [N] gets this head's dpolicy partials.
void pass2(const PolicyAttentionBwdArgs& a, int64_t bh, int64_t c0, int64_t c1, const RowStats& st, float* dpol_h,
           Pass2Scratch& w) {
  const AttnTileFns tiles = attention_tile_fns();  // the global kernel variant: the same on every pool thread
  const int64_t N = a.N, Dh = a.Dh, Dp = attn::pad8(Dh), b = bh / a.H, base = bh * N * Dh, nk = c1 - c0;
  const float *q = a.q + base, *k = a.k + base, *v = a.v + base, *dout = a.dout + base, *pol = a.policy + b * N;
  const float *m = st.m.data() + bh * N, *Z = st.Z.data() + bh * N, *D = st.D.data() + bh * N;
  const float* sumG = st.sumG.data() + bh * N;
  const int32_t* jstar = st.jstar.data() + bh * N;
  const float cst = a.eps / static_cast<float>(N);
  std::fill(w.dka.begin(), w.dka.end(), 0.f);
  std::fill(w.dva.begin(), w.dva.end(), 0.f);
  std::vector<float> dp(nk, 0.f);
  const __m256 iotaf = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);

  for (int64_t i0 = 0; i0 < N; i0 += KT) {
    const int n = static_cast<int>(std::min<int64_t>(KT, N - i0));
    const int ngroups = (n + 15) / 16, width = ngroups * 16;
    attn::pack_t(q, Dh, i0, n, Dh, w.qt.data(), a.scale);
    attn::pack_t(dout, Dh, i0, n, Dh, w.dt.data());
    attn::pack_rows(q, Dh, i0, n, Dh, Dp, w.qr.data());
    attn::pack_rows(dout, Dh, i0, n, Dh, Dp, w.dr.data());
    for (int t = 0; t < KT; ++t) {  // padded queries contribute nothing (invZ = 0, e = 0)
      const bool ok = t < n;
      w.tm[t] = ok ? m[i0 + t] : 0.f;
      w.tinvZ[t] = ok ? 1.f / Z[i0 + t] : 0.f;
      w.tD[t] = ok ? D[i0 + t] : 0.f;
      w.tsumG[t] = ok ? sumG[i0 + t] : 0.f;
      w.tj[t] = ok ? static_cast<float>(jstar[i0 + t]) : -1.f;
    }
    for (int64_t rb = 0; rb < nk; rb += RMAX) {
      const int R = static_cast<int>(std::min<int64_t>(RMAX, nk - rb));
      tiles.scores(R, k + (c0 + rb) * Dh, Dh, Dh, w.qt.data(), ngroups, w.sA.data());
      tiles.scores(R, v + (c0 + rb) * Dh, Dh, Dh, w.dt.data(), ngroups, w.sdS.data());
      for (int r = 0; r < R; ++r) {
        const int64_t lr = rb + r, j = c0 + lr;
        float* sa = w.sA.data() + r * KT;
        const float* sd = w.sdS.data() + r * KT;
        float* ss = w.sS.data() + r * KT;
        for (int t = n; t < width; ++t) sa[t] = kNegInf;
        const __m256 vpol = _mm256_set1_ps(pol[j]), vjf = _mm256_set1_ps(static_cast<float>(j));
        const __m256 vdiag = _mm256_set1_ps(static_cast<float>(j - i0)), vc = _mm256_set1_ps(cst);
        __m256 vdp = _mm256_setzero_ps();
        for (int t = 0; t < width; t += 8) {
          const __m256 e = attn::exp_ps(_mm256_sub_ps(_mm256_loadu_ps(sa + t), _mm256_loadu_ps(w.tm.data() + t)));
          const __m256 self = _mm256_cmp_ps(_mm256_add_ps(iotaf, _mm256_set1_ps(float(t))), vdiag, _CMP_EQ_OQ);
          const __m256 M = _mm256_blendv_ps(vpol, _mm256_set1_ps(1.f), self);
          const __m256 E = _mm256_mul_ps(e, M);
          const __m256 invZ = _mm256_loadu_ps(w.tinvZ.data() + t);
          const __m256 dsd = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(sd + t), _mm256_loadu_ps(w.tD.data() + t)), invZ);
          const __m256 S = _mm256_mul_ps(_mm256_add_ps(E, vc), invZ);
          const __m256 isj = _mm256_cmp_ps(_mm256_loadu_ps(w.tj.data() + t), vjf, _CMP_EQ_OQ);
          const __m256 dA = _mm256_sub_ps(_mm256_mul_ps(E, dsd), _mm256_and_ps(isj, _mm256_loadu_ps(w.tsumG.data() + t)));
          vdp = _mm256_add_ps(vdp, _mm256_andnot_ps(self, _mm256_mul_ps(dsd, e)));
          _mm256_storeu_ps(ss + t, S);
          _mm256_storeu_ps(sa + t, dA);
        }
        dp[lr] += vec::hsum_ps(vdp);
      }
      tiles.pv(R, w.sS.data(), n, w.dr.data(), Dp, w.dva.data() + rb * Dp, Dp);
      tiles.pv(R, w.sA.data(), n, w.qr.data(), Dp, w.dka.data() + rb * Dp, Dp);
    }
  }
  for (int64_t lr = 0; lr < nk; ++lr) {
    const int64_t j = c0 + lr;
    if (a.dk)
      for (int64_t d = 0; d < Dh; ++d) a.dk[base + j * Dh + d] = a.scale * w.dka[lr * Dp + d];
    if (a.dv)
      for (int64_t d = 0; d < Dh; ++d) a.dv[base + j * Dh + d] = w.dva[lr * Dp + d];
    dpol_h[j] = dp[lr];
  }
}

}  // namespace

Status policy_attention_bwd_avx2(const PolicyAttentionBwdArgs& a) {
  const int64_t N = a.N, Dh = a.Dh, Dp = attn::pad8(Dh), BH = a.B * a.H;
  const int64_t nblk = (N + QB - 1) / QB, units = BH * nblk;
  std::atomic<bool> oom{false};
  try {
    RowStats st(BH * N);
    std::vector<float> dpol_h(BH * N);
    ThreadPool::instance().run(
        [&](int ith, int nth) {
          int64_t u0, u1;
          split_range(units, ith, nth, &u0, &u1);
          if (u0 >= u1) return;
          try {
            Pass1Scratch w(core_args(nullptr, nullptr, nullptr, nullptr, nullptr, N, Dh, a.scale, a.eps), Dh, Dp);
            for (int64_t u = u0; u < u1; ++u)
              pass1(a, u / nblk, (u % nblk) * QB, std::min(N, (u % nblk + 1) * QB), st, w);
          } catch (const std::bad_alloc&) {
            oom = true;
          }
        },
        units);
    if (oom) return Status::Make(StatusCode::kOutOfMemory, "policyAttentionBackward: out of memory for scratch");
    if (a.dk || a.dv || a.dpolicy) {
      ThreadPool::instance().run(
          [&](int ith, int nth) {
            int64_t u0, u1;
            split_range(units, ith, nth, &u0, &u1);
            if (u0 >= u1) return;
            try {
              Pass2Scratch w(Dh, Dp);
              for (int64_t u = u0; u < u1; ++u) {
                const int64_t bh = u / nblk;
                pass2(a, bh, (u % nblk) * QB, std::min(N, (u % nblk + 1) * QB), st, dpol_h.data() + bh * N, w);
              }
            } catch (const std::bad_alloc&) {
              oom = true;
            }
          },
          units);
      if (oom) return Status::Make(StatusCode::kOutOfMemory, "policyAttentionBackward: out of memory for scratch");
    }
    if (a.dpolicy)
      for (int64_t b = 0; b < a.B; ++b)
        for (int64_t j = 0; j < N; ++j) {
          float s = 0.f;
          for (int64_t h = 0; h < a.H; ++h) s += dpol_h[(b * a.H + h) * N + j];
          a.dpolicy[b * N + j] = s;
        }
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "policyAttentionBackward: out of memory");
  }
  return Status::Ok();
}

}  // namespace r4p
