// packed_weights.h: the engine's block weights packed once for the GEMM kernel that runs them (PackedB,
// kernels/ops.h): the four Linear layers of every block, and the head's ConvTranspose weights (two column
// halves per scale block), in that kernel's panel layout (BF16 pairs for the BF16 kernel). Packed on the first run and again only when the kernel changes (setKernel, or a session of
// another precision); a block given them skips packing its weights on every call. Memory: about the FP32
// size of the block weights (half for BF16).
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "engine/model.h"
#include "kernels/ops.h"

namespace r4p::engine {

class PackedBlockWeights {
 public:
  // Packs every block's Linear weights for kernel k (no-op when already packed for k; kGemmNone clears).
  Status ensure(const Model& model, GemmKernelId k);
  // Points w's qkv_p / proj_p / fc1_p / fc2_p at block i's packed weights (nothing when not packed).
  void attach(int64_t i, BlockWeights* w) const;
  // Scale block j's ConvTranspose columns (s = 2i, 2i+1; o) of the regrouped [D, 4D] weight, or nullptr.
  const PackedB* upscale(int j, int i) const { return kernel_ == kGemmNone ? nullptr : &upscale_[2 * j + i]; }

 private:
  struct FreeFloats {
    void operator()(float* p) const;
  };
  GemmKernelId kernel_ = kGemmNone;
  std::vector<std::unique_ptr<float[], FreeFloats>> storage_;
  std::vector<std::array<PackedB, 4>> blocks_;
  std::array<PackedB, 4> upscale_{};
};

}  // namespace r4p::engine
