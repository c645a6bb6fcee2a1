// attention_core_bf16_avx512.cc: the flash-attention core (attention_core.h; SPEC §4 / §5) with BF16 operands
// and FP32 sums (AVX512_BF16 vdpbf16ps), the attention of the BF16 inference path. The same algorithm as
// attention_core_impl.h (QS-row super-blocks, CK-key chunks of KT = 64-key tiles, one online-softmax step per
// chunk in FP32 with the AVX-512 step),
// with three roundings to BF16 (round to nearest even): the scaled q rows, the packed K and V tiles, and the
// probabilities p before P.V (the row sum l is taken from the FP32 p, as FlashAttention's BF16 kernels do).
// Packed tile layout (32-bit cells, attention_core_packed_floats covers it):
//   K^T [Dh2][KT]  cell (p, j) = (K[j][2p], K[j][2p+1])        Dh2 = ceil(Dh / 2), zero past Dh / past n keys
//   V   [KT/2][Dp] cell (jp, c) = (V[2jp][c], V[2jp+1][c])     zero past n keys and for c >= Dh
// then sum_j v_j in FP32 (the eps/Nk term with a policy), as the FP32 packing.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/attention_core.h"
#include "kernels/cpu/attention_core_impl.h"
#include "kernels/cpu/attention_tiles_avx512.h"
#include "kernels/cpu/bf16_avx512.h"

namespace r4p {
namespace {

constexpr int RMAX = attn512::RMAX;  // KT and QS (the super-block) are attention_core_impl.h's
constexpr int KT2 = KT / 2;

inline int64_t half_up(int64_t d) { return (d + 1) / 2; }
inline int64_t tile_cells(int64_t Dh, int64_t Dp) { return half_up(Dh) * KT + KT2 * Dp; }

// s[r*lds + jl] = sum_p dot(q cell (r, p), k cell (p, jl)) for r < R, jl < 16*ngroups.
template <int R>
inline void scores(const float* qc, int64_t Dh2, const float* kc, int ngroups, float* s, int64_t lds) {
  for (int g = 0; g < ngroups; g += 2) {
    const bool two = g + 1 < ngroups;
    __m512 a0[R], a1[R];
    for (int r = 0; r < R; ++r) a0[r] = a1[r] = _mm512_setzero_ps();
    const float* kp = kc + g * 16;
    for (int64_t p = 0; p < Dh2; ++p) {
      const __m512bh k0 = (__m512bh)_mm512_loadu_ps(kp + p * KT);
      const __m512bh k1 = (__m512bh)_mm512_loadu_ps(kp + p * KT + (two ? 16 : 0));
#pragma GCC unroll 12
      for (int r = 0; r < R; ++r) {
        const __m512bh qb = (__m512bh)_mm512_set1_ps(qc[r * Dh2 + p]);
        a0[r] = _mm512_dpbf16_ps(a0[r], qb, k0);
        a1[r] = _mm512_dpbf16_ps(a1[r], qb, k1);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm512_storeu_ps(s + r * lds + g * 16, a0[r]);
      if (two) _mm512_storeu_ps(s + r * lds + g * 16 + 16, a1[r]);
    }
  }
}

// o[r*ldo + c] += sum_jp dot(p cell (r, jp), v cell (jp, c)) for r < R, c < Dp (a multiple of 8); p cells of
// row r at pc + r*ldp.
template <int R>
inline void pv(const float* pc, int npairs, const float* vc, int64_t Dp, float* o, int64_t ldo, int64_t ldp) {
  for (int64_t c = 0; c < Dp; c += 32) {
    const int64_t w = std::min<int64_t>(32, Dp - c);
    const __mmask16 m0 = bf16_tail_mask(static_cast<int>(std::min<int64_t>(16, w)));
    const __mmask16 m1 = bf16_tail_mask(static_cast<int>(std::max<int64_t>(0, w - 16)));
    __m512 a0[R], a1[R];
    for (int r = 0; r < R; ++r) {
      a0[r] = _mm512_maskz_loadu_ps(m0, o + r * ldo + c);
      a1[r] = _mm512_maskz_loadu_ps(m1, o + r * ldo + c + 16);
    }
    for (int jp = 0; jp < npairs; ++jp) {
      const __m512bh v0 = (__m512bh)_mm512_maskz_loadu_ps(m0, vc + jp * Dp + c);
      const __m512bh v1 = (__m512bh)_mm512_maskz_loadu_ps(m1, vc + jp * Dp + c + 16);
#pragma GCC unroll 12
      for (int r = 0; r < R; ++r) {
        const __m512bh pb = (__m512bh)_mm512_set1_ps(pc[r * ldp + jp]);
        a0[r] = _mm512_dpbf16_ps(a0[r], pb, v0);
        a1[r] = _mm512_dpbf16_ps(a1[r], pb, v1);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm512_mask_storeu_ps(o + r * ldo + c, m0, a0[r]);
      _mm512_mask_storeu_ps(o + r * ldo + c + 16, m1, a1[r]);
    }
  }
}

template <int R>
struct ScoresF {
  static void run(const float* qc, int64_t Dh2, const float* kc, int ngroups, float* s, int64_t lds) {
    scores<R>(qc, Dh2, kc, ngroups, s, lds);
  }
};
template <int R>
struct PvF {
  static void run(const float* pc, int npairs, const float* vc, int64_t Dp, float* o, int64_t ldo, int64_t ldp) {
    pv<R>(pc, npairs, vc, Dp, o, ldo, ldp);
  }
};

// Cells of BF16 pairs of x[0..n) (n <= KT, zero pad) into dst [ceil(n/2)] (cvtne2ps keeps the order).
inline void p_cells(const float* x, float* dst) {
  for (int j = 0; j < KT; j += 32) {
    const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + j + 16), _mm512_loadu_ps(x + j));
    _mm512_storeu_ps(dst + j / 2, (__m512)h);
  }
}

}  // namespace

void attention_core_pack_bf16_avx512(const AttentionCoreArgs& a, float* packed) {
  const int64_t Dh = a.Dh, Dh2 = half_up(Dh), Dp = attn::pad8(Dh), Nk = a.Nk, tc = tile_cells(Dh, Dp);
  int64_t t = 0;
  alignas(64) uint16_t kb[KT * 2 + 64];
  for (int64_t j0 = 0; j0 < Nk; j0 += KT, ++t) {
    const int n = static_cast<int>(std::min<int64_t>(KT, Nk - j0));
    float* kt = packed + t * tc;
    float* vt = kt + Dh2 * KT;
    // K: each key row converted to BF16, its pairs written as the cells of column jl.
    for (int64_t p = 0; p < Dh2 * KT; ++p) kt[p] = 0.f;
    for (int jl = 0; jl < n; ++jl) {
      const float* src = a.k + (j0 + jl) * a.ldk;
      for (int64_t d0 = 0; d0 < Dh; d0 += 2 * KT) {
        const int64_t len = std::min<int64_t>(2 * KT, Dh - d0);
        bf16_row(src + d0, len, kb);
        const int64_t cells = (len + 1) / 2;
        for (int64_t p = 0; p < cells; ++p) {
          uint32_t cell;
          std::memcpy(&cell, kb + 2 * p, 4);
          std::memcpy(kt + (d0 / 2 + p) * KT + jl, &cell, 4);
        }
      }
    }
    // V: pairs of key rows interleaved per column.
    for (int jp = 0; jp < KT2; ++jp) {
      const int j = 2 * jp;
      float* dst = vt + jp * Dp;
      for (int64_t c = 0; c < Dp; c += 16) {
        const int w = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(16, Dh - c)));
        __m512i cells = _mm512_setzero_si512();
        if (j < n) cells = bf16_cells(a.v + (j0 + j) * a.ldv + c, j + 1 < n ? a.v + (j0 + j + 1) * a.ldv + c : nullptr, w);
        _mm512_mask_storeu_epi32(dst + c, bf16_tail_mask(static_cast<int>(std::min<int64_t>(16, Dp - c))), cells);
      }
    }
  }
  float* vsum = packed + t * tc;
  std::fill(vsum, vsum + Dp, 0.f);
  if (a.policy != nullptr && Nk > 0 && a.eps / static_cast<float>(Nk) != 0.f)
    for (int64_t j = 0; j < Nk; ++j)
      for (int64_t d = 0; d < Dh; ++d) vsum[d] += a.v[j * a.ldv + d];
}

void attention_core_rows_packed_bf16_avx512(const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1,
                                            float* scratch) {
  const int64_t Dh = a.Dh, Dh2 = half_up(Dh), Dp = attn::pad8(Dh), Nk = a.Nk, tc = tile_cells(Dh, Dp);
  const bool has_pol = a.policy != nullptr;
  float* polt = scratch;
  float* qc = polt + CKMAX;
  float* o = qc + QS * Dh2;
  float* m = o + QS * Dp;
  float* l = m + QS;
  float* s = l + QS;
  float* pc = s + RMAX * LDS;
  float* qrow = pc + RMAX * (LDS / 2);  // one scaled q row in FP32 (Dh + 1 floats)
  const float cst = (has_pol && Nk > 0) ? a.eps / static_cast<float>(Nk) : 0.f;
  const float* vsum = packed + ((Nk + KT - 1) / KT) * tc;
  alignas(64) uint16_t qb[2 * 512 + 64];

  for (int64_t s0 = i0; s0 < i1; s0 += QS) {
    const int64_t nq = std::min(QS, i1 - s0);
    const float qscale = a.scale * attn::kLog2e;  // base-2 scores (attn512::softmax_step)
    for (int64_t r = 0; r < nq; ++r) {
      const float* qi = a.q + (s0 + r) * a.ldq;
      for (int64_t d = 0; d < Dh; ++d) qrow[d] = qscale * qi[d];
      for (int64_t d0 = 0; d0 < Dh; d0 += 1024) {
        const int64_t len = std::min<int64_t>(1024, Dh - d0);
        bf16_row(qrow + d0, len, qb);
        std::memcpy(qc + r * Dh2 + d0 / 2, qb, static_cast<size_t>((len + 1) / 2) * 4);
      }
    }
    std::fill(o, o + nq * Dp, 0.f);
    std::fill(m, m + nq, -std::numeric_limits<float>::infinity());
    std::fill(l, l + nq, 0.f);
    // chunks as attention_core_impl.h (attn_chunk_len): scores tile by tile, one softmax step per row and chunk
    for (int64_t c0 = 0; c0 < Nk; c0 += attn_chunk_len(c0, Nk)) {
      const int nc = attn_chunk_len(c0, Nk);
      const int nt = (nc + KT - 1) / KT, cgroups = (nc + 15) / 16;
      const float* ct = packed + (c0 / KT) * tc;
      if (has_pol) {
        for (int j = 0; j < nc; ++j) polt[j] = a.policy[c0 + j];
        for (int j = nc; j < cgroups * 16; ++j) polt[j] = 0.f;
      }
      for (int64_t r0 = 0; r0 < nq; r0 += RMAX) {
        const int R = static_cast<int>(std::min<int64_t>(RMAX, nq - r0));
        for (int t = 0; t < nt; ++t) {
          const int n = std::min(KT, nc - t * KT);
          attn512::dispatch_rows<ScoresF>(R, qc + r0 * Dh2, Dh2, ct + t * tc, (n + 15) / 16, s + t * KT, LDS);
        }
        for (int r = 0; r < R; ++r) {
          const int64_t row = r0 + r;
          const int64_t jd = s0 + row + a.diag_offset - c0;
          float* sr = s + r * LDS;
          attn512::softmax_step(sr, nc, cgroups, m + row, l + row, o + row * Dp, Dp, has_pol ? polt : nullptr, jd);
          for (int j = cgroups * 16; j < nt * KT; ++j) sr[j] = 0.f;
          for (int t = 0; t < nt; ++t) p_cells(sr + t * KT, pc + r * (LDS / 2) + t * KT2);
        }
        for (int t = 0; t < nt; ++t) {
          const int n = std::min(KT, nc - t * KT);
          attn512::dispatch_rows<PvF>(R, pc + t * KT2, (n + 1) / 2, ct + t * tc + Dh2 * KT, Dp, o + r0 * Dp, Dp,
                                      LDS / 2);
        }
      }
    }
    attn_write_rows(a, s0, nq, o, Dp, m, l, vsum, cst);
  }
}

}  // namespace r4p
