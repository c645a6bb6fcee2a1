// tome_hook.cc: ToMe is not linked yet (see tome_hook.h). Wiring it = calling the ToMe op's
// dispatcher here with opts.mode / opts.ratio and the block's weights, and returning true below.
#include "engine/tome_hook.h"

namespace r4p::engine {

bool tome_available() { return false; }

Status tome_block_run(const ToMeOptions&, const PrunedBlockArgs&) {
  return Status::Make(StatusCode::kUnavailable, "InferenceSession: the ToMe block op is not built into this addon yet");
}

}  // namespace r4p::engine
