// block_parts_ref.h: the pieces of a pre-norm ViT block (SPEC §2 numerics) written out literally, shared by
// the prunedBlock and tomeBlock references (pruned_block_ref.cc, tome_block_ref.cc), so that ToMe at ratio 1
// reproduces prunedBlock's reference bit for bit. Single-threaded; dot products and LayerNorm statistics in
// double, rounded to float once per intermediate. LayerNorm itself is layer_norm_ref.h's (the layerNorm op's
// reference too).
#pragma once
#include <cstdint>

#include "kernels/ops.h"
#include "kernels/ref/layer_norm_ref.h"  // layer_norm

namespace r4p::ref {

// y[m, o] = sum_i x[m, i] W[o, i] + bias[o]  (timm Linear, W [out, in]).
void linear(const float* x, float* y, int64_t M, int64_t in, int64_t out, const float* W, const float* bias);
// z = X + ls1 * (MHSA(LN1(X)) W_proj^T + b_proj) over K tokens (the full K x K score matrix per head).
void attn_half(const BlockWeights& w, const float* X, float* z, int64_t K, float eps);
// y = z + ls2 * (GELU(LN2(z) W_fc1^T + b_fc1) W_fc2^T + b_fc2) over K tokens (exact erf GELU).
void mlp_half(const BlockWeights& w, const float* z, float* y, int64_t K, float eps);

}  // namespace r4p::ref
