// vec_math_avx2.h: vectorised exp, erf and GELU on 8 floats (AVX2/FMA). Include only from *_avx2.cc.
//
// exp: Cephes-style range reduction x = n ln2 + r (|r| <= ln2/2) with a degree-6 polynomial for
//   e^r, rel. error ~1.5 ulp; inputs below -87.3 flush to 0 (softmax's masked tails), above 88.3 clamp.
// erf: Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7 absolute. GELU(x) = 0.5 x (1 + erf(x / sqrt 2)),
//   the exact (erf) GELU of timm/DINOv2, so |error| <= 0.75e-7 |x|.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace r4p::vec {

static inline __m256 exp_ps(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f);
  const __m256 lo = _mm256_set1_ps(-87.3365478515625f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(x, hi);
  x = _mm256_max_ps(x, lo);
  // n = round(x / ln2)
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  // r = x - n ln2 (two-step Cody-Waite)
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  const __m256 x2 = _mm256_mul_ps(x, x);
  y = _mm256_fmadd_ps(y, x2, _mm256_add_ps(x, _mm256_set1_ps(1.f)));
  // 2^n
  __m256i n = _mm256_cvttps_epi32(fx);
  n = _mm256_add_epi32(n, _mm256_set1_epi32(0x7f));
  n = _mm256_slli_epi32(n, 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(n));
  return _mm256_andnot_ps(underflow, y);
}

static inline __m256 erf_ps(__m256 x) {
  const __m256 sign = _mm256_and_ps(x, _mm256_set1_ps(-0.f));
  const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
  const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, _mm256_set1_ps(1.f)));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  p = _mm256_mul_ps(p, t);
  const __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(ax, ax)));
  const __m256 r = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.f));
  return _mm256_or_ps(r, sign);
}

static inline __m256 gelu_ps(__m256 x) {
  const __m256 u = erf_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), _mm256_add_ps(_mm256_set1_ps(1.f), u));
}

// Horizontal sum / max of 8 lanes.
static inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}
static inline float hmax_ps(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
}

// p[i % 4] += v for four named partial sums (an array indexed at run time lives on the stack: each add
// would wait for the store before it).
static inline void add_to_partial(__m256& p0, __m256& p1, __m256& p2, __m256& p3, int64_t i, __m256 v) {
  switch (i & 3) {
    case 0: p0 = _mm256_add_ps(p0, v); break;
    case 1: p1 = _mm256_add_ps(p1, v); break;
    case 2: p2 = _mm256_add_ps(p2, v); break;
    default: p3 = _mm256_add_ps(p3, v); break;
  }
}

// p[i % 4] = a * b + p[i % 4] (one rounding), the same four named partials.
static inline void fmadd_to_partial(__m256& p0, __m256& p1, __m256& p2, __m256& p3, int64_t i, __m256 a, __m256 b) {
  switch (i & 3) {
    case 0: p0 = _mm256_fmadd_ps(a, b, p0); break;
    case 1: p1 = _mm256_fmadd_ps(a, b, p1); break;
    case 2: p2 = _mm256_fmadd_ps(a, b, p2); break;
    default: p3 = _mm256_fmadd_ps(a, b, p3); break;
  }
}

// Mask for the first n (0..8) lanes, for tails with _mm256_maskload_ps / _mm256_maskstore_ps.
static inline __m256i tail_mask(int n) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota);
}

}  // namespace r4p::vec
