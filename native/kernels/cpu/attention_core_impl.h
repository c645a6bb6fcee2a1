// attention_core_impl.h: the body of the flash-attention core (attention_core.h), shared by
// attention_core_avx2.cc and attention_core_avx512.cc, which differ only in the register-blocked score and
// P.V micro-kernels (`Tiles`: attention_tiles_avx2.h, 6 rows x 16 keys; attention_tiles_avx512.h, 12 rows
// x 32 keys). Every score is the same FMA chain over d, every output column the same chain over keys, and
// the online softmax below is the same code: the two variants give identical bits.
//
// Algorithm (per call, single-threaded): query rows are taken QS at a time (a "super-block": its
// scaled Q rows, running max m, running sum l and output accumulator O [QS][Dp] live in scratch).
// For each key tile of KT = 64 keys (tiles start at absolute multiples of 64, so the summation order
// of a row never depends on the caller's row split), K is packed transposed and V copied with a
// padded stride, then reused by every R-row micro-block of the super-block:
//   s = (scale q) k^T (register-blocked), tile max -> m_new, rescale O and l by exp(m_old - m_new),
//   p = exp(s - m_new) * M (policy lane, 1 on the self-loop), l += sum p, O += p V.
// No Nq x Nk buffer exists. Packing: the rows entry points pack each tile themselves (~Dh*KT per tile
// against QS*KT*Dh FMAs, hence QS = 192); the rows_packed ones read tiles that attention_core_pack_avx2
// laid out once for the whole head, so a caller running many row ranges per head packs each head once
// per thread (K/V read from L2 / L3 as whole 32 KiB tiles).
// Where the time goes (AVX2, Dh = 64, one core): the two FMA micro-kernels run at ~96% of the FMA peak;
// the softmax is ~13% of the total (the exp ~9%), which puts the core at ~84% of peak.
//
// Numerics with a policy: the max runs over ALL keys (masked ones included) exactly as the formula
// says. The eps/Nk * colsum(V) and eps terms are not relative to the max, so they are added once at
// the end to the max-relative sums: out = (O + eps/Nk * sum_j v_j) / (l + eps). sum_j v_j is the same
// for every row and is computed once per call (or per packing), j ascending.
// Include only from *_avx2.cc / *_avx512.cc (anonymous namespace: one copy per including file).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/attention_core.h"
#include "kernels/cpu/attention_tiles_avx2.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace r4p {
namespace {

using attn::KT;
constexpr int64_t QS = 192;  // query rows per super-block (a multiple of every Tiles::RMAX)

// One row's online-softmax step on a tile: s (16*ngroups scores, n valid) becomes p in place.
// polt: the policy tile (0 past n) or null; jd: the tile-local self-loop key (outside [0,KT) = none).
inline void attn_softmax_step(float* s, int n, int ngroups, float* m, float* l, float* o, int64_t Dp,
                                const float* polt, int64_t jd) {
  const int width = ngroups * 16;
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int j = n; j < width; ++j) s[j] = ninf;
  __m256 vmax = _mm256_set1_ps(ninf);
  for (int j = 0; j < width; j += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(s + j));
  const float tmax = vec::hmax_ps(vmax);
  const float m_old = *m;
  const float m_new = std::max(m_old, tmax);
  if (!(m_new > ninf)) {  // all scores -inf (or NaN inputs): nothing to add from this tile
    for (int j = 0; j < width; ++j) s[j] = 0.f;
    return;
  }
  if (m_new > m_old) {
    const float alpha = (m_old == ninf) ? 0.f : std::exp(m_old - m_new);
    const __m256 va = _mm256_set1_ps(alpha);
    for (int64_t c = 0; c < Dp; c += 8) _mm256_storeu_ps(o + c, _mm256_mul_ps(va, _mm256_loadu_ps(o + c)));
    *l *= alpha;
    *m = m_new;
  }
  const __m256 vm = _mm256_set1_ps(m_new);
  __m256 vsum = _mm256_setzero_ps();
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int j = 0; j < width; j += 8) {
    __m256 e = attn::exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
    if (polt) {
      __m256 pol = _mm256_loadu_ps(polt + j);
      if (jd >= j && jd < j + 8) {
        const __m256 lane = _mm256_castsi256_ps(_mm256_cmpeq_epi32(iota, _mm256_set1_epi32(static_cast<int>(jd - j))));
        pol = _mm256_blendv_ps(pol, _mm256_set1_ps(1.f), lane);
      }
      e = _mm256_mul_ps(e, pol);
    }
    _mm256_storeu_ps(s + j, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  *l += vec::hsum_ps(vsum);
}

// The end of a super-block (rows s0 .. s0+nq): out_i = (O_i + cst * sum_j v_j) / (l_i + eps with a policy),
// and the optional row max / denominator.
inline void attn_write_rows(const AttentionCoreArgs& a, int64_t s0, int64_t nq, const float* o, int64_t Dp, const float* m,
                            const float* l, const float* vsum, float cst) {
  const bool has_pol = a.policy != nullptr;
  for (int64_t r = 0; r < nq; ++r) {
    const int64_t i = s0 + r;
    const float den = l[r] + (has_pol ? a.eps : 0.f);
    const float inv = 1.f / den;
    float* oi = a.out + i * a.ldo;
    const float* orow = o + r * Dp;
    for (int64_t d = 0; d < a.Dh; ++d) oi[d] = (orow[d] + cst * vsum[d]) * inv;
    if (a.row_max) a.row_max[i] = m[r];
    if (a.row_den) a.row_den[i] = den;
  }
}

// One packed tile: K^T [Dh][KT] then V [KT][Dp] (rows past n zero).
inline int64_t attn_tile_floats(int64_t Dh, int64_t Dp) { return Dh * KT + KT * Dp; }

// sum_j v_j over all keys, j ascending (the same order whichever path computes it).
inline void attn_v_colsum(const AttentionCoreArgs& a, float* vsum) {
  const int64_t Dh = a.Dh, Dp = attn::pad8(Dh);
  std::fill(vsum, vsum + Dp, 0.f);
  for (int64_t j = 0; j < a.Nk; ++j) {
    const float* vj = a.v + j * a.ldv;
    for (int64_t d = 0; d < Dh; ++d) vsum[d] += vj[d];
  }
}

inline bool attn_needs_colsum(const AttentionCoreArgs& a) {
  return a.policy != nullptr && a.Nk > 0 && a.eps / static_cast<float>(a.Nk) != 0.f;
}

// packed == null: pack each tile into scratch as it comes.
template <class Tiles>
void attention_rows_impl(const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1, float* scratch) {
  const int64_t Dh = a.Dh, Dp = attn::pad8(Dh), Nk = a.Nk, tf = attn_tile_floats(Dh, Dp);
  const bool has_pol = a.policy != nullptr;
  float* kt_own = scratch;
  float* vr_own = kt_own + Dh * KT;
  float* polt = vr_own + KT * Dp;
  float* qs = polt + KT;
  float* o = qs + QS * Dh;
  float* m = o + QS * Dp;
  float* l = m + QS;
  float* s = l + QS;
  float* vsum_own = s + kAttnRowsMax * KT;

  const float cst = (has_pol && Nk > 0) ? a.eps / static_cast<float>(Nk) : 0.f;
  const float* vsum = vsum_own;
  if (packed) {
    vsum = packed + ((Nk + KT - 1) / KT) * tf;
  } else if (attn_needs_colsum(a)) {
    attn_v_colsum(a, vsum_own);
  } else {
    std::fill(vsum_own, vsum_own + Dp, 0.f);
  }

  for (int64_t s0 = i0; s0 < i1; s0 += QS) {
    const int64_t nq = std::min(QS, i1 - s0);
    for (int64_t r = 0; r < nq; ++r) {
      const float* qi = a.q + (s0 + r) * a.ldq;
      for (int64_t d = 0; d < Dh; ++d) qs[r * Dh + d] = a.scale * qi[d];
    }
    std::fill(o, o + nq * Dp, 0.f);
    std::fill(m, m + nq, -std::numeric_limits<float>::infinity());
    std::fill(l, l + nq, 0.f);

    int64_t t = 0;
    for (int64_t j0 = 0; j0 < Nk; j0 += KT, ++t) {
      const int n = static_cast<int>(std::min<int64_t>(KT, Nk - j0));
      const int ngroups = (n + 15) / 16;
      const float* kt = kt_own;
      const float* vr = vr_own;
      if (packed) {
        kt = packed + t * tf;
        vr = kt + Dh * KT;
      } else {
        attn::pack_t(a.k, a.ldk, j0, n, Dh, kt_own);
        attn::pack_rows(a.v, a.ldv, j0, n, Dh, Dp, vr_own);
      }
      if (has_pol) {
        for (int j = 0; j < n; ++j) polt[j] = a.policy[j0 + j];
        for (int j = n; j < KT; ++j) polt[j] = 0.f;
      }
      for (int64_t r0 = 0; r0 < nq; r0 += Tiles::RMAX) {
        const int R = static_cast<int>(std::min<int64_t>(Tiles::RMAX, nq - r0));
        Tiles::scores(R, qs + r0 * Dh, Dh, Dh, kt, ngroups, s);
        for (int r = 0; r < R; ++r) {
          const int64_t row = r0 + r;
          const int64_t jd = s0 + row + a.diag_offset - j0;
          Tiles::softmax(s + r * KT, n, ngroups, m + row, l + row, o + row * Dp, Dp, has_pol ? polt : nullptr, jd);
        }
        Tiles::pv(R, s, n, vr, Dp, o + r0 * Dp, Dp);
      }
    }

    attn_write_rows(a, s0, nq, o, Dp, m, l, vsum, cst);
  }
}

}  // namespace
}  // namespace r4p
