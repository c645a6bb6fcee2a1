// tome_hook.h: the one place where a block can run as a ToMe (token merging) block instead of
// prunedBlock (SPEC §6 throughput comparison: merge then unmerge around MHSA, or around MHSA+MLP).
// The ToMe kernel comes from a separate op (tome_block_fwd); until it is linked into the addon,
// tome_available() is false and a session asking for ToMe fails at creation with kUnavailable, never
// a silent fallback to the unmerged block.
#pragma once
#include "common/status.h"
#include "kernels/ops.h"

namespace r4p::engine {

enum class ToMeMode { kOff = 0, kMhsa = 1, kMhsaMlp = 2 };

struct ToMeOptions {
  ToMeMode mode = ToMeMode::kOff;
  double ratio = 1.0;  // fraction of tokens kept after merging (SPEC §6: 0.7 ... 0.4)
};

bool tome_available();

// Runs one block in place on x [B,N,D] (block.out == block.x, idx == null) with token merging.
Status tome_block_run(const ToMeOptions& opts, const PrunedBlockArgs& block);

}  // namespace r4p::engine
