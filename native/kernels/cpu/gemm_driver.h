// gemm_driver.h: the blocking, packing schedule, threading and scratch of the internal GEMM (ops.h
// GemmArgs), shared by gemm_avx2.cc and gemm_avx512.cc. The instruction-set-specific parts (panel
// packing, micro-kernel, epilogue) come in as a `Kern` traits type; everything here is plain C++.
// Include only from *_avx2.cc / *_avx512.cc files: the contents sit in an anonymous namespace, so each
// including file gets its own copy, compiled with that file's instruction-set flags (no ODR merging of
// an AVX-512 body into the AVX2 path).
//
// Structure (GotoBLAS/BLIS packing, simplified for ViT shapes where K <= a few thousand):
//   1. Pack B once, in parallel, into NR-wide column panels Bp[j][k][0..NR) (k-major inside a panel,
//      zero-padded past N), reading B or B^T; the panels are shared read-only by all threads. (Small M,
//      one row block: each thread packs its own tile's panels just before using them.) Packing and the
//      product run in one pool job: threads claim panels, then wait for the last one.
//   2. Output macro tiles (MC rows x NC columns), in ic-major order, are claimed dynamically in shrinking
//      chunks (guided scheduling), so a core slowed by another process does not hold the other one up.
//      A thread packs A's MC rows for the whole K into MR-tall row panels Ap[i][k][0..MR) (reading A or
//      A^T, applying the a_rows gather, zero-padded past M) and reuses them across its column blocks; per
//      K block, for each NR-column B micro-panel (L1-resident) it walks the A panels.
//   3. The MR x NR micro-kernel keeps the tile in registers; K is cut into blocks of <= Kern::KC so a B
//      micro-panel stays in L1, and between blocks the sums are parked in a per-thread buffer and reloaded
//      (exact: a float store and reload is lossless; with a single K block nothing is parked), so every C
//      element is one FMA chain over k = 0..K-1 in order, whatever the tiling or thread count: results
//      are bit-identical for any number of threads, and between kernels with the same chain (avx2 and
//      avx512). Padding rows/columns are computed on zeros and dropped.
//   4. The epilogue (alpha, beta*C_old, bias, activation, col_scale, residual via r_rows, store via
//      c_rows) runs once per tile right after its reduction, so partial sums never touch C: beta reads
//      C_old before the store, and residual may be C itself (each element reads its own position only).
// A "k row" of a panel is Kern::KPACK consecutive k (1 for FP32; 2 for BF16 pairs): panels hold
// krows = ceil(K / KPACK) rows of MR (A) or NR (B) 32-bit cells.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#include "kernels/ops.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"

namespace r4p {
namespace {

// The GemmArgs fields the epilogue reads, copied out so the compiler keeps them in registers (through
// a `const GemmArgs&` every store to C could alias them and forces reloads).
struct Epilogue {
  float* C;
  int64_t ldc;
  float alpha, beta;
  const float* bias;
  Activation act;
  const float* col_scale;
  const float* residual;
  int64_t ldr;
  const int32_t *c_rows, *r_rows;
  explicit Epilogue(const GemmArgs& a)
      : C(a.C), ldc(a.ldc), alpha(a.alpha), beta(a.beta), bias(a.bias), act(a.act), col_scale(a.col_scale),
        residual(a.residual), ldr(a.ldr), c_rows(a.c_rows), r_rows(a.r_rows) {}
};

// The packing buffers: a per-calling-thread scratch reused across calls (runtime/scratch.h).
thread_local ScratchBuffer tls_gemm_scratch;

// Guided self-scheduling: claims the next chunk of [0, total) (about 1/(2 nth) of what is left, at
// least one unit) and returns its start, or total when nothing is left. Which thread computes which
// unit changes nothing in the results (every unit writes its own outputs with a fixed k order); the
// dynamic claims only keep both cores busy when one of them is slowed by another process.
inline int64_t gemm_claim(std::atomic<int64_t>& next, int64_t total, int nth, int64_t* end) {
  int64_t cur = next.load(std::memory_order_relaxed);
  for (;;) {
    if (cur >= total) return total;
    const int64_t rem = total - cur;
    const int64_t chunk = std::min(rem, std::max<int64_t>(1, rem / (2 * nth)));
    if (next.compare_exchange_weak(cur, cur + chunk, std::memory_order_relaxed)) {
      *end = cur + chunk;
      return cur;
    }
  }
}

// Kern provides: MR, NR, KC (k rows per K block), KPACK; static pack_b_panel(a, j, dst) (krows x NR
// cells), pack_a_panel(a, m0, dst) (krows x MR cells), micro(krows, Ap, Bp, acc, load) (acc: MR x NR
// floats, row stride NR, continued from acc when load != 0), store_tile(epi, acc, m0, mr, n0, nr).
template <class Kern>
Status gemm_run(const GemmArgs& a) {
  constexpr int64_t MR = Kern::MR, NR = Kern::NR;
  if (a.M <= 0 || a.N <= 0) return Status::Ok();
  const int64_t K = a.K, Kr = std::max<int64_t>((K + Kern::KPACK - 1) / Kern::KPACK, 1);
  const int64_t npanels = (a.N + NR - 1) / NR;
  const int64_t mpanels = (a.M + MR - 1) / MR;
  ThreadPool& pool = ThreadPool::instance();
  const int64_t flops = 2 * a.M * a.N * std::max<int64_t>(K, 1);
  // Below ~1 MFLOP a second thread costs more to wake than it saves.
  const int64_t max_tasks = flops < (1 << 20) ? 1 : pool.threads();

  // K blocks of at most KC k rows so a B micro-panel stays in L1 while the A panels of the block stream
  // past it; sums run on across blocks through the parked buffer (see Kern::micro).
  const int64_t kblocks = std::max<int64_t>(1, (Kr + Kern::KC - 1) / Kern::KC);
  const int64_t kc = (Kr + kblocks - 1) / kblocks;

  // Macro tiles: MC rows (whole A panels) x NC columns (whole B panels). The packed A block (MC x K)
  // stays in L2 while the tile's B panels stream past it. NC is at most kNcCols columns (evenly split):
  // with several K blocks the running sums of a tile (MC x NC) are parked between blocks and stay in
  // L2, and tiles of a few hundred microseconds let the dynamic claims end both threads close together.
  // NC is halved when there are too few tiles to keep every thread busy. Up to kSmallRows rows form one
  // row block: the pack-B-per-tile path below.
  constexpr int64_t kMcRows = 48, kNcCols = 512, kSmallRows = 96;
  const int64_t mc_panels = mpanels * MR <= kSmallRows ? mpanels : std::max<int64_t>(1, kMcRows / MR);
  const int64_t mblocks = (mpanels + mc_panels - 1) / mc_panels;
  const int64_t nc_max = std::max<int64_t>(1, kNcCols / NR);
  const int64_t ncuts = (npanels + nc_max - 1) / nc_max;
  int64_t nc_panels = (npanels + ncuts - 1) / ncuts;
  while (nc_panels > 1 && mblocks * ((npanels + nc_panels - 1) / nc_panels) < 4 * max_tasks)
    nc_panels = (nc_panels + 1) / 2;
  const int64_t nblocks = (npanels + nc_panels - 1) / nc_panels;
  const int64_t tiles = mblocks * nblocks;

  // B is packed once into shared panels when several row blocks reuse it; with a single row block
  // (small M) each B panel is used by one tile only, so the tile's thread packs it right before use
  // (no separate pass, and the panel is still in L1/L2 when the micro-kernel reads it). A matching
  // pre-packed B (PackedB) replaces both: its panels are read in place.
  const PackedB* pb = a.packed_b;
  const bool prepacked = pb != nullptr && pb->kernel == Kern::ID && pb->N == a.N && pb->K == a.K && pb->transB == a.transB;
  const bool shared_b = mblocks > 1 && !prepacked;
  const int nth_max = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({max_tasks, tiles, pool.threads()})));

  // All scratch comes from one block allocated before any thread starts, so that running out of
  // memory leaves C untouched (it may be the residual of an in-place call). Offsets are multiples of
  // 16 floats (64 B). Per thread: the A block, the parked sums (or one tile with a single K block), and
  // on the small-M path its B panels.
  auto round16 = [](int64_t n) { return (n + 15) / 16 * 16; };
  const int64_t bp_floats = shared_b ? round16(npanels * Kr * NR) : 0;
  const int64_t ap_floats = round16(mc_panels * Kr * MR);
  const int64_t sm_floats = round16(kblocks == 1 ? MR * NR : mc_panels * nc_panels * MR * NR);
  const int64_t bt_floats = shared_b || prepacked ? 0 : round16(nc_panels * Kr * NR);
  const int64_t per_thread = ap_floats + sm_floats + bt_floats;
  float* const base = tls_gemm_scratch.get(static_cast<size_t>(bp_floats + nth_max * per_thread));
  if (base == nullptr) return Status::Make(StatusCode::kOutOfMemory, "gemm: out of memory for the packing buffers");
  const float* const Bp = prepacked ? pb->panels : base;

  const Epilogue epi(a);
  std::atomic<int64_t> next_b{0}, done_b{0}, next_tile{0};
  pool.run(
      [&](int ith, int nth) {
        if (shared_b) {
          // Pack B (panels claimed one at a time), then wait until every claimed panel is written.
          for (int64_t j; (j = next_b.fetch_add(1, std::memory_order_relaxed)) < npanels;) {
            Kern::pack_b_panel(a, j, base + j * Kr * NR);
            done_b.fetch_add(1, std::memory_order_release);
          }
          for (int spins = 0; done_b.load(std::memory_order_acquire) < npanels; ++spins) {
            if (spins < 64) _mm_pause();
            else std::this_thread::yield();
          }
        }
        float* const ap = base + bp_floats + ith * per_thread;
        float* const sm = ap + ap_floats;
        float* const bt = sm + sm_floats;
        int64_t packed_mb = -1;
        for (;;) {
          int64_t t1 = 0;
          const int64_t t0 = gemm_claim(next_tile, tiles, nth, &t1);
          if (t0 >= tiles) break;
          for (int64_t t = t0; t < t1; ++t) {
            const int64_t mb = t / nblocks, nb = t % nblocks;
            const int64_t p0 = mb * mc_panels, p1 = std::min(mpanels, p0 + mc_panels);
            if (mb != packed_mb) {
              for (int64_t p = p0; p < p1; ++p) Kern::pack_a_panel(a, p * MR, ap + (p - p0) * Kr * MR);
              packed_mb = mb;
            }
            const int64_t j0 = nb * nc_panels, j1 = std::min(npanels, j0 + nc_panels);
            if (!shared_b && !prepacked)
              for (int64_t j = j0; j < j1; ++j) Kern::pack_b_panel(a, j, bt + (j - j0) * Kr * NR);
            const float* bbase = shared_b || prepacked ? Bp + j0 * Kr * NR : bt;
            for (int64_t k0 = 0; k0 < Kr; k0 += kc) {
              const int64_t klen = std::min(kc, Kr - k0);
              const bool last = k0 + klen >= Kr;
              for (int64_t j = j0; j < j1; ++j) {
                const float* bp = bbase + ((j - j0) * Kr + k0) * NR;
                const int64_t n0 = j * NR, nr = std::min(NR, a.N - n0);
                for (int64_t p = p0; p < p1; ++p) {
                  float* acc = kblocks == 1 ? sm : sm + ((j - j0) * mc_panels + (p - p0)) * MR * NR;
                  Kern::micro(K == 0 ? 0 : klen, ap + ((p - p0) * Kr + k0) * MR, bp, acc, k0 > 0);
                  const int64_t m0 = p * MR;
                  if (last) Kern::store_tile(epi, acc, m0, std::min(MR, a.M - m0), n0, nr);
                }
              }
            }
          }
        }
      },
      nth_max);
  tls_gemm_scratch.trim();
  return Status::Ok();
}

// Packs all of B (npanels panels of krows x NR cells, panel j at j * krows * NR) for a PackedB.
template <class Kern>
void gemm_pack_b_all(const GemmArgs& a, float* dst) {
  const int64_t Kr = std::max<int64_t>((a.K + Kern::KPACK - 1) / Kern::KPACK, 1);
  const int64_t npanels = (a.N + Kern::NR - 1) / Kern::NR;
  parallel_for(npanels, 1, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) Kern::pack_b_panel(a, j, dst + j * Kr * Kern::NR);
  });
}

template <class Kern>
int64_t gemm_packed_floats(int64_t N, int64_t K) {
  return ((N + Kern::NR - 1) / Kern::NR) * std::max<int64_t>((K + Kern::KPACK - 1) / Kern::KPACK, 1) * Kern::NR;
}

}  // namespace
}  // namespace r4p
