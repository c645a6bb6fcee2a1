// scatter_tokens.cc: bindings for SPEC §5 scatterTokens and its gradient.
//   scatterTokens(base f32[B*N*D], idx i32[B*K], src f32[B*K*D], out f32[B*N*D], B, N, K, D)
//     out may be base itself (in-place); duplicate indices within a row are a RangeError.
//   scatterTokensBackward(dout f32[B*N*D], idx i32[B*K], dbase f32[B*N*D]|null, dsrc f32[B*K*D]|null, B, N, K, D)
#include <napi.h>

#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {

static Napi::Value ScatterTokens(const Napi::CallbackInfo& info) {
  const char* op = "scatterTokens";
  expect_arg_count(info, 8, op);
  auto base = f32_arg(info, 0, op, "base");
  auto idx = i32_arg(info, 1, op, "idx");
  auto src = f32_arg(info, 2, op, "src");
  auto out = f32_arg(info, 3, op, "out");
  const int64_t B = dim_arg(info, 4, op, "B"), N = dim_arg(info, 5, op, "N"), K = dim_arg(info, 6, op, "K"),
                D = dim_arg(info, 7, op, "D");
  Napi::Env env = info.Env();
  expect_shape(env, op, "base", base, "[B,N,D]", {B, N, D});
  expect_shape(env, op, "idx", idx, "[B,K]", {B, K});
  expect_shape(env, op, "src", src, "[B,K,D]", {B, K, D});
  expect_shape(env, op, "out", out, "[B,N,D]", {B, N, D});
  check_no_overlap(env, op, "out", out, "base", base, /*allow_identical=*/true);
  check_no_overlap(env, op, "out", out, "src", src);
  check_no_overlap(env, op, "out", out, "idx", idx);
  check_indices(env, op, "idx", idx.data, B, K, N, true);
  throw_if_error(env, scatter_tokens_fwd({base.data, idx.data, src.data, out.data, B, N, K, D}));
  return info[3];
}

static Napi::Value ScatterTokensBackward(const Napi::CallbackInfo& info) {
  const char* op = "scatterTokensBackward";
  expect_arg_count(info, 8, op);
  auto dout = f32_arg(info, 0, op, "dout");
  auto idx = i32_arg(info, 1, op, "idx");
  auto dbase = f32_arg(info, 2, op, "dbase", true);
  auto dsrc = f32_arg(info, 3, op, "dsrc", true);
  const int64_t B = dim_arg(info, 4, op, "B"), N = dim_arg(info, 5, op, "N"), K = dim_arg(info, 6, op, "K"),
                D = dim_arg(info, 7, op, "D");
  Napi::Env env = info.Env();
  expect_shape(env, op, "dout", dout, "[B,N,D]", {B, N, D});
  expect_shape(env, op, "idx", idx, "[B,K]", {B, K});
  if (dbase.present()) {
    expect_shape(env, op, "dbase", dbase, "[B,N,D]", {B, N, D});
    check_no_overlap(env, op, "dbase", dbase, "dout", dout);
  }
  if (dsrc.present()) {
    expect_shape(env, op, "dsrc", dsrc, "[B,K,D]", {B, K, D});
    check_no_overlap(env, op, "dsrc", dsrc, "dout", dout);
    check_no_overlap(env, op, "dsrc", dsrc, "dbase", dbase);
  }
  check_indices(env, op, "idx", idx.data, B, K, N, true);
  throw_if_error(env, scatter_tokens_bwd({dout.data, idx.data, dbase.data, dsrc.data, B, N, K, D}));
  return env.Undefined();
}

static void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("scatterTokens", Napi::Function::New(env, ScatterTokens, "scatterTokens"));
  exports.Set("scatterTokensBackward", Napi::Function::New(env, ScatterTokensBackward, "scatterTokensBackward"));
}
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
