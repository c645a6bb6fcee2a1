// superpatch_policy_ref.cc: STEP's superpatch policy CNN (ops.h SuperpatchPolicyArgs; src/model/superpatch.ts),
// written out literally: patch means, conv 3x3 pad 1 + ReLU, conv 2x2 stride 2 + ReLU, conv 1x1.
//   images [B,3,H,W] -> logits [B, wh, ww], wh = floor(H/p / 2), ww = floor(W/p / 2)
// Sums in double, rounded to float once per layer output. Single-threaded: the whole network is a few million
// multiply-adds at 1024x1024, far below one transformer block, so the engine runs this kernel under every variant.
#include <algorithm>
#include <new>
#include <vector>

#include "kernels/ops.h"

namespace r4p {
namespace {

// y [Co, oh, ow] = conv(x [Ci, h, w], weight [Co, Ci, k, k], bias [Co]) with stride s and zero padding pad, then
// ReLU when relu.
void conv(const float* x, int64_t Ci, int64_t h, int64_t w, const float* wt, const float* bias, int64_t Co, int64_t k,
          int64_t s, int64_t pad, bool relu, float* y, int64_t oh, int64_t ow) {
  for (int64_t o = 0; o < Co; ++o)
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox) {
        double acc = bias[o];
        for (int64_t c = 0; c < Ci; ++c)
          for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) {
              const int64_t iy = oy * s + i - pad, ix = ox * s + j - pad;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += double(wt[((o * Ci + c) * k + i) * k + j]) * x[(c * h + iy) * w + ix];
            }
        const float v = static_cast<float>(acc);
        y[(o * oh + oy) * ow + ox] = relu ? std::max(v, 0.f) : v;
      }
}

}  // namespace

Status superpatch_policy_fwd_ref(const SuperpatchPolicyArgs& a) {
  const int64_t p = a.patch, c = a.width;
  if (p < 1 || c < 1 || a.H % p != 0 || a.W % p != 0)
    return range_error("superpatchPolicy: expected H and W multiples of the patch, received H=", a.H, " W=", a.W, " patch=", p);
  const int64_t gh = a.H / p, gw = a.W / p, wh = gh / 2, ww = gw / 2;
  if (wh < 1 || ww < 1) return Status::Ok();  // no 2x2 window: nothing to decide
  try {
    std::vector<float> u(size_t(3 * gh * gw)), h1(size_t(c * gh * gw)), h2(size_t(c * wh * ww));
    for (int64_t b = 0; b < a.B; ++b) {
      const float* img = a.images + b * 3 * a.H * a.W;
      for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t y = 0; y < gh; ++y)
          for (int64_t x = 0; x < gw; ++x) {
            double s = 0;
            for (int64_t i = 0; i < p; ++i)
              for (int64_t j = 0; j < p; ++j) s += img[(ch * a.H + y * p + i) * a.W + x * p + j];
            u[size_t((ch * gh + y) * gw + x)] = static_cast<float>(s / double(p * p));
          }
      conv(u.data(), 3, gh, gw, a.conv1_w, a.conv1_b, c, 3, 1, 1, true, h1.data(), gh, gw);
      conv(h1.data(), c, gh, gw, a.conv2_w, a.conv2_b, c, 2, 2, 0, true, h2.data(), wh, ww);
      conv(h2.data(), c, wh, ww, a.conv3_w, a.conv3_b, 1, 1, 1, 0, false, a.logits + b * wh * ww, wh, ww);
    }
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "superpatchPolicy: out of memory for its feature maps");
  }
  return Status::Ok();
}

}  // namespace r4p
