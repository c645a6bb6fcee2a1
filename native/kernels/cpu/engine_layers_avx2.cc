// engine_layers_avx2.cc: see engine_layers_avx2.h. Numerics as the scalar path in
// native/engine/layers.cc: depthwise taps summed in the same row-major order per channel; LayerNorm
// two-pass with four 8-lane partial sums (channel unit u = channels 8u..8u+7 into partial u % 4), added as
// (p0 + p1) + (p2 + p3) and reduced by one fixed horizontal sum; sigmoid = 1 / (1 + exp(-v))
// with vec::exp_ps (~1.5 ulp). Each call writes only its own output row, so the thread split does not
// change results.
#include "kernels/cpu/engine_layers_avx2.h"

#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/depthwise3x3_avx2.h"
#include "kernels/cpu/depthwise3x3_taps.h"
#include "kernels/cpu/vec_math_avx2.h"

namespace r4p::engine {

void depthwise3x3_layer_norm_row_avx2(const float* const rows[3], float* out, int64_t w, int64_t D, const float* wt,
                                      const float* norm_w, const float* norm_b, float eps) {
  const int64_t D8 = D & ~int64_t(7), U = D8 / 8;
  const int tail = static_cast<int>(D - D8);
  const __m256i tm = vec::tail_mask(tail);
  const __m256 tmf = _mm256_castsi256_ps(tm);
  const float invD = 1.f / static_cast<float>(D);
  for (int64_t x = 0; x < w; ++x) {
    float* o = out + x * D;
    const float* src[9];
    const float* ker[9];
    const int nt = depthwise3x3_taps(rows, wt, w, D, x, src, ker);
    // the sums of the two LayerNorm passes in four 8-lane partials, unit u (channels 8u..8u+7) into
    // partial u % 4: four independent add chains, not one
    auto conv = [&](int64_t c) { return depthwise3x3_conv8(src, ker, nt, c, o); };
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t u = 0;
    for (; u + 4 <= U; u += 4) {
      s0 = _mm256_add_ps(s0, conv(8 * u));
      s1 = _mm256_add_ps(s1, conv(8 * u + 8));
      s2 = _mm256_add_ps(s2, conv(8 * u + 16));
      s3 = _mm256_add_ps(s3, conv(8 * u + 24));
    }
    for (; u < U; ++u) vec::add_to_partial(s0, s1, s2, s3, u, conv(8 * u));
    if (tail) vec::add_to_partial(s0, s1, s2, s3, U, depthwise3x3_conv8_masked(src, ker, nt, D8, tm, o));
    const float mean = vec::hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3))) * invD;
    const __m256 vm = _mm256_set1_ps(mean);
    auto dev = [&](int64_t c) { return _mm256_sub_ps(_mm256_loadu_ps(o + c), vm); };
    __m256 q0 = _mm256_setzero_ps(), q1 = q0, q2 = q0, q3 = q0;
    for (u = 0; u + 4 <= U; u += 4) {
      const __m256 d0 = dev(8 * u), d1 = dev(8 * u + 8), d2 = dev(8 * u + 16), d3 = dev(8 * u + 24);
      q0 = _mm256_fmadd_ps(d0, d0, q0);
      q1 = _mm256_fmadd_ps(d1, d1, q1);
      q2 = _mm256_fmadd_ps(d2, d2, q2);
      q3 = _mm256_fmadd_ps(d3, d3, q3);
    }
    for (; u < U; ++u) {
      const __m256 d = dev(8 * u);
      vec::fmadd_to_partial(q0, q1, q2, q3, u, d, d);
    }
    if (tail) {
      const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(o + D8, tm), vm), tmf);
      vec::fmadd_to_partial(q0, q1, q2, q3, U, d, d);
    }
    const float var = vec::hsum_ps(_mm256_add_ps(_mm256_add_ps(q0, q1), _mm256_add_ps(q2, q3))) * invD;
    const __m256 rs = _mm256_set1_ps(1.f / std::sqrt(var + eps));
    for (int64_t c = 0; c < D8; c += 8) {
      const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(o + c), vm), rs);
      _mm256_storeu_ps(o + c, _mm256_fmadd_ps(d, _mm256_loadu_ps(norm_w + c), _mm256_loadu_ps(norm_b + c)));
    }
    if (tail) {
      const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(o + D8, tm), vm), rs);
      _mm256_maskstore_ps(o + D8, tm, _mm256_fmadd_ps(d, _mm256_maskload_ps(norm_w + D8, tm), _mm256_maskload_ps(norm_b + D8, tm)));
    }
  }
}

void lerp_sigmoid_avx2(const float* row, const int32_t* lo, const int32_t* hi, const float* t, int64_t n, float* sig) {
  const __m256 one = _mm256_set1_ps(1.f);
  int64_t x = 0;
  for (; x + 8 <= n; x += 8) {
    const __m256 a = _mm256_i32gather_ps(row, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo + x)), 4);
    const __m256 b = _mm256_i32gather_ps(row, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(hi + x)), 4);
    const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(t + x), _mm256_sub_ps(b, a), a);
    const __m256 e = vec::exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), v));
    _mm256_storeu_ps(sig + x, _mm256_div_ps(one, _mm256_add_ps(one, e)));
  }
  for (; x < n; ++x) {
    const float a = row[lo[x]], v = a + t[x] * (row[hi[x]] - a);
    sig[x] = 1.f / (1.f + std::exp(-v));
  }
}

void axpy_avx2(float a, const float* s, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t x = 0;
  for (; x + 8 <= n; x += 8) _mm256_storeu_ps(y + x, _mm256_fmadd_ps(va, _mm256_loadu_ps(s + x), _mm256_loadu_ps(y + x)));
  for (; x < n; ++x) y[x] += a * s[x];
}

}  // namespace r4p::engine
