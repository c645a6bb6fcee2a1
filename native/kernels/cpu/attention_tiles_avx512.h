// attention_tiles_avx512.h: the register-blocked score and P.V micro-kernels of the attention core with
// AVX-512F: up to 12 query rows x 32 keys (2 zmm) per score step, 12 rows x 32 output columns per P.V
// step (24 zmm accumulators + 2 loads + 1 broadcast of the 32 registers). Layouts are those of
// attention_tiles_avx2.h (xt [Dh][KT], xr [KT][Dp], s [R][KT]), and every score / output element is the
// same FMA chain (d ascending / key ascending) as there, so results are bit-identical to the AVX2 tiles.
// Include only from *_avx512.cc files.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/attention_tiles_avx2.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace r4p::attn512 {
namespace {

using attn::KT;
constexpr int RMAX = 12;  // rows per micro-block (<= kAttnRowsMax)

// s[r*lds + jl] = sum_d a[r*lda + d] * xt[d*KT + jl] for r < R, jl < 16*ngroups (16-key groups, as avx2).
template <int R>
inline void scores(const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s, int64_t lds) {
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
      _mm512_storeu_ps(s + r * lds + g * 16, acc0[r]);
      _mm512_storeu_ps(s + r * lds + g * 16 + 16, acc1[r]);
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
    for (int r = 0; r < R; ++r) _mm512_storeu_ps(s + r * lds + g * 16, acc[r]);
  }
}

// o[r*ldo + c] += sum_{j<n} p[r*lds + j] * xr[j*Dp + c] for r < R, c < Dp (Dp a multiple of 8).
// Two separate accumulator arrays, not acc[R][W]: with a 2-D array GCC 12 stored every accumulator to the
// stack on each key step (24 stores per 24 FMAs; measured 3x slower than the score kernel).
template <int R>
inline void pv32(const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo, int64_t lds) {  // 32 columns
  __m512 a0[R], a1[R];
  for (int r = 0; r < R; ++r) {
    a0[r] = _mm512_loadu_ps(o + r * ldo);
    a1[r] = _mm512_loadu_ps(o + r * ldo + 16);
  }
  for (int j = 0; j < n; ++j) {
    const __m512 v0 = _mm512_loadu_ps(xr + j * Dp), v1 = _mm512_loadu_ps(xr + j * Dp + 16);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 pb = _mm512_set1_ps(p[r * lds + j]);
      a0[r] = _mm512_fmadd_ps(pb, v0, a0[r]);
      a1[r] = _mm512_fmadd_ps(pb, v1, a1[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(o + r * ldo, a0[r]);
    _mm512_storeu_ps(o + r * ldo + 16, a1[r]);
  }
}

template <int R>  // 16 columns, or the first 8 of them (mask 0x00FF)
inline void pv16(const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo, int64_t lds, __mmask16 m) {
  __m512 a0[R];
  for (int r = 0; r < R; ++r) a0[r] = _mm512_maskz_loadu_ps(m, o + r * ldo);
  for (int j = 0; j < n; ++j) {
    const __m512 v0 = _mm512_maskz_loadu_ps(m, xr + j * Dp);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) a0[r] = _mm512_fmadd_ps(_mm512_set1_ps(p[r * lds + j]), v0, a0[r]);
  }
  for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(o + r * ldo, m, a0[r]);
}

template <int R>
inline void pv(const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo, int64_t lds) {
  int64_t c = 0;
  for (; c + 32 <= Dp; c += 32) pv32<R>(p, n, xr + c, Dp, o + c, ldo, lds);
  if (c + 16 <= Dp) {
    pv16<R>(p, n, xr + c, Dp, o + c, ldo, lds, 0xFFFF);
    c += 16;
  }
  if (c < Dp) pv16<R>(p, n, xr + c, Dp, o + c, ldo, lds, 0x00FF);  // 8 columns left
}

// attn::exp2_ps on 16 lanes: the same operations in the same order (and operand order, for NaN), so each
// lane gives the AVX2 bits.
inline __m512 exp2_ps(__m512 x) {
  using attn::kExp2C;
  x = _mm512_max_ps(_mm512_set1_ps(-127.f), x);
  const __m512 magic = _mm512_set1_ps(12582912.f + 127.f);
  const __m512 t = _mm512_add_ps(x, magic);
  const __m512 r = _mm512_sub_ps(x, _mm512_sub_ps(t, magic));
  __m512 p = _mm512_set1_ps(kExp2C[5]);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExp2C[4]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExp2C[3]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExp2C[2]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExp2C[1]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExp2C[0]));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23));
  return _mm512_mul_ps(p, scale);
}

// The core's online-softmax step (attention_core_impl.h attn_softmax_step) on 16 keys per step: the max in two
// 16-lane accumulators (lanes 0-15 / 16-31 of the AVX2 step's four 8-lane ones), the sum in one (its two
// halves are the AVX2 step's two), both reduced in the AVX2 step's order, so m and l get the AVX2 bits too.
inline void softmax_step(float* s, int n, int ngroups, float* m, float* l, float* o, int64_t Dp, const float* polt,
                         int64_t jd) {
  const int width = ngroups * 16;
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int j = n; j < width; ++j) s[j] = ninf;
  __m512 a0 = _mm512_set1_ps(ninf), a1 = a0;
  int j = 0;
  for (; j + 32 <= width; j += 32) {
    a0 = _mm512_max_ps(_mm512_loadu_ps(s + j), a0);
    a1 = _mm512_max_ps(_mm512_loadu_ps(s + j + 16), a1);
  }
  if (j < width) a0 = _mm512_max_ps(_mm512_loadu_ps(s + j), a0);
  const __m512 a = _mm512_max_ps(a0, a1);
  const float tmax = vec::hmax_ps(_mm256_max_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1)));
  const float m_new = std::max(*m, tmax);
  if (!(m_new > ninf)) {
    attn::softmax_empty_chunk(s, n, width, l);
    return;
  }
  if (m_new > *m) {
    const float alpha = attn::softmax_rescale_factor(*m, m_new);
    const __m512 va = _mm512_set1_ps(alpha);
    int64_t c = 0;
    for (; c + 16 <= Dp; c += 16) _mm512_storeu_ps(o + c, _mm512_mul_ps(va, _mm512_loadu_ps(o + c)));
    if (c < Dp) _mm256_storeu_ps(o + c, _mm256_mul_ps(_mm512_castps512_ps256(va), _mm256_loadu_ps(o + c)));
    *l *= alpha;
    *m = m_new;
  }
  const __m512 vm = _mm512_set1_ps(m_new);
  __m512 vsum = _mm512_setzero_ps();
  for (j = 0; j < width; j += 16) {
    __m512 e = exp2_ps(_mm512_sub_ps(_mm512_loadu_ps(s + j), vm));
    if (polt) {
      __m512 pol = _mm512_loadu_ps(polt + j);
      if (jd >= j && jd < j + 16) pol = _mm512_mask_blend_ps(__mmask16(1u << (jd - j)), pol, _mm512_set1_ps(1.f));
      e = _mm512_mul_ps(e, pol);
    }
    _mm512_storeu_ps(s + j, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  *l += vec::hsum_ps(_mm256_add_ps(_mm512_castps512_ps256(vsum), _mm512_extractf32x8_ps(vsum, 1)));
}

template <int R>
struct ScoresF {
  static void run(const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s, int64_t lds) {
    scores<R>(a, lda, Dh, xt, ngroups, s, lds);
  }
};
template <int R>
struct PvF {
  static void run(const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo, int64_t lds) {
    pv<R>(p, n, xr, Dp, o, ldo, lds);
  }
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
