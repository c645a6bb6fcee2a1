// softmax.cc: binding for the TF.js backend's last-axis softmax (ops.h SoftmaxArgs; SPEC §2 attention).
//   softmax(x f32 [R,C], y f32 [R,C], R, C) -> y
#include <napi.h>

#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

constexpr const char* kOp = "softmax";

Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expect_arg_count(info, 4, kOp);
  auto x = f32_arg(info, 0, kOp, "x");
  auto y = f32_arg(info, 1, kOp, "y");
  SoftmaxArgs a;
  a.R = dim_arg(info, 2, kOp, "R");
  a.C = dim_arg(info, 3, kOp, "C");
  expect_shape(env, kOp, "x", x, "[R,C]", {a.R, a.C});
  expect_shape(env, kOp, "y", y, "[R,C]", {a.R, a.C});
  check_no_overlap(env, kOp, "y", y, "x", x);
  a.x = x.data;
  a.y = y.data;
  throw_if_error(env, softmax(a));
  return info[1];
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax, "softmax"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
