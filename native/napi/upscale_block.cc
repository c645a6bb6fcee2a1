// upscale_block.cc: bindings for the upscaleBlock training op (ops.h UpscaleBlockArgs / UpscaleBlockBwdArgs;
// SPEC §2 mask-head scale block).
//   upscaleBlock(x f32[B*h*w*C], weights, y f32[B*2h*2w*O], saved f32[S], B, h, w, C, O, lnEps) -> y
//   upscaleBlockBackward(dy f32[B*2h*2w*O], x, weights, saved f32[S], dx f32[B*h*w*C], grads, B, h, w, C, O) -> dx
// S = B*2h*2w*(O+2) (upscaleBlockSavedFloats). weights / grads: plain objects mapping the five SPEC §8 names
// without "upscale.{j}." ('conv1.weight' [C,O,2,2], 'conv1.bias' [O], 'conv2.weight' [O,1,3,3], 'norm.weight' [O],
// 'norm.bias' [O]) to Float32Arrays. Synchronous (the TF.js kernels that call them are). Checks: counts, kinds,
// shapes, lnEps > 0, no output sharing memory with an input or another output.
#include <napi.h>

#include <string>
#include <vector>

#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

constexpr const char* kNames[5] = {"conv1.weight", "conv1.bias", "conv2.weight", "norm.weight", "norm.bias"};

// The five tensors of `value` (a plain object; `what` names it: "weights" / "grads"), each checked against its
// shape, in kNames order.
std::vector<NamedF32> parse_weights(Napi::Env env, const char* op, const Napi::Value& value, int64_t C, int64_t O,
                                 const char* what) {
  if (!value.IsObject() || value.IsArray() || value.IsTypedArray())
    throw_type(env, op, ": expected ", what, " to be an object of Float32Arrays, received ", kind_name(value));
  Napi::Object o = value.As<Napi::Object>();
  const std::vector<int64_t> shapes[5] = {{C, O, 2, 2}, {O}, {O, 1, 3, 3}, {O}, {O}};
  const char* letters[5] = {"[C,O,2,2]", "[O]", "[O,1,3,3]", "[O]", "[O]"};
  std::vector<NamedF32> out;
  for (int i = 0; i < 5; ++i) {
    const std::string n = std::string(what) + "['" + kNames[i] + "']";
    NamedF32 t{n, f32_view(env, o.Get(kNames[i]), op, n)};
    expect_shape(env, op, t.name.c_str(), t.view, letters[i], shapes[i]);
    out.push_back(t);
  }
  return out;
}

struct Dims {
  int64_t B, h, w, C, O;
};

Dims dims(const Napi::CallbackInfo& info, const char* op, size_t i0) {
  return Dims{dim_arg(info, i0, op, "B"), dim_arg(info, i0 + 1, op, "h"), dim_arg(info, i0 + 2, op, "w"),
              dim_arg(info, i0 + 3, op, "C"), dim_arg(info, i0 + 4, op, "O")};
}

// Call after y's / dy's shape check: B*4hw*O < 2^53 there, so S = B*4hw*(O+2) cannot overflow.
void check_saved(Napi::Env env, const char* op, const View<float>& saved, const Dims& d) {
  expect_shape(env, op, "saved", saved, "[B*2h*2w*(O+2)]", {upscale_block_saved_floats(d.B, d.h, d.w, d.O)});
}

UpscaleBlockWeights weights_of(const std::vector<NamedF32>& w) {
  return UpscaleBlockWeights{w[0].view.data, w[1].view.data, w[2].view.data, w[3].view.data, w[4].view.data};
}

Napi::Value UpscaleBlock(const Napi::CallbackInfo& info) {
  const char* op = "upscaleBlock";
  Napi::Env env = info.Env();
  expect_arg_count(info, 10, op);
  auto x = f32_arg(info, 0, op, "x");
  auto y = f32_arg(info, 2, op, "y");
  auto saved = f32_arg(info, 3, op, "saved");
  const Dims d = dims(info, op, 4);
  const float ln_eps = eps_arg(info, 9, op, "lnEps");
  std::vector<NamedF32> ins = parse_weights(env, op, info[1], d.C, d.O, "weights");
  expect_shape(env, op, "x", x, "[B,h,w,C]", {d.B, d.h, d.w, d.C});
  expect_shape(env, op, "y", y, "[B,2h,2w,O]", {d.B, 2 * d.h, 2 * d.w, d.O});
  check_saved(env, op, saved, d);
  UpscaleBlockArgs a;
  a.wt = weights_of(ins);
  ins.push_back({"x", x});
  check_outputs_disjoint(env, op, {{"y", y}, {"saved", saved}}, ins);
  a.x = x.data; a.y = y.data; a.saved = saved.data;
  a.B = d.B; a.h = d.h; a.w = d.w; a.C = d.C; a.O = d.O;
  a.ln_eps = ln_eps;
  throw_if_error(env, upscale_block_fwd(a));
  return info[2];
}

Napi::Value UpscaleBlockBackward(const Napi::CallbackInfo& info) {
  const char* op = "upscaleBlockBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 11, op);
  auto dy = f32_arg(info, 0, op, "dy");
  auto x = f32_arg(info, 1, op, "x");
  auto saved = f32_arg(info, 3, op, "saved");
  auto dx = f32_arg(info, 4, op, "dx");
  const Dims d = dims(info, op, 6);
  std::vector<NamedF32> ins = parse_weights(env, op, info[2], d.C, d.O, "weights");
  std::vector<NamedF32> outs = parse_weights(env, op, info[5], d.C, d.O, "grads");
  expect_shape(env, op, "dy", dy, "[B,2h,2w,O]", {d.B, 2 * d.h, 2 * d.w, d.O});
  expect_shape(env, op, "x", x, "[B,h,w,C]", {d.B, d.h, d.w, d.C});
  check_saved(env, op, saved, d);
  expect_shape(env, op, "dx", dx, "[B,h,w,C]", {d.B, d.h, d.w, d.C});
  UpscaleBlockBwdArgs a;
  a.wt = weights_of(ins);
  a.g = UpscaleBlockGrads{outs[0].view.data, outs[1].view.data, outs[2].view.data, outs[3].view.data, outs[4].view.data};
  for (auto& n : std::vector<NamedF32>{{"dy", dy}, {"x", x}, {"saved", saved}}) ins.push_back(n);
  outs.push_back({"dx", dx});
  check_outputs_disjoint(env, op, outs, ins);
  a.dy = dy.data; a.x = x.data; a.saved = saved.data; a.dx = dx.data;
  a.B = d.B; a.h = d.h; a.w = d.w; a.C = d.C; a.O = d.O;
  throw_if_error(env, upscale_block_bwd(a));
  return info[4];
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("upscaleBlock", Napi::Function::New(env, UpscaleBlock, "upscaleBlock"));
  exports.Set("upscaleBlockBackward", Napi::Function::New(env, UpscaleBlockBackward, "upscaleBlockBackward"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
