// tome_block.cc: bindings for the SPEC §6 ToMe baseline block (semantics at TomeBlockArgs, kernels/ops.h).
//   tomeBlock(x f32[B*T*D], out f32[B*T*D], mergeMap i32[B*T] | null, B, T, D, H, P0, weights,
//             mode 'mhsa' | 'mhsa+mlp', ratio, lnEps[, gridH, gridW]) -> out
//   tomeBlockAsync(...same...) -> Promise<out>
// ratio = kept fraction in (0, 1]. gridH, gridW (12 or 14 arguments): both 0 (the default) = the 1-D split;
// both > 0 = the 2-D split over a row-major gridH x gridW grid of the T - P0 unprotected tokens.
// weights: one block's 14 §8 tensors without "blocks.{i}." (napi/block_weights.h). out may be x itself
// (in-place); otherwise out and mergeMap may not share memory with x, each other or any weight.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/registry.h"
#include "napi/async_work.h"
#include "napi/block_weights.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

struct Parsed {
  TomeBlockArgs args{};
  std::vector<Napi::Value> keep;  // every buffer the kernel touches (for the async worker)
};

// Checks all 12 (or 14) arguments and builds the kernel's Args (both entry points share it).
Parsed parse(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  if (info.Length() != 12 && info.Length() != 14)
    throw_type(env, op, ": expected 12 arguments (14 with gridH, gridW), received ", info.Length());
  auto x = f32_arg(info, 0, op, "x");
  auto out = f32_arg(info, 1, op, "out");
  auto map = i32_arg(info, 2, op, "mergeMap", /*optional=*/true);
  const int64_t B = dim_arg(info, 3, op, "B"), T = dim_arg(info, 4, op, "T"), D = dim_arg(info, 5, op, "D"),
                H = dim_arg(info, 6, op, "H"), P0 = dim_arg(info, 7, op, "P0", /*min=*/0);
  if (!info[9].IsString())
    throw_type(env, op, ": expected mode to be 'mhsa' or 'mhsa+mlp', received ", kind_name(info[9]));
  const std::string mode = info[9].As<Napi::String>().Utf8Value();
  if (mode != "mhsa" && mode != "mhsa+mlp")
    throw_range(env, op, ": expected mode to be 'mhsa' or 'mhsa+mlp', received '", mode, "'");
  const double ratio = number_arg(info, 10, op, "ratio");
  if (!(ratio > 0.0 && ratio <= 1.0)) throw_range(env, op, ": expected ratio to be in (0, 1], received ", ratio);
  const float eps = eps_arg(info, 11, op, "lnEps");
  if (D % H != 0) throw_range(env, op, ": expected D to be a multiple of H, received D=", D, " H=", H);
  if (P0 > T) throw_range(env, op, ": expected P0 <= T, received P0=", P0, " T=", T);
  int64_t gh = 0, gw = 0;
  if (info.Length() == 14) {
    gh = dim_arg(info, 12, op, "gridH", /*min=*/0);
    gw = dim_arg(info, 13, op, "gridW", /*min=*/0);
    const int64_t Tu = T - P0;
    if (!(gh == 0 && gw == 0) && (gh == 0 || gw == 0 || Tu % gw != 0 || Tu / gw != gh))
      throw_range(env, op, ": expected gridH * gridW to equal T - P0 = ", Tu, " (or both 0), received gridH=", gh,
                  " gridW=", gw);
  }

  expect_shape(env, op, "x", x, "[B,T,D]", {B, T, D});
  expect_shape(env, op, "out", out, "[B,T,D]", {B, T, D});
  if (map.present()) expect_shape(env, op, "mergeMap", map, "[B,T]", {B, T});
  check_no_overlap(env, op, "out", out, "x", x, /*allow_identical=*/true);
  if (map.present()) {
    check_no_overlap(env, op, "mergeMap", map, "x", x);
    check_no_overlap(env, op, "mergeMap", map, "out", out);
  }

  Parsed p;
  const BlockWeights bw = parse_block_weights(env, op, info[8], D, H, out, &p.keep);
  if (map.present())
    for (int i = 0; i < 14; ++i) {
      const std::string name = std::string("weights['") + kBlockWeightNames[i] + "']";
      check_no_overlap(env, op, "mergeMap", map, name.c_str(), f32_view(env, p.keep[i], op, name));
    }

  TomeBlockArgs& a = p.args;
  a.x = x.data; a.out = out.data; a.merge_map = map.present() ? map.data : nullptr;
  a.B = B; a.T = T; a.P0 = P0;
  a.w = bw;
  a.mode = mode == "mhsa" ? TomeMode::kMhsa : TomeMode::kMhsaMlp;
  a.ratio = ratio;
  a.ln_eps = eps;
  a.grid_h = gh; a.grid_w = gw;
  p.keep.insert(p.keep.end(), {info[0], info[1], info[2], info[8]});
  return p;
}

Napi::Value TomeBlock(const Napi::CallbackInfo& info) {
  Parsed p = parse(info, "tomeBlock");
  throw_if_error(info.Env(), tome_block_fwd(p.args));
  return info[1];
}

Napi::Value TomeBlockAsync(const Napi::CallbackInfo& info) {
  Parsed p = parse(info, "tomeBlockAsync");
  const TomeBlockArgs args = p.args;
  return KernelWorker::Queue(info.Env(), [args]() { return tome_block_fwd(args); }, p.keep, info[1]);
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("tomeBlock", Napi::Function::New(env, TomeBlock, "tomeBlock"));
  exports.Set("tomeBlockAsync", Napi::Function::New(env, TomeBlockAsync, "tomeBlockAsync"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
