// pruned_block.cc: bindings for SPEC §5 prunedBlock (inference only), sync and Promise-returning.
//   prunedBlock(x f32[B*N*D], idx i32[B*K] | null, out f32[B*N*D], B, N, K, D, H, weights, lnEps)
//   prunedBlockAsync(...same...) -> Promise<out>
// weights: a plain object mapping one block's §8 names without "blocks.{i}." to Float32Arrays;
// F (MLP width) is read from mlp.fc1.bias's length. out may be x itself (in-place); otherwise out
// may not share memory with x, idx or any weight.
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/registry.h"
#include "napi/async_work.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

constexpr const char* kOp = "prunedBlock";

// The 14 tensors of one block, in BlockWeights order.
constexpr const char* kWeightNames[14] = {
    "norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight",
    "attn.proj.bias", "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight",
    "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias", "ls2.gamma"};

// Zero-copy Float32Array view of weights[name]; TypeError naming the weight when missing / wrong kind.
View<float> weight_view(Napi::Env env, const char* op, const Napi::Object& weights, const char* name,
                        Napi::Value* holder) {
  Napi::Value v = weights.Get(name);
  *holder = v;
  return f32_view(env, v, op, std::string("weights['") + name + "']");
}

void expect_weight(Napi::Env env, const char* op, const char* name, const View<float>& v, const char* letters,
                   const std::vector<int64_t>& dims) {
  const int64_t n = checked_numel(env, op, name, dims);
  if (static_cast<int64_t>(v.length) != n)
    throw_range(env, op, ": expected weights['", name, "'] to have ", n, " elements (", letters, " = ",
                shape_str(dims), "), received ", v.length);
}

struct Parsed {
  PrunedBlockArgs args{};
  std::vector<Napi::Value> keep;  // every buffer the kernel touches (for the async worker)
};

// Checks all 10 arguments and builds the kernel's Args (both entry points share it).
Parsed parse(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  expect_arg_count(info, 10, op);
  auto x = f32_arg(info, 0, op, "x");
  auto idx = i32_arg(info, 1, op, "idx", /*optional=*/true);
  const bool has_idx = !(info[1].IsUndefined() || info[1].IsNull());
  auto out = f32_arg(info, 2, op, "out");
  const int64_t B = dim_arg(info, 3, op, "B"), N = dim_arg(info, 4, op, "N"), K = dim_arg(info, 5, op, "K"),
                D = dim_arg(info, 6, op, "D"), H = dim_arg(info, 7, op, "H");
  if (!info[8].IsObject() || info[8].IsArray() || info[8].IsTypedArray() || info[8].IsFunction())
    throw_type(env, op, ": expected weights to be an object of Float32Arrays, received ", kind_name(info[8]));
  const double eps = number_arg(info, 9, op, "lnEps");
  if (!std::isfinite(eps) || !(eps > 0))
    throw_range(env, op, ": expected lnEps to be a finite number > 0, received ", eps);
  if (D % H != 0) throw_range(env, op, ": expected D to be a multiple of H, received D=", D, " H=", H);
  if (!has_idx && K != N)
    throw_range(env, op, ": expected K = N when idx is null (all tokens), received K=", K, " N=", N);
  if (K > N) throw_range(env, op, ": expected K <= N, received K=", K, " N=", N);

  expect_shape(env, op, "x", x, "[B,N,D]", {B, N, D});
  if (has_idx) expect_shape(env, op, "idx", idx, "[B,K]", {B, K});
  expect_shape(env, op, "out", out, "[B,N,D]", {B, N, D});
  check_no_overlap(env, op, "out", out, "x", x, /*allow_identical=*/true);
  if (has_idx) check_no_overlap(env, op, "out", out, "idx", idx);

  Napi::Object wobj = info[8].As<Napi::Object>();
  View<float> wv[14];
  Napi::Value holders[14];
  for (int i = 0; i < 14; ++i) wv[i] = weight_view(env, op, wobj, kWeightNames[i], &holders[i]);
  const int64_t F = static_cast<int64_t>(wv[10].length);
  if (F < 1) throw_range(env, op, ": expected weights['mlp.fc1.bias'] to have F >= 1 elements ([F]), received 0");
  const std::vector<std::vector<int64_t>> dims = {{D}, {D}, {3 * D, D}, {3 * D}, {D, D}, {D}, {D},
                                                  {D}, {D}, {F, D},     {F},     {D, F}, {D}, {D}};
  const char* letters[14] = {"[D]", "[D]", "[3D,D]", "[3D]", "[D,D]", "[D]", "[D]",
                             "[D]", "[D]", "[F,D]",  "[F]",  "[D,F]", "[D]", "[D]"};
  for (int i = 0; i < 14; ++i) {
    expect_weight(env, op, kWeightNames[i], wv[i], letters[i], dims[i]);
    const std::string name = std::string("weights['") + kWeightNames[i] + "']";
    check_no_overlap(env, op, "out", out, name.c_str(), wv[i]);
  }
  if (has_idx) check_indices(env, op, "idx", idx.data, B, K, N, /*no_duplicates=*/true);

  Parsed p;
  PrunedBlockArgs& a = p.args;
  a.x = x.data; a.idx = has_idx ? idx.data : nullptr; a.out = out.data;
  a.B = B; a.N = N; a.K = K;
  a.w = BlockWeights{wv[0].data, wv[1].data, wv[2].data, wv[3].data, wv[4].data, wv[5].data, wv[6].data,
                     wv[7].data, wv[8].data, wv[9].data, wv[10].data, wv[11].data, wv[12].data, wv[13].data,
                     D, H, F};
  a.ln_eps = static_cast<float>(eps);
  p.keep = {info[0], info[1], info[2], info[8]};
  for (auto& h : holders) p.keep.push_back(h);
  return p;
}

Napi::Value PrunedBlock(const Napi::CallbackInfo& info) {
  Parsed p = parse(info, kOp);
  throw_if_error(info.Env(), pruned_block_fwd(p.args));
  return info[2];
}

Napi::Value PrunedBlockAsync(const Napi::CallbackInfo& info) {
  Parsed p = parse(info, "prunedBlockAsync");
  const PrunedBlockArgs args = p.args;
  return KernelWorker::Queue(info.Env(), [args]() { return pruned_block_fwd(args); }, p.keep, info[2]);
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("prunedBlock", Napi::Function::New(env, PrunedBlock, "prunedBlock"));
  exports.Set("prunedBlockAsync", Napi::Function::New(env, PrunedBlockAsync, "prunedBlockAsync"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
