// pointwise_ref.cc: LayerNorm and exact GELU of the TF.js training graph (SPEC §2 numerics), forward and
// backward, written out literally (ops.h LayerNormArgs / GeluArgs). Single-threaded; every sum is
// accumulated in double and erf / exp are the double-precision libm ones, so the ref is the accurate
// anchor the avx2 variant is tested against.
//   LayerNorm over the last axis of x [R,C] (biased variance):
//     y = (x - mean) * rstd * w + b,  rstd = 1 / sqrt(var + eps)
//     dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  g = dy * w,  xhat = (x - mean) * rstd
//     dw = sum_r dy * xhat,  db = sum_r dy
//   GELU: y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),  dx = dy * (Phi(x) + x phi(x))
#include <cmath>

#include "kernels/ops.h"
#include "kernels/ref/layer_norm_ref.h"

namespace r4p {

namespace {
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
}  // namespace

Status layer_norm_fwd_ref(const LayerNormArgs& a) {
  ref::layer_norm(a.x, a.y, a.R, a.C, a.w, a.b, a.eps, a.mean, a.rstd);
  return Status::Ok();
}

Status layer_norm_bwd_ref(const LayerNormBwdArgs& a) {
  const int64_t C = a.C;
  for (int64_t r = 0; r < a.R; ++r) {
    const float* dy = a.dy + r * C;
    const float* x = a.x + r * C;
    float* dx = a.dx + r * C;
    const double mean = a.mean[r], rstd = a.rstd[r];
    double sg = 0.0, sgx = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      const double g = static_cast<double>(dy[c]) * a.w[c];
      sg += g;
      sgx += g * (x[c] - mean) * rstd;
    }
    const double mg = sg / static_cast<double>(C), mgx = sgx / static_cast<double>(C);
    for (int64_t c = 0; c < C; ++c) {
      const double xhat = (x[c] - mean) * rstd;
      dx[c] = static_cast<float>(rstd * (static_cast<double>(dy[c]) * a.w[c] - mg - xhat * mgx));
    }
  }
  // Parameter gradients column by column, rows in order.
  for (int64_t c = 0; c < C; ++c) {
    double sw = 0.0, sb = 0.0;
    for (int64_t r = 0; r < a.R; ++r) {
      const double d = a.dy[r * C + c];
      sw += d * (a.x[r * C + c] - static_cast<double>(a.mean[r])) * a.rstd[r];
      sb += d;
    }
    if (a.dw) a.dw[c] = static_cast<float>(sw);
    if (a.db) a.db[c] = static_cast<float>(sb);
  }
  return Status::Ok();
}

Status gelu_fwd_ref(const GeluArgs& a) {
  for (int64_t i = 0; i < a.n; ++i) {
    const double x = a.x[i];
    a.y[i] = static_cast<float>(0.5 * x * (1.0 + std::erf(x * kInvSqrt2)));
  }
  return Status::Ok();
}

Status gelu_bwd_ref(const GeluBwdArgs& a) {
  for (int64_t i = 0; i < a.n; ++i) {
    const double x = a.x[i];
    const double cdf = 0.5 * (1.0 + std::erf(x * kInvSqrt2));
    const double pdf = kInvSqrt2Pi * std::exp(-0.5 * x * x);
    a.dx[i] = static_cast<float>(static_cast<double>(a.dy[i]) * (cdf + x * pdf));
  }
  return Status::Ok();
}

}  // namespace r4p
