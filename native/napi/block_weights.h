// block_weights.h: parsing of one ViT block's weights object (SPEC §8 names without "blocks.{i}.") into
// BlockWeights, shared by the prunedBlock and tomeBlock bindings.
#pragma once
#include <napi.h>

#include <vector>

#include "kernels/ops.h"
#include "napi/convert.h"

namespace r4p::napi {

// The 14 tensors of one block, in BlockWeights order.
extern const char* const kBlockWeightNames[14];

// value must be a plain object mapping the 14 names to Float32Arrays (TypeError naming the weight when
// missing / wrong kind); F is read from mlp.fc1.bias's length; every length is checked against its shape
// (RangeError with letters and numbers); `out` may not share memory with any weight. Each weight's
// JS value is appended to keep (for async workers). D % H == 0 is the caller's check. `what` names the object
// in messages ("weights"; vitBlockBackward's gradient outputs: "grads").
BlockWeights parse_block_weights(Napi::Env env, const char* op, const Napi::Value& value, int64_t D, int64_t H,
                                 const View<float>& out, std::vector<Napi::Value>* keep, const char* what = "weights");

}  // namespace r4p::napi
