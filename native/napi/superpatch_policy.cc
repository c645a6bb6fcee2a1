// superpatch_policy.cc: binding for STEP's superpatch policy CNN (ops.h SuperpatchPolicyArgs; src/ops/superpatchPolicy.ts),
// the kernel the engine runs before merging windows, exposed so that it can be checked on its own.
//   superpatchPolicy(images f32 [B,3,H,W], logits f32 [B,wh,ww], B, H, W, patch, width,
//                    conv1w f32 [c,3,3,3], conv1b [c], conv2w [c,c,2,2], conv2b [c], conv3w [1,c,1,1], conv3b [1]) -> logits
//   with wh = floor(H/patch / 2), ww = floor(W/patch / 2), both >= 1.
#include <napi.h>

#include <vector>

#include "kernels/ops.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

constexpr const char* kOp = "superpatchPolicy";

Napi::Value SuperpatchPolicy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expect_arg_count(info, 13, kOp);
  auto images = f32_arg(info, 0, kOp, "images");
  auto logits = f32_arg(info, 1, kOp, "logits");
  SuperpatchPolicyArgs a;
  a.B = dim_arg(info, 2, kOp, "B");
  a.H = dim_arg(info, 3, kOp, "H");
  a.W = dim_arg(info, 4, kOp, "W");
  a.patch = dim_arg(info, 5, kOp, "patch");
  a.width = dim_arg(info, 6, kOp, "width");
  if (a.width > 1024) throw_range(env, kOp, ": expected width in [1, 1024], received ", a.width);
  if (a.H % a.patch != 0 || a.W % a.patch != 0)
    throw_range(env, kOp, ": expected H and W multiples of the patch, received H=", a.H, " W=", a.W, " patch=", a.patch);
  const int64_t wh = a.H / a.patch / 2, ww = a.W / a.patch / 2, c = a.width;
  if (wh < 1 || ww < 1)
    throw_range(env, kOp, ": expected at least a 2x2 patch grid, received ", a.H / a.patch, "x", a.W / a.patch);
  expect_shape(env, kOp, "images", images, "[B,3,H,W]", {a.B, 3, a.H, a.W});
  expect_shape(env, kOp, "logits", logits, "[B,wh,ww]", {a.B, wh, ww});
  check_no_overlap(env, kOp, "logits", logits, "images", images);
  const char* names[6] = {"conv1w", "conv1b", "conv2w", "conv2b", "conv3w", "conv3b"};
  const char* letters[6] = {"[c,3,3,3]", "[c]", "[c,c,2,2]", "[c]", "[1,c,1,1]", "[1]"};
  const std::vector<int64_t> shapes[6] = {{c, 3, 3, 3}, {c}, {c, c, 2, 2}, {c}, {1, c, 1, 1}, {1}};
  const float* w[6];
  for (int i = 0; i < 6; ++i) {
    auto v = f32_arg(info, size_t(7 + i), kOp, names[i]);
    expect_shape(env, kOp, names[i], v, letters[i], shapes[i]);
    check_no_overlap(env, kOp, "logits", logits, names[i], v);
    w[i] = v.data;
  }
  a.images = images.data;
  a.logits = logits.data;
  a.conv1_w = w[0]; a.conv1_b = w[1]; a.conv2_w = w[2]; a.conv2_b = w[3]; a.conv3_w = w[4]; a.conv3_b = w[5];
  throw_if_error(env, superpatch_policy_fwd_ref(a));
  return info[1];
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("superpatchPolicy", Napi::Function::New(env, SuperpatchPolicy, "superpatchPolicy"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
