// binary_avx2.cc: broadcast float32 arithmetic for the TF.js cpu backend (ops.h BinaryArgs), threaded.
// The last axis is the inner run; the outer axes are split into contiguous ranges of runs over the pool
// (each output element is written by one thread; elementwise, so results cannot depend on the thread
// count). Inner runs with unit/zero strides use 8-lane AVX loads and plain vaddps/vsubps/vmulps/vdivps
// (each correctly rounded, so lanes equal the scalar ref exactly); other strides run scalar.
#include <immintrin.h>

#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

namespace {

template <BinaryOp OP>
inline __m256 vop(__m256 x, __m256 y) {
  if constexpr (OP == BinaryOp::kAdd) return _mm256_add_ps(x, y);
  else if constexpr (OP == BinaryOp::kSub) return _mm256_sub_ps(x, y);
  else if constexpr (OP == BinaryOp::kMul) return _mm256_mul_ps(x, y);
  else return _mm256_div_ps(x, y);
}

template <BinaryOp OP>
inline float sop(float x, float y) {
  if constexpr (OP == BinaryOp::kAdd) return x + y;
  else if constexpr (OP == BinaryOp::kSub) return x - y;
  else if constexpr (OP == BinaryOp::kMul) return x * y;
  else return x / y;
}

// out[i] = a[i*sa] (op) b[i*sb], i < n.
template <BinaryOp OP>
void run(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  int64_t i = 0;
  if (sa == 1 && sb == 1) {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, vop<OP>(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  } else if (sa == 1 && sb == 0) {
    const __m256 y = _mm256_set1_ps(b[0]);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, vop<OP>(_mm256_loadu_ps(a + i), y));
  } else if (sa == 0 && sb == 1) {
    const __m256 x = _mm256_set1_ps(a[0]);
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, vop<OP>(x, _mm256_loadu_ps(b + i)));
  }
  for (; i < n; ++i) out[i] = sop<OP>(a[i * sa], b[i * sb]);
}

template <BinaryOp OP>
void binary_typed(const BinaryArgs& a) {
  const int d = a.ndim;
  const int64_t inner = a.size[d - 1], isa = a.sa[d - 1], isb = a.sb[d - 1];
  int64_t rows = 1;
  for (int i = 0; i < d - 1; ++i) rows *= a.size[i];
  const int64_t grain = inner >= 16384 ? 1 : 16384 / inner;
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    // Coordinates of row r0 over the outer axes, and the operand offsets there.
    int64_t idx[kBinaryMaxDims] = {};
    int64_t offa = 0, offb = 0, rem = r0;
    for (int i = d - 2; i >= 0; --i) {
      idx[i] = rem % a.size[i];
      rem /= a.size[i];
      offa += idx[i] * a.sa[i];
      offb += idx[i] * a.sb[i];
    }
    for (int64_t r = r0; r < r1; ++r) {
      run<OP>(a.a + offa, isa, a.b + offb, isb, a.out + r * inner, inner);
      for (int i = d - 2; i >= 0; --i) {
        ++idx[i];
        offa += a.sa[i];
        offb += a.sb[i];
        if (idx[i] < a.size[i]) break;
        offa -= a.sa[i] * a.size[i];
        offb -= a.sb[i] * a.size[i];
        idx[i] = 0;
      }
    }
  });
}

}  // namespace

Status binary_avx2(const BinaryArgs& a) {
  if (a.ndim < 1) return binary_ref(a);  // a single element
  switch (a.op) {
    case BinaryOp::kAdd: binary_typed<BinaryOp::kAdd>(a); break;
    case BinaryOp::kSub: binary_typed<BinaryOp::kSub>(a); break;
    case BinaryOp::kMul: binary_typed<BinaryOp::kMul>(a); break;
    case BinaryOp::kDiv: binary_typed<BinaryOp::kDiv>(a); break;
  }
  return Status::Ok();
}

}  // namespace r4p
