// layer_norm_avx2.h: LayerNorm over rows of D floats (SPEC §2: eps 1e-6, timm numerics), shared by
// prunedBlock and tomeBlock so that tomeBlock at ratio 1 matches prunedBlock bit for bit.
// Include only from *_avx2.cc files.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/vec_math_avx2.h"
#include "runtime/thread_pool.h"

namespace r4p {

// One row of LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b over D floats.
// Two passes over the (cache-resident) row; 8 lanes accumulate, then one fixed-order horizontal sum.
// mean_out / rstd_out (optional) receive the row's mean and 1 / sqrt(var + eps) (the training backward's).
inline void layer_norm_row(const float* x, float* y, int64_t D, const float* w, const float* b, float eps,
                           float* mean_out = nullptr, float* rstd_out = nullptr) {
  const int64_t D8 = D & ~int64_t(7);
  const int tail = static_cast<int>(D - D8);
  const __m256i tm = vec::tail_mask(tail);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t d = 0; d < D8; d += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + d));
  if (tail) acc = _mm256_add_ps(acc, _mm256_maskload_ps(x + D8, tm));
  const float mean = vec::hsum_ps(acc) / static_cast<float>(D);
  const __m256 vm = _mm256_set1_ps(mean);
  acc = _mm256_setzero_ps();
  for (int64_t d = 0; d < D8; d += 8) {
    const __m256 c = _mm256_sub_ps(_mm256_loadu_ps(x + d), vm);
    acc = _mm256_fmadd_ps(c, c, acc);
  }
  if (tail) {
    // masked-off lanes load 0, and (0 - mean) must not count: mask the centred value too
    const __m256 c = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(x + D8, tm), vm), _mm256_castsi256_ps(tm));
    acc = _mm256_fmadd_ps(c, c, acc);
  }
  const float var = vec::hsum_ps(acc) / static_cast<float>(D);
  const float rstd = 1.f / std::sqrt(var + eps);
  if (mean_out) *mean_out = mean;
  if (rstd_out) *rstd_out = rstd;
  const __m256 vr = _mm256_set1_ps(rstd);
  for (int64_t d = 0; d < D8; d += 8) {
    const __m256 c = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + d), vm), vr);
    _mm256_storeu_ps(y + d, _mm256_fmadd_ps(c, _mm256_loadu_ps(w + d), _mm256_loadu_ps(b + d)));
  }
  if (tail) {
    const __m256 c = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + D8, tm), vm), vr);
    _mm256_maskstore_ps(y + D8, tm, _mm256_fmadd_ps(c, _mm256_maskload_ps(w + D8, tm), _mm256_maskload_ps(b + D8, tm)));
  }
}

// rows r of [B*K]: y[r] = LN(src row of r). src_row(r) returns the input row pointer.
template <typename RowFn>
void layer_norm_rows(int64_t rows, int64_t D, RowFn src_row, float* y, const float* w, const float* b, float eps) {
  parallel_for(rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) layer_norm_row(src_row(r), y + r * D, D, w, b, eps);
  });
}

}  // namespace r4p
