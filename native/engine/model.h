// model.h: an EoMT-style segmenter's weights (SPEC §2, §8) as typed pointers into caller-owned
// float32 buffers (zero-copy: the N-API layer keeps the JS arrays alive), plus the few derived tensors
// the engine wants in another layout (ConvTranspose2d weights regrouped for a GEMM), built once here.
// Every tensor of weight_shapes(config) must be present with exactly its element count.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/config.h"
#include "kernels/ops.h"

namespace r4p::engine {

struct TensorRef {
  const float* data = nullptr;
  int64_t length = 0;
};

struct SelectorWeights {              // policy predictor s (SPEC §3), W = selector width
  const float* norm_w;                // [D]   RMSNorm weight
  const float *fc1_w, *fc1_b;         // [W,D], [W]
  const float *fc2_w, *fc2_b;         // [2,W], [2]
  const float* ls;                    // [2]   LayerScale on the two logits
};

struct UpscaleWeights {               // one x2 scale block of the mask head
  const float* conv1_w;               // [D(in), D(out), 2, 2] as stored
  const float* conv1_b;               // [D]
  const float* conv2_w;               // [D,1,3,3] depthwise, no bias
  const float *norm_w, *norm_b;       // [D] LayerNorm2d
  // Derived: conv1 regrouped as a GEMM's B operand Wg[c][(i*2+j)*D + o] = conv1_w[c][o][i][j], so the
  // four output sub-pixels (i,j) are four column slices of one [D, 4D] matrix.
  const float* conv1_wg;
  const float* conv1_b2;              // Derived: conv1_b twice [2D] (the bias of a sub-pixel pair's GEMM)
  // Derived: conv2 tap-major, Wt[(i*3+j)*D + c] = conv2_w[c][0][i][j], so a tap is a contiguous
  // channel vector (the channels-last depthwise loop runs over c innermost).
  const float* conv2_wt;
};

class Model {
 public:
  // Checks that every SPEC §8 tensor exists with the right length (RangeError / TypeError naming
  // "weights['<name>']"); unknown names are ignored.
  static Status create(const EngineConfig& config, const std::map<std::string, TensorRef>& weights,
                       std::unique_ptr<Model>* out);

  const EngineConfig& config() const { return config_; }
  const float* tensor(const std::string& name) const;  // null when absent

  BlockWeights block(int64_t i) const { return blocks_[static_cast<size_t>(i)]; }
  const SelectorWeights& selector(int64_t s) const { return selectors_[static_cast<size_t>(s)]; }
  const UpscaleWeights& upscale(int j) const { return upscale_[j]; }

  const float *patch_w, *patch_b, *cls_token, *reg_token, *pos_embed, *queries;
  const float *norm_w, *norm_b, *class_w, *class_b;
  const float *mask_w[3], *mask_b[3];

 private:
  Model() = default;
  EngineConfig config_;
  std::map<std::string, TensorRef> weights_;
  std::vector<BlockWeights> blocks_;
  std::vector<SelectorWeights> selectors_;
  UpscaleWeights upscale_[2];
  std::vector<float> derived_;  // conv1_wg and conv2_wt of both upscale blocks
};

}  // namespace r4p::engine
