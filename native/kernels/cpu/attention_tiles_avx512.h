// attention_tiles_avx512.h: the register-blocked score and P.V micro-kernels of the attention core with
// AVX-512F: up to 12 query rows x 32 keys (2 zmm) per score step, 12 rows x 32 output columns per P.V
// step (24 zmm accumulators + 2 loads + 1 broadcast of the 32 registers). Layouts are those of
// attention_tiles_avx2.h (xt [Dh][KT], xr [KT][Dp], s [R][KT]), and every score / output element is the
// same FMA chain (d ascending / key ascending) as there, so results are bit-identical to the AVX2 tiles.
// Include only from *_avx512.cc files.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/attention_tiles_avx2.h"

namespace r4p::attn512 {
namespace {

using attn::KT;
constexpr int RMAX = 12;  // rows per micro-block (<= kAttnRowsMax)

// s[r*KT + jl] = sum_d a[r*lda + d] * xt[d*KT + jl] for r < R, jl < 16*ngroups (16-key groups, as avx2).
template <int R>
inline void scores(const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s) {
  int g = 0;
  for (; g + 2 <= ngroups; g += 2) {  // 32 keys: two zmm per row
    __m512 acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
    const float* kp = xt + g * 16;
    for (int64_t d = 0; d < Dh; ++d) {
      const __m512 k0 = _mm512_loadu_ps(kp + d * KT), k1 = _mm512_loadu_ps(kp + d * KT + 16);
#pragma GCC unroll 12
      for (int r = 0; r < R; ++r) {
        const __m512 qb = _mm512_set1_ps(a[r * lda + d]);
        acc0[r] = _mm512_fmadd_ps(qb, k0, acc0[r]);
        acc1[r] = _mm512_fmadd_ps(qb, k1, acc1[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm512_storeu_ps(s + r * KT + g * 16, acc0[r]);
      _mm512_storeu_ps(s + r * KT + g * 16 + 16, acc1[r]);
    }
  }
  if (g < ngroups) {  // a last group of 16 keys
    __m512 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    const float* kp = xt + g * 16;
    for (int64_t d = 0; d < Dh; ++d) {
      const __m512 k0 = _mm512_loadu_ps(kp + d * KT);
#pragma GCC unroll 12
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[r * lda + d]), k0, acc[r]);
    }
    for (int r = 0; r < R; ++r) _mm512_storeu_ps(s + r * KT + g * 16, acc[r]);
  }
}

// o[r*ldo + c] += sum_{j<n} p[r*KT + j] * xr[j*Dp + c] for r < R, c < Dp (Dp a multiple of 8).
template <int R, int W>  // W = zmm per row in this column block (1 or 2); mask for a last 8 columns
inline void pv_block(const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo, int64_t c, __mmask16 m) {
  __m512 acc[R][W];
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < W; ++w) acc[r][w] = _mm512_maskz_loadu_ps(w == W - 1 ? m : __mmask16(0xFFFF), o + r * ldo + c + 16 * w);
  for (int j = 0; j < n; ++j) {
    __m512 v[W];
    for (int w = 0; w < W; ++w) v[w] = _mm512_maskz_loadu_ps(w == W - 1 ? m : __mmask16(0xFFFF), xr + j * Dp + c + 16 * w);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 pb = _mm512_set1_ps(p[r * KT + j]);
      for (int w = 0; w < W; ++w) acc[r][w] = _mm512_fmadd_ps(pb, v[w], acc[r][w]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < W; ++w) _mm512_mask_storeu_ps(o + r * ldo + c + 16 * w, w == W - 1 ? m : __mmask16(0xFFFF), acc[r][w]);
}

template <int R>
inline void pv(const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo) {
  int64_t c = 0;
  for (; c + 32 <= Dp; c += 32) pv_block<R, 2>(p, n, xr, Dp, o, ldo, c, 0xFFFF);
  if (c + 16 <= Dp) {
    pv_block<R, 1>(p, n, xr, Dp, o, ldo, c, 0xFFFF);
    c += 16;
  }
  if (c < Dp) pv_block<R, 1>(p, n, xr, Dp, o, ldo, c, 0x00FF);  // 8 columns left
}

template <int R>
struct ScoresF {
  static void run(const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s) {
    scores<R>(a, lda, Dh, xt, ngroups, s);
  }
};
template <int R>
struct PvF {
  static void run(const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo) { pv<R>(p, n, xr, Dp, o, ldo); }
};

// Runtime R (1..RMAX) -> template instance.
template <template <int> class F, typename... Args>
inline void dispatch_rows(int R, Args&&... args) {
  switch (R) {
    case 1: F<1>::run(args...); break;
    case 2: F<2>::run(args...); break;
    case 3: F<3>::run(args...); break;
    case 4: F<4>::run(args...); break;
    case 5: F<5>::run(args...); break;
    case 6: F<6>::run(args...); break;
    case 7: F<7>::run(args...); break;
    case 8: F<8>::run(args...); break;
    case 9: F<9>::run(args...); break;
    case 10: F<10>::run(args...); break;
    case 11: F<11>::run(args...); break;
    default: F<12>::run(args...); break;
  }
}

}  // namespace
}  // namespace r4p::attn512
