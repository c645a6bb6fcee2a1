// softmax_ref.cc: last-axis softmax for the TF.js cpu backend (SPEC §2 attention), written out literally.
// x [R,C] -> y [R,C]: y = exp(x - rowmax) / sum exp(x - rowmax). The exponentials and their sum are
// computed in double, so the ref is the accurate anchor the avx2 variant is tested against.
#include <cmath>

#include "kernels/ops.h"

namespace r4p {

Status softmax_ref(const SoftmaxArgs& a) {
  for (int64_t r = 0; r < a.R; ++r) {
    const float* x = a.x + r * a.C;
    float* y = a.y + r * a.C;
    float m = x[0];
    for (int64_t c = 1; c < a.C; ++c) m = x[c] > m ? x[c] : m;
    double s = 0.0;
    for (int64_t c = 0; c < a.C; ++c) s += std::exp(static_cast<double>(x[c]) - m);
    for (int64_t c = 0; c < a.C; ++c) y[c] = static_cast<float>(std::exp(static_cast<double>(x[c]) - m) / s);
  }
  return Status::Ok();
}

}  // namespace r4p
