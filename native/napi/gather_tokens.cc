// gather_tokens.cc: bindings for SPEC §5 gatherTokens and its gradient.
//   gatherTokens(x f32[B*N*D], idx i32[B*K], out f32[B*K*D], B, N, K, D)
//   gatherTokensBackward(dout f32[B*K*D], idx i32[B*K], dx f32[B*N*D], B, N, K, D)
#include <napi.h>

#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {

static Napi::Value GatherTokens(const Napi::CallbackInfo& info) {
  const char* op = "gatherTokens";
  expect_arg_count(info, 7, op);
  auto x = f32_arg(info, 0, op, "x");
  auto idx = i32_arg(info, 1, op, "idx");
  auto out = f32_arg(info, 2, op, "out");
  const int64_t B = dim_arg(info, 3, op, "B"), N = dim_arg(info, 4, op, "N"), K = dim_arg(info, 5, op, "K"),
                D = dim_arg(info, 6, op, "D");
  Napi::Env env = info.Env();
  expect_shape(env, op, "x", x, "[B,N,D]", {B, N, D});
  expect_shape(env, op, "idx", idx, "[B,K]", {B, K});
  expect_shape(env, op, "out", out, "[B,K,D]", {B, K, D});
  check_no_overlap(env, op, "out", out, "x", x);
  check_no_overlap(env, op, "out", out, "idx", idx);
  check_indices(env, op, "idx", idx.data, B, K, N, false);
  throw_if_error(env, gather_tokens_fwd({x.data, idx.data, out.data, B, N, K, D}));
  return info[2];
}

static Napi::Value GatherTokensBackward(const Napi::CallbackInfo& info) {
  const char* op = "gatherTokensBackward";
  expect_arg_count(info, 7, op);
  auto dout = f32_arg(info, 0, op, "dout");
  auto idx = i32_arg(info, 1, op, "idx");
  auto dx = f32_arg(info, 2, op, "dx");
  const int64_t B = dim_arg(info, 3, op, "B"), N = dim_arg(info, 4, op, "N"), K = dim_arg(info, 5, op, "K"),
                D = dim_arg(info, 6, op, "D");
  Napi::Env env = info.Env();
  expect_shape(env, op, "dout", dout, "[B,K,D]", {B, K, D});
  expect_shape(env, op, "idx", idx, "[B,K]", {B, K});
  expect_shape(env, op, "dx", dx, "[B,N,D]", {B, N, D});
  check_no_overlap(env, op, "dx", dx, "dout", dout);
  check_no_overlap(env, op, "dx", dx, "idx", idx);
  check_indices(env, op, "idx", idx.data, B, K, N, false);
  throw_if_error(env, gather_tokens_bwd({dout.data, idx.data, dx.data, B, N, K, D}));
  return info[2];
}

static void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("gatherTokens", Napi::Function::New(env, GatherTokens, "gatherTokens"));
  exports.Set("gatherTokensBackward", Napi::Function::New(env, GatherTokensBackward, "gatherTokensBackward"));
}
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
