// gumbel_softmax_st_ref.cc: SPEC §4 Gumbel-Softmax straight-through, two channels, written out literally.
// Forward:  logits [B,N,2] f32 -> hard [B,N] f32 in {0,1}, soft [B,N] f32.
//   y_c  = (logits[b,n,c] + g_c) / tau,  g_c = Gumbel from Philox (seed, b, n, stream 1), word c
//   soft = softmax(y)[0] = sigmoid(y_0 - y_1)
//   hard = 1 if y_0 >= y_1 else 0   (a tie goes to channel 0 = keep, as torch's argmax picks the first)
// Everything up to the final float rounding is double, so ref and avx2 agree bit for bit.
// Backward (straight-through: the forward value is hard, the gradient is soft's), OVERWRITES dlogits:
//   dlogits[b,n,0] =  dhard * s(1-s)/tau,  dlogits[b,n,1] = -dhard * s(1-s)/tau
#include <cmath>

#include "common/philox.h"
#include "kernels/ops.h"

namespace r4p {

Status gumbel_softmax_st_fwd_ref(const GumbelSoftmaxArgs& a) {
  if (!(a.tau > 0.f) || !std::isfinite(a.tau))
    return range_error("gumbelSoftmaxST: expected tau to be a finite number > 0, received ", a.tau);
  const double tau = a.tau;
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t n = 0; n < a.N; ++n) {
      const int64_t i = b * a.N + n;
      const Philox4x32 x = philox_token(a.seed, b, n, kPhiloxStreamGumbelSoftmax);
      const double y0 = (static_cast<double>(a.logits[2 * i]) + philox_gumbel(x.v[0])) / tau;
      const double y1 = (static_cast<double>(a.logits[2 * i + 1]) + philox_gumbel(x.v[1])) / tau;
      a.soft[i] = static_cast<float>(1.0 / (1.0 + std::exp(y1 - y0)));
      a.hard[i] = y0 >= y1 ? 1.f : 0.f;
    }
  return Status::Ok();
}

Status gumbel_softmax_st_bwd_ref(const GumbelSoftmaxBwdArgs& a) {
  if (!(a.tau > 0.f) || !std::isfinite(a.tau))
    return range_error("gumbelSoftmaxSTBackward: expected tau to be a finite number > 0, received ", a.tau);
  for (int64_t i = 0; i < a.B * a.N; ++i) {
    const float s = a.soft[i];
    const float g = a.dhard[i] * (s * (1.f - s)) / a.tau;
    a.dlogits[2 * i] = g;
    a.dlogits[2 * i + 1] = -g;
  }
  return Status::Ok();
}

}  // namespace r4p
