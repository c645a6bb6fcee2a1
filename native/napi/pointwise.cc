// pointwise.cc: bindings for the TF.js training graph's LayerNorm and exact GELU (ops.h LayerNormArgs,
// GeluArgs; SPEC §2 numerics).
//   layerNorm(x f32[R*C], w f32[C], b f32[C], y f32[R*C], mean f32[R]|null, rstd f32[R]|null, R, C, eps) -> y
//   layerNormBackward(dy f32[R*C], x f32[R*C], w f32[C], mean f32[R], rstd f32[R],
//                     dx f32[R*C], dw f32[C]|null, db f32[C]|null, R, C) -> dx
//   gelu(x f32[n], y f32[n], n) -> y                      (y may be x itself)
//   geluBackward(dy f32[n], x f32[n], dx f32[n], n) -> dx (dx may be dy or x itself)
// eps must be finite and > 0 as a float32. Outputs are overwritten and must not overlap the inputs (nor
// each other), except the whole-buffer in-place cases of the elementwise GELU.
#include <napi.h>

#include <cmath>
#include <utility>

#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  const char* op = "layerNorm";
  Napi::Env env = info.Env();
  expect_arg_count(info, 9, op);
  auto x = f32_arg(info, 0, op, "x");
  auto w = f32_arg(info, 1, op, "w");
  auto b = f32_arg(info, 2, op, "b");
  auto y = f32_arg(info, 3, op, "y");
  auto mean = f32_arg(info, 4, op, "mean", true);
  auto rstd = f32_arg(info, 5, op, "rstd", true);
  LayerNormArgs a;
  a.R = dim_arg(info, 6, op, "R");
  a.C = dim_arg(info, 7, op, "C");
  a.eps = eps_arg(info, 8, op, "eps");
  expect_shape(env, op, "x", x, "[R,C]", {a.R, a.C});
  expect_shape(env, op, "w", w, "[C]", {a.C});
  expect_shape(env, op, "b", b, "[C]", {a.C});
  expect_shape(env, op, "y", y, "[R,C]", {a.R, a.C});
  if (mean.present()) expect_shape(env, op, "mean", mean, "[R]", {a.R});
  if (rstd.present()) expect_shape(env, op, "rstd", rstd, "[R]", {a.R});
  check_no_overlap(env, op, "y", y, "x", x);
  check_no_overlap(env, op, "y", y, "w", w);
  check_no_overlap(env, op, "y", y, "b", b);
  for (const auto& [name, v] : {std::pair{"mean", &mean}, std::pair{"rstd", &rstd}}) {
    check_no_overlap(env, op, name, *v, "x", x);
    check_no_overlap(env, op, name, *v, "w", w);
    check_no_overlap(env, op, name, *v, "b", b);
    check_no_overlap(env, op, name, *v, "y", y);
  }
  check_no_overlap(env, op, "mean", mean, "rstd", rstd);
  a.x = x.data; a.w = w.data; a.b = b.data;
  a.y = y.data;
  a.mean = mean.present() ? mean.data : nullptr;
  a.rstd = rstd.present() ? rstd.data : nullptr;
  throw_if_error(env, layer_norm_fwd(a));
  return info[3];
}

Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  const char* op = "layerNormBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 10, op);
  auto dy = f32_arg(info, 0, op, "dy");
  auto x = f32_arg(info, 1, op, "x");
  auto w = f32_arg(info, 2, op, "w");
  auto mean = f32_arg(info, 3, op, "mean");
  auto rstd = f32_arg(info, 4, op, "rstd");
  auto dx = f32_arg(info, 5, op, "dx");
  auto dw = f32_arg(info, 6, op, "dw", true);
  auto db = f32_arg(info, 7, op, "db", true);
  LayerNormBwdArgs a;
  a.R = dim_arg(info, 8, op, "R");
  a.C = dim_arg(info, 9, op, "C");
  expect_shape(env, op, "dy", dy, "[R,C]", {a.R, a.C});
  expect_shape(env, op, "x", x, "[R,C]", {a.R, a.C});
  expect_shape(env, op, "w", w, "[C]", {a.C});
  expect_shape(env, op, "mean", mean, "[R]", {a.R});
  expect_shape(env, op, "rstd", rstd, "[R]", {a.R});
  expect_shape(env, op, "dx", dx, "[R,C]", {a.R, a.C});
  if (dw.present()) expect_shape(env, op, "dw", dw, "[C]", {a.C});
  if (db.present()) expect_shape(env, op, "db", db, "[C]", {a.C});
  for (const auto& [name, v] : {std::pair{"dx", &dx}, std::pair{"dw", &dw}, std::pair{"db", &db}}) {
    check_no_overlap(env, op, name, *v, "dy", dy);
    check_no_overlap(env, op, name, *v, "x", x);
    check_no_overlap(env, op, name, *v, "w", w);
    check_no_overlap(env, op, name, *v, "mean", mean);
    check_no_overlap(env, op, name, *v, "rstd", rstd);
  }
  check_no_overlap(env, op, "dw", dw, "dx", dx);
  check_no_overlap(env, op, "db", db, "dx", dx);
  check_no_overlap(env, op, "db", db, "dw", dw);
  a.dy = dy.data; a.x = x.data; a.w = w.data; a.mean = mean.data; a.rstd = rstd.data;
  a.dx = dx.data;
  a.dw = dw.present() ? dw.data : nullptr;
  a.db = db.present() ? db.data : nullptr;
  throw_if_error(env, layer_norm_bwd(a));
  return info[5];
}

Napi::Value Gelu(const Napi::CallbackInfo& info) {
  const char* op = "gelu";
  Napi::Env env = info.Env();
  expect_arg_count(info, 3, op);
  auto x = f32_arg(info, 0, op, "x");
  auto y = f32_arg(info, 1, op, "y");
  GeluArgs a;
  a.n = dim_arg(info, 2, op, "n");
  expect_shape(env, op, "x", x, "[n]", {a.n});
  expect_shape(env, op, "y", y, "[n]", {a.n});
  check_no_overlap(env, op, "y", y, "x", x, /*allow_identical=*/true);
  a.x = x.data;
  a.y = y.data;
  throw_if_error(env, gelu_fwd(a));
  return info[1];
}

Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  const char* op = "geluBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 4, op);
  auto dy = f32_arg(info, 0, op, "dy");
  auto x = f32_arg(info, 1, op, "x");
  auto dx = f32_arg(info, 2, op, "dx");
  GeluBwdArgs a;
  a.n = dim_arg(info, 3, op, "n");
  expect_shape(env, op, "dy", dy, "[n]", {a.n});
  expect_shape(env, op, "x", x, "[n]", {a.n});
  expect_shape(env, op, "dx", dx, "[n]", {a.n});
  check_no_overlap(env, op, "dx", dx, "dy", dy, /*allow_identical=*/true);
  check_no_overlap(env, op, "dx", dx, "x", x, /*allow_identical=*/true);
  a.dy = dy.data;
  a.x = x.data;
  a.dx = dx.data;
  throw_if_error(env, gelu_bwd(a));
  return info[2];
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm, "layerNorm"));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward, "layerNormBackward"));
  exports.Set("gelu", Napi::Function::New(env, Gelu, "gelu"));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward, "geluBackward"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
