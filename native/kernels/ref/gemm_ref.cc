// gemm_ref.cc: the internal single-precision GEMM (ops.h GemmArgs, used by SPEC §2/§5 prunedBlock),
// written out literally: one output element at a time, sum over k ascending in float, then the
// epilogue in the documented order. Single-threaded, no intrinsics: the oracle for gemm_avx2.
//
//   A(m,k) = transA ? A[k*lda + m] : A[arow(m)*lda + k]    arow(m) = a_rows ? a_rows[m] : m
//   B(k,n) = transB ? B[n*ldb + k] : B[k*ldb + n]
//   v = alpha*acc (+ beta*C_old) (+ bias[n]); v = act(v); v *= col_scale[n]; v += residual[rrow(m), n]
//   C[crow(m)*ldc + n] = v
// residual may be C itself (in-place x += ls * f(x)): each element reads C_old / residual before
// writing its own position, and no other element reads that position (c_rows has no duplicates).
#include <cmath>

#include "kernels/ops.h"

namespace r4p {

static float activate(Activation act, float v) {
  switch (act) {
    case Activation::kRelu: return v > 0.f ? v : 0.f;
    case Activation::kGelu: return 0.5f * v * (1.f + std::erf(v * 0.70710678118654752f));
    default: return v;
  }
}

Status gemm_ref(const GemmArgs& a) {
  for (int64_t m = 0; m < a.M; ++m) {
    const int64_t arow = a.a_rows ? a.a_rows[m] : m;
    const int64_t crow = a.c_rows ? a.c_rows[m] : m;
    const int64_t rrow = a.r_rows ? a.r_rows[m] : m;
    for (int64_t n = 0; n < a.N; ++n) {
      float acc = 0.f;
      for (int64_t k = 0; k < a.K; ++k) {
        const float av = a.transA ? a.A[k * a.lda + m] : a.A[arow * a.lda + k];
        const float bv = a.transB ? a.B[n * a.ldb + k] : a.B[k * a.ldb + n];
        acc += av * bv;
      }
      float* c = a.C + crow * a.ldc + n;
      float v = a.alpha * acc;
      if (a.beta != 0.f) v += a.beta * *c;
      if (a.bias) v += a.bias[n];
      v = activate(a.act, v);
      if (a.col_scale) v *= a.col_scale[n];
      if (a.residual) v += a.residual[rrow * a.ldr + n];
      *c = v;
    }
  }
  return Status::Ok();
}

}  // namespace r4p
