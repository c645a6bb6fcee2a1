// model.cc: binds SPEC §8 names to typed pointers and checks every length against weight_shapes().
#include "engine/model.h"

#include <new>

namespace r4p::engine {

const float* Model::tensor(const std::string& name) const {
  auto it = weights_.find(name);
  return it == weights_.end() ? nullptr : it->second.data;
}

Status Model::create(const EngineConfig& config, const std::map<std::string, TensorRef>& weights,
                     std::unique_ptr<Model>* out) {
  std::unique_ptr<Model> m(new (std::nothrow) Model());
  if (!m) return Status::Make(StatusCode::kOutOfMemory, "InferenceSession: out of memory");
  m->config_ = config;
  for (const auto& [name, dims] : weight_shapes(config)) {
    int64_t n = 1;
    std::string shape = "[";
    for (size_t i = 0; i < dims.size(); ++i) {
      n *= dims[i];
      shape += (i ? "," : "") + std::to_string(dims[i]);
    }
    shape += "]";
    auto it = weights.find(name);
    if (it == weights.end() || !it->second.data)
      return type_error("InferenceSession: expected weights['", name, "'] to be a Float32Array ", shape, ", received undefined");
    if (it->second.length != n)
      return range_error("InferenceSession: expected weights['", name, "'] to have ", n, " elements (", shape,
                         "), received ", it->second.length);
    m->weights_[name] = it->second;
  }
  auto w = [&](const std::string& name) { return m->tensor(name); };
  const int64_t D = config.D;
  m->patch_w = w("patch_embed.proj.weight");
  m->patch_b = w("patch_embed.proj.bias");
  m->cls_token = w("cls_token");
  m->reg_token = config.R > 0 ? w("reg_token") : nullptr;
  m->pos_embed = w("pos_embed");
  m->queries = w("q.weight");
  m->norm_w = w("norm.weight");
  m->norm_b = w("norm.bias");
  m->class_w = w("class_head.weight");
  m->class_b = w("class_head.bias");
  for (int j = 0; j < 3; ++j) {
    m->mask_w[j] = w("mask_head." + std::to_string(2 * j) + ".weight");
    m->mask_b[j] = w("mask_head." + std::to_string(2 * j) + ".bias");
  }
  for (int64_t i = 0; i < config.L; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    m->blocks_.push_back(BlockWeights{w(b + "norm1.weight"), w(b + "norm1.bias"), w(b + "attn.qkv.weight"),
                                      w(b + "attn.qkv.bias"), w(b + "attn.proj.weight"), w(b + "attn.proj.bias"),
                                      w(b + "ls1.gamma"), w(b + "norm2.weight"), w(b + "norm2.bias"),
                                      w(b + "mlp.fc1.weight"), w(b + "mlp.fc1.bias"), w(b + "mlp.fc2.weight"),
                                      w(b + "mlp.fc2.bias"), w(b + "ls2.gamma"), D, config.H, config.F()});
  }
  for (size_t s = 0; s < config.stage_blocks.size(); ++s) {
    const std::string g = "selectors." + std::to_string(s) + ".";
    m->selectors_.push_back(SelectorWeights{w(g + "norm.weight"), w(g + "fc1.weight"), w(g + "fc1.bias"),
                                            w(g + "fc2.weight"), w(g + "fc2.bias"), w(g + "ls.gamma")});
  }
  try {
    m->derived_.assign(static_cast<size_t>(2 * (4 * D * D + 11 * D)), 0.f);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "InferenceSession: out of memory for the upscale weights");
  }
  for (int j = 0; j < 2; ++j) {
    const std::string u = "upscale." + std::to_string(j) + ".";
    UpscaleWeights& up = m->upscale_[j];
    up.conv1_w = w(u + "conv1.weight");
    up.conv1_b = w(u + "conv1.bias");
    up.conv2_w = w(u + "conv2.weight");
    up.norm_w = w(u + "norm.weight");
    up.norm_b = w(u + "norm.bias");
    float* g = m->derived_.data() + static_cast<size_t>(j) * (4 * D * D + 11 * D);
    for (int64_t c = 0; c < D; ++c)
      for (int64_t o = 0; o < D; ++o)
        for (int64_t ij = 0; ij < 4; ++ij) g[c * 4 * D + ij * D + o] = up.conv1_w[(c * D + o) * 4 + ij];
    up.conv1_wg = g;
    float* t = g + 4 * D * D;
    for (int64_t c = 0; c < D; ++c)
      for (int64_t tap = 0; tap < 9; ++tap) t[tap * D + c] = up.conv2_w[c * 9 + tap];
    up.conv2_wt = t;
    float* b2 = t + 9 * D;
    for (int64_t c = 0; c < 2 * D; ++c) b2[c] = up.conv1_b[c % D];
    up.conv1_b2 = b2;
  }
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace r4p::engine
