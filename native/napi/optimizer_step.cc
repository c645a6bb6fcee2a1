// optimizer_step.cc: bindings for the training loop's in-place parameter updates (kernels/optimizer_step.h).
//   adamwStep(p f32[n], g f32[n], m f32[n], v f32[n], n, b1, c1, b2, c2, bc1, bc2, eps, lr, wd, updateP) -> undefined
//   emaStep(e f32[n], p f32[n], n, d, c) -> undefined
// p, m, v (AdamW) and e (EMA) are updated in place; they must not share memory with each other or with the
// read-only input. The scalars must be finite as float32 (RangeError naming the argument); bc1, bc2 and eps
// must be > 0 (they divide).
#include <napi.h>

#include <cmath>

#include "kernels/optimizer_step.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

float f32_scalar_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, bool positive = false) {
  const double d = number_arg(info, i, op, name);
  const float f = static_cast<float>(d);
  if (!std::isfinite(d) || !std::isfinite(f) || (positive && !(f > 0.f)))
    throw_range(info.Env(), op, ": expected ", name, positive ? " to be a finite number > 0 (as float32)" : " to be a finite number (as float32)",
                ", received ", d);
  return f;
}

Napi::Value AdamWStep(const Napi::CallbackInfo& info) {
  const char* op = "adamwStep";
  Napi::Env env = info.Env();
  expect_arg_count(info, 15, op);
  auto p = f32_arg(info, 0, op, "p");
  auto g = f32_arg(info, 1, op, "g");
  auto m = f32_arg(info, 2, op, "m");
  auto v = f32_arg(info, 3, op, "v");
  AdamWStepArgs a;
  a.n = dim_arg(info, 4, op, "n", 0);
  for (const auto& [name, view] : {std::pair{"p", &p}, std::pair{"g", &g}, std::pair{"m", &m}, std::pair{"v", &v}})
    expect_shape(env, op, name, *view, "[n]", {a.n});
  check_outputs_disjoint(env, op, {{"p", p}, {"m", m}, {"v", v}}, {{"g", g}});
  a.b1 = f32_scalar_arg(info, 5, op, "b1");
  a.c1 = f32_scalar_arg(info, 6, op, "c1");
  a.b2 = f32_scalar_arg(info, 7, op, "b2");
  a.c2 = f32_scalar_arg(info, 8, op, "c2");
  a.bc1 = f32_scalar_arg(info, 9, op, "bc1", true);
  a.bc2 = f32_scalar_arg(info, 10, op, "bc2", true);
  a.eps = f32_scalar_arg(info, 11, op, "eps", true);
  a.lr = f32_scalar_arg(info, 12, op, "lr");
  a.wd = f32_scalar_arg(info, 13, op, "wd");
  a.update_p = bool_arg(info, 14, op, "updateP");
  a.p = p.data; a.g = g.data; a.m = m.data; a.v = v.data;
  throw_if_error(env, adamw_step(a));
  return env.Undefined();
}

Napi::Value EmaStep(const Napi::CallbackInfo& info) {
  const char* op = "emaStep";
  Napi::Env env = info.Env();
  expect_arg_count(info, 5, op);
  auto e = f32_arg(info, 0, op, "e");
  auto p = f32_arg(info, 1, op, "p");
  EmaStepArgs a;
  a.n = dim_arg(info, 2, op, "n", 0);
  expect_shape(env, op, "e", e, "[n]", {a.n});
  expect_shape(env, op, "p", p, "[n]", {a.n});
  check_no_overlap(env, op, "e", e, "p", p);
  a.d = f32_scalar_arg(info, 3, op, "d");
  a.c = f32_scalar_arg(info, 4, op, "c");
  a.e = e.data; a.p = p.data;
  throw_if_error(env, ema_step(a));
  return env.Undefined();
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("adamwStep", Napi::Function::New(env, AdamWStep, "adamwStep"));
  exports.Set("emaStep", Napi::Function::New(env, EmaStep, "emaStep"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
