// gemm_avx2.cc: the internal single-precision GEMM (ops.h GemmArgs; the Linear layers of SPEC §2/§5
// prunedBlock) with AVX2/FMA and the thread pool.
//
// Structure (GotoBLAS/BLIS packing, simplified for ViT shapes where K <= a few thousand):
//   1. Pack B once, in parallel, into NR=16-wide column panels Bp[j][k][0..16) (k-major inside a
//      panel, zero-padded past N), reading B or B^T; the panels are shared read-only by all threads.
//   2. Output macro tiles (MC rows x NC columns) are split statically over the pool, in ic-major order.
//      A thread packs A's MC rows for the whole K into MR=6-tall row panels Ap[i][k][0..6) (reading A
//      or A^T, applying the a_rows gather, zero-padded past M) and reuses them across its column
//      blocks; for each 16-column B panel (L2-resident, reused MC/MR times) it walks the A panels.
//   3. The 6x16 micro-kernel keeps 12 ymm accumulators over the WHOLE K (no K blocking), so every
//      C element is one FMA chain over k = 0..K-1 in order, whatever the tiling or thread count:
//      results are bit-identical for any number of threads. Padding rows/columns are computed on
//      zeros and dropped.
//   4. The epilogue (alpha, beta*C_old, bias, activation, col_scale, residual via r_rows, store via
//      c_rows) runs once per tile right after its reduction, so partial sums never touch C: beta
//      reads C_old before the store, and residual may be C itself (each element reads its own
//      position only, then writes it).
// The K panels are L2-sized (a 16-column B panel is 64 KiB at K = 1024) and the FMA loop needs
// 88 bytes per 12 FMAs (6 cycles), well inside L2 bandwidth, so K blocking is not needed here.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <new>

#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {
namespace {

constexpr int64_t MR = 6, NR = 16;

struct AlignedFree {
  void operator()(float* p) const { ::operator delete[](p, std::align_val_t(64)); }
};
using Buf = std::unique_ptr<float[], AlignedFree>;
// Throws std::bad_alloc; callers catch it and return kOutOfMemory.
Buf alloc_floats(int64_t n) {
  return Buf(static_cast<float*>(::operator new[](static_cast<size_t>(n) * sizeof(float), std::align_val_t(64))));
}

// Bp panel j: Bp[(j*K + k)*NR + c] = B(k, j*NR + c), zeros for columns >= N.
void pack_b_panel(const GemmArgs& a, int64_t j, float* dst) {
  const int64_t n0 = j * NR, nr = std::min(NR, a.N - n0), K = a.K;
  if (!a.transB) {
    for (int64_t k = 0; k < K; ++k) {
      const float* src = a.B + k * a.ldb + n0;
      float* d = dst + k * NR;
      if (nr == NR) {
        _mm256_store_ps(d, _mm256_loadu_ps(src));
        _mm256_store_ps(d + 8, _mm256_loadu_ps(src + 8));
      } else {
        for (int64_t c = 0; c < nr; ++c) d[c] = src[c];
        for (int64_t c = nr; c < NR; ++c) d[c] = 0.f;
      }
    }
  } else {
    if (nr < NR) std::memset(dst, 0, static_cast<size_t>(K * NR) * sizeof(float));
    for (int64_t c = 0; c < nr; ++c) {
      const float* src = a.B + (n0 + c) * a.ldb;
      for (int64_t k = 0; k < K; ++k) dst[k * NR + c] = src[k];
    }
  }
}

// Ap panel: Ap[k*MR + r] = A(m0 + r, k), zeros for rows >= M.
void pack_a_panel(const GemmArgs& a, int64_t m0, float* dst) {
  const int64_t mr = std::min(MR, a.M - m0), K = a.K;
  if (a.transA) {
    for (int64_t k = 0; k < K; ++k) {
      const float* src = a.A + k * a.lda + m0;
      float* d = dst + k * MR;
      int64_t r = 0;
      for (; r < mr; ++r) d[r] = src[r];
      for (; r < MR; ++r) d[r] = 0.f;
    }
  } else {
    for (int64_t r = 0; r < MR; ++r) {
      if (r >= mr) {
        for (int64_t k = 0; k < K; ++k) dst[k * MR + r] = 0.f;
        continue;
      }
      const int64_t row = a.a_rows ? a.a_rows[m0 + r] : m0 + r;
      const float* src = a.A + row * a.lda;
      for (int64_t k = 0; k < K; ++k) dst[k * MR + r] = src[k];
    }
  }
}

// acc[r*NR + c] = sum_k Ap[k*MR + r] * Bp[k*NR + c], one FMA chain per element, k ascending.
// Inline asm: compilers spill some of the 12 accumulators when the k loop is unrolled (measured
// ~20% slower); here ymm4..15 hold C, ymm0/1 a row of B, ymm2/3 alternate broadcasts of A.
void micro_6x16(int64_t K, const float* Ap, const float* Bp, float* acc) {
  int64_t k4 = K / 4, kr = K % 4;
  __asm__ volatile(
      "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
      "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"
      "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"
      "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"
      "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"
      "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"
      "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"
      "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"
      "vxorps %%ymm12, %%ymm12, %%ymm12\n\t"
      "vxorps %%ymm13, %%ymm13, %%ymm13\n\t"
      "vxorps %%ymm14, %%ymm14, %%ymm14\n\t"
      "vxorps %%ymm15, %%ymm15, %%ymm15\n\t"
      "test %[k4], %[k4]\n\t"
      "jz 2f\n\t"
      "1:\n\t"
      "prefetcht0 1024(%[b])\n\t"
      "vmovaps 0(%[b]), %%ymm0\n\t"
      "vmovaps 32(%[b]), %%ymm1\n\t"
      "vbroadcastss 0(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm4\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm5\n\t"
      "vbroadcastss 4(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm6\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm7\n\t"
      "vbroadcastss 8(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm8\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm9\n\t"
      "vbroadcastss 12(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm10\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm11\n\t"
      "vbroadcastss 16(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm12\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm13\n\t"
      "vbroadcastss 20(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm14\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm15\n\t"
      "vmovaps 64(%[b]), %%ymm0\n\t"
      "vmovaps 96(%[b]), %%ymm1\n\t"
      "vbroadcastss 24(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm4\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm5\n\t"
      "vbroadcastss 28(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm6\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm7\n\t"
      "vbroadcastss 32(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm8\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm9\n\t"
      "vbroadcastss 36(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm10\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm11\n\t"
      "vbroadcastss 40(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm12\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm13\n\t"
      "vbroadcastss 44(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm14\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm15\n\t"
      "vmovaps 128(%[b]), %%ymm0\n\t"
      "vmovaps 160(%[b]), %%ymm1\n\t"
      "vbroadcastss 48(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm4\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm5\n\t"
      "vbroadcastss 52(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm6\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm7\n\t"
      "vbroadcastss 56(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm8\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm9\n\t"
      "vbroadcastss 60(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm10\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm11\n\t"
      "vbroadcastss 64(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm12\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm13\n\t"
      "vbroadcastss 68(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm14\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm15\n\t"
      "vmovaps 192(%[b]), %%ymm0\n\t"
      "vmovaps 224(%[b]), %%ymm1\n\t"
      "vbroadcastss 72(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm4\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm5\n\t"
      "vbroadcastss 76(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm6\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm7\n\t"
      "vbroadcastss 80(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm8\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm9\n\t"
      "vbroadcastss 84(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm10\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm11\n\t"
      "vbroadcastss 88(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm12\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm13\n\t"
      "vbroadcastss 92(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm14\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm15\n\t"
      "add $96, %[a]\n\t"
      "add $256, %[b]\n\t"
      "dec %[k4]\n\t"
      "jnz 1b\n\t"
      "2:\n\t"
      "test %[kr], %[kr]\n\t"
      "jz 4f\n\t"
      "3:\n\t"
      "vmovaps 0(%[b]), %%ymm0\n\t"
      "vmovaps 32(%[b]), %%ymm1\n\t"
      "vbroadcastss 0(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm4\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm5\n\t"
      "vbroadcastss 4(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm6\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm7\n\t"
      "vbroadcastss 8(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm8\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm9\n\t"
      "vbroadcastss 12(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm10\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm11\n\t"
      "vbroadcastss 16(%[a]), %%ymm2\n\t"
      "vfmadd231ps %%ymm0, %%ymm2, %%ymm12\n\t"
      "vfmadd231ps %%ymm1, %%ymm2, %%ymm13\n\t"
      "vbroadcastss 20(%[a]), %%ymm3\n\t"
      "vfmadd231ps %%ymm0, %%ymm3, %%ymm14\n\t"
      "vfmadd231ps %%ymm1, %%ymm3, %%ymm15\n\t"
      "add $24, %[a]\n\t"
      "add $64, %[b]\n\t"
      "dec %[kr]\n\t"
      "jnz 3b\n\t"
      "4:\n\t"
      "vmovaps %%ymm4, 0(%[c])\n\t"
      "vmovaps %%ymm5, 32(%[c])\n\t"
      "vmovaps %%ymm6, 64(%[c])\n\t"
      "vmovaps %%ymm7, 96(%[c])\n\t"
      "vmovaps %%ymm8, 128(%[c])\n\t"
      "vmovaps %%ymm9, 160(%[c])\n\t"
      "vmovaps %%ymm10, 192(%[c])\n\t"
      "vmovaps %%ymm11, 224(%[c])\n\t"
      "vmovaps %%ymm12, 256(%[c])\n\t"
      "vmovaps %%ymm13, 288(%[c])\n\t"
      "vmovaps %%ymm14, 320(%[c])\n\t"
      "vmovaps %%ymm15, 352(%[c])\n\t"
      "vzeroupper\n\t"
      : [a] "+r"(Ap), [b] "+r"(Bp), [k4] "+r"(k4), [kr] "+r"(kr)
      : [c] "r"(acc)
      : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

// Applies the epilogue to 8 (or `n` < 8, masked) columns starting at column n0 of row m.
inline void epilogue8(const GemmArgs& a, __m256 v, int64_t crow, int64_t rrow, int64_t n0, int n) {
  const bool full = n == 8;
  const __m256i mask = vec::tail_mask(n);
  auto load = [&](const float* p) { return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask); };
  float* c = a.C + crow * a.ldc + n0;
  v = _mm256_mul_ps(v, _mm256_set1_ps(a.alpha));
  if (a.beta != 0.f) v = _mm256_fmadd_ps(_mm256_set1_ps(a.beta), load(c), v);
  if (a.bias) v = _mm256_add_ps(v, load(a.bias + n0));
  if (a.act == Activation::kRelu) v = _mm256_max_ps(v, _mm256_setzero_ps());
  else if (a.act == Activation::kGelu) v = vec::gelu_ps(v);
  if (a.col_scale) v = _mm256_mul_ps(v, load(a.col_scale + n0));
  if (a.residual) v = _mm256_add_ps(v, load(a.residual + rrow * a.ldr + n0));
  if (full) _mm256_storeu_ps(c, v);
  else _mm256_maskstore_ps(c, mask, v);
}

// Writes the valid mr x nr corner of a 6x16 accumulator tile at (m0, n0).
void store_tile(const GemmArgs& a, const float* acc, int64_t m0, int64_t mr, int64_t n0, int64_t nr) {
  for (int64_t r = 0; r < mr; ++r) {
    const int64_t m = m0 + r;
    const int64_t crow = a.c_rows ? a.c_rows[m] : m;
    const int64_t rrow = a.r_rows ? a.r_rows[m] : m;
    for (int64_t c = 0; c < nr; c += 8)
      epilogue8(a, _mm256_load_ps(acc + r * NR + c), crow, rrow, n0 + c, static_cast<int>(std::min<int64_t>(8, nr - c)));
  }
}

}  // namespace

Status gemm_avx2(const GemmArgs& a) {
  if (a.M <= 0 || a.N <= 0) return Status::Ok();
  const int64_t K = a.K;
  const int64_t npanels = (a.N + NR - 1) / NR;
  const int64_t mpanels = (a.M + MR - 1) / MR;
  ThreadPool& pool = ThreadPool::instance();
  const int64_t flops = 2 * a.M * a.N * std::max<int64_t>(K, 1);
  // Below ~1 MFLOP a second thread costs more to wake than it saves.
  const int64_t max_tasks = flops < (1 << 20) ? 1 : pool.threads();

  Buf Bp;
  try {
    Bp = alloc_floats(npanels * std::max<int64_t>(K, 1) * NR);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "gemm: out of memory packing B");
  }
  pool.run(
      [&](int ith, int nth) {
        int64_t j0, j1;
        split_range(npanels, ith, nth, &j0, &j1);
        for (int64_t j = j0; j < j1; ++j) pack_b_panel(a, j, Bp.get() + j * K * NR);
      },
      std::min<int64_t>(max_tasks, npanels));

  // Macro tiles: MC rows (whole A panels) x NC columns (whole B panels). MC keeps the packed A block
  // (MC x K) in L2; NC is reduced only when there are too few tiles to keep every thread busy.
  const int64_t mc_panels = std::max<int64_t>(1, std::min<int64_t>(8, mpanels));
  const int64_t mblocks = (mpanels + mc_panels - 1) / mc_panels;
  int64_t nc_panels = npanels;
  while (nc_panels > 1 && mblocks * ((npanels + nc_panels - 1) / nc_panels) < 4 * max_tasks)
    nc_panels = (nc_panels + 1) / 2;
  const int64_t nblocks = (npanels + nc_panels - 1) / nc_panels;
  const int64_t tiles = mblocks * nblocks;

  std::atomic<bool> oom{false};
  pool.run(
      [&](int ith, int nth) {
        int64_t t0, t1;
        split_range(tiles, ith, nth, &t0, &t1);
        if (t0 == t1) return;
        Buf Ap;
        try {
          Ap = alloc_floats(mc_panels * std::max<int64_t>(K, 1) * MR);
        } catch (const std::bad_alloc&) {
          oom = true;
          return;
        }
        alignas(64) float acc[MR * NR];
        int64_t packed_mb = -1;
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t mb = t / nblocks, nb = t % nblocks;
          const int64_t p0 = mb * mc_panels, p1 = std::min(mpanels, p0 + mc_panels);
          if (mb != packed_mb) {
            for (int64_t p = p0; p < p1; ++p) pack_a_panel(a, p * MR, Ap.get() + (p - p0) * K * MR);
            packed_mb = mb;
          }
          const int64_t j0 = nb * nc_panels, j1 = std::min(npanels, j0 + nc_panels);
          for (int64_t j = j0; j < j1; ++j) {
            const float* bp = Bp.get() + j * K * NR;
            const int64_t n0 = j * NR, nr = std::min(NR, a.N - n0);
            for (int64_t p = p0; p < p1; ++p) {
              micro_6x16(K, Ap.get() + (p - p0) * K * MR, bp, acc);
              const int64_t m0 = p * MR;
              store_tile(a, acc, m0, std::min(MR, a.M - m0), n0, nr);
            }
          }
        }
      },
      std::min<int64_t>(max_tasks, tiles));
  if (oom) return Status::Make(StatusCode::kOutOfMemory, "gemm: out of memory packing A");
  return Status::Ok();
}

}  // namespace r4p
