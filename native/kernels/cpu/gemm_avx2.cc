// gemm_avx2.cc: the internal single-precision GEMM (ops.h GemmArgs; the Linear layers of SPEC §2/§5
// prunedBlock) with AVX2/FMA and the thread pool.
//
// Structure (GotoBLAS/BLIS packing, simplified for ViT shapes where K <= a few thousand):
//   1. Pack B once, in parallel, into NR=16-wide column panels Bp[j][k][0..16) (k-major inside a
//      panel, zero-padded past N), reading B or B^T; the panels are shared read-only by all threads.
//      (Small M, one row block: each thread packs its own tile's panels just before using them.)
//      Packing and the product run in one pool job: threads claim panels, then wait for the last one.
//   2. Output macro tiles (MC rows x NC columns), in ic-major order, are claimed dynamically in
//      shrinking chunks (guided scheduling), so a core slowed by another process does not hold the
//      other one up. A thread packs A's MC rows for the whole K into MR=6-tall row panels
//      Ap[i][k][0..6) (reading A or A^T, applying the a_rows gather, zero-padded past M) and reuses
//      them across its column blocks; per K block, for each 16-column B micro-panel (L1-resident) it
//      walks the A panels.
//   3. The 6x16 micro-kernel keeps 12 ymm accumulators; K is cut into blocks of <= 384 so a B
//      micro-panel stays in L1, and between blocks the sums are parked in a per-thread buffer and
//      reloaded (exact; with a single K block nothing is parked, the tile goes straight to the
//      epilogue), so every C element is still one FMA chain over k = 0..K-1 in order, whatever
//      the tiling or thread count: results are bit-identical for any number of threads. Padding
//      rows/columns are computed on zeros and dropped.
//   4. The epilogue (alpha, beta*C_old, bias, activation, col_scale, residual via r_rows, store via
//      c_rows) runs once per tile right after its reduction, so partial sums never touch C: beta
//      reads C_old before the store, and residual may be C itself (each element reads its own
//      position only, then writes it).
// B is packed once for all K (ViT K is <= a few thousand); A is packed per MC block for all K. The
// packing buffers are a per-calling-thread cache reused across calls (see Scratch).
#include <immintrin.h>

#if defined(__linux__)
#include <sys/mman.h>  // madvise(MADV_HUGEPAGE)
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "kernels/cpu/gemm_avx2.h"
#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {
namespace {

constexpr int64_t MR = 6, NR = 16;

// In-place 8x8 transpose of r[0..8) (rows become columns).
inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
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
    // B^T: 8 columns x 8 k at a time through an in-register transpose, so both the reads (8 rows of
    // B) and the writes (8 rows of the panel) are whole vectors; a scalar column-at-a-time copy
    // writes one float per 64-byte line and was ~15% of a 1024^3 GEMM.
    if (nr < NR) std::memset(dst, 0, static_cast<size_t>(K * NR) * sizeof(float));
    int64_t c0 = 0;
    for (; c0 + 8 <= nr; c0 += 8) {
      const float* src = a.B + (n0 + c0) * a.ldb;
      int64_t k = 0;
      for (; k + 8 <= K; k += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * a.ldb + k);
        transpose8(r);
        for (int i = 0; i < 8; ++i) _mm256_store_ps(dst + (k + i) * NR + c0, r[i]);
      }
      for (; k < K; ++k)
        for (int i = 0; i < 8; ++i) dst[k * NR + c0 + i] = src[i * a.ldb + k];
    }
    for (int64_t c = c0; c < nr; ++c) {
      const float* src = a.B + (n0 + c) * a.ldb;
      for (int64_t k = 0; k < K; ++k) dst[k * NR + c] = src[k];
    }
  }
}

// Stores the first 6 lanes of v at d (unaligned).
inline void store6(float* d, __m256 v) {
  _mm_storeu_ps(d, _mm256_castps256_ps128(v));
  _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm256_extractf128_ps(v, 1));
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
    // Six row pointers (the a_rows gather), then 8 k at a time through an in-register transpose:
    // whole-vector reads of each row instead of one strided scalar write per element.
    const float* src[MR];
    for (int64_t r = 0; r < MR; ++r) src[r] = r < mr ? a.A + (a.a_rows ? a.a_rows[m0 + r] : m0 + r) * a.lda : nullptr;
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
      __m256 v[8];
      for (int64_t r = 0; r < MR; ++r) v[r] = r < mr ? _mm256_loadu_ps(src[r] + k) : _mm256_setzero_ps();
      v[6] = v[7] = _mm256_setzero_ps();
      transpose8(v);
      for (int i = 0; i < 8; ++i) store6(dst + (k + i) * MR, v[i]);
    }
    for (; k < K; ++k)
      for (int64_t r = 0; r < MR; ++r) dst[k * MR + r] = r < mr ? src[r][k] : 0.f;
  }
}

// acc[r*NR + c] (+)= sum_k Ap[k*MR + r] * Bp[k*NR + c], one FMA chain per element, k ascending; with
// load != 0 the chain continues from the sums already in acc (exactly: a float store and reload is
// lossless), so K blocks chained this way give the same bits as one pass over K.
// Inline asm: compilers spill some of the 12 accumulators when the k loop is unrolled (measured
// ~20% slower); here ymm4..15 hold C, ymm0/1 a row of B, ymm2/3 alternate broadcasts of A.
void micro_6x16(int64_t K, const float* Ap, const float* Bp, float* acc, int64_t load) {
  int64_t k4 = K / 4, kr = K % 4;
  __asm__ volatile(
      "test %[ld], %[ld]\n\t"
      "jz 5f\n\t"
      "vmovaps 0(%[c]), %%ymm4\n\t"
      "vmovaps 32(%[c]), %%ymm5\n\t"
      "vmovaps 64(%[c]), %%ymm6\n\t"
      "vmovaps 96(%[c]), %%ymm7\n\t"
      "vmovaps 128(%[c]), %%ymm8\n\t"
      "vmovaps 160(%[c]), %%ymm9\n\t"
      "vmovaps 192(%[c]), %%ymm10\n\t"
      "vmovaps 224(%[c]), %%ymm11\n\t"
      "vmovaps 256(%[c]), %%ymm12\n\t"
      "vmovaps 288(%[c]), %%ymm13\n\t"
      "vmovaps 320(%[c]), %%ymm14\n\t"
      "vmovaps 352(%[c]), %%ymm15\n\t"
      "jmp 6f\n\t"
      "5:\n\t"
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
      "6:\n\t"
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
      : [c] "r"(acc), [ld] "r"(load)
      : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

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

// Applies the epilogue to 8 (or n < 8, masked) columns from n0 of the mr valid rows of a 6x16 tile
// (acc row stride NR) at rows m0..: alpha, + beta*C_old, + bias, activation, * col_scale, + residual,
// store. Stage by stage over the six rows, so the six rows' GELU chains (a division and two
// polynomials deep) are independent work the core overlaps, instead of one long chain per branchy call.
inline void epilogue_cols(const Epilogue& e, const float* acc, int64_t m0, int64_t mr, int64_t n0, int n) {
  const bool full = n == 8;
  const __m256i mask = vec::tail_mask(n);
  auto load = [&](const float* p) { return full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask); };
  float* c[MR];
  for (int64_t r = 0; r < mr; ++r) c[r] = e.C + (e.c_rows ? e.c_rows[m0 + r] : m0 + r) * e.ldc + n0;
  __m256 v[MR];
  const __m256 alpha = _mm256_set1_ps(e.alpha);
  for (int r = 0; r < MR; ++r) v[r] = _mm256_mul_ps(_mm256_load_ps(acc + r * NR), alpha);
  if (e.beta != 0.f) {
    const __m256 beta = _mm256_set1_ps(e.beta);
    for (int64_t r = 0; r < mr; ++r) v[r] = _mm256_fmadd_ps(beta, load(c[r]), v[r]);
  }
  if (e.bias) {
    const __m256 b = load(e.bias + n0);
    for (int r = 0; r < MR; ++r) v[r] = _mm256_add_ps(v[r], b);
  }
  if (e.act == Activation::kRelu) {
    for (int r = 0; r < MR; ++r) v[r] = _mm256_max_ps(v[r], _mm256_setzero_ps());
  } else if (e.act == Activation::kGelu) {
    for (int r = 0; r < MR; ++r) v[r] = vec::gelu_ps(v[r]);
  }
  if (e.col_scale) {
    const __m256 s = load(e.col_scale + n0);
    for (int r = 0; r < MR; ++r) v[r] = _mm256_mul_ps(v[r], s);
  }
  if (e.residual)
    for (int64_t r = 0; r < mr; ++r)
      v[r] = _mm256_add_ps(v[r], load(e.residual + (e.r_rows ? e.r_rows[m0 + r] : m0 + r) * e.ldr + n0));
  for (int64_t r = 0; r < mr; ++r) {
    if (full) _mm256_storeu_ps(c[r], v[r]);
    else _mm256_maskstore_ps(c[r], mask, v[r]);
  }
}

// Writes the valid mr x nr corner of a 6x16 accumulator tile at (m0, n0). Rows past mr are computed
// on the zero-padding and dropped (fixed-length loops vectorise the stages).
inline void store_tile(const Epilogue& e, const float* acc, int64_t m0, int64_t mr, int64_t n0, int64_t nr) {
  for (int64_t c = 0; c < nr; c += 8) epilogue_cols(e, acc + c, m0, mr, n0 + c, static_cast<int>(std::min<int64_t>(8, nr - c)));
}

// Grow-only 64-byte aligned scratch owned by the calling thread (pool workers get pointers into it):
// back-to-back GEMMs (a block runs four, a training step hundreds) neither allocate nor page-fault
// their packing buffers. Blocks of 2 MiB and more are 2 MiB aligned and advised for transparent huge
// pages, so the packed B panels the micro-kernel streams cost few TLB entries.
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  // nullptr when out of memory (the previous block is released first).
  float* get(size_t n) {
    if (n <= cap_) return p_;
    release();
    size_t bytes = n * sizeof(float);
    const size_t align = bytes >= kHuge ? kHuge : 64;
    bytes = (bytes + align - 1) / align * align;
    void* q = nullptr;
    if (posix_memalign(&q, align, bytes) != 0) return nullptr;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == kHuge) madvise(q, bytes, MADV_HUGEPAGE);
#endif
    p_ = static_cast<float*>(q);
    cap_ = bytes / sizeof(float);
    return p_;
  }
  // Keeps at most kKeep bytes between calls (a one-off huge GEMM does not pin its buffers).
  void trim() {
    if (cap_ * sizeof(float) > kKeep) release();
  }

 private:
  static constexpr size_t kHuge = size_t{2} << 20, kKeep = size_t{64} << 20;
  void release() {
    std::free(p_);
    p_ = nullptr;
    cap_ = 0;
  }
  float* p_ = nullptr;
  size_t cap_ = 0;
};
thread_local Scratch tls_scratch;

// Guided self-scheduling: claims the next chunk of [0, total) (about 1/(2 nth) of what is left, at
// least one unit) and returns its start, or total when nothing is left. Which thread computes which
// unit changes nothing in the results (every unit writes its own outputs with a fixed k order); the
// dynamic claims only keep both cores busy when one of them is slowed by another process.
int64_t claim(std::atomic<int64_t>& next, int64_t total, int nth, int64_t* end) {
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

}  // namespace

Status gemm_avx2(const GemmArgs& a) {
  if (a.M <= 0 || a.N <= 0) return Status::Ok();
  const int64_t K = a.K, Kp = std::max<int64_t>(K, 1);
  const int64_t npanels = (a.N + NR - 1) / NR;
  const int64_t mpanels = (a.M + MR - 1) / MR;
  ThreadPool& pool = ThreadPool::instance();
  const int64_t flops = 2 * a.M * a.N * Kp;
  // Below ~1 MFLOP a second thread costs more to wake than it saves.
  const int64_t max_tasks = flops < (1 << 20) ? 1 : pool.threads();

  // K blocks of at most kKc so a 16-column B micro-panel (kKc x 64 B) stays in L1 while the A panels
  // of the block stream past it; sums run on across blocks through `sums` (see micro_6x16).
  constexpr int64_t kKc = 384, kMcP = 8, kNcP = 32;
  const int64_t kblocks = std::max<int64_t>(1, (K + kKc - 1) / kKc);
  const int64_t kc = (K + kblocks - 1) / kblocks;

  // Macro tiles: MC rows (whole A panels) x NC columns (whole B panels). The packed A block (MC x K)
  // stays in L2 while the tile's B panels stream past it. NC is at most kNcP panels (evenly split):
  // with several K blocks the running sums of a tile (MC x NC) are parked between blocks and stay in
  // L2, and tiles of a few hundred microseconds let the dynamic claims end both threads close
  // together. NC is halved when there are too few tiles to keep every thread busy. Up to 16 panels
  // (M <= 96) form one row block: the pack-B-per-tile path below.
  const int64_t mc_panels = mpanels <= 16 ? mpanels : kMcP;
  const int64_t mblocks = (mpanels + mc_panels - 1) / mc_panels;
  const int64_t ncuts = (npanels + kNcP - 1) / kNcP;
  int64_t nc_panels = (npanels + ncuts - 1) / ncuts;
  while (nc_panels > 1 && mblocks * ((npanels + nc_panels - 1) / nc_panels) < 4 * max_tasks)
    nc_panels = (nc_panels + 1) / 2;
  const int64_t nblocks = (npanels + nc_panels - 1) / nc_panels;
  const int64_t tiles = mblocks * nblocks;

  // B is packed once into shared panels when several row blocks reuse it; with a single row block
  // (small M) each B panel is used by one tile only, so the tile's thread packs it right before use
  // (no separate pass, and the panel is still in L1/L2 when the micro-kernel reads it).
  const bool shared_b = mblocks > 1;
  const int nth_max = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({max_tasks, tiles, pool.threads()})));

  // All scratch comes from one block allocated before any thread starts, so that running out of
  // memory leaves C untouched (it may be the residual of an in-place call). Offsets are multiples of
  // 16 floats (64 B). Per thread: the A block, the parked sums (or one 6x16 tile with a single K
  // block), and on the small-M path its B panels.
  auto round16 = [](int64_t n) { return (n + 15) / 16 * 16; };
  const int64_t bp_floats = shared_b ? round16(npanels * Kp * NR) : 0;
  const int64_t ap_floats = round16(mc_panels * Kp * MR);
  const int64_t sm_floats = kblocks == 1 ? MR * NR : mc_panels * nc_panels * MR * NR;
  const int64_t bt_floats = shared_b ? 0 : round16(nc_panels * Kp * NR);
  const int64_t per_thread = ap_floats + sm_floats + bt_floats;
  float* const base = tls_scratch.get(static_cast<size_t>(bp_floats + nth_max * per_thread));
  if (base == nullptr) return Status::Make(StatusCode::kOutOfMemory, "gemm: out of memory for the packing buffers");
  float* const Bp = base;

  const Epilogue epi(a);
  std::atomic<int64_t> next_b{0}, done_b{0}, next_tile{0};
  pool.run(
      [&](int ith, int nth) {
        if (shared_b) {
          // Pack B (panels claimed one at a time), then wait until every claimed panel is written.
          for (int64_t j; (j = next_b.fetch_add(1, std::memory_order_relaxed)) < npanels;) {
            pack_b_panel(a, j, Bp + j * Kp * NR);
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
          const int64_t t0 = claim(next_tile, tiles, nth, &t1);
          if (t0 >= tiles) break;
          for (int64_t t = t0; t < t1; ++t) {
            const int64_t mb = t / nblocks, nb = t % nblocks;
            const int64_t p0 = mb * mc_panels, p1 = std::min(mpanels, p0 + mc_panels);
            if (mb != packed_mb) {
              for (int64_t p = p0; p < p1; ++p) pack_a_panel(a, p * MR, ap + (p - p0) * Kp * MR);
              packed_mb = mb;
            }
            const int64_t j0 = nb * nc_panels, j1 = std::min(npanels, j0 + nc_panels);
            if (!shared_b)
              for (int64_t j = j0; j < j1; ++j) pack_b_panel(a, j, bt + (j - j0) * Kp * NR);
            const float* bbase = shared_b ? Bp + j0 * Kp * NR : bt;
            for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += kc) {
              const int64_t klen = std::min(kc, K - k0);
              const bool last = k0 + klen >= K;
              for (int64_t j = j0; j < j1; ++j) {
                const float* bp = bbase + ((j - j0) * Kp + k0) * NR;
                const int64_t n0 = j * NR, nr = std::min(NR, a.N - n0);
                for (int64_t p = p0; p < p1; ++p) {
                  float* acc = kblocks == 1 ? sm : sm + ((j - j0) * mc_panels + (p - p0)) * MR * NR;
                  micro_6x16(klen, ap + ((p - p0) * Kp + k0) * MR, bp, acc, k0 > 0);
                  const int64_t m0 = p * MR;
                  if (last) store_tile(epi, acc, m0, std::min(MR, a.M - m0), n0, nr);
                }
              }
              if (last) break;
            }
          }
        }
      },
      nth_max);
  tls_scratch.trim();
  return Status::Ok();
}

}  // namespace r4p

namespace r4p {

double fma_peak_gflops_avx2(int threads, int64_t iters) {
  ThreadPool& pool = ThreadPool::instance();
  const auto t0 = std::chrono::steady_clock::now();
  int used = 1;
  pool.run(
      [&](int ith, int nth) {
        if (ith == 0) used = nth;
        // 12 independent accumulator chains cover the FMA latency x ports product (4 x 2) with margin.
        for (int64_t i = 0; i < iters; ++i) {
          __asm__ volatile(
              "vfmadd231ps %%ymm15, %%ymm14, %%ymm0\n\tvfmadd231ps %%ymm15, %%ymm14, %%ymm1\n\t"
              "vfmadd231ps %%ymm15, %%ymm14, %%ymm2\n\tvfmadd231ps %%ymm15, %%ymm14, %%ymm3\n\t"
              "vfmadd231ps %%ymm15, %%ymm14, %%ymm4\n\tvfmadd231ps %%ymm15, %%ymm14, %%ymm5\n\t"
              "vfmadd231ps %%ymm15, %%ymm14, %%ymm6\n\tvfmadd231ps %%ymm15, %%ymm14, %%ymm7\n\t"
              "vfmadd231ps %%ymm15, %%ymm14, %%ymm8\n\tvfmadd231ps %%ymm15, %%ymm14, %%ymm9\n\t"
              "vfmadd231ps %%ymm15, %%ymm14, %%ymm10\n\tvfmadd231ps %%ymm15, %%ymm14, %%ymm11\n\t" ::
                  : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11");
        }
        __asm__ volatile("vzeroupper" ::: "memory");
      },
      std::max(1, threads));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(used) * static_cast<double>(iters) * 12.0 * 16.0 / s / 1e9;
}

}  // namespace r4p
