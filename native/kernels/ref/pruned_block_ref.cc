// pruned_block_ref.cc: SPEC §2 (block numerics) and §5 prunedBlock, written out literally.
//   x [B,N,D], idx [B,K] (null = all N tokens) -> out [B,N,D]
//   X  = x[b, idx[b,:], :]                                   [K,D]
//   z  = X + ls1 * (MHSA(LN1(X)) W_proj^T + b_proj)          MHSA: qkv = LN1(X) W_qkv^T + b_qkv [K,3D],
//        head h uses columns q: h*Dh, k: D + h*Dh, v: 2D + h*Dh; softmax(q k^T / sqrt(Dh)) v
//   y  = z + ls2 * (GELU(LN2(z) W_fc1^T + b_fc1) W_fc2^T + b_fc2)
//   out = x with rows idx replaced by y (rows not in idx copied from x; out may alias x).
// Variable length (a.offsets): batch row b gathers its own K_b rows idx[offsets[b] ..) and runs the block
// on them alone, exactly the code path of a [1,N,D] call with those K_b indices (hence bit-identical to it).
// The reference for the fused avx2 kernel: single-threaded, every intermediate materialised
// (including the full K x K score matrix of a head), no dependency on the optimised GEMM or
// attention. Dot products and LayerNorm statistics accumulate in double so that this variant is
// also a tight oracle; the result is rounded to float once per intermediate.
#include <cmath>
#include <new>
#include <vector>

#include "kernels/ops.h"
#include "kernels/ref/block_parts_ref.h"

namespace r4p {
namespace {

Status block_one(const PrunedBlockArgs& a, int64_t b) {
  const BlockWeights& w = a.w;
  const int64_t N = a.N, K = pruned_block_row_len(a, b), D = w.D;
  const int32_t* idx = a.idx ? a.idx + pruned_block_row_start(a, b) : nullptr;
  const float* xb = a.x + b * N * D;
  float* ob = a.out + b * N * D;

  if (ob != xb)
    for (int64_t i = 0; i < N * D; ++i) ob[i] = xb[i];
  if (K == 0) return Status::Ok();  // varlen row with no tokens: x unchanged
  std::vector<float> X(K * D), z(K * D), y(K * D);
  // gather
  for (int64_t k = 0; k < K; ++k) {
    const int64_t n = idx ? idx[k] : k;
    for (int64_t d = 0; d < D; ++d) X[k * D + d] = xb[n * D + d];
  }
  ref::attn_half(w, X.data(), z.data(), K, a.ln_eps);
  ref::mlp_half(w, z.data(), y.data(), K, a.ln_eps);
  // scatter: out already holds x (no-op when in-place); overwrite rows idx
  for (int64_t k = 0; k < K; ++k) {
    const int64_t n = idx ? idx[k] : k;
    for (int64_t d = 0; d < D; ++d) ob[n * D + d] = y[k * D + d];
  }
  return Status::Ok();
}

}  // namespace

// x [B,N,D], idx [B,K] | null (or packed [offsets[B]] with offsets [B+1]), weights -> out [B,N,D]; out may alias x.
Status pruned_block_fwd_ref(const PrunedBlockArgs& a) {
  if (a.w.H <= 0 || a.w.D % a.w.H != 0) return range_error("prunedBlock: D must be a multiple of H");
  if (!a.idx && a.K != a.N) return range_error("prunedBlock: idx = null requires K = N");
  if (a.offsets && !a.idx) return range_error("prunedBlock: offsets (variable length) require idx");
  try {
    for (int64_t b = 0; b < a.B; ++b) R4P_RETURN_IF_ERROR(block_one(a, b));
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "prunedBlock: out of memory for the reference's scratch buffers");
  }
  return Status::Ok();
}

}  // namespace r4p
