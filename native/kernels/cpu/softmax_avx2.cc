// softmax_avx2.cc: last-axis softmax for the TF.js cpu backend (SPEC §2 attention), multi-threaded.
// x [R,C] -> y [R,C]. Rows are split over the pool (each row is written by one thread, its sum reduced
// in a fixed lane order, so results do not depend on the thread count). Per row, three passes:
// max (8 lanes, masked tail loads read -inf), e = exp_ps(x - max) stored into y while summed in 8
// lanes, then y *= 1/sum. exp_ps has ~1.5 ulp relative error; the sum is float32 over at most C terms.
#include <immintrin.h>

#include <limits>

#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

namespace {

void softmax_row(const float* x, float* y, int64_t C) {
  const __m256 ninf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const int tail = static_cast<int>(C % 8);
  const int64_t body = C - tail;
  const __m256i tm = vec::tail_mask(tail);
  __m256 vm = ninf;
  for (int64_t c = 0; c < body; c += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + c));
  if (tail) vm = _mm256_max_ps(vm, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + body, tm), _mm256_castsi256_ps(tm)));
  const __m256 m = _mm256_set1_ps(vec::hmax_ps(vm));
  __m256 vs = _mm256_setzero_ps();
  for (int64_t c = 0; c < body; c += 8) {
    const __m256 e = vec::exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), m));
    _mm256_storeu_ps(y + c, e);
    vs = _mm256_add_ps(vs, e);
  }
  if (tail) {
    // Masked-off lanes load 0 and would add exp(0 - m); zero them before the sum.
    const __m256 e = _mm256_and_ps(vec::exp_ps(_mm256_sub_ps(_mm256_maskload_ps(x + body, tm), m)), _mm256_castsi256_ps(tm));
    _mm256_maskstore_ps(y + body, tm, e);
    vs = _mm256_add_ps(vs, e);
  }
  const __m256 inv = _mm256_set1_ps(1.f / vec::hsum_ps(vs));
  for (int64_t c = 0; c < body; c += 8) _mm256_storeu_ps(y + c, _mm256_mul_ps(_mm256_loadu_ps(y + c), inv));
  if (tail) _mm256_maskstore_ps(y + body, tm, _mm256_mul_ps(_mm256_maskload_ps(y + body, tm), inv));
}

}  // namespace

Status softmax_avx2(const SoftmaxArgs& a) {
  // ~8 rows of a 261-wide attention map per task keeps the pool overhead small.
  const int64_t grain = a.C >= 2048 ? 1 : 2048 / a.C;
  parallel_for(a.R, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) softmax_row(a.x + r * a.C, a.y + r * a.C, a.C);
  });
  return Status::Ok();
}

}  // namespace r4p
