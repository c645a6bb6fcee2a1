// ops.h: the op table's schema (SPEC §5). One Args struct per op and direction; the ref, avx2 and
// (later) cuda variants all take the same struct, so their signatures cannot drift.
//
// Conventions: row-major, float32 data, int32 indices, sizes as int64. B batch, N tokens, K selected,
// H heads, Dh head dim, D width. Arguments are validated by the N-API layer before any kernel runs;
// kernels still return a Status for conditions only discoverable while running.
// Backward kernels OVERWRITE their gradient outputs unless their name ends in _accum.
#pragma once
#include <cstdint>

#include "common/status.h"

namespace r4p {

// ---------------------------------------------------------------- gather / scatter (SPEC §5)
// x[B,N,D], idx[B,K] -> out[B,K,D]; out[b,k,:] = x[b, idx[b,k], :]. Duplicates allowed.
struct GatherTokensArgs {
  const float* x; const int32_t* idx; float* out;
  int64_t B, N, K, D;
};
// Gradient of gather: dout[B,K,D], idx[B,K] -> dx[B,N,D] = scatter-add of dout (zeros elsewhere).
struct GatherTokensBwdArgs {
  const float* dout; const int32_t* idx; float* dx;
  int64_t B, N, K, D;
};
// base[B,N,D], idx[B,K] (no duplicates per row), src[B,K,D] -> out[B,N,D]: base with rows idx
// replaced by src. out may alias base (in-place).
struct ScatterTokensArgs {
  const float* base; const int32_t* idx; const float* src; float* out;
  int64_t B, N, K, D;
};
// Gradient of scatter: dout[B,N,D] -> dbase[B,N,D] (dout with rows idx zeroed), dsrc[B,K,D] = dout[idx].
// Either output may be null (not requested).
struct ScatterTokensBwdArgs {
  const float* dout; const int32_t* idx; float* dbase; float* dsrc;
  int64_t B, N, K, D;
};

Status gather_tokens_fwd_ref(const GatherTokensArgs& a);
Status gather_tokens_fwd_avx2(const GatherTokensArgs& a);
Status gather_tokens_bwd_ref(const GatherTokensBwdArgs& a);
Status gather_tokens_bwd_avx2(const GatherTokensBwdArgs& a);
Status scatter_tokens_fwd_ref(const ScatterTokensArgs& a);
Status scatter_tokens_fwd_avx2(const ScatterTokensArgs& a);
Status scatter_tokens_bwd_ref(const ScatterTokensBwdArgs& a);
Status scatter_tokens_bwd_avx2(const ScatterTokensBwdArgs& a);

// ---------------------------------------------------------------- GEMM (internal; prunedBlock, engine, TF.js)
enum class Activation : int32_t { kNone = 0, kRelu = 1, kGelu = 2 /* exact erf GELU */ };

// C(m, n) = epilogue(alpha * sum_k A(m,k) B(k,n)), m<M, n<N.
//   A(m,k) = transA ? A[k*lda + m] : A[arow(m)*lda + k]   with arow(m) = a_rows ? a_rows[m] : m
//   B(k,n) = transB ? B[n*ldb + k] : B[k*ldb + n]
// Epilogue, in this order: v = alpha*acc (+ beta * C_old(m,n) if beta != 0) (+ bias[n]);
//   v = act(v); v *= col_scale[n] (if set); v += residual[rrow(m)*ldr + n] (if set);
//   stored at C[crow(m)*ldc + n] with crow(m) = c_rows ? c_rows[m] : m, rrow likewise with r_rows.
// a_rows fuses a gather into A's packing, c_rows/r_rows fuse a scatter into the epilogue.
// C must not overlap A or B. Deterministic: each C element is reduced over k in a fixed order.
// A B operand packed once, in the layout of one GEMM kernel (gemm_driver.h panels), for B that outlives
// many calls (the engine's weights): gemm_pack_b() in kernels/registry.h fills it. A GEMM given one whose
// kernel, N, K and transB match the kernel it runs reads the panels and never B; otherwise it packs B as
// usual (same result: packing only copies, or rounds to BF16 as the BF16 kernel always does).
struct PackedB {
  int32_t kernel = 0;  // GemmKernelId; 0 = empty
  int64_t N = 0, K = 0;
  bool transB = false;
  const float* panels = nullptr;
};
enum GemmKernelId : int32_t { kGemmNone = 0, kGemmAvx2 = 1, kGemmAvx512 = 2, kGemmAvx512Bf16 = 3 };

struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const float* A = nullptr; int64_t lda = 0; bool transA = false;
  const float* B = nullptr; int64_t ldb = 0; bool transB = false;
  float* C = nullptr; int64_t ldc = 0;
  float alpha = 1.f, beta = 0.f;
  const int32_t* a_rows = nullptr;
  const int32_t* c_rows = nullptr;
  const float* bias = nullptr;       // [N]
  Activation act = Activation::kNone;
  const float* col_scale = nullptr;  // [N] (LayerScale)
  const float* residual = nullptr; int64_t ldr = 0; const int32_t* r_rows = nullptr;
  const PackedB* packed_b = nullptr;  // optional pre-packed B (see PackedB)
};
Status gemm_ref(const GemmArgs& a);
Status gemm_avx2(const GemmArgs& a);
Status gemm_avx512(const GemmArgs& a);
// The same product with A and B rounded to BF16 (RNE, kernels/precision.h) and FP32 sums (vdpbf16ps), the
// epilogue in FP32. Pairs of k are summed per step (odd K: a zero pad), so it is not the FP32 chain.
// Call only when cpu_has_avx512_bf16(); the registry runs it under MatmulPrecision::kBf16.
Status gemm_avx512_bf16(const GemmArgs& a);
// Packing of B alone (a.B, ldb, transB, N, K) into dst (gemm_packed_b_floats_* of them), per kernel; the
// registry's gemm_pack_b() picks one.
int64_t gemm_packed_b_floats_avx2(int64_t N, int64_t K);
int64_t gemm_packed_b_floats_avx512(int64_t N, int64_t K, bool bf16);
void gemm_pack_b_avx2(const GemmArgs& a, float* dst);
void gemm_pack_b_avx512(const GemmArgs& a, float* dst);
void gemm_pack_b_avx512_bf16(const GemmArgs& a, float* dst);

// ---------------------------------------------------------------- policyAttention (SPEC §4)
// q,k,v [B,H,N,Dh] f32, policy [B,N] f32 -> out [B,H,N,Dh]
//   M_ij = 1 if i == j else policy_j;  A = scale * q k^T;  E_ij = exp(A_ij - max_k A_ik) * M_ij
//   S_ij = (E_ij + eps/N) / (sum_k E_ik + eps);  out = S v
// row_max / row_den [B,H,N] (optional, may be null): max_k A_ik and sum_k E_ik + eps, for backward.
struct PolicyAttentionArgs {
  const float *q, *k, *v, *policy; float* out;
  float* row_max; float* row_den;
  int64_t B, H, N, Dh;
  float scale, eps;
};
// Gradients (overwrite) of the exact forward above, including the path through max_k A_ik.
// dq,dk,dv [B,H,N,Dh], dpolicy [B,N] (summed over heads); any output may be null.
struct PolicyAttentionBwdArgs {
  const float *q, *k, *v, *policy, *dout; float *dq, *dk, *dv, *dpolicy;
  int64_t B, H, N, Dh;
  float scale, eps;
};
Status policy_attention_fwd_ref(const PolicyAttentionArgs& a);
Status policy_attention_fwd_avx2(const PolicyAttentionArgs& a);
Status policy_attention_bwd_ref(const PolicyAttentionBwdArgs& a);
Status policy_attention_bwd_avx2(const PolicyAttentionBwdArgs& a);

// ---------------------------------------------------------------- prunedBlock (SPEC §2, §5)
// One pre-norm ViT block's weights (timm names without "blocks.{i}."), Linear weights [out, in].
struct BlockWeights {
  const float *norm1_w, *norm1_b;   // [D]
  const float *qkv_w, *qkv_b;       // [3D, D], [3D]
  const float *proj_w, *proj_b;     // [D, D], [D]
  const float *ls1;                 // [D]
  const float *norm2_w, *norm2_b;   // [D]
  const float *fc1_w, *fc1_b;       // [F, D], [F]
  const float *fc2_w, *fc2_b;       // [D, F], [D]
  const float *ls2;                 // [D]
  int64_t D, H, F;                  // F = MLP hidden width (4D in the presets)
  // Optional pre-packed Linear weights (the engine's; see PackedB), used when they match the kernel.
  const PackedB *qkv_p = nullptr, *proj_p = nullptr, *fc1_p = nullptr, *fc2_p = nullptr;
};
// x[B,N,D], idx[B,K] (ascending not required, no duplicates; null = all N tokens, K = N) -> out[B,N,D]:
// out = x with rows idx replaced by block(x[idx]); attention runs over the K gathered tokens only.
// out may alias x (in-place).  LayerNorm eps = ln_eps (1e-6), exact GELU, scale 1/sqrt(Dh).
// Variable length (offsets != null, FlashAttention's cu_seqlens): batch row b runs on its own
// K_b = offsets[b+1] - offsets[b] tokens idx[offsets[b] .. offsets[b+1]) (values in [0, N), no duplicates
// within a row), offsets [B+1] non-decreasing from 0, idx [offsets[B]] packed (no padding); K is unused.
// Attention never mixes rows, so row b's result is the block over its K_b tokens alone. K_b = 0 leaves
// row b as x. idx must not be null with offsets.
struct PrunedBlockArgs {
  const float* x; const int32_t* idx; float* out;
  int64_t B, N, K;
  BlockWeights w;
  float ln_eps;
  const int32_t* offsets = nullptr;  // [B+1] or null (every row K tokens: idx [B,K])
};
// Batch row b of a (varlen or not): its first entry in idx and its token count.
inline int64_t pruned_block_row_start(const PrunedBlockArgs& a, int64_t b) { return a.offsets ? a.offsets[b] : b * a.K; }
inline int64_t pruned_block_row_len(const PrunedBlockArgs& a, int64_t b) {
  return a.offsets ? a.offsets[b + 1] - a.offsets[b] : a.K;
}
Status pruned_block_fwd_ref(const PrunedBlockArgs& a);
Status pruned_block_fwd_avx2(const PrunedBlockArgs& a);

// ---------------------------------------------------------------- Gumbel top-k (SPEC §3, §5)
// logits [B,N] f32, active [B,N] u8 (optional; nonzero = may be chosen) -> out int32 [B,k] ascending.
// key(b,n) = logits[b,n] + (noise ? gumbel(seed, b, n) : 0); picks the k largest keys among active
// tokens, ties broken by lower index. Fewer than k active tokens in a row is a RangeError.
struct GumbelTopKArgs {
  const float* logits; const uint8_t* active; int32_t* out;
  int64_t B, N, k;
  uint64_t seed; bool noise;
};
Status gumbel_topk_ref(const GumbelTopKArgs& a);
Status gumbel_topk_avx2(const GumbelTopKArgs& a);

// ---------------------------------------------------------------- Gumbel-Softmax straight-through (SPEC §4)
// logits [B,N,2] f32 -> hard [B,N] in {0,1} (1 = keep), soft [B,N] = softmax((logits + g)/tau)[0].
// g ~ Gumbel from Philox keyed by (seed, b, n), two draws per token (channel 0, 1).
struct GumbelSoftmaxArgs {
  const float* logits; float* hard; float* soft;
  int64_t B, N;
  float tau; uint64_t seed;
};
// Straight-through backward: dhard [B,N], soft [B,N] -> dlogits [B,N,2] = d soft / d logits * dhard.
struct GumbelSoftmaxBwdArgs {
  const float* dhard; const float* soft; float* dlogits;
  int64_t B, N;
  float tau;
};
Status gumbel_softmax_st_fwd_ref(const GumbelSoftmaxArgs& a);
Status gumbel_softmax_st_fwd_avx2(const GumbelSoftmaxArgs& a);
Status gumbel_softmax_st_bwd_ref(const GumbelSoftmaxBwdArgs& a);
Status gumbel_softmax_st_bwd_avx2(const GumbelSoftmaxBwdArgs& a);

// ---------------------------------------------------------------- TF.js backend: softmax (SPEC §2 attention)
// x [R,C] f32 -> y [R,C]: y[r,c] = exp(x[r,c] - max_c' x[r,c']) / sum_c' exp(x[r,c'] - max_c' x[r,c']),
// the last-axis Softmax kernel of the TF.js cpu backend. y must not overlap x. One row per thread task.
struct SoftmaxArgs {
  const float* x; float* y;
  int64_t R, C;
};
Status softmax_ref(const SoftmaxArgs& a);
Status softmax_avx2(const SoftmaxArgs& a);

// ---------------------------------------------------------------- TF.js backend: broadcast arithmetic
// out = a (op) b with NumPy broadcasting (the Add/Sub/Multiply/RealDiv kernels of the TF.js cpu backend),
// in float32: one IEEE operation per element, so the result equals the stock kernel's (float64 operation
// rounded once to float32; for + - * / both are the correctly rounded result). The broadcast comes
// pre-merged by the caller as ndim <= 8 axes, row-major over out: size[i] >= 1, element strides sa[i] /
// sb[i] >= 0 (0 where that operand is broadcast). out has prod(size) elements and must not overlap a or b.
enum class BinaryOp : int { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3 };
constexpr int kBinaryMaxDims = 8;
struct BinaryArgs {
  BinaryOp op = BinaryOp::kAdd;
  const float* a = nullptr; const float* b = nullptr; float* out = nullptr;
  int ndim = 0;
  int64_t size[kBinaryMaxDims] = {}, sa[kBinaryMaxDims] = {}, sb[kBinaryMaxDims] = {};
};
Status binary_ref(const BinaryArgs& a);
Status binary_avx2(const BinaryArgs& a);

// ---------------------------------------------------------------- TF.js backend: depthwise 3x3 (EoMT upscaler)
// NHWC depthwise correlation, stride 1, dilation 1, channel multiplier 1 (SPEC §2 upscale blocks):
//   out[b,i,j,c] = sum_{r<fh, s<fw} x[b, i+r-top, j+s-left, c] * w[r',s',c]   (x = 0 outside [0,H)x[0,W))
// with (r',s') = (r,s), or (fh-1-r, fw-1-s) when flip (the input gradient: the correlation of dy with the
// flipped filter and pads fh-1-top, fw-1-left; top/left may then be negative). x [B,H,W,C], w [fh,fw,C],
// out [B,oh,ow,C]. Sums in float32 (avx2) / double (ref), taps in (r, s) order.
struct DepthwiseArgs {
  const float* x; const float* w; float* out;
  int64_t B, H, W, C, fh, fw, top, left, oh, ow;
  bool flip;
};
// The filter gradient: dw[r,s,c] = sum_b sum_{i<oh} sum_{j<ow} x[b, i+r-top, j+s-left, c] * dy[b,i,j,c].
// x [B,H,W,C], dy [B,oh,ow,C], dw [fh,fw,C]. avx2: partial sums over fixed chunks of (b,i) rows, added in
// chunk order, so the result does not depend on the thread count.
struct DepthwiseFilterGradArgs {
  const float* x; const float* dy; float* dw;
  int64_t B, H, W, C, fh, fw, top, left, oh, ow;
};
Status depthwise_ref(const DepthwiseArgs& a);
Status depthwise_avx2(const DepthwiseArgs& a);
Status depthwise_filter_grad_ref(const DepthwiseFilterGradArgs& a);
Status depthwise_filter_grad_avx2(const DepthwiseFilterGradArgs& a);

// ---------------------------------------------------------------- tomeBlock (SPEC §6 ToMe baseline)
// One pre-norm ViT block with token merging (ToMe, Bolya et al. 2023; merge -> block part -> unmerge as in
// ToMe for SD). x[B,T,D]; the first P0 tokens of each row are protected (never merged); the Tu = T - P0
// others, at offsets u = t - P0, are split into sources A and destinations B:
//   1-D (grid_h = grid_w = 0): A = u even, B = u odd (at most ceil(Tu/2) merge; ToMe's alternating split);
//   2-D (grid_h, grid_w > 0, Tu = grid_h * grid_w, u = row * grid_w + col row-major; ToMe for SD's split):
//        2x2 windows tile the grid from the top-left (for an odd grid_h / grid_w the last window row /
//        column is 1 token high / wide); B = the top-left token of each window (row and col both even),
//        A = every other token (up to Tu - ceil(grid_h/2)*ceil(grid_w/2), i.e. ~75%, can merge).
//        ToMe-SD draws the destination of each window at random; ours is fixed (its no-random choice).
// A and B are each ordered by offset. Keys: kbar_t = mean over heads of (LN1(x_t) W_k^T + b_k) [Dh];
// similarity = cosine(kbar_a, kbar_b). Each a picks its most similar b (ties -> lower b); the
// m = tome_merge_count(Tu, ratio, grid_h, grid_w) a's with the highest best-similarity (ties -> lower a) are merged into their b: x_m[b] = (x_b + sum_{a->b} x_a) / size_b,
// size_b = 1 + #{a->b} (sizes start at 1 in every block). Merged sequence = the T - m surviving tokens in
// their ORIGINAL order (so ratio 1 is exactly prunedBlock with idx = null). Plain attention (no log-size bias).
//   mode kMhsa   : z_m = x_m + ls1 * proj(MHSA(LN1(x_m)));  z_t = x_t + (z_m[j(t)] - x_m[j(t)])
//                  out = z + ls2 * fc2(GELU(fc1(LN2(z))))   (MLP on all T tokens)
//   mode kMhsaMlp: y_m = block(x_m);                           out_t = x_t + (y_m[j(t)] - x_m[j(t)])
// j(t) = merged row of token t (a merged a maps to its destination's row). The unmerge is evaluated as
// y_m[j] + (x_t - x_m[j]), which is y_m[j] exactly for tokens that merged with nothing.
// out may alias x (in-place). merge_map [B,T] (optional output, may be null) receives j(t).
// Scratch is allocated inside the kernels. LayerNorm eps = ln_eps, exact GELU, scale 1/sqrt(Dh).
enum class TomeMode : int32_t { kMhsa = 0, kMhsaMlp = 1 };
struct TomeBlockArgs {
  const float* x; float* out;   // [B,T,D]
  int32_t* merge_map;           // [B,T] or null
  int64_t B, T, P0;             // P0 protected prefix tokens, 0 <= P0 <= T
  BlockWeights w;
  TomeMode mode;
  double ratio;                 // fraction of the Tu unprotected tokens kept, in (0, 1] (the TS API's
                                // mergeRatio r arrives as (Tu - m) / Tu, m = min(round(r Tu), |A|))
  float ln_eps;
  int64_t grid_h = 0, grid_w = 0;  // both 0: 1-D split; both > 0: 2-D split, grid_h * grid_w must equal Tu
};
// |A|, the number of sources: ceil(Tu/2) for the 1-D split (0 when Tu < 2: B is empty), and
// Tu - ceil(grid_h/2) * ceil(grid_w/2) for the 2-D split.
inline int64_t tome_source_count(int64_t Tu, int64_t grid_h = 0, int64_t grid_w = 0) {
  if (grid_h > 0 && grid_w > 0) return Tu - ((grid_h + 1) / 2) * ((grid_w + 1) / 2);
  return Tu < 2 ? 0 : (Tu + 1) / 2;
}
// m = Tu - floor(ratio * Tu + 0.5), clamped to [0, |A|] (tome_source_count).
inline int64_t tome_merge_count(int64_t Tu, double ratio, int64_t grid_h = 0, int64_t grid_w = 0) {
  const int64_t na = tome_source_count(Tu, grid_h, grid_w);
  if (na <= 0) return 0;
  int64_t m = Tu - static_cast<int64_t>(ratio * static_cast<double>(Tu) + 0.5);
  return m < 0 ? 0 : (m > na ? na : m);
}
Status tome_block_fwd_ref(const TomeBlockArgs& a);
Status tome_block_fwd_avx2(const TomeBlockArgs& a);

// ---------------------------------------------------------------- layer norm / gelu (TF.js training graph)
// The LayerNorm and exact-GELU of the TF.js training graph (SPEC §2 numerics: biased variance, eps 1e-6 in
// the model, GELU(x) = 0.5 x (1 + erf(x / sqrt 2))), as fused differentiable ops of the TF.js cpu backend.
// LayerNorm over the last axis of x [R,C]: mean_r = sum_c x[r,c] / C, var_r = sum_c (x[r,c] - mean_r)^2 / C,
// rstd_r = 1 / sqrt(var_r + eps), y[r,c] = (x[r,c] - mean_r) * rstd_r * w[c] + b[c].
// mean / rstd [R] are saved for the backward; either may be null (not written). Outputs must not overlap
// inputs. One row per thread task.
struct LayerNormArgs {
  const float* x; const float* w; const float* b;
  float* y; float* mean; float* rstd;
  int64_t R, C;
  float eps;
};
// Backward, xhat = (x - mean) * rstd, g = dy * w (overwrites dx, dw, db):
//   dx[r,c] = rstd_r * (g[r,c] - mean_c' g[r,c'] - xhat[r,c] * mean_c' (g * xhat)[r,c'])
//   dw[c] = sum_r dy[r,c] xhat[r,c],  db[c] = sum_r dy[r,c]
// dw / db are reduced over fixed row chunks (layer_norm_bwd_chunk_rows) and then in chunk order, so they do
// not depend on the thread count. dw, db may be null (not computed). Outputs must not overlap inputs.
struct LayerNormBwdArgs {
  const float* dy; const float* x; const float* w; const float* mean; const float* rstd;
  float* dx; float* dw; float* db;
  int64_t R, C;
};
// Rows per dw / db partial sum of the optimised backward (a function of C only, never of the threads).
inline int64_t layer_norm_bwd_chunk_rows(int64_t C) {
  const int64_t r = 8192 / (C > 0 ? C : 1);
  return r < 8 ? 8 : (r > 64 ? 64 : r);
}
Status layer_norm_fwd_ref(const LayerNormArgs& a);
Status layer_norm_fwd_avx2(const LayerNormArgs& a);
Status layer_norm_bwd_ref(const LayerNormBwdArgs& a);
Status layer_norm_bwd_avx2(const LayerNormBwdArgs& a);

// Exact GELU on n elements: y = 0.5 x (1 + erf(x / sqrt 2)) = x Phi(x).
// Backward: dx = dy * (Phi(x) + x phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
// Elementwise: y may be x itself (in place), dx may be dy or x itself; partial overlaps are not allowed.
struct GeluArgs {
  const float* x; float* y;
  int64_t n;
};
struct GeluBwdArgs {
  const float* dy; const float* x; float* dx;
  int64_t n;
};
Status gelu_fwd_ref(const GeluArgs& a);
Status gelu_fwd_avx2(const GeluArgs& a);
Status gelu_fwd_avx512(const GeluArgs& a);
Status gelu_bwd_ref(const GeluBwdArgs& a);
Status gelu_bwd_avx2(const GeluBwdArgs& a);
Status gelu_bwd_avx512(const GeluBwdArgs& a);

// ---------------------------------------------------------------- vitBlock (TF.js training graph, SPEC §2, §4)
// One pre-norm ViT block, forward and backward, for training (the differentiable tfops.vitBlock):
//   x [B,N,D] f32, policy [B,N] f32 or null -> y [B,N,D]
//   qkv = LN1(x) W_qkv^T + b_qkv; per head h (Dh = D/H, scale 1/sqrt(Dh)):
//     policy != null: SPEC §4 policy attention with eps = attn_eps;  null: plain softmax(scale q k^T) v
//   p1 = o W_proj^T + b_proj;  z = x + ls1 * p1;  h = LN2(z) W_fc1^T + b_fc1
//   p2 = GELU(h) W_fc2^T + b_fc2 (exact GELU);  y = z + ls2 * p2.     LayerNorm eps = ln_eps.
// saved [vit_block_saved_floats(B,N,D,F)] is written by the forward and read by the backward (no N x N
// attention matrix: the backward recomputes it tile by tile), in this order:
//   qkv [3,B,H,N,Dh] (q, k, v head-major), o [B*N,D] (heads merged), p1 [B*N,D], h [B*N,F], p2 [B*N,D].
inline int64_t vit_block_saved_floats(int64_t B, int64_t N, int64_t D, int64_t F) { return B * N * (6 * D + F); }
struct VitBlockArgs {
  const float* x = nullptr; const float* policy = nullptr;  // policy may be null (plain attention)
  float* y = nullptr; float* saved = nullptr;
  int64_t B = 0, N = 0;
  BlockWeights w{};
  float ln_eps = 1e-6f, attn_eps = 1e-6f;
};
// One gradient per block weight, in BlockWeights order (same shapes as the weights).
struct BlockGrads {
  float *norm1_w, *norm1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ls1, *norm2_w, *norm2_b, *fc1_w, *fc1_b, *fc2_w,
      *fc2_b, *ls2;
};
// Backward (overwrites dx, dpolicy and every BlockGrads entry; dpolicy may be null, and is not written when
// policy is null). dy [B,N,D]; x, policy, w, saved as given to / written by the forward.
struct VitBlockBwdArgs {
  const float* dy = nullptr; const float* x = nullptr; const float* policy = nullptr; const float* saved = nullptr;
  float* dx = nullptr; float* dpolicy = nullptr;
  BlockGrads g{};
  int64_t B = 0, N = 0;
  BlockWeights w{};
  float ln_eps = 1e-6f, attn_eps = 1e-6f;
};
Status vit_block_fwd_ref(const VitBlockArgs& a);
Status vit_block_fwd_avx2(const VitBlockArgs& a);
Status vit_block_bwd_ref(const VitBlockBwdArgs& a);
Status vit_block_bwd_avx2(const VitBlockBwdArgs& a);

// ---------------------------------------------------------------- upscaleBlock (TF.js training graph, SPEC §2 mask head)
// One EoMT scale block, channels-last, forward and backward, for training (the differentiable tfops.upscaleBlock):
//   x [B,h,w,C] f32 -> y [B,2h,2w,O]   (P = B*2h*2w output pixels)
//   z[b,2p+i,2q+j,o] = sum_c x[b,p,q,c] conv1_w[c,o,i,j] + conv1_b[o]    (ConvTranspose2d 2x2 stride 2)
//   g = GELU(z) (exact erf);  d[b,p,q,o] = sum_{r,s<3} g[b,p+r-1,q+s-1,o] conv2_w[o,0,r,s]  (depthwise, zero pad 1)
//   y[.,o] = (d[.,o] - mean) * rstd * norm_w[o] + norm_b[o]   (LayerNorm2d: over o per pixel, biased variance,
//   rstd = 1/sqrt(var + ln_eps)).
// saved [upscale_block_saved_floats(B,h,w,O)] is written by the forward and read by the backward, in this order:
//   z [P,O] (pre-GELU), mean [P], rstd [P] (LayerNorm statistics). The backward recomputes g = GELU(z) and d.
inline int64_t upscale_block_saved_floats(int64_t B, int64_t h, int64_t w, int64_t O) { return 4 * B * h * w * (O + 2); }
// The five weights (SPEC §8 names upscale.{j}.conv1.weight ... without the prefix).
struct UpscaleBlockWeights {
  const float* conv1_w = nullptr;  // [C,O,2,2]
  const float* conv1_b = nullptr;  // [O]
  const float* conv2_w = nullptr;  // [O,1,3,3]
  const float* norm_w = nullptr;   // [O]
  const float* norm_b = nullptr;   // [O]
};
// Their gradients, same shapes (overwritten).
struct UpscaleBlockGrads {
  float *conv1_w = nullptr, *conv1_b = nullptr, *conv2_w = nullptr, *norm_w = nullptr, *norm_b = nullptr;
};
struct UpscaleBlockArgs {
  const float* x = nullptr;
  float* y = nullptr; float* saved = nullptr;
  int64_t B = 0, h = 0, w = 0, C = 0, O = 0;
  UpscaleBlockWeights wt{};
  float ln_eps = 1e-6f;
};
// Backward (overwrites dx and every UpscaleBlockGrads entry): dy [B,2h,2w,O]; x, wt, saved as given to / written
// by the forward (the backward reads conv1_w, conv2_w and norm_w only). Outputs must not overlap inputs.
struct UpscaleBlockBwdArgs {
  const float* dy = nullptr; const float* x = nullptr; const float* saved = nullptr;
  float* dx = nullptr;
  UpscaleBlockGrads g{};
  int64_t B = 0, h = 0, w = 0, C = 0, O = 0;
  UpscaleBlockWeights wt{};
};
Status upscale_block_fwd_ref(const UpscaleBlockArgs& a);
Status upscale_block_fwd_avx2(const UpscaleBlockArgs& a);
Status upscale_block_bwd_ref(const UpscaleBlockBwdArgs& a);
Status upscale_block_bwd_avx2(const UpscaleBlockBwdArgs& a);

}  // namespace r4p
