// gemm_avx2.cc: the internal single-precision GEMM (ops.h GemmArgs; the Linear layers of SPEC §2/§5
// prunedBlock) with AVX2/FMA: the 6x16 micro-kernel, its panel packing and epilogue. The blocking,
// threading and scratch are gemm_driver.h's (shared with gemm_avx512.cc, whose sums are the same FMA
// chains: the two give the same bits).
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "kernels/cpu/gemm_avx2.h"
#include "kernels/cpu/gemm_driver.h"
#include "kernels/cpu/gemm_pack.h"
#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {
namespace {

constexpr int64_t MR = 6, NR = 16;

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

struct Avx2Kern {
  static constexpr int64_t MR = 6, NR = 16, KC = 384, KPACK = 1;
  static constexpr int32_t ID = kGemmAvx2;
  static void pack_b_panel(const GemmArgs& a, int64_t j, float* dst) { gemm_pack_b_panel<NR>(a, j, dst); }
  static void pack_a_panel(const GemmArgs& a, int64_t m0, float* dst) { gemm_pack_a_panel<MR>(a, m0, dst); }
  static void micro(int64_t K, const float* Ap, const float* Bp, float* acc, int64_t load) {
    micro_6x16(K, Ap, Bp, acc, load);
  }
  static void store_tile(const Epilogue& e, const float* acc, int64_t m0, int64_t mr, int64_t n0, int64_t nr) {
    r4p::store_tile(e, acc, m0, mr, n0, nr);
  }
};

}  // namespace

Status gemm_avx2(const GemmArgs& a) { return gemm_run<Avx2Kern>(a); }
void gemm_pack_b_avx2(const GemmArgs& a, float* dst) { gemm_pack_b_all<Avx2Kern>(a, dst); }
int64_t gemm_packed_b_floats_avx2(int64_t N, int64_t K) { return gemm_packed_floats<Avx2Kern>(N, K); }

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
