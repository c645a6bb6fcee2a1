// pruned_block_ref.cc: SPEC §2 (block numerics) and §5 prunedBlock, written out literally.
//   x [B,N,D], idx [B,K] (null = all N tokens) -> out [B,N,D]
//   X  = x[b, idx[b,:], :]                                   [K,D]
//   z  = X + ls1 * (MHSA(LN1(X)) W_proj^T + b_proj)          MHSA: qkv = LN1(X) W_qkv^T + b_qkv [K,3D],
//        head h uses columns q: h*Dh, k: D + h*Dh, v: 2D + h*Dh; softmax(q k^T / sqrt(Dh)) v
//   y  = z + ls2 * (GELU(LN2(z) W_fc1^T + b_fc1) W_fc2^T + b_fc2)
//   out = x with rows idx replaced by y (rows not in idx copied from x; out may alias x).
// The reference for the fused avx2 kernel: single-threaded, every intermediate materialised
// (including the full K x K score matrix of a head), no dependency on the optimised GEMM or
// attention. Dot products and LayerNorm statistics accumulate in double so that this variant is
// also a tight oracle; the result is rounded to float once per intermediate.
#include <cmath>
#include <new>
#include <vector>

#include "kernels/ops.h"

namespace r4p {
namespace {

// y[m, :] = LN(x[m, :]) * w + b over D columns; mean and biased variance in double.
void layer_norm(const float* x, float* y, int64_t M, int64_t D, const float* w, const float* b, float eps) {
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    double mean = 0;
    for (int64_t d = 0; d < D; ++d) mean += xr[d];
    mean /= static_cast<double>(D);
    double var = 0;
    for (int64_t d = 0; d < D; ++d) var += (xr[d] - mean) * (xr[d] - mean);
    var /= static_cast<double>(D);
    const double rstd = 1.0 / std::sqrt(var + static_cast<double>(eps));
    for (int64_t d = 0; d < D; ++d) y[m * D + d] = static_cast<float>((xr[d] - mean) * rstd * w[d] + b[d]);
  }
}

// y[m, o] = sum_i x[m, i] W[o, i] + bias[o]  (timm Linear, W [out, in]).
void linear(const float* x, float* y, int64_t M, int64_t in, int64_t out, const float* W, const float* bias) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t o = 0; o < out; ++o) {
      double acc = bias[o];
      for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(x[m * in + i]) * W[o * in + i];
      y[m * out + o] = static_cast<float>(acc);
    }
}

Status block_one(const PrunedBlockArgs& a, int64_t b) {
  const BlockWeights& w = a.w;
  const int64_t N = a.N, K = a.K, D = w.D, H = w.H, F = w.F, Dh = D / H;
  const int32_t* idx = a.idx ? a.idx + b * K : nullptr;
  const float* xb = a.x + b * N * D;
  float* ob = a.out + b * N * D;

  std::vector<float> X(K * D), t(K * D), qkv(K * 3 * D), att(K * D), z(K * D), h(K * F), y(K * D), s(K);
  // gather
  for (int64_t k = 0; k < K; ++k) {
    const int64_t n = idx ? idx[k] : k;
    for (int64_t d = 0; d < D; ++d) X[k * D + d] = xb[n * D + d];
  }
  // attention branch
  layer_norm(X.data(), t.data(), K, D, w.norm1_w, w.norm1_b, a.ln_eps);
  linear(t.data(), qkv.data(), K, D, 3 * D, w.qkv_w, w.qkv_b);
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  std::vector<double> S(K * K);
  for (int64_t hd = 0; hd < H; ++hd) {
    const int64_t qo = hd * Dh, ko = D + hd * Dh, vo = 2 * D + hd * Dh;
    for (int64_t i = 0; i < K; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < K; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < Dh; ++e) dot += static_cast<double>(qkv[i * 3 * D + qo + e]) * qkv[j * 3 * D + ko + e];
        S[i * K + j] = dot * scale;
        if (S[i * K + j] > mx) mx = S[i * K + j];
      }
      double sum = 0;
      for (int64_t j = 0; j < K; ++j) {
        S[i * K + j] = std::exp(S[i * K + j] - mx);
        sum += S[i * K + j];
      }
      for (int64_t j = 0; j < K; ++j) S[i * K + j] /= sum;
    }
    for (int64_t i = 0; i < K; ++i)
      for (int64_t e = 0; e < Dh; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < K; ++j) acc += S[i * K + j] * qkv[j * 3 * D + vo + e];
        att[i * D + hd * Dh + e] = static_cast<float>(acc);
      }
  }
  linear(att.data(), t.data(), K, D, D, w.proj_w, w.proj_b);
  for (int64_t i = 0; i < K * D; ++i) z[i] = X[i] + w.ls1[i % D] * t[i];
  // MLP branch
  layer_norm(z.data(), t.data(), K, D, w.norm2_w, w.norm2_b, a.ln_eps);
  linear(t.data(), h.data(), K, D, F, w.fc1_w, w.fc1_b);
  for (float& v : h) v = static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
  linear(h.data(), t.data(), K, F, D, w.fc2_w, w.fc2_b);
  for (int64_t i = 0; i < K * D; ++i) y[i] = z[i] + w.ls2[i % D] * t[i];
  // scatter: copy x (no-op when in-place), then overwrite rows idx
  if (ob != xb)
    for (int64_t i = 0; i < N * D; ++i) ob[i] = xb[i];
  for (int64_t k = 0; k < K; ++k) {
    const int64_t n = idx ? idx[k] : k;
    for (int64_t d = 0; d < D; ++d) ob[n * D + d] = y[k * D + d];
  }
  return Status::Ok();
}

}  // namespace

// x [B,N,D], idx [B,K] | null, weights (BlockWeights) -> out [B,N,D]; out may alias x.
Status pruned_block_fwd_ref(const PrunedBlockArgs& a) {
  if (a.w.H <= 0 || a.w.D % a.w.H != 0) return range_error("prunedBlock: D must be a multiple of H");
  if (!a.idx && a.K != a.N) return range_error("prunedBlock: idx = null requires K = N");
  try {
    for (int64_t b = 0; b < a.B; ++b) R4P_RETURN_IF_ERROR(block_one(a, b));
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "prunedBlock: out of memory for the reference's scratch buffers");
  }
  return Status::Ok();
}

}  // namespace r4p
