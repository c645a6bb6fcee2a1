// superpatch.cc: STEP superpatches in the CPU engine (engine.h SuperpatchOptions; src/model/superpatch.ts).
//   merge   (after the patch embedding, step 3): logits = superpatch_policy_fwd_ref(images); window w of image b merges
//           when sigmoid(logit) >= threshold: x0 row of its top-left patch n00 = (x[n00] + x[n01] + x[n10] + x[n11]) / 4
//           (summed in that order, position embedding included), the other three rows inactive from the start
//           (ws_->active / topk / kept, varlen_); tokens0[b] = Np - 3 * merged windows.
//   unmerge (before each decode): the three sibling rows of every merged window <- its top-left row.
#include <cmath>
#include <cstring>
#include <new>

#include "engine/engine.h"
#include "engine/workspace.h"
#include "kernels/ops.h"

namespace r4p::engine {

Status Engine::merge_superpatches(const float* images, int64_t B, uint8_t* merged) {
  const EngineConfig& c = config();
  const SuperpatchOptions& o = opts_.superpatch;
  const int64_t D = c.D, Np = c.Np(), P = c.P(), T0 = P + Np, gw = c.gw(), wh = c.gh() / 2, ww = gw / 2;
  Workspace& w = *ws_;
  SuperpatchPolicyArgs a;
  a.images = images; a.logits = w.sp_logits.data();
  a.B = B; a.H = c.image_h; a.W = c.image_w; a.patch = c.patch; a.width = o.width;
  a.conv1_w = o.conv1_w; a.conv1_b = o.conv1_b; a.conv2_w = o.conv2_w; a.conv2_b = o.conv2_b;
  a.conv3_w = o.conv3_w; a.conv3_b = o.conv3_b;
  R4P_RETURN_IF_ERROR(superpatch_policy_fwd_ref(a));
  for (int64_t b = 0; b < B; ++b) {
    float* xb = w.x0.get() + (b * T0 + P) * D;
    uint8_t* active = w.active.data() + b * Np;
    for (int64_t wy = 0; wy < wh; ++wy)
      for (int64_t wx = 0; wx < ww; ++wx) {
        const int64_t e = (b * wh + wy) * ww + wx;
        const double l = w.sp_logits[size_t(e)];
        const bool merge = 1.0 / (1.0 + std::exp(-l)) >= o.threshold;
        w.sp_merged[size_t(e)] = merge ? 1 : 0;
        if (!merge) continue;
        const int64_t n00 = 2 * wy * gw + 2 * wx, n01 = n00 + 1, n10 = n00 + gw, n11 = n10 + 1;
        float* r = xb + n00 * D;
        for (int64_t d = 0; d < D; ++d) r[d] = (((r[d] + xb[n01 * D + d]) + xb[n10 * D + d]) + xb[n11 * D + d]) * 0.25f;
        active[n01] = active[n10] = active[n11] = 0;
      }
    int32_t* list = w.topk.data() + b * Np;
    int64_t k = 0;
    for (int64_t n = 0; n < Np; ++n)
      if (active[n]) list[k++] = static_cast<int32_t>(n);
    w.kept[b] = w.tokens0[b] = static_cast<int32_t>(k);
  }
  if (merged) std::memcpy(merged, w.sp_merged.data(), size_t(B * wh * ww));
  varlen_ = true;
  return Status::Ok();
}

void Engine::unmerge_superpatches(float* x, int64_t T, int64_t Qcur, int64_t B) {
  const EngineConfig& c = config();
  const int64_t D = c.D, gw = c.gw(), wh = c.gh() / 2, ww = gw / 2, first = Qcur + c.P();
  const size_t row = size_t(D) * sizeof(float);
  for (int64_t b = 0; b < B; ++b) {
    float* xb = x + (b * T + first) * D;
    for (int64_t wy = 0; wy < wh; ++wy)
      for (int64_t wx = 0; wx < ww; ++wx) {
        if (!ws_->sp_merged[size_t((b * wh + wy) * ww + wx)]) continue;
        const int64_t n00 = 2 * wy * gw + 2 * wx;
        for (const int64_t n : {n00 + 1, n00 + gw, n00 + gw + 1}) std::memcpy(xb + n * D, xb + n00 * D, row);
      }
  }
}

}  // namespace r4p::engine
