// engine_layers_avx2.cc: see engine_layers_avx2.h. Numerics as the scalar path in
// native/engine/layers.cc: depthwise taps summed in the same row-major order per channel; LayerNorm
// two-pass with 8-lane partial sums reduced by one fixed horizontal sum; sigmoid = 1 / (1 + exp(-v))
// with vec::exp_ps (~1.5 ulp). Each call writes only its own output row, so the thread split does not
// change results.
#include "kernels/cpu/engine_layers_avx2.h"

#include <immintrin.h>

#include <cmath>

#include "kernels/cpu/vec_math_avx2.h"

namespace r4p::engine {

void depthwise3x3_layer_norm_row_avx2(const float* in, float* out, int64_t h, int64_t w, int64_t D, int64_t y,
                                      const float* wt, const float* norm_w, const float* norm_b, float eps) {
  const int64_t D8 = D & ~int64_t(7);
  const int tail = static_cast<int>(D - D8);
  const __m256i tm = vec::tail_mask(tail);
  const float invD = 1.f / static_cast<float>(D);
  for (int64_t x = 0; x < w; ++x) {
    float* o = out + (y * w + x) * D;
    // the in-image taps of this pixel, in row-major window order
    const float* src[9];
    const float* ker[9];
    int nt = 0;
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t yy = y + i - 1;
      if (yy < 0 || yy >= h) continue;
      for (int64_t j = 0; j < 3; ++j) {
        const int64_t xx = x + j - 1;
        if (xx < 0 || xx >= w) continue;
        src[nt] = in + (yy * w + xx) * D;
        ker[nt] = wt + (i * 3 + j) * D;
        ++nt;
      }
    }
    __m256 sum = _mm256_setzero_ps();
    for (int64_t c = 0; c < D8; c += 8) {
      __m256 acc = _mm256_setzero_ps();
      for (int t = 0; t < nt; ++t) acc = _mm256_fmadd_ps(_mm256_loadu_ps(ker[t] + c), _mm256_loadu_ps(src[t] + c), acc);
      _mm256_storeu_ps(o + c, acc);
      sum = _mm256_add_ps(sum, acc);
    }
    if (tail) {
      __m256 acc = _mm256_setzero_ps();
      for (int t = 0; t < nt; ++t)
        acc = _mm256_fmadd_ps(_mm256_maskload_ps(ker[t] + D8, tm), _mm256_maskload_ps(src[t] + D8, tm), acc);
      _mm256_maskstore_ps(o + D8, tm, acc);
      sum = _mm256_add_ps(sum, acc);
    }
    const float mean = vec::hsum_ps(sum) * invD;
    const __m256 vm = _mm256_set1_ps(mean);
    __m256 sq = _mm256_setzero_ps();
    for (int64_t c = 0; c < D8; c += 8) {
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(o + c), vm);
      sq = _mm256_fmadd_ps(d, d, sq);
    }
    if (tail) {
      const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(o + D8, tm), vm), _mm256_castsi256_ps(tm));
      sq = _mm256_fmadd_ps(d, d, sq);
    }
    const __m256 rs = _mm256_set1_ps(1.f / std::sqrt(vec::hsum_ps(sq) * invD + eps));
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
