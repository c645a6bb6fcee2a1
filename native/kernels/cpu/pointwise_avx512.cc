// pointwise_avx512.cc: exact-erf GELU forward / backward (ops.h GeluArgs; the TF.js training graph and
// the engine's non-GEMM GELUs) on 16 lanes. The same operations in the same order as pointwise_avx2.cc
// (vec_math_avx512.h is bit-compatible with vec_math_avx2.h), so each element gets the AVX2 bits; the
// gain is the width on this compute-bound polynomial (erf, exp and a division per element).
#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/vec_math_avx512.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {
namespace {

constexpr int64_t kGelu512Grain = 1 << 14;  // elements per task: below this one thread does it all

// GELU backward factor Phi(x) + x phi(x) on 16 lanes (pointwise_avx2.cc gelu_grad_ps).
inline __m512 gelu_grad_ps(__m512 x) {
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512 cdf = _mm512_mul_ps(half, _mm512_add_ps(_mm512_set1_ps(1.f), vec512::erf_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)))));
  const __m512 e = vec512::exp_ps(_mm512_mul_ps(_mm512_set1_ps(-0.5f), _mm512_mul_ps(x, x)));
  const __m512 pdf = _mm512_mul_ps(_mm512_set1_ps(0.39894228040143268f), e);
  return _mm512_fmadd_ps(x, pdf, cdf);
}

}  // namespace

Status gelu_fwd_avx512(const GeluArgs& a) {
  parallel_for(a.n, kGelu512Grain, [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + 16 <= i1; i += 16) _mm512_storeu_ps(a.y + i, vec512::gelu_ps(_mm512_loadu_ps(a.x + i)));
    if (i < i1) {
      const __mmask16 m = vec512::tail_mask(static_cast<int>(i1 - i));
      _mm512_mask_storeu_ps(a.y + i, m, vec512::gelu_ps(_mm512_maskz_loadu_ps(m, a.x + i)));
    }
  });
  return Status::Ok();
}

Status gelu_bwd_avx512(const GeluBwdArgs& a) {
  parallel_for(a.n, kGelu512Grain, [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + 16 <= i1; i += 16)
      _mm512_storeu_ps(a.dx + i, _mm512_mul_ps(_mm512_loadu_ps(a.dy + i), gelu_grad_ps(_mm512_loadu_ps(a.x + i))));
    if (i < i1) {
      const __mmask16 m = vec512::tail_mask(static_cast<int>(i1 - i));
      _mm512_mask_storeu_ps(a.dx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a.dy + i), gelu_grad_ps(_mm512_maskz_loadu_ps(m, a.x + i))));
    }
  });
  return Status::Ok();
}

}  // namespace r4p
