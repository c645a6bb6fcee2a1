// depthwise.cc: bindings for the TF.js backend's NHWC depthwise convolution (ops.h DepthwiseArgs).
//   depthwiseConv(x f32 [B,H,W,C], w f32 [fh,fw,C], out f32 [B,oh,ow,C], B, H, W, C, fh, fw, top, left, oh, ow, flip) -> out
//   depthwiseFilterGrad(x f32 [B,H,W,C], dy f32 [B,oh,ow,C], dw f32 [fh,fw,C], B, H, W, C, fh, fw, top, left, oh, ow) -> dw
// top / left are signed (the input gradient's complementary padding can be negative); the kernels clamp
// every tap to the input, so any integer offsets are safe.
#include <napi.h>

#include <cmath>

#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

int64_t offset_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  const double v = number_arg(info, i, op, name);
  if (!(std::fabs(v) <= 2147483647.0) || v != std::floor(v))
    throw_range(info.Env(), op, ": expected ", name, " to be an integer in [-(2^31-1), 2^31-1], received ", v);
  return static_cast<int64_t>(v);
}

// The ten geometry arguments B, H, W, C, fh, fw, top, left, oh, ow from position `first` on, shared by
// both Args structs (same field names).
template <typename Args>
void geometry_args(const Napi::CallbackInfo& info, size_t first, const char* op, Args& a) {
  a.B = dim_arg(info, first, op, "B");
  a.H = dim_arg(info, first + 1, op, "H");
  a.W = dim_arg(info, first + 2, op, "W");
  a.C = dim_arg(info, first + 3, op, "C");
  a.fh = dim_arg(info, first + 4, op, "fh");
  a.fw = dim_arg(info, first + 5, op, "fw");
  a.top = offset_arg(info, first + 6, op, "top");
  a.left = offset_arg(info, first + 7, op, "left");
  a.oh = dim_arg(info, first + 8, op, "oh");
  a.ow = dim_arg(info, first + 9, op, "ow");
}

Napi::Value DepthwiseConv(const Napi::CallbackInfo& info) {
  constexpr const char* kOp = "depthwiseConv";
  Napi::Env env = info.Env();
  expect_arg_count(info, 14, kOp);
  auto x = f32_arg(info, 0, kOp, "x");
  auto w = f32_arg(info, 1, kOp, "w");
  auto out = f32_arg(info, 2, kOp, "out");
  DepthwiseArgs a;
  geometry_args(info, 3, kOp, a);
  a.flip = bool_arg(info, 13, kOp, "flip");
  expect_shape(env, kOp, "x", x, "[B,H,W,C]", {a.B, a.H, a.W, a.C});
  expect_shape(env, kOp, "w", w, "[fh,fw,C]", {a.fh, a.fw, a.C});
  expect_shape(env, kOp, "out", out, "[B,oh,ow,C]", {a.B, a.oh, a.ow, a.C});
  check_no_overlap(env, kOp, "out", out, "x", x);
  check_no_overlap(env, kOp, "out", out, "w", w);
  a.x = x.data;
  a.w = w.data;
  a.out = out.data;
  throw_if_error(env, depthwise(a));
  return info[2];
}

Napi::Value DepthwiseFilterGrad(const Napi::CallbackInfo& info) {
  constexpr const char* kOp = "depthwiseFilterGrad";
  Napi::Env env = info.Env();
  expect_arg_count(info, 13, kOp);
  auto x = f32_arg(info, 0, kOp, "x");
  auto dy = f32_arg(info, 1, kOp, "dy");
  auto dw = f32_arg(info, 2, kOp, "dw");
  DepthwiseFilterGradArgs a;
  geometry_args(info, 3, kOp, a);
  expect_shape(env, kOp, "x", x, "[B,H,W,C]", {a.B, a.H, a.W, a.C});
  expect_shape(env, kOp, "dy", dy, "[B,oh,ow,C]", {a.B, a.oh, a.ow, a.C});
  expect_shape(env, kOp, "dw", dw, "[fh,fw,C]", {a.fh, a.fw, a.C});
  check_no_overlap(env, kOp, "dw", dw, "x", x);
  check_no_overlap(env, kOp, "dw", dw, "dy", dy);
  a.x = x.data;
  a.dy = dy.data;
  a.dw = dw.data;
  throw_if_error(env, depthwise_filter_grad(a));
  return info[2];
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("depthwiseConv", Napi::Function::New(env, DepthwiseConv, "depthwiseConv"));
  exports.Set("depthwiseFilterGrad", Napi::Function::New(env, DepthwiseFilterGrad, "depthwiseFilterGrad"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
