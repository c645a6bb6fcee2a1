// block_weights.cc: see block_weights.h.
#include "napi/block_weights.h"

#include <string>

namespace r4p::napi {

const char* const kBlockWeightNames[14] = {
    "norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight",
    "attn.proj.bias", "ls1.gamma", "norm2.weight", "norm2.bias", "mlp.fc1.weight",
    "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias", "ls2.gamma"};

namespace {

void expect_weight(Napi::Env env, const char* op, const char* what, const char* name, const View<float>& v, const char* letters,
                   const std::vector<int64_t>& dims) {
  const int64_t n = checked_numel(env, op, name, dims);
  if (static_cast<int64_t>(v.length) != n)
    throw_range(env, op, ": expected ", what, "['", name, "'] to have ", n, " elements (", letters, " = ",
                shape_str(dims), "), received ", v.length);
}

}  // namespace

BlockWeights parse_block_weights(Napi::Env env, const char* op, const Napi::Value& value, int64_t D, int64_t H,
                                 const View<float>& out, std::vector<Napi::Value>* keep, const char* what) {
  if (!value.IsObject() || value.IsArray() || value.IsTypedArray() || value.IsFunction())
    throw_type(env, op, ": expected ", what, " to be an object of Float32Arrays, received ", kind_name(value));
  Napi::Object wobj = value.As<Napi::Object>();
  View<float> wv[14];
  for (int i = 0; i < 14; ++i) {
    Napi::Value v = wobj.Get(kBlockWeightNames[i]);
    keep->push_back(v);
    wv[i] = f32_view(env, v, op, std::string(what) + "['" + kBlockWeightNames[i] + "']");
  }
  const int64_t F = static_cast<int64_t>(wv[10].length);
  if (F < 1) throw_range(env, op, ": expected ", what, "['mlp.fc1.bias'] to have F >= 1 elements ([F]), received 0");
  const std::vector<std::vector<int64_t>> dims = {{D}, {D}, {3 * D, D}, {3 * D}, {D, D}, {D}, {D},
                                                  {D}, {D}, {F, D},     {F},     {D, F}, {D}, {D}};
  const char* letters[14] = {"[D]", "[D]", "[3D,D]", "[3D]", "[D,D]", "[D]", "[D]",
                             "[D]", "[D]", "[F,D]",  "[F]",  "[D,F]", "[D]", "[D]"};
  for (int i = 0; i < 14; ++i) {
    expect_weight(env, op, what, kBlockWeightNames[i], wv[i], letters[i], dims[i]);
    const std::string name = std::string(what) + "['" + kBlockWeightNames[i] + "']";
    check_no_overlap(env, op, "out", out, name.c_str(), wv[i]);
  }
  return BlockWeights{wv[0].data, wv[1].data, wv[2].data, wv[3].data, wv[4].data, wv[5].data, wv[6].data,
                      wv[7].data, wv[8].data, wv[9].data, wv[10].data, wv[11].data, wv[12].data, wv[13].data,
                      D, H, F};
}

}  // namespace r4p::napi
