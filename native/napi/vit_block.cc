// vit_block.cc: bindings for the vitBlock training op (ops.h VitBlockArgs / VitBlockBwdArgs; SPEC §2, §4).
//   vitBlock(x f32[B*N*D], policy f32[B*N] | null, weights, y f32[B*N*D], saved f32[S], B, N, D, H, lnEps, attnEps) -> y
//   vitBlockBackward(dy f32[B*N*D], x, policy | null, weights, saved f32[S], dx f32[B*N*D], dpolicy f32[B*N] | null,
//                    grads, B, N, D, H, lnEps, attnEps) -> dx
// S = B*N*(6D + F) (vitBlockSavedFloats; F from weights['mlp.fc1.bias']). weights / grads: plain objects mapping
// one block's SPEC §8 names without "blocks.{i}." to Float32Arrays of the weight shapes. Synchronous (the TF.js
// kernels that call them are). Checks: counts, kinds, shapes, D % H, lnEps > 0, attnEps >= 0, finite policy,
// no output sharing memory with an input or another output.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/registry.h"
#include "napi/block_weights.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

void check_policy(Napi::Env env, const char* op, const View<float>& p, int64_t B, int64_t N) {
  if (!p.present()) return;
  expect_shape(env, op, "policy", p, "[B,N]", {B, N});
  expect_finite(env, op, "policy", p, N);
}

// weights views (for overlap checks), re-read after parse_block_weights validated them.
std::vector<NamedF32> weight_views(Napi::Env env, const char* op, const Napi::Value& obj, const char* what) {
  std::vector<NamedF32> out;
  Napi::Object o = obj.As<Napi::Object>();
  for (const char* name : kBlockWeightNames) {
    const std::string n = std::string(what) + "['" + name + "']";
    out.push_back({n, f32_view(env, o.Get(name), op, n)});
  }
  return out;
}

struct Common {
  int64_t B, N, D, H;
  float ln_eps, attn_eps;
};

Common dims(const Napi::CallbackInfo& info, const char* op, size_t i0) {
  Common c;
  c.B = dim_arg(info, i0, op, "B");
  c.N = dim_arg(info, i0 + 1, op, "N");
  c.D = dim_arg(info, i0 + 2, op, "D");
  c.H = dim_arg(info, i0 + 3, op, "H");
  c.ln_eps = eps_arg(info, i0 + 4, op, "lnEps");
  c.attn_eps = attn_eps_arg(info, i0 + 5, op, "attnEps");
  if (c.D % c.H != 0) throw_range(info.Env(), op, ": expected D to be a multiple of H, received D=", c.D, " H=", c.H);
  return c;
}

Napi::Value VitBlock(const Napi::CallbackInfo& info) {
  const char* op = "vitBlock";
  Napi::Env env = info.Env();
  expect_arg_count(info, 11, op);
  auto x = f32_arg(info, 0, op, "x");
  auto policy = f32_arg(info, 1, op, "policy", true);
  auto y = f32_arg(info, 3, op, "y");
  auto saved = f32_arg(info, 4, op, "saved");
  const Common c = dims(info, op, 5);
  std::vector<Napi::Value> keep;
  const BlockWeights w = parse_block_weights(env, op, info[2], c.D, c.H, View<float>{}, &keep);  // overlaps: below
  expect_shape(env, op, "x", x, "[B,N,D]", {c.B, c.N, c.D});
  check_policy(env, op, policy, c.B, c.N);
  expect_shape(env, op, "y", y, "[B,N,D]", {c.B, c.N, c.D});
  expect_shape(env, op, "saved", saved, "[B*N*(6D+F)]", {vit_block_saved_floats(c.B, c.N, c.D, w.F)});
  std::vector<NamedF32> ins = weight_views(env, op, info[2], "weights");
  ins.push_back({"x", x});
  ins.push_back({"policy", policy});
  check_outputs_disjoint(env, op, {{"y", y}, {"saved", saved}}, ins);
  VitBlockArgs a;
  a.x = x.data; a.policy = policy.present() ? policy.data : nullptr;
  a.y = y.data; a.saved = saved.data;
  a.B = c.B; a.N = c.N; a.w = w;
  a.ln_eps = c.ln_eps; a.attn_eps = c.attn_eps;
  throw_if_error(env, vit_block_fwd(a));
  return info[3];
}

Napi::Value VitBlockBackward(const Napi::CallbackInfo& info) {
  const char* op = "vitBlockBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 14, op);
  auto dy = f32_arg(info, 0, op, "dy");
  auto x = f32_arg(info, 1, op, "x");
  auto policy = f32_arg(info, 2, op, "policy", true);
  auto saved = f32_arg(info, 4, op, "saved");
  auto dx = f32_arg(info, 5, op, "dx");
  auto dpolicy = f32_arg(info, 6, op, "dpolicy", true);
  const Common c = dims(info, op, 8);
  std::vector<Napi::Value> keep;
  const BlockWeights w = parse_block_weights(env, op, info[3], c.D, c.H, View<float>{}, &keep);  // overlaps: below
  const BlockWeights gw = parse_block_weights(env, op, info[7], c.D, c.H, View<float>{}, &keep, "grads");  // same names, shapes
  if (gw.F != w.F)
    throw_range(env, op, ": expected grads['mlp.fc1.bias'] to have F=", w.F, " elements, received ", gw.F);
  expect_shape(env, op, "dy", dy, "[B,N,D]", {c.B, c.N, c.D});
  expect_shape(env, op, "x", x, "[B,N,D]", {c.B, c.N, c.D});
  check_policy(env, op, policy, c.B, c.N);
  expect_shape(env, op, "saved", saved, "[B*N*(6D+F)]", {vit_block_saved_floats(c.B, c.N, c.D, w.F)});
  expect_shape(env, op, "dx", dx, "[B,N,D]", {c.B, c.N, c.D});
  if (dpolicy.present()) {
    if (!policy.present()) throw_type(env, op, ": expected dpolicy to be null when policy is null, received a Float32Array");
    expect_shape(env, op, "dpolicy", dpolicy, "[B,N]", {c.B, c.N});
  }
  std::vector<NamedF32> ins = weight_views(env, op, info[3], "weights");
  for (auto& n : std::vector<NamedF32>{{"dy", dy}, {"x", x}, {"policy", policy}, {"saved", saved}}) ins.push_back(n);
  std::vector<NamedF32> outs = weight_views(env, op, info[7], "grads");
  outs.push_back({"dx", dx});
  outs.push_back({"dpolicy", dpolicy});
  check_outputs_disjoint(env, op, outs, ins);
  VitBlockBwdArgs a;
  a.dy = dy.data; a.x = x.data; a.policy = policy.present() ? policy.data : nullptr; a.saved = saved.data;
  a.dx = dx.data; a.dpolicy = dpolicy.present() ? dpolicy.data : nullptr;
  // BlockWeights and BlockGrads list the 14 tensors in the same order.
  a.g = BlockGrads{const_cast<float*>(gw.norm1_w), const_cast<float*>(gw.norm1_b), const_cast<float*>(gw.qkv_w),
                   const_cast<float*>(gw.qkv_b),   const_cast<float*>(gw.proj_w),  const_cast<float*>(gw.proj_b),
                   const_cast<float*>(gw.ls1),     const_cast<float*>(gw.norm2_w), const_cast<float*>(gw.norm2_b),
                   const_cast<float*>(gw.fc1_w),   const_cast<float*>(gw.fc1_b),   const_cast<float*>(gw.fc2_w),
                   const_cast<float*>(gw.fc2_b),   const_cast<float*>(gw.ls2)};
  a.B = c.B; a.N = c.N; a.w = w;
  a.ln_eps = c.ln_eps; a.attn_eps = c.attn_eps;
  throw_if_error(env, vit_block_bwd(a));
  return info[5];
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("vitBlock", Napi::Function::New(env, VitBlock, "vitBlock"));
  exports.Set("vitBlockBackward", Napi::Function::New(env, VitBlockBackward, "vitBlockBackward"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
