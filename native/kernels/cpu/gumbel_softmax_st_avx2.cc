// gumbel_softmax_st_avx2.cc: SPEC §4 Gumbel-Softmax straight-through, multi-threaded.
// Forward: logits [B,N,2] -> hard [B,N], soft [B,N] (formulas in ref/gumbel_softmax_st_ref.cc).
//   Tokens split over the pool; Philox runs 8 tokens per AVX2 step (kernels/cpu/philox_avx2.h,
//   integer, bit-identical), then the per-token math is the ref's scalar double code on purpose:
//   libm's log keeps hard/soft bit-identical to the ref (a vectorised log would differ in the last
//   ulp and could flip a hard decision at y_0 ~ y_1).
//   No expression has the a*b+c shape, so -mfma contraction cannot change a rounding.
// Backward (OVERWRITES dlogits): g = dhard * (s(1-s)) / tau in float, 8 tokens per AVX2 step, then
//   interleaved as (g, -g) pairs into dlogits [B,N,2]; same operation order as the ref's scalar code.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "common/philox.h"
#include "kernels/cpu/philox_avx2.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

Status gumbel_softmax_st_fwd_avx2(const GumbelSoftmaxArgs& a) {
  if (!(a.tau > 0.f) || !std::isfinite(a.tau))
    return range_error("gumbelSoftmaxST: expected tau to be a finite number > 0, received ", a.tau);
  const double tau = a.tau;
  parallel_for(a.B * a.N, 1024, [&](int64_t i0, int64_t i1) {
    int64_t b = i0 / a.N, n = i0 - b * a.N;  // one division per chunk, then walk (b, n)
    alignas(32) uint32_t w0[8], w1[8];
    for (int64_t i = i0; i < i1; i += 8) {
      const int64_t m = std::min<int64_t>(8, i1 - i);
      philox_walk_x8(a.seed, a.N, &b, &n, kPhiloxStreamGumbelSoftmax, w0, w1);
      for (int64_t j = 0; j < m; ++j) {
        const int64_t t = i + j;
        const double y0 = (static_cast<double>(a.logits[2 * t]) + philox_gumbel(w0[j])) / tau;
        const double y1 = (static_cast<double>(a.logits[2 * t + 1]) + philox_gumbel(w1[j])) / tau;
        a.soft[t] = static_cast<float>(1.0 / (1.0 + std::exp(y1 - y0)));
        a.hard[t] = y0 >= y1 ? 1.f : 0.f;
      }
    }
  });
  return Status::Ok();
}

Status gumbel_softmax_st_bwd_avx2(const GumbelSoftmaxBwdArgs& a) {
  if (!(a.tau > 0.f) || !std::isfinite(a.tau))
    return range_error("gumbelSoftmaxSTBackward: expected tau to be a finite number > 0, received ", a.tau);
  parallel_for(a.B * a.N, 8192, [&](int64_t i0, int64_t i1) {
    const __m256 one = _mm256_set1_ps(1.f), vtau = _mm256_set1_ps(a.tau), sign = _mm256_set1_ps(-0.f);
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8) {
      const __m256 s = _mm256_loadu_ps(a.soft + i);
      const __m256 g = _mm256_div_ps(_mm256_mul_ps(_mm256_loadu_ps(a.dhard + i), _mm256_mul_ps(s, _mm256_sub_ps(one, s))), vtau);
      const __m256 ng = _mm256_xor_ps(g, sign);
      const __m256 lo = _mm256_unpacklo_ps(g, ng), hi = _mm256_unpackhi_ps(g, ng);  // per 128-bit lane
      _mm256_storeu_ps(a.dlogits + 2 * i, _mm256_permute2f128_ps(lo, hi, 0x20));
      _mm256_storeu_ps(a.dlogits + 2 * i + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
    }
    for (; i < i1; ++i) {
      const float s = a.soft[i];
      const float g = a.dhard[i] * (s * (1.f - s)) / a.tau;
      a.dlogits[2 * i] = g;
      a.dlogits[2 * i + 1] = -g;
    }
  });
  return Status::Ok();
}

}  // namespace r4p
