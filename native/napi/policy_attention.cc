// policy_attention.cc: bindings for SPEC §4/§5 policyAttention and its gradient (sync and Promise).
//   policyAttention(q, k, v f32[B*H*N*Dh], policy f32[B*N], out f32[B*H*N*Dh], B, H, N, Dh, eps,
//                   rowMax f32[B*H*N] | null, rowDen f32[B*H*N] | null) -> out
//   policyAttentionBackward(q, k, v, policy, dout, dq | null, dk | null, dv | null, dpolicy | null,
//                           B, H, N, Dh, eps) -> undefined
//   policyAttentionAsync / policyAttentionBackwardAsync: same arguments, return a Promise (KernelWorker).
// scale = 1/sqrt(Dh). Checks: shapes, eps finite >= 0, every policy value finite (soft values allowed),
// no output sharing memory with an input or another output.
#include <napi.h>

#include <cmath>
#include <utility>
#include <vector>

#include "kernels/ops.h"
#include "kernels/registry.h"
#include "napi/async_work.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {

namespace {

struct Fwd {
  PolicyAttentionArgs args;
  std::vector<Napi::Value> keep;
};

Fwd parse_fwd(const Napi::CallbackInfo& info, const char* op) {
  expect_arg_count(info, 12, op);
  auto q = f32_arg(info, 0, op, "q");
  auto k = f32_arg(info, 1, op, "k");
  auto v = f32_arg(info, 2, op, "v");
  auto policy = f32_arg(info, 3, op, "policy");
  auto out = f32_arg(info, 4, op, "out");
  const int64_t B = dim_arg(info, 5, op, "B"), H = dim_arg(info, 6, op, "H"), N = dim_arg(info, 7, op, "N"),
                Dh = dim_arg(info, 8, op, "Dh");
  const float eps = attn_eps_arg(info, 9, op, "eps");
  auto row_max = f32_arg(info, 10, op, "rowMax", true);
  auto row_den = f32_arg(info, 11, op, "rowDen", true);
  Napi::Env env = info.Env();
  expect_shape(env, op, "q", q, "[B,H,N,Dh]", {B, H, N, Dh});
  expect_shape(env, op, "k", k, "[B,H,N,Dh]", {B, H, N, Dh});
  expect_shape(env, op, "v", v, "[B,H,N,Dh]", {B, H, N, Dh});
  expect_shape(env, op, "policy", policy, "[B,N]", {B, N});
  expect_shape(env, op, "out", out, "[B,H,N,Dh]", {B, H, N, Dh});
  if (row_max.present()) expect_shape(env, op, "rowMax", row_max, "[B,H,N]", {B, H, N});
  if (row_den.present()) expect_shape(env, op, "rowDen", row_den, "[B,H,N]", {B, H, N});
  check_outputs_disjoint(env, op, {{"out", out}, {"rowMax", row_max}, {"rowDen", row_den}},
                         {{"q", q}, {"k", k}, {"v", v}, {"policy", policy}});
  expect_finite(env, op, "policy", policy, N);
  Fwd f;
  f.args = {q.data, k.data, v.data, policy.data, out.data, row_max.present() ? row_max.data : nullptr,
            row_den.present() ? row_den.data : nullptr, B, H, N, Dh,
            static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh))), eps};
  for (size_t i : {0, 1, 2, 3, 4, 10, 11}) f.keep.push_back(info[i]);
  return f;
}

struct Bwd {
  PolicyAttentionBwdArgs args;
  std::vector<Napi::Value> keep;
};

Bwd parse_bwd(const Napi::CallbackInfo& info, const char* op) {
  expect_arg_count(info, 14, op);
  auto q = f32_arg(info, 0, op, "q");
  auto k = f32_arg(info, 1, op, "k");
  auto v = f32_arg(info, 2, op, "v");
  auto policy = f32_arg(info, 3, op, "policy");
  auto dout = f32_arg(info, 4, op, "dout");
  auto dq = f32_arg(info, 5, op, "dq", true);
  auto dk = f32_arg(info, 6, op, "dk", true);
  auto dv = f32_arg(info, 7, op, "dv", true);
  auto dpolicy = f32_arg(info, 8, op, "dpolicy", true);
  const int64_t B = dim_arg(info, 9, op, "B"), H = dim_arg(info, 10, op, "H"), N = dim_arg(info, 11, op, "N"),
                Dh = dim_arg(info, 12, op, "Dh");
  const float eps = attn_eps_arg(info, 13, op, "eps");
  Napi::Env env = info.Env();
  expect_shape(env, op, "q", q, "[B,H,N,Dh]", {B, H, N, Dh});
  expect_shape(env, op, "k", k, "[B,H,N,Dh]", {B, H, N, Dh});
  expect_shape(env, op, "v", v, "[B,H,N,Dh]", {B, H, N, Dh});
  expect_shape(env, op, "policy", policy, "[B,N]", {B, N});
  expect_shape(env, op, "dout", dout, "[B,H,N,Dh]", {B, H, N, Dh});
  if (dq.present()) expect_shape(env, op, "dq", dq, "[B,H,N,Dh]", {B, H, N, Dh});
  if (dk.present()) expect_shape(env, op, "dk", dk, "[B,H,N,Dh]", {B, H, N, Dh});
  if (dv.present()) expect_shape(env, op, "dv", dv, "[B,H,N,Dh]", {B, H, N, Dh});
  if (dpolicy.present()) expect_shape(env, op, "dpolicy", dpolicy, "[B,N]", {B, N});
  check_outputs_disjoint(env, op, {{"dq", dq}, {"dk", dk}, {"dv", dv}, {"dpolicy", dpolicy}},
                         {{"q", q}, {"k", k}, {"v", v}, {"policy", policy}, {"dout", dout}});
  expect_finite(env, op, "policy", policy, N);
  auto ptr = [](const View<float>& x) { return x.present() ? x.data : nullptr; };
  Bwd r;
  r.args = {q.data, k.data, v.data, policy.data, dout.data, ptr(dq), ptr(dk), ptr(dv), ptr(dpolicy), B, H, N, Dh,
            static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh))), eps};
  for (size_t i = 0; i < 9; ++i) r.keep.push_back(info[i]);
  return r;
}

Napi::Value PolicyAttention(const Napi::CallbackInfo& info) {
  Fwd f = parse_fwd(info, "policyAttention");
  throw_if_error(info.Env(), policy_attention_fwd(f.args));
  return info[4];
}

Napi::Value PolicyAttentionAsync(const Napi::CallbackInfo& info) {
  Fwd f = parse_fwd(info, "policyAttentionAsync");
  const PolicyAttentionArgs args = f.args;
  return KernelWorker::Queue(info.Env(), [args]() { return policy_attention_fwd(args); }, f.keep, info[4]);
}

Napi::Value PolicyAttentionBackward(const Napi::CallbackInfo& info) {
  Bwd r = parse_bwd(info, "policyAttentionBackward");
  throw_if_error(info.Env(), policy_attention_bwd(r.args));
  return info.Env().Undefined();
}

Napi::Value PolicyAttentionBackwardAsync(const Napi::CallbackInfo& info) {
  Bwd r = parse_bwd(info, "policyAttentionBackwardAsync");
  const PolicyAttentionBwdArgs args = r.args;
  return KernelWorker::Queue(info.Env(), [args]() { return policy_attention_bwd(args); }, r.keep, info.Env().Undefined());
}

}  // namespace

static void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("policyAttention", Napi::Function::New(env, PolicyAttention, "policyAttention"));
  exports.Set("policyAttentionAsync", Napi::Function::New(env, PolicyAttentionAsync, "policyAttentionAsync"));
  exports.Set("policyAttentionBackward", Napi::Function::New(env, PolicyAttentionBackward, "policyAttentionBackward"));
  exports.Set("policyAttentionBackwardAsync",
              Napi::Function::New(env, PolicyAttentionBackwardAsync, "policyAttentionBackwardAsync"));
}
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
