// tome_hook.cc: ToMe blocks through r4p::tome_block_fwd (see tome_hook.h).
#include "engine/tome_hook.h"

#include <algorithm>

#include "kernels/registry.h"

namespace r4p::engine {

bool tome_available() { return true; }

Status tome_block_run(const ToMeOptions& opts, const PrunedBlockArgs& block, int64_t P0, int64_t gh, int64_t gw) {
  if (block.idx) return internal_error("InferenceSession: ToMe blocks run on every token (idx must be null)");
  TomeBlockArgs t;
  t.x = block.x;
  t.out = block.out;
  t.merge_map = nullptr;
  t.B = block.B;
  t.T = block.N;
  t.P0 = P0;
  t.w = block.w;
  t.mode = opts.mode == ToMeMode::kMhsaMlp ? TomeMode::kMhsaMlp : TomeMode::kMhsa;
  // Merge count m = min(round(r Tu), |sources|); the kernel takes the kept fraction and recovers m.
  const int64_t Tu = block.N - P0;
  const int64_t m = std::min<int64_t>(static_cast<int64_t>(opts.merge_ratio * static_cast<double>(Tu) + 0.5),
                                      tome_source_count(Tu, gh, gw));
  t.ratio = Tu > 0 ? static_cast<double>(Tu - m) / static_cast<double>(Tu) : 1.0;
  t.grid_h = gh;
  t.grid_w = gw;
  t.ln_eps = block.ln_eps;
  return tome_block_fwd(t);
}

}  // namespace r4p::engine
