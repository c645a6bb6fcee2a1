// pruned_block_avx2.cc: SPEC §5 prunedBlock, the fused gather–attention–scatter ViT block (numerics §2).
//   x [B,N,D], idx [B,K] (null = all N tokens, K = N) -> out [B,N,D] (may alias x)
//   z = X + ls1 * proj(MHSA(LN1(X))),  y = z + ls2 * fc2(GELU(fc1(LN2(z)))),  out[b, idx[b,k]] = y[b,k]
//   with X = x[b, idx[b,:]].
//
// Phases (scratch is [B*K, ...] row-major, "wide" holds qkv [B*K,3D] and later the MLP hidden [B*K,F]):
//   1. LN1      reads x[b, idx[b,k]] directly: the gather is fused into LayerNorm's read -> t [B*K,D]
//   2. QKV      gemm t W_qkv^T + b_qkv -> wide [B*K,3D]
//   3. MHSA     attention_core over an even split of the B*H*K (b, head, query row) rows, K/V packed once
//               per head per thread; q/k/v are strided column slices of wide (ld = 3D), online softmax,
//               no K x K matrix -> t [B*K,D] (t is free again)
//   4. proj     ONE gemm per batch row: z = x[idx] + ls1 * (t W_proj^T + b_proj); the residual is read
//               from x through r_rows = idx, so no gathered copy of X exists
//   5. LN2      z -> t
//   6. fc1      gemm + bias + exact GELU -> wide [B*K,F]
//   7. fc2      gemm per batch row: out[b, idx[b,k]] = z + ls2 * (wide W_fc2^T + b_fc2); the scatter is
//               fused into the residual write (c_rows = idx).
// Variable length (a.offsets, ops.h): batch row b owns the packed scratch rows [offsets[b], offsets[b+1]);
// phases 1, 2, 5, 6 run over all M = offsets[B] rows at once, attention runs per (b, head) over that row's
// K_b tokens only (no padding: the B*H*K row split becomes one over sum_b H*K_b rows), phases 4 and 7 per b.
// In-place (out == x) is safe: x's rows idx are read only in phases 1 and 4, and phase 7, the only
// writer, runs after both; its residual is z, not x. Rows not in idx are untouched in place and
// copied once (only those rows) otherwise.
// Numerics: LayerNorm two-pass mean / variance in float, 8-lane partial sums reduced in a fixed
// order; GEMM and attention reduce in fixed orders too, and every output row is owned by one task,
// so the result does not depend on the thread count.
// REG4PRU_PROFILE=1 prints each phase's wall time to stderr, and the attention phase's CPU time per thread
// (checked once; free when off).
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "kernels/cpu/attention_core.h"
#include "kernels/cpu/layer_norm_avx2.h"
#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/ops.h"
#include "kernels/registry.h"
#include "runtime/profile.h"
#include "runtime/scratch.h"
#include "runtime/stealing_ranges.h"
#include "runtime/thread_pool.h"

namespace r4p {
namespace {

// Phase timer (REG4PRU_PROFILE): wall time per phase, plus each attention thread's CPU time.
struct PhaseTimer : PhaseClock<8> {
  std::vector<double> attn_cpu_ms;  // per attention thread
  void report(const PrunedBlockArgs& a) const {
    if (!on) return;
    static const char* const names[8] = {"copy", "LN1", "QKV", "attn", "proj", "LN2", "fc1", "fc2"};
    char title[160];
    std::snprintf(title, sizeof title, "[reg4pru prunedBlock B=%lld N=%lld K=%lld D=%lld H=%lld F=%lld threads=%d]",
                  (long long)a.B, (long long)a.N, (long long)a.K, (long long)a.w.D, (long long)a.w.H, (long long)a.w.F,
                  ThreadPool::instance().threads());
    PhaseClock<8>::report(title, names);
    std::fprintf(stderr, "[reg4pru prunedBlock] attn thread cpu ms:");
    for (double v : attn_cpu_ms) std::fprintf(stderr, " %.2f", v);
    std::fprintf(stderr, "\n");
  }
};

// out = x on the rows not in idx (out != x). Rows in idx are written by fc2.
void copy_untouched_rows(const PrunedBlockArgs& a, int64_t D) {
  const int64_t N = a.N;
  std::vector<uint8_t> hit(static_cast<size_t>(a.B * N), 0);
  for (int64_t b = 0; b < a.B; ++b) {
    const int32_t* row = a.idx + pruned_block_row_start(a, b);
    for (int64_t k = 0, K = pruned_block_row_len(a, b); k < K; ++k) hit[b * N + row[k]] = 1;
  }
  const size_t row_bytes = static_cast<size_t>(D) * sizeof(float);
  parallel_for(a.B * N, std::max<int64_t>(1, 16384 / std::max<int64_t>(D, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      if (!hit[r]) std::memcpy(a.out + r * D, a.x + r * D, row_bytes);
  });
}

// The batch row owning packed scratch row r (r < M): r / K, or the varlen segment holding r.
int64_t row_batch(const PrunedBlockArgs& a, int64_t r) {
  if (!a.offsets) return r / a.K;
  return (std::upper_bound(a.offsets + 1, a.offsets + a.B + 1, static_cast<int32_t>(r)) - (a.offsets + 1));
}

Status run(const PrunedBlockArgs& a) {
  const BlockWeights& w = a.w;
  const int64_t B = a.B, N = a.N, D = w.D, H = w.H, F = w.F;
  if (H <= 0 || D % H != 0) return range_error("prunedBlock: D must be a multiple of H, received D=", D, " H=", H);
  if (!a.idx && a.K != N) return range_error("prunedBlock: idx = null requires K = N, received K=", a.K, " N=", N);
  if (a.offsets && !a.idx) return range_error("prunedBlock: offsets (variable length) require idx");
  // K: the longest row (sizes the attention scratch); M: packed rows of every batch row.
  int64_t K = a.K, M = B * a.K;
  if (a.offsets) {
    K = 0;
    for (int64_t b = 0; b < B; ++b) K = std::max(K, pruned_block_row_len(a, b));
    M = a.offsets[B];
  }
  if (M == 0) {  // varlen with no tokens at all: out = x
    if (a.out != a.x) std::memcpy(a.out, a.x, static_cast<size_t>(B * N * D) * sizeof(float));
    return Status::Ok();
  }
  const int64_t Dh = D / H, W = std::max<int64_t>(3 * D, F);
  PhaseTimer timer;

  // All scratch from one per-calling-thread buffer, reused by the next call (runtime/scratch.h): t, z, wide,
  // then per pool thread the attention core's scratch and packed K/V.
  AttentionCoreArgs proto;
  proto.ldq = proto.ldk = proto.ldv = 3 * D;
  proto.ldo = D;
  proto.Nq = K; proto.Nk = K; proto.Dh = Dh;
  proto.scale = 1.f / std::sqrt(static_cast<float>(Dh));
  const auto round16 = [](size_t n) { return (n + 15) / 16 * 16; };
  const size_t scratch_floats = round16(attention_core_scratch_floats(proto));
  const size_t packed_floats = round16(attention_core_packed_floats(proto));
  const int nth_attn = std::max(1, static_cast<int>(std::min<int64_t>(ThreadPool::instance().threads(), (H * M + 191) / 192)));
  const size_t md = round16(static_cast<size_t>(M * D)), mw = round16(static_cast<size_t>(M * W));
  thread_local ScratchBuffer tls_block(size_t{256} << 20);
  float* const arena = tls_block.get(2 * md + mw + nth_attn * (scratch_floats + packed_floats));
  if (arena == nullptr)
    return Status::Make(StatusCode::kOutOfMemory, detail::concat("prunedBlock: out of memory for scratch (",
                                                                 ((2 * md + mw + nth_attn * (scratch_floats + packed_floats)) * 4) >> 20, " MiB)"));
  struct View {
    float* p;
    float* get() const { return p; }
  };
  const View t{arena}, z{arena + md}, wide{arena + 2 * md};
  float* const attn_base = arena + 2 * md + mw;

  // 0. rows that the block does not touch (idx == null: every row is touched)
  if (a.out != a.x && a.idx) copy_untouched_rows(a, D);
  timer.lap(0);

  // 1. gather fused into LN1
  layer_norm_rows(
      M, D,
      [&](int64_t r) {
        const int64_t b = row_batch(a, r);
        const int64_t n = a.idx ? a.idx[r] : r - b * K;
        return a.x + (b * N + n) * D;
      },
      t.get(), w.norm1_w, w.norm1_b, a.ln_eps);
  timer.lap(1);

  // 2. qkv [M,3D] = t W_qkv^T + b_qkv
  {
    GemmArgs g;
    g.M = M; g.N = 3 * D; g.K = D;
    g.A = t.get(); g.lda = D;
    g.B = w.qkv_w; g.ldb = D; g.transB = true; g.packed_b = w.qkv_p;
    g.C = wide.get(); g.ldc = 3 * D;
    g.bias = w.qkv_b;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  timer.lap(2);

  // 3. attention over (b, head, query row) -> t [M,D], head h in columns [h*Dh, (h+1)*Dh).
  // The H*M rows (batch row b's segment [H*start_b, H*(start_b + K_b)), head-major inside) are split
  // evenly into one contiguous range per thread (a head's cost is the same for every row of a batch row),
  // taken in chunks of <= rb rows from its front; a thread done with its own range takes chunks of <= rs rows
  // from the back of another's (runtime/stealing_ranges.h): the two halves finished 0.3-0.6 ms apart per block
  // on the dev VM. Chunks stay inside one head; a thread packs a head's K/V when it enters the head. The core's
  // result per row does not depend on the chunking or on the thread.
  {
    const int64_t rb = 192, rs = 48;  // rows per core call (one super-block of the core); rows per stolen chunk
    const int64_t rows_total = H * M;
    if (!StealingRanges::fits(rows_total))
      return Status::Make(StatusCode::kRangeError, detail::concat("prunedBlock: ", rows_total, " attention rows (heads x tokens) exceed 2^31"));
    proto.q = wide.get(); proto.k = wide.get() + D; proto.v = wide.get() + 2 * D; proto.out = t.get();
    const AttnKernel attn_kernel = attention_core_kernel();  // on this thread: it knows the matmul precision
    const int nth = nth_attn;
    if (timer.on) timer.attn_cpu_ms.assign(nth, 0.0);
    // The head segment [s0, s1) of attention row g.
    const auto head_of = [&](int64_t g, int64_t* s0, int64_t* s1) {
      const int64_t b = row_batch(a, g / H), start = pruned_block_row_start(a, b), Kb = pruned_block_row_len(a, b);
      *s0 = H * start + (g - H * start) / Kb * Kb;
      *s1 = *s0 + Kb;
    };
    StealingRanges ranges(rows_total, nth);
    ThreadPool::instance().run(
        [&](int ith, int) {
          float* s = attn_base + ith * (scratch_floats + packed_floats);
          float* pk = s + scratch_floats;
          int64_t packed_bh = -1;
          const double cpu0 = timer.on ? thread_cpu_ms() : 0.0;
          for (int64_t g0, g1; ranges.next(ith, rb, rs, head_of, &g0, &g1);) {
            const int64_t b = row_batch(a, g0 / H), start = pruned_block_row_start(a, b), Kb = pruned_block_row_len(a, b);
            const int64_t local = g0 - H * start, hd = local / Kb;
            const int64_t bh = b * H + hd, i0 = local % Kb, i1 = i0 + (g1 - g0);
            AttentionCoreArgs c = proto;
            c.Nq = c.Nk = Kb;
            const int64_t off = start * 3 * D + hd * Dh;
            c.q = wide.get() + off;
            c.k = wide.get() + off + D;
            c.v = wide.get() + off + 2 * D;
            c.out = t.get() + start * D + hd * Dh;
            if (bh != packed_bh) {
              attention_core_pack(attn_kernel, c, pk);
              packed_bh = bh;
            }
            attention_core_rows_packed(attn_kernel, c, pk, i0, i1, s);
          }
          if (timer.on) timer.attn_cpu_ms[ith] = thread_cpu_ms() - cpu0;
        },
        nth);
  }
  timer.lap(3);

  // 4. z = x[idx] + ls1 * (t W_proj^T + b_proj), residual read through r_rows (one gemm per batch row)
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = pruned_block_row_start(a, b), Kb = pruned_block_row_len(a, b);
    if (Kb == 0) continue;
    GemmArgs g;
    g.M = Kb; g.N = D; g.K = D;
    g.A = t.get() + start * D; g.lda = D;
    g.B = w.proj_w; g.ldb = D; g.transB = true; g.packed_b = w.proj_p;
    g.C = z.get() + start * D; g.ldc = D;
    g.bias = w.proj_b;
    g.col_scale = w.ls1;
    g.residual = a.x + b * N * D; g.ldr = D; g.r_rows = a.idx ? a.idx + start : nullptr;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  timer.lap(4);

  // 5. LN2 on z
  layer_norm_rows(M, D, [&](int64_t r) { return z.get() + r * D; }, t.get(), w.norm2_w, w.norm2_b, a.ln_eps);
  timer.lap(5);

  // 6. hidden [M,F] = GELU(t W_fc1^T + b_fc1) (qkv in `wide` is dead since phase 3)
  {
    GemmArgs g;
    g.M = M; g.N = F; g.K = D;
    g.A = t.get(); g.lda = D;
    g.B = w.fc1_w; g.ldb = D; g.transB = true; g.packed_b = w.fc1_p;
    g.C = wide.get(); g.ldc = F;
    g.bias = w.fc1_b;
    g.act = Activation::kGelu;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  timer.lap(6);

  // 7. out[b, idx] = z + ls2 * (hidden W_fc2^T + b_fc2): scatter fused into the residual write
  for (int64_t b = 0; b < B; ++b) {
    const int64_t start = pruned_block_row_start(a, b), Kb = pruned_block_row_len(a, b);
    if (Kb == 0) continue;
    GemmArgs g;
    g.M = Kb; g.N = D; g.K = F;
    g.A = wide.get() + start * F; g.lda = F;
    g.B = w.fc2_w; g.ldb = F; g.transB = true; g.packed_b = w.fc2_p;
    g.C = a.out + b * N * D; g.ldc = D; g.c_rows = a.idx ? a.idx + start : nullptr;
    g.bias = w.fc2_b;
    g.col_scale = w.ls2;
    g.residual = z.get() + start * D; g.ldr = D;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  timer.lap(7);
  timer.report(a);
  return Status::Ok();
}

}  // namespace

// x [B,N,D], idx [B,K] | null (or packed [offsets[B]] with offsets [B+1]), weights -> out [B,N,D]; out may alias x.
Status pruned_block_fwd_avx2(const PrunedBlockArgs& a) {
  try {
    return run(a);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "prunedBlock: out of memory for scratch buffers");
  }
}

}  // namespace r4p
