// tome_hook.h: the one place where a block runs as a ToMe (token merging) block instead of
// prunedBlock (SPEC §6 throughput comparison: merge then unmerge around MHSA, or around MHSA+MLP),
// through the registry's tome_block_fwd (ops.h TomeBlockArgs). The protected prefix P0 (queries when
// present, cls, registers) is never merged.
#pragma once
#include <cstdint>

#include "common/status.h"
#include "kernels/ops.h"

namespace r4p::engine {

enum class ToMeMode { kOff = 0, kMhsa = 1, kMhsaMlp = 2 };

struct ToMeOptions {
  ToMeMode mode = ToMeMode::kOff;
  double ratio = 1.0;  // fraction of the unprotected tokens kept after merging (SPEC §6: 0.7 ... 0.4)
};

// Whether the ToMe block op is linked into this addon (a session asking for ToMe without it fails
// at creation with kUnavailable, never a silent fallback).
bool tome_available();

// Runs one block in place on block.x [B,N,D] (block.out == block.x, block.idx == null) with token
// merging; the first P0 rows of each batch row are protected.
Status tome_block_run(const ToMeOptions& opts, const PrunedBlockArgs& block, int64_t P0);

}  // namespace r4p::engine
