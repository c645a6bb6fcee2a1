#include "engine/packed_weights.h"

#include <cstdlib>
#include <new>

#include "kernels/registry.h"

namespace r4p::engine {

void PackedBlockWeights::FreeFloats::operator()(float* p) const { std::free(p); }

Status PackedBlockWeights::ensure(const Model& model, GemmKernelId k) {
  if (k == kernel_) return Status::Ok();
  storage_.clear();
  blocks_.clear();
  upscale_ = {};
  kernel_ = kGemmNone;
  if (k == kGemmNone) return Status::Ok();
  const int64_t L = model.config().L;
  std::vector<std::array<PackedB, 4>> blocks(static_cast<size_t>(L));
  std::array<PackedB, 4> upscale{};
  std::vector<std::unique_ptr<float[], FreeFloats>> storage;
  // B [K, N] at W with row stride ldb (read transposed when transB) -> a new packed copy in `storage`.
  auto pack = [&](const float* W, int64_t N, int64_t K, int64_t ldb, bool transB, PackedB* p) -> Status {
    const int64_t n = gemm_packed_b_floats(k, N, K);
    void* q = nullptr;
    if (posix_memalign(&q, 64, static_cast<size_t>(n) * sizeof(float)) != 0)
      return Status::Make(StatusCode::kOutOfMemory, "InferenceSession: out of memory for the packed weights");
    storage.emplace_back(static_cast<float*>(q));
    GemmArgs g;
    g.B = W; g.ldb = ldb; g.transB = transB; g.N = N; g.K = K;
    gemm_pack_b(k, g, storage.back().get());
    p->kernel = k; p->N = N; p->K = K; p->transB = transB; p->panels = storage.back().get();
    return Status::Ok();
  };
  for (int64_t i = 0; i < L; ++i) {
    const BlockWeights w = model.block(i);
    // Linear weights are [out, in]: B = W^T read transposed, N = out, K = in.
    const struct { const float* W; int64_t N, K; } mats[4] = {
        {w.qkv_w, 3 * w.D, w.D}, {w.proj_w, w.D, w.D}, {w.fc1_w, w.F, w.D}, {w.fc2_w, w.D, w.F}};
    for (int m = 0; m < 4; ++m)
      R4P_RETURN_IF_ERROR(pack(mats[m].W, mats[m].N, mats[m].K, mats[m].K, true, &blocks[static_cast<size_t>(i)][m]));
  }
  // The head's ConvTranspose (engine/decode.cc): B = columns [2iD, 2(i+1)D) of the regrouped [D, 4D] weight.
  const int64_t D = model.config().D;
  for (int j = 0; j < 2; ++j)
    for (int i = 0; i < 2; ++i)
      R4P_RETURN_IF_ERROR(pack(model.upscale(j).conv1_wg + i * 2 * D, 2 * D, D, 4 * D, false, &upscale[2 * j + i]));
  storage_ = std::move(storage);
  blocks_ = std::move(blocks);
  upscale_ = upscale;
  kernel_ = k;
  return Status::Ok();
}

void PackedBlockWeights::attach(int64_t i, BlockWeights* w) const {
  if (kernel_ == kGemmNone || i < 0 || i >= static_cast<int64_t>(blocks_.size())) return;
  const auto& b = blocks_[static_cast<size_t>(i)];
  w->qkv_p = &b[0];
  w->proj_p = &b[1];
  w->fc1_p = &b[2];
  w->fc2_p = &b[3];
}

}  // namespace r4p::engine
