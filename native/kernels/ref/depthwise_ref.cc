// depthwise_ref.cc: NHWC depthwise correlation and its filter gradient (ops.h DepthwiseArgs), written
// out literally with double accumulators: the anchor the avx2 kernels are tested against.
#include <algorithm>

#include "kernels/ops.h"

namespace r4p {

Status depthwise_ref(const DepthwiseArgs& a) {
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t i = 0; i < a.oh; ++i)
      for (int64_t j = 0; j < a.ow; ++j)
        for (int64_t c = 0; c < a.C; ++c) {
          double acc = 0.0;
          for (int64_t r = 0; r < a.fh; ++r) {
            const int64_t y = i + r - a.top;
            if (y < 0 || y >= a.H) continue;
            for (int64_t s = 0; s < a.fw; ++s) {
              const int64_t x = j + s - a.left;
              if (x < 0 || x >= a.W) continue;
              const int64_t rr = a.flip ? a.fh - 1 - r : r, ss = a.flip ? a.fw - 1 - s : s;
              acc += static_cast<double>(a.x[((b * a.H + y) * a.W + x) * a.C + c]) * a.w[(rr * a.fw + ss) * a.C + c];
            }
          }
          a.out[((b * a.oh + i) * a.ow + j) * a.C + c] = static_cast<float>(acc);
        }
  return Status::Ok();
}

Status depthwise_filter_grad_ref(const DepthwiseFilterGradArgs& a) {
  for (int64_t r = 0; r < a.fh; ++r)
    for (int64_t s = 0; s < a.fw; ++s)
      for (int64_t c = 0; c < a.C; ++c) {
        double acc = 0.0;
        for (int64_t b = 0; b < a.B; ++b)
          for (int64_t i = 0; i < a.oh; ++i) {
            const int64_t y = i + r - a.top;
            if (y < 0 || y >= a.H) continue;
            for (int64_t j = 0; j < a.ow; ++j) {
              const int64_t x = j + s - a.left;
              if (x < 0 || x >= a.W) continue;
              acc += static_cast<double>(a.x[((b * a.H + y) * a.W + x) * a.C + c]) * a.dy[((b * a.oh + i) * a.ow + j) * a.C + c];
            }
          }
        a.dw[(r * a.fw + s) * a.C + c] = static_cast<float>(acc);
      }
  return Status::Ok();
}

}  // namespace r4p
