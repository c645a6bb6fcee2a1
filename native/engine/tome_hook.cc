// tome_hook.cc: ToMe blocks through r4p::tome_block_fwd (see tome_hook.h).
#include "engine/tome_hook.h"

#include "kernels/registry.h"

namespace r4p::engine {

bool tome_available() { return true; }

Status tome_block_run(const ToMeOptions& opts, const PrunedBlockArgs& block, int64_t P0) {
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
  t.ratio = opts.ratio;
  t.ln_eps = block.ln_eps;
  return tome_block_fwd(t);
}

}  // namespace r4p::engine
