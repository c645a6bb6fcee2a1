// tome_block_avx2.cc: SPEC §6 ToMe baseline, one ViT block with token merging (semantics stated in full at
// TomeBlockArgs in kernels/ops.h; the literal version is ref/tome_block_ref.cc).
//   x [B,T,D], P0 protected prefix, ratio = kept fraction of the Tu = T - P0 others, optional 2-D token
//   grid grid_h x grid_w of the Tu -> out [B,T,D]
//
// Phases (Tm = T - m merged tokens per row, M = B*Tm; offsets u = t - P0 split into sources A and
// destinations B: 1-D A = u even, B = u odd; 2-D grid (row-major) B = even row and even column, i.e. the
// top-left of each 2x2 window, A = the rest; each in ascending u):
//   1. keys    LN1 of the B*Tu unprotected rows -> tk [B*Tu,D]; ONE gemm with the head-averaged key weights
//              Wbar = (1/H) sum_h W_k[h] [Dh,D] (the head mean is linear, so it is folded into the weight:
//              H times fewer FLOPs than computing all keys) -> kb [B*Tu,Dh]; rows unit-normalised.
//   2. match   per batch row: the A and B rows of kb are gathered into contiguous ka [|A|,Dh], kd [|B|,Dh]
//              (the 2-D split has no constant stride); the cosine matrix S [|A|,|B|] is one gemm ka kd^T,
//              then argmax per row (first max -> lower b, parallel over rows), then a stable sort of the a's
//              by score (descending; ties -> lower a).
//   3. merge   survivors in token order -> x_m [M,D]; a destination row = (x_b + sum_{a->b} x_a) / size,
//              sources added in ascending token order (one task per row: thread-count independent).
//   4. attn    exactly prunedBlock's phases 1-4 on x_m (LN1, qkv gemm, attention_core, proj gemm with the
//              residual x_m) -> z_m [M,D]
//   5. kMhsa:    z = z_m[j] + (x - x_m[j]) [B*T,D]; LN2 / fc1+GELU / fc2 on all B*T rows -> out
//      kMhsaMlp: LN2 / fc1+GELU / fc2 on the M merged rows -> y_m; out = y_m[j] + (x - x_m[j])
// For a token that merged with nothing x - x_m[j] is exactly 0, so ratio 1 gives prunedBlock's avx2 result
// bit for bit. In-place (out == x) is safe: x is read in phases 1, 3 and in the unmerge of row t, which is
// the only writer of out row t (kMhsaMlp), or before any write of out (kMhsa).
// Numerics: float throughout (LayerNorm 8-lane partial sums reduced in a fixed order, GEMM / attention in
// fixed orders, every output row owned by one task), so the result does not depend on the thread count.
// The merge plan is computed in float here and in double in the reference: a near-tie in similarity
// (below ~1e-6) may pick a different partner than the reference would.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <vector>

#include "kernels/cpu/layer_norm_avx2.h"
#include "kernels/cpu/attention_core.h"
#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/ops.h"
#include "kernels/registry.h"
#include "runtime/thread_pool.h"

namespace r4p {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, FreeDeleter>;

// 64-byte aligned float buffer (whole cache lines for the GEMM's packing reads); null on failure.
Buffer alloc_floats(int64_t n) {
  const size_t bytes = ((static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float)) + 63) & ~size_t(63);
  return Buffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

Status oom(const char* what) {
  return Status::Make(StatusCode::kOutOfMemory, detail::concat("tomeBlock: out of memory for ", what));
}


// The merge plan of one batch row.
struct Plan {
  std::vector<int32_t> j;       // [T] merged row of each token
  std::vector<int32_t> surv;    // [Tm] token of each merged row (the survivor)
  std::vector<int32_t> start;   // [Tm+1] CSR into srcs
  std::vector<int32_t> srcs;    // merged a tokens, grouped by row, ascending within a row
};

// Phases 1-2 for all batch rows: dst[b*Tu + u] = offset of the b that offset u merges into, or -1.
Status match(const TomeBlockArgs& a, int64_t m, std::vector<int32_t>* dst) {
  const BlockWeights& w = a.w;
  const int64_t B = a.B, T = a.T, P0 = a.P0, Tu = T - P0, D = w.D, H = w.H, Dh = D / H;
  const int64_t R = B * Tu;
  dst->assign(static_cast<size_t>(R), -1);
  if (m == 0) return Status::Ok();
  // the partition (the same for every batch row): offsets of A and of B, ascending
  std::vector<int32_t> srcA, dstB;
  for (int64_t u = 0; u < Tu; ++u) {
    const bool is_b = a.grid_w > 0 ? ((u / a.grid_w) % 2 == 0 && (u % a.grid_w) % 2 == 0) : (u % 2 == 1);
    (is_b ? dstB : srcA).push_back(static_cast<int32_t>(u));
  }
  const int64_t nA = static_cast<int64_t>(srcA.size()), nB = static_cast<int64_t>(dstB.size());

  // head-averaged key weights: row e of Wbar = (1/H) sum_h W_qkv[D + h*Dh + e, :]
  Buffer wbar = alloc_floats(Dh * D), bbar = alloc_floats(Dh);
  Buffer tk = alloc_floats(R * D), kb = alloc_floats(R * Dh), S = alloc_floats(nA * nB);
  Buffer ka = alloc_floats(nA * Dh), kd = alloc_floats(nB * Dh);
  if (!wbar || !bbar || !tk || !kb || !S || !ka || !kd) return oom("the matching scratch");
  const float invH = 1.f / static_cast<float>(H);
  parallel_for(Dh, 1, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      float* row = wbar.get() + e * D;
      float bsum = 0.f;
      for (int64_t d = 0; d < D; ++d) row[d] = 0.f;
      for (int64_t hd = 0; hd < H; ++hd) {
        const float* src = w.qkv_w + (D + hd * Dh + e) * D;
        for (int64_t d = 0; d < D; ++d) row[d] += src[d];
        bsum += w.qkv_b[D + hd * Dh + e];
      }
      for (int64_t d = 0; d < D; ++d) row[d] *= invH;
      bbar.get()[e] = bsum * invH;
    }
  });
  layer_norm_rows(
      R, D, [&](int64_t r) { return a.x + ((r / Tu) * T + P0 + r % Tu) * D; }, tk.get(), w.norm1_w, w.norm1_b,
      a.ln_eps);
  {
    GemmArgs g;
    g.M = R; g.N = Dh; g.K = D;
    g.A = tk.get(); g.lda = D;
    g.B = wbar.get(); g.ldb = D; g.transB = true;
    g.C = kb.get(); g.ldc = Dh;
    g.bias = bbar.get();
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  // unit rows (norm clamped at 1e-12: a zero key has similarity 0 with everything)
  parallel_for(R, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* k = kb.get() + r * Dh;
      float s = 0.f;
      for (int64_t e = 0; e < Dh; ++e) s += k[e] * k[e];
      const float inv = 1.f / std::max(std::sqrt(s), 1e-12f);
      for (int64_t e = 0; e < Dh; ++e) k[e] *= inv;
    }
  });

  std::vector<float> score(static_cast<size_t>(nA));
  std::vector<int32_t> best(static_cast<size_t>(nA)), order(static_cast<size_t>(nA));
  for (int64_t b = 0; b < B; ++b) {
    const float* kbb = kb.get() + b * Tu * Dh;
    const size_t row_bytes = static_cast<size_t>(Dh) * sizeof(float);
    parallel_for(Tu, 256, [&](int64_t r0, int64_t r1) {  // row i of ka / kd <- kb row srcA[i] / dstB[i]
      for (int64_t r = r0; r < r1; ++r)
        if (r < nA) std::memcpy(ka.get() + r * Dh, kbb + static_cast<int64_t>(srcA[r]) * Dh, row_bytes);
        else std::memcpy(kd.get() + (r - nA) * Dh, kbb + static_cast<int64_t>(dstB[r - nA]) * Dh, row_bytes);
    });
    GemmArgs g;
    g.M = nA; g.N = nB; g.K = Dh;
    g.A = ka.get(); g.lda = Dh;
    g.B = kd.get(); g.ldb = Dh; g.transB = true;
    g.C = S.get(); g.ldc = nB;
    R4P_RETURN_IF_ERROR(gemm(g));
    parallel_for(nA, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float* row = S.get() + i * nB;
        float bs = -INFINITY;
        int32_t bj = 0;
        for (int64_t jj = 0; jj < nB; ++jj)
          if (row[jj] > bs) bs = row[jj], bj = static_cast<int32_t>(jj);  // strict: lower b wins ties; NaN never wins
        score[i] = bs;
        best[i] = bj;
      }
    });
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t p, int32_t q) { return score[p] > score[q]; });
    int32_t* d = dst->data() + b * Tu;
    for (int64_t r = 0; r < m; ++r) d[srcA[order[r]]] = dstB[best[order[r]]];
  }
  return Status::Ok();
}

void build_plan(const int32_t* dst, int64_t T, int64_t P0, int64_t Tm, Plan* p) {
  const int64_t Tu = T - P0;
  p->j.assign(static_cast<size_t>(T), -1);
  p->surv.clear();
  p->surv.reserve(static_cast<size_t>(Tm));
  for (int64_t t = 0; t < T; ++t)
    if (t < P0 || dst[t - P0] < 0) {
      p->j[t] = static_cast<int32_t>(p->surv.size());
      p->surv.push_back(static_cast<int32_t>(t));
    }
  std::vector<int32_t> count(static_cast<size_t>(Tm) + 1, 0);
  for (int64_t u = 0; u < Tu; ++u)
    if (dst[u] >= 0) {
      p->j[P0 + u] = p->j[P0 + dst[u]];
      ++count[p->j[P0 + u] + 1];
    }
  p->start.assign(static_cast<size_t>(Tm) + 1, 0);
  for (int64_t r = 0; r < Tm; ++r) p->start[r + 1] = p->start[r] + count[r + 1];
  p->srcs.assign(static_cast<size_t>(p->start[Tm]), 0);
  std::vector<int32_t> fill(p->start.begin(), p->start.end() - 1);
  for (int64_t u = 0; u < Tu; ++u)  // ascending u: sources land in ascending token order
    if (dst[u] >= 0) p->srcs[fill[p->j[P0 + u]]++] = static_cast<int32_t>(P0 + u);
}

// Phase 4: z [M,D] = X + ls1 * proj(MHSA(LN1(X))) over Tm tokens per batch row (prunedBlock's phases 1-4).
Status attn_half(const TomeBlockArgs& a, int64_t Tm, const float* X, float* z, float* t, float* wide) {
  const BlockWeights& w = a.w;
  const int64_t B = a.B, D = w.D, H = w.H, Dh = D / H, M = B * Tm;
  layer_norm_rows(M, D, [&](int64_t r) { return X + r * D; }, t, w.norm1_w, w.norm1_b, a.ln_eps);
  {
    GemmArgs g;
    g.M = M; g.N = 3 * D; g.K = D;
    g.A = t; g.lda = D;
    g.B = w.qkv_w; g.ldb = D; g.transB = true;
    g.C = wide; g.ldc = 3 * D;
    g.bias = w.qkv_b;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  {
    const int64_t rb = 192;  // rows per task, as prunedBlock (2 of the core's 96-row super-blocks)
    const int64_t nblk = (Tm + rb - 1) / rb, tasks = B * H * nblk;
    AttentionCoreArgs proto;
    proto.ldq = proto.ldk = proto.ldv = 3 * D;
    proto.ldo = D;
    proto.Nq = Tm; proto.Nk = Tm; proto.Dh = Dh;
    proto.scale = 1.f / std::sqrt(static_cast<float>(Dh));
    proto.q = wide; proto.k = wide + D; proto.v = wide + 2 * D; proto.out = t;
    const size_t scratch_floats = attention_core_scratch_floats(proto);
    const int nth = std::max(1, static_cast<int>(std::min<int64_t>(ThreadPool::instance().threads(), tasks)));
    std::vector<Buffer> scratch(nth);
    for (auto& s : scratch) {
      s = alloc_floats(static_cast<int64_t>(scratch_floats));
      if (!s) return oom("the attention scratch");
    }
    ThreadPool::instance().run(
        [&](int ith, int nth_run) {
          int64_t t0, t1;
          split_range(tasks, ith, nth_run, &t0, &t1);
          float* s = scratch[ith].get();
          for (int64_t task = t0; task < t1; ++task) {
            const int64_t blk = task % nblk, bh = task / nblk, hd = bh % H, b = bh / H;
            AttentionCoreArgs c = proto;
            const int64_t off = b * Tm * 3 * D + hd * Dh;
            c.q = wide + off;
            c.k = wide + off + D;
            c.v = wide + off + 2 * D;
            c.out = t + b * Tm * D + hd * Dh;
            attention_core_rows(c, blk * rb, std::min(Tm, (blk + 1) * rb), s);
          }
        },
        nth);
  }
  for (int64_t b = 0; b < B; ++b) {
    GemmArgs g;
    g.M = Tm; g.N = D; g.K = D;
    g.A = t + b * Tm * D; g.lda = D;
    g.B = w.proj_w; g.ldb = D; g.transB = true;
    g.C = z + b * Tm * D; g.ldc = D;
    g.bias = w.proj_b;
    g.col_scale = w.ls1;
    g.residual = X + b * Tm * D; g.ldr = D;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  return Status::Ok();
}

// y [B*rows,D] = z + ls2 * fc2(GELU(fc1(LN2(z)))); y must not overlap z, t or wide.
Status mlp_half(const TomeBlockArgs& a, int64_t rows, const float* z, float* y, float* t, float* wide) {
  const BlockWeights& w = a.w;
  const int64_t B = a.B, D = w.D, F = w.F, M = B * rows;
  layer_norm_rows(M, D, [&](int64_t r) { return z + r * D; }, t, w.norm2_w, w.norm2_b, a.ln_eps);
  {
    GemmArgs g;
    g.M = M; g.N = F; g.K = D;
    g.A = t; g.lda = D;
    g.B = w.fc1_w; g.ldb = D; g.transB = true;
    g.C = wide; g.ldc = F;
    g.bias = w.fc1_b;
    g.act = Activation::kGelu;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  for (int64_t b = 0; b < B; ++b) {  // one gemm per batch row, as prunedBlock (same blocking, same bits)
    GemmArgs g;
    g.M = rows; g.N = D; g.K = F;
    g.A = wide + b * rows * F; g.lda = F;
    g.B = w.fc2_w; g.ldb = F; g.transB = true;
    g.C = y + b * rows * D; g.ldc = D;
    g.bias = w.fc2_b;
    g.col_scale = w.ls2;
    g.residual = z + b * rows * D; g.ldr = D;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  return Status::Ok();
}

// dst_rows [B*T,D]: row (b,t) = ym[b, j(t)] + (x[b,t] - xm[b, j(t)]).
void unmerge(const TomeBlockArgs& a, int64_t Tm, const std::vector<Plan>& plans, const float* ym, const float* xm,
             float* dst_rows) {
  const int64_t T = a.T, D = a.w.D;
  parallel_for(a.B * T, std::max<int64_t>(1, 8192 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / T, t = r % T, jr = b * Tm + plans[b].j[t];
      const float* yr = ym + jr * D;
      const float* mr = xm + jr * D;
      const float* xr = a.x + r * D;
      float* o = dst_rows + r * D;
      for (int64_t d = 0; d < D; ++d) o[d] = yr[d] + (xr[d] - mr[d]);
    }
  });
}

Status run(const TomeBlockArgs& a) {
  const BlockWeights& w = a.w;
  const int64_t B = a.B, T = a.T, P0 = a.P0, D = w.D, H = w.H, F = w.F;
  if (H <= 0 || D % H != 0) return range_error("tomeBlock: D must be a multiple of H, received D=", D, " H=", H);
  if (P0 < 0 || P0 > T) return range_error("tomeBlock: expected 0 <= P0 <= T, received P0=", P0, " T=", T);
  if (!(a.ratio > 0.0 && a.ratio <= 1.0)) return range_error("tomeBlock: expected ratio in (0, 1], received ", a.ratio);
  if (a.mode != TomeMode::kMhsa && a.mode != TomeMode::kMhsaMlp) return range_error("tomeBlock: unknown mode");
  const int64_t Tu = T - P0, gh = a.grid_h, gw = a.grid_w;
  if (!(gh == 0 && gw == 0) && (gh <= 0 || gw <= 0 || Tu % gw != 0 || Tu / gw != gh))  // division form: no overflow
    return range_error("tomeBlock: expected grid_h * grid_w = T - P0 = ", Tu, " (or both 0), received grid_h=", gh,
                       " grid_w=", gw);
  const int64_t m = tome_merge_count(Tu, a.ratio, gh, gw), Tm = T - m, M = B * Tm;

  // 1-2. matching, 3. plans
  std::vector<int32_t> dst;
  R4P_RETURN_IF_ERROR(match(a, m, &dst));
  std::vector<Plan> plans(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    build_plan(dst.data() + b * Tu, T, P0, Tm, &plans[b]);
    if (static_cast<int64_t>(plans[b].surv.size()) != Tm)
      return internal_error("tomeBlock: merged sequence has ", plans[b].surv.size(), " rows, expected ", Tm);
  }

  const bool mhsa_only = a.mode == TomeMode::kMhsa;
  const int64_t rows_mlp = mhsa_only ? B * T : M;
  Buffer xm = alloc_floats(M * D), zm = alloc_floats(M * D), t = alloc_floats(std::max(M, rows_mlp) * D),
         wide = alloc_floats(std::max(M * 3 * D, rows_mlp * F)), y = alloc_floats(mhsa_only ? B * T * D : M * D);
  if (!xm || !zm || !t || !wide || !y) return oom("the block scratch");

  // 3. x_m: destination first, then its sources in ascending token order, divided by the size
  parallel_for(M, std::max<int64_t>(1, 8192 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / Tm, jr = r % Tm;
      const Plan& p = plans[b];
      const float* xb = a.x + b * T * D;
      float* o = xm.get() + r * D;
      std::memcpy(o, xb + static_cast<int64_t>(p.surv[jr]) * D, static_cast<size_t>(D) * sizeof(float));
      const int32_t s0 = p.start[jr], s1 = p.start[jr + 1];
      if (s0 == s1) continue;
      for (int32_t s = s0; s < s1; ++s) {
        const float* src = xb + static_cast<int64_t>(p.srcs[s]) * D;
        for (int64_t d = 0; d < D; ++d) o[d] += src[d];
      }
      const float size = static_cast<float>(1 + (s1 - s0));
      for (int64_t d = 0; d < D; ++d) o[d] /= size;
    }
  });
  if (a.merge_map)
    for (int64_t b = 0; b < B; ++b) std::memcpy(a.merge_map + b * T, plans[b].j.data(), static_cast<size_t>(T) * sizeof(int32_t));

  // 4. attention on the merged tokens
  R4P_RETURN_IF_ERROR(attn_half(a, Tm, xm.get(), zm.get(), t.get(), wide.get()));

  // 5. MLP and unmerge
  if (mhsa_only) {
    unmerge(a, Tm, plans, zm.get(), xm.get(), y.get());  // y = z [B*T,D]
    R4P_RETURN_IF_ERROR(mlp_half(a, T, y.get(), a.out, t.get(), wide.get()));
  } else {
    R4P_RETURN_IF_ERROR(mlp_half(a, Tm, zm.get(), y.get(), t.get(), wide.get()));
    unmerge(a, Tm, plans, y.get(), xm.get(), a.out);
  }
  return Status::Ok();
}

}  // namespace

// x [B,T,D], weights (BlockWeights), P0, mode, ratio -> out [B,T,D] (+ merge_map [B,T]); out may alias x.
Status tome_block_fwd_avx2(const TomeBlockArgs& a) {
  try {
    return run(a);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "tomeBlock: out of memory for scratch buffers");
  }
}

}  // namespace r4p
