// tome_block_ref.cc: SPEC §6 ToMe baseline, one ViT block with token merging, written out literally
// (the semantics are stated in full at TomeBlockArgs in kernels/ops.h).
//   x [B,T,D], P0 protected prefix tokens, ratio = kept fraction of the Tu = T - P0 others -> out [B,T,D]
//   1. keys    kbar_t = (1/H) sum_h (LN1(x_t) W_k^T + b_k)[h*Dh : (h+1)*Dh]   for unprotected t  [Tu,Dh]
//   2. match   offsets u = t - P0; 1-D: A = u even, B = u odd; 2-D (grid_h x grid_w, row-major): B = the
//              tokens with even row and even column (top-left of each 2x2 window), A = the rest; both
//              in ascending u. sim(a,b) = cos(kbar_a, kbar_b);
//              best(a) = argmax_b sim (first max wins -> lower b), score(a) = max_b sim
//   3. select  the m = tome_merge_count(Tu, ratio, grid_h, grid_w) a's of highest score (ties -> lower a)
//              are merged
//   4. merge   survivors (all tokens but the merged a's) in original order form x_m [T-m, D];
//              a destination's row is (x_b + sum_{a->b, a ascending} x_a) / (1 + #{a->b})
//   5. block   kMhsa: z_m = attn(x_m), z_t = z_m[j] + (x_t - x_m[j]), out = mlp(z) on all T tokens
//              kMhsaMlp: y_m = mlp(attn(x_m)), out_t = y_m[j] + (x_t - x_m[j])
//      attn(X) = X + ls1 * proj(MHSA(LN1(X))),  mlp(Z) = Z + ls2 * fc2(GELU(fc1(LN2(Z))))
// Single-threaded, every intermediate materialised; dot products and LayerNorm statistics accumulate in
// double (a tight oracle), rounded to float once per intermediate exactly as pruned_block_ref.cc does,
// so ratio 1 reproduces prunedBlock's reference bit for bit. Matching runs entirely in double.
#include <algorithm>
#include <cmath>
#include <new>
#include <numeric>
#include <vector>

#include "kernels/ops.h"
#include "kernels/ref/block_parts_ref.h"

namespace r4p {
namespace {

using ref::attn_half;
using ref::layer_norm;
using ref::mlp_half;

// Steps 1-3 for one batch row: dst[u] for each unprotected offset u = the offset of the b that token
// P0 + u merges into, or -1 (not merged; always -1 for b's and unselected a's).
std::vector<int64_t> match(const TomeBlockArgs& a, const float* xb, int64_t m) {
  const BlockWeights& w = a.w;
  const int64_t T = a.T, P0 = a.P0, Tu = T - P0, D = w.D, H = w.H, Dh = D / H;
  std::vector<int64_t> dst(Tu, -1);
  if (m == 0) return dst;
  // the partition: srcA / dstB hold offsets in ascending order
  std::vector<int64_t> srcA, dstB;
  for (int64_t u = 0; u < Tu; ++u) {
    const bool is_b = a.grid_w > 0 ? ((u / a.grid_w) % 2 == 0 && (u % a.grid_w) % 2 == 0) : (u % 2 == 1);
    (is_b ? dstB : srcA).push_back(u);
  }
  const int64_t nA = static_cast<int64_t>(srcA.size()), nB = static_cast<int64_t>(dstB.size());
  std::vector<float> t(Tu * D);
  layer_norm(xb + P0 * D, t.data(), Tu, D, w.norm1_w, w.norm1_b, a.ln_eps);
  // keys averaged over heads, then unit-normalised (norm clamped at 1e-12: a zero key has similarity 0)
  std::vector<double> kn(Tu * Dh, 0.0);
  for (int64_t u = 0; u < Tu; ++u) {
    for (int64_t hd = 0; hd < H; ++hd)
      for (int64_t e = 0; e < Dh; ++e) {
        const int64_t o = D + hd * Dh + e;  // key rows of W_qkv
        double acc = w.qkv_b[o];
        for (int64_t d = 0; d < D; ++d) acc += static_cast<double>(t[u * D + d]) * w.qkv_w[o * D + d];
        kn[u * Dh + e] += acc;
      }
    double nrm = 0;
    for (int64_t e = 0; e < Dh; ++e) {
      kn[u * Dh + e] /= static_cast<double>(H);
      nrm += kn[u * Dh + e] * kn[u * Dh + e];
    }
    nrm = std::max(std::sqrt(nrm), 1e-12);
    for (int64_t e = 0; e < Dh; ++e) kn[u * Dh + e] /= nrm;
  }
  std::vector<double> score(nA);
  std::vector<int64_t> best(nA);
  for (int64_t i = 0; i < nA; ++i) {
    double bs = -INFINITY;
    int64_t bj = 0;
    for (int64_t j = 0; j < nB; ++j) {
      double s = 0;
      for (int64_t e = 0; e < Dh; ++e) s += kn[srcA[i] * Dh + e] * kn[dstB[j] * Dh + e];
      if (s > bs) bs = s, bj = j;  // strict: the first (lowest) b of equal similarity wins
    }
    score[i] = bs;
    best[i] = bj;
  }
  std::vector<int64_t> order(nA);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return score[p] > score[q]; });
  for (int64_t r = 0; r < m; ++r) dst[srcA[order[r]]] = dstB[best[order[r]]];
  return dst;
}

// grid_h = grid_w = 0 (1-D), or both > 0 with grid_h * grid_w = Tu (division form: no overflow).
Status check_grid(const TomeBlockArgs& a) {
  const int64_t Tu = a.T - a.P0, gh = a.grid_h, gw = a.grid_w;
  if (gh == 0 && gw == 0) return Status::Ok();
  if (gh <= 0 || gw <= 0 || Tu % gw != 0 || Tu / gw != gh)
    return range_error("tomeBlock: expected grid_h * grid_w = T - P0 = ", Tu, " (or both 0), received grid_h=", gh,
                       " grid_w=", gw);
  return Status::Ok();
}

Status tome_one(const TomeBlockArgs& a, int64_t b) {
  const BlockWeights& w = a.w;
  const int64_t T = a.T, P0 = a.P0, Tu = T - P0, D = w.D;
  const int64_t m = tome_merge_count(Tu, a.ratio, a.grid_h, a.grid_w), Tm = T - m;
  // private copy of the row: out may alias x
  std::vector<float> x(a.x + b * T * D, a.x + (b + 1) * T * D);
  const std::vector<int64_t> dst = match(a, x.data(), m);

  // j(t): survivors numbered in token order, then merged a's take their destination's row
  std::vector<int64_t> j(T, -1);
  int64_t next = 0;
  for (int64_t t = 0; t < T; ++t)
    if (t < P0 || dst[t - P0] < 0) j[t] = next++;
  for (int64_t u = 0; u < Tu; ++u)
    if (dst[u] >= 0) j[P0 + u] = j[P0 + dst[u]];
  if (next != Tm) return internal_error("tomeBlock: merged sequence has ", next, " rows, expected ", Tm);
  if (a.merge_map)
    for (int64_t t = 0; t < T; ++t) a.merge_map[b * T + t] = static_cast<int32_t>(j[t]);

  // x_m: size-weighted average, destination first, then its sources in ascending token order
  std::vector<float> xm(Tm * D);
  std::vector<double> acc(Tm * D, 0.0);
  std::vector<int64_t> size(Tm, 0);
  for (int64_t t = 0; t < T; ++t)
    if (t < P0 || dst[t - P0] < 0) {
      for (int64_t d = 0; d < D; ++d) acc[j[t] * D + d] += x[t * D + d];
      size[j[t]] += 1;
    }
  for (int64_t t = 0; t < T; ++t)
    if (t >= P0 && dst[t - P0] >= 0) {
      for (int64_t d = 0; d < D; ++d) acc[j[t] * D + d] += x[t * D + d];
      size[j[t]] += 1;
    }
  for (int64_t r = 0; r < Tm; ++r)
    for (int64_t d = 0; d < D; ++d) xm[r * D + d] = static_cast<float>(acc[r * D + d] / static_cast<double>(size[r]));

  float* ob = a.out + b * T * D;
  std::vector<float> zm(Tm * D);
  attn_half(w, xm.data(), zm.data(), Tm, a.ln_eps);
  if (a.mode == TomeMode::kMhsa) {
    std::vector<float> z(T * D);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t d = 0; d < D; ++d) z[t * D + d] = zm[j[t] * D + d] + (x[t * D + d] - xm[j[t] * D + d]);
    mlp_half(w, z.data(), ob, T, a.ln_eps);
  } else {
    std::vector<float> ym(Tm * D);
    mlp_half(w, zm.data(), ym.data(), Tm, a.ln_eps);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t d = 0; d < D; ++d) ob[t * D + d] = ym[j[t] * D + d] + (x[t * D + d] - xm[j[t] * D + d]);
  }
  return Status::Ok();
}

}  // namespace

// x [B,T,D], weights (BlockWeights), P0, mode, ratio -> out [B,T,D] (+ merge_map [B,T]); out may alias x.
Status tome_block_fwd_ref(const TomeBlockArgs& a) {
  if (a.w.H <= 0 || a.w.D % a.w.H != 0) return range_error("tomeBlock: D must be a multiple of H");
  if (a.P0 < 0 || a.P0 > a.T) return range_error("tomeBlock: expected 0 <= P0 <= T, received P0=", a.P0, " T=", a.T);
  if (!(a.ratio > 0.0 && a.ratio <= 1.0)) return range_error("tomeBlock: expected ratio in (0, 1], received ", a.ratio);
  if (a.mode != TomeMode::kMhsa && a.mode != TomeMode::kMhsaMlp) return range_error("tomeBlock: unknown mode");
  R4P_RETURN_IF_ERROR(check_grid(a));
  try {
    for (int64_t b = 0; b < a.B; ++b) R4P_RETURN_IF_ERROR(tome_one(a, b));
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "tomeBlock: out of memory for the reference's scratch buffers");
  }
  return Status::Ok();
}

}  // namespace r4p
