// gumbel_softmax_st.cc: bindings for SPEC §4 gumbelSoftmaxST (two-channel, straight-through).
//   gumbelSoftmaxST(logits f32[B*N*2], hard f32[B*N], soft f32[B*N], B, N, tau, seed) -> undefined
//   gumbelSoftmaxSTBackward(dhard f32[B*N], soft f32[B*N], dlogits f32[B*N*2], B, N, tau) -> dlogits
// tau must be finite and > 0 (it divides the logits). Backward overwrites dlogits.
#include <napi.h>

#include <cmath>

#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {

static Napi::Value GumbelSoftmaxST(const Napi::CallbackInfo& info) {
  const char* op = "gumbelSoftmaxST";
  expect_arg_count(info, 7, op);
  auto logits = f32_arg(info, 0, op, "logits");
  auto hard = f32_arg(info, 1, op, "hard");
  auto soft = f32_arg(info, 2, op, "soft");
  const int64_t B = dim_arg(info, 3, op, "B"), N = dim_arg(info, 4, op, "N");
  const float tau = eps_arg(info, 5, op, "tau");
  const uint64_t seed = seed_arg(info, 6, op, "seed");
  Napi::Env env = info.Env();
  expect_shape(env, op, "logits", logits, "[B,N,2]", {B, N, 2});
  expect_shape(env, op, "hard", hard, "[B,N]", {B, N});
  expect_shape(env, op, "soft", soft, "[B,N]", {B, N});
  check_no_overlap(env, op, "hard", hard, "logits", logits);
  check_no_overlap(env, op, "soft", soft, "logits", logits);
  check_no_overlap(env, op, "hard", hard, "soft", soft);
  throw_if_error(env, gumbel_softmax_st_fwd({logits.data, hard.data, soft.data, B, N, tau, seed}));
  return env.Undefined();
}

static Napi::Value GumbelSoftmaxSTBackward(const Napi::CallbackInfo& info) {
  const char* op = "gumbelSoftmaxSTBackward";
  expect_arg_count(info, 6, op);
  auto dhard = f32_arg(info, 0, op, "dhard");
  auto soft = f32_arg(info, 1, op, "soft");
  auto dlogits = f32_arg(info, 2, op, "dlogits");
  const int64_t B = dim_arg(info, 3, op, "B"), N = dim_arg(info, 4, op, "N");
  const float tau = eps_arg(info, 5, op, "tau");
  Napi::Env env = info.Env();
  expect_shape(env, op, "dhard", dhard, "[B,N]", {B, N});
  expect_shape(env, op, "soft", soft, "[B,N]", {B, N});
  expect_shape(env, op, "dlogits", dlogits, "[B,N,2]", {B, N, 2});
  check_no_overlap(env, op, "dlogits", dlogits, "dhard", dhard);
  check_no_overlap(env, op, "dlogits", dlogits, "soft", soft);
  throw_if_error(env, gumbel_softmax_st_bwd({dhard.data, soft.data, dlogits.data, B, N, tau}));
  return info[2];
}

static void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("gumbelSoftmaxST", Napi::Function::New(env, GumbelSoftmaxST, "gumbelSoftmaxST"));
  exports.Set("gumbelSoftmaxSTBackward", Napi::Function::New(env, GumbelSoftmaxSTBackward, "gumbelSoftmaxSTBackward"));
}
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
