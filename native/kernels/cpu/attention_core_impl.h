// attention_core_impl.h: the body of the flash-attention core (attention_core.h), shared by
// attention_core_avx2.cc and attention_core_avx512.cc, which differ only in the register-blocked score and
// P.V micro-kernels (`Tiles`: attention_tiles_avx2.h, 6 rows x 16 keys; attention_tiles_avx512.h, 12 rows
// x 32 keys). Every score is the same FMA chain over d, every output column the same chain over keys, and
// the online softmax below is the same code: the two variants give identical bits.
//
// Algorithm (per call, single-threaded): query rows are taken QS at a time (a "super-block": its
// scaled Q rows, running max m, running sum l and output accumulator O [QS][Dp] live in scratch).
// For each chunk of CK = 512 keys (KT = 64-key tiles; chunks and tiles start at absolute multiples of
// their size, a last piece under one tile joining the chunk before it, so the summation order of a row
// never depends on the caller's row split), K is packed transposed and V copied with a padded stride,
// tile by tile, then reused by every R-row micro-block of the super-block:
//   s = (scale log2(e) q) k^T over the chunk (register-blocked, tile by tile: base-2 scores, so that
//   e^(a - max a) = 2^(s - max s)), chunk max -> m_new, rescale O and l by 2^(m_old - m_new),
//   p = 2^(s - m_new) * M (policy lane, 1 on the self-loop), l += sum p, O += p V (tile by tile, keys
//   ascending). row_max is reported in the formula's units (m ln 2).
// No Nq x Nk buffer exists. Packing: the rows entry points pack each tile themselves (~Dh*KT per tile
// against QS*KT*Dh FMAs, hence QS = 192); the rows_packed ones read tiles that attention_core_pack_avx2
// laid out once for the whole head, so a caller running many row ranges per head packs each head once
// per thread (K/V read from L2 / L3 as whole 32 KiB tiles).
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
// Keys per softmax chunk (a multiple of KT): the scores of a micro-block's rows over a whole chunk are
// computed first (tile by tile), then ONE online-softmax step runs per row and chunk (max, rescale, exp,
// sum), then P.V tile by tile. With 64-key steps the per-step row max, the scalar rescale and the O
// rescale were a third of the attention's time; a 512-key chunk pays them once per 512 keys, and
// [RMAX][LDS] scores (28 KiB) stay in L1/L2. Chunks start at absolute multiples of CK.
constexpr int64_t CK = 512;
// A last piece shorter than one tile joins the chunk before it (a 1029-key head: chunks of 512 and 517 keys,
// not 512, 512 and 5, whose softmax step, rescale and P.V pass cost every row as much as a full chunk's
// bookkeeping). The chunks depend on Nk only, so a row's summation order still does not depend on the split.
constexpr int64_t CKMAX = CK + KT;       // keys of the longest chunk, rounded up to a tile (buffer sizes)
constexpr int64_t CTMAX = CKMAX / KT;   // its tiles
constexpr int64_t LDS = CKMAX + 16;     // score row stride: +16 floats, or 12 rows of 2 KiB map onto 2 L1 sets
inline int attn_chunk_len(int64_t c0, int64_t Nk) {
  const int64_t rest = Nk - c0;
  return static_cast<int>(rest < CK + KT ? rest : CK);
}

// One row's online-softmax step on a chunk: s (16*ngroups base-2 scores, n valid) becomes p in place.
// polt: the policy for the chunk (0 past n) or null; jd: the chunk-local self-loop key (outside [0, width) =
// none). The max runs in four 8-lane accumulators (key j into accumulator (j / 8) % 4) and skips NaN scores
// (max(score, acc) returns acc then); the sum in two (j / 8 even / odd); the avx512 step keeps the same lanes
// and reduction order, so both give the same bits.
inline void attn_softmax_step(float* s, int n, int ngroups, float* m, float* l, float* o, int64_t Dp,
                              const float* polt, int64_t jd) {
  const int width = ngroups * 16;
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int j = n; j < width; ++j) s[j] = ninf;
  __m256 q0 = _mm256_set1_ps(ninf), q1 = q0, q2 = q0, q3 = q0;
  int j = 0;
  for (; j + 32 <= width; j += 32) {
    q0 = _mm256_max_ps(_mm256_loadu_ps(s + j), q0);
    q1 = _mm256_max_ps(_mm256_loadu_ps(s + j + 8), q1);
    q2 = _mm256_max_ps(_mm256_loadu_ps(s + j + 16), q2);
    q3 = _mm256_max_ps(_mm256_loadu_ps(s + j + 24), q3);
  }
  if (j < width) {
    q0 = _mm256_max_ps(_mm256_loadu_ps(s + j), q0);
    q1 = _mm256_max_ps(_mm256_loadu_ps(s + j + 8), q1);
  }
  const float tmax = vec::hmax_ps(_mm256_max_ps(_mm256_max_ps(q0, q2), _mm256_max_ps(q1, q3)));
  const float m_new = std::max(*m, tmax);
  if (!(m_new > ninf)) {
    attn::softmax_empty_chunk(s, n, width, l);
    return;
  }
  if (m_new > *m) {
    const float alpha = attn::softmax_rescale_factor(*m, m_new);
    const __m256 va = _mm256_set1_ps(alpha);
    for (int64_t c = 0; c < Dp; c += 8) _mm256_storeu_ps(o + c, _mm256_mul_ps(va, _mm256_loadu_ps(o + c)));
    *l *= alpha;
    *m = m_new;
  }
  const __m256 vm = _mm256_set1_ps(m_new);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const auto p8 = [&](int j8) {  // p for keys j8 .. j8+7, stored
    __m256 e = attn::exp2_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j8), vm));
    if (polt) {
      __m256 pol = _mm256_loadu_ps(polt + j8);
      if (jd >= j8 && jd < j8 + 8) {
        const __m256 lane = _mm256_castsi256_ps(_mm256_cmpeq_epi32(iota, _mm256_set1_epi32(static_cast<int>(jd - j8))));
        pol = _mm256_blendv_ps(pol, _mm256_set1_ps(1.f), lane);
      }
      e = _mm256_mul_ps(e, pol);
    }
    _mm256_storeu_ps(s + j8, e);
    return e;
  };
  __m256 slo = _mm256_setzero_ps(), shi = _mm256_setzero_ps();
  for (j = 0; j < width; j += 16) {
    slo = _mm256_add_ps(slo, p8(j));
    shi = _mm256_add_ps(shi, p8(j + 8));
  }
  *l += vec::hsum_ps(_mm256_add_ps(slo, shi));
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
    if (a.row_max) a.row_max[i] = m[r] * attn::kLn2;  // m is base 2
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

// packed == null: pack each chunk's tiles into scratch as they come.
template <class Tiles>
void attention_rows_impl(const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1, float* scratch) {
  const int64_t Dh = a.Dh, Dp = attn::pad8(Dh), Nk = a.Nk, tf = attn_tile_floats(Dh, Dp);
  const bool has_pol = a.policy != nullptr;
  float* tiles_own = scratch;  // CTMAX packed tiles (unpacked path)
  float* polt = tiles_own + CTMAX * tf;
  float* qs = polt + CKMAX;
  float* o = qs + QS * Dh;
  float* m = o + QS * Dp;
  float* l = m + QS;
  float* s = l + QS;
  float* vsum_own = s + kAttnRowsMax * LDS;

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
    const float qscale = a.scale * attn::kLog2e;  // base-2 scores (attn::exp2_ps)
    for (int64_t r = 0; r < nq; ++r) {
      const float* qi = a.q + (s0 + r) * a.ldq;
      for (int64_t d = 0; d < Dh; ++d) qs[r * Dh + d] = qscale * qi[d];
    }
    std::fill(o, o + nq * Dp, 0.f);
    std::fill(m, m + nq, -std::numeric_limits<float>::infinity());
    std::fill(l, l + nq, 0.f);

    for (int64_t c0 = 0; c0 < Nk; c0 += attn_chunk_len(c0, Nk)) {
      const int nc = attn_chunk_len(c0, Nk);
      const int nt = (nc + KT - 1) / KT, cgroups = (nc + 15) / 16;
      const float* ct = packed ? packed + (c0 / KT) * tf : tiles_own;
      if (!packed)
        for (int t = 0; t < nt; ++t) {
          const int n = std::min(KT, nc - t * KT);
          float* kt = tiles_own + t * tf;
          attn::pack_t(a.k, a.ldk, c0 + t * KT, n, Dh, kt);
          attn::pack_rows(a.v, a.ldv, c0 + t * KT, n, Dh, Dp, kt + Dh * KT);
        }
      if (has_pol) {
        for (int j = 0; j < nc; ++j) polt[j] = a.policy[c0 + j];
        for (int j = nc; j < cgroups * 16; ++j) polt[j] = 0.f;
      }
      for (int64_t r0 = 0; r0 < nq; r0 += Tiles::RMAX) {
        const int R = static_cast<int>(std::min<int64_t>(Tiles::RMAX, nq - r0));
        for (int t = 0; t < nt; ++t) {
          const int n = std::min(KT, nc - t * KT);
          Tiles::scores(R, qs + r0 * Dh, Dh, Dh, ct + t * tf, (n + 15) / 16, s + t * KT, LDS);
        }
        for (int r = 0; r < R; ++r) {
          const int64_t row = r0 + r;
          const int64_t jd = s0 + row + a.diag_offset - c0;
          Tiles::softmax(s + r * LDS, nc, cgroups, m + row, l + row, o + row * Dp, Dp, has_pol ? polt : nullptr, jd);
        }
        for (int t = 0; t < nt; ++t) {
          const int n = std::min(KT, nc - t * KT);
          Tiles::pv(R, s + t * KT, n, ct + t * tf + Dh * KT, Dp, o + r0 * Dp, Dp, LDS);
        }
      }
    }

    attn_write_rows(a, s0, nq, o, Dp, m, l, vsum, cst);
  }
}

}  // namespace
}  // namespace r4p
