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
  // Fraction of the patch tokens merged away in every block, ToMe-for-SD convention (SPEC §6 compares
  // 0.7 ... 0.4): destinations are one token per 2x2 window of the patch grid, so up to 75% can merge.
  double merge_ratio = 0.5;
};

// Whether the ToMe block op is linked into this addon (a session asking for ToMe without it fails
// at creation with kUnavailable, never a silent fallback).
bool tome_available();

// Runs one block in place on block.x [B,N,D] (block.out == block.x, block.idx == null) with token
// merging; the first P0 rows of each batch row are protected, the rest are the gh x gw patch grid.
Status tome_block_run(const ToMeOptions& opts, const PrunedBlockArgs& block, int64_t P0, int64_t gh, int64_t gw);

}  // namespace r4p::engine
