// gemm_avx512.cc: the internal GEMM (ops.h GemmArgs; SPEC §2/§5 Linear layers) with AVX-512: FP32 with
// AVX-512F (gemm_avx512) and BF16 operands with FP32 sums on AVX512_BF16 (gemm_avx512_bf16, at the end). FP32: a 14x32 micro-kernel (28 zmm accumulators, 2 zmm of B, 2 broadcast registers: all 32 zmm),
// panel packing (gemm_pack.h) and a masked 16-lane epilogue. Blocking, threading and scratch are
// gemm_driver.h's. Every C element is the same FMA chain over k as in gemm_avx2.cc, and the epilogue
// the same operations (vec_math_avx512.h is bit-compatible with vec_math_avx2.h): the two variants give
// identical bits, which the tests check.
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "kernels/cpu/gemm_avx512.h"
#include "kernels/cpu/gemm_driver.h"
#include "kernels/cpu/bf16_avx512.h"
#include "kernels/cpu/gemm_pack.h"
#include "kernels/cpu/vec_math_avx512.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {
namespace {

constexpr int64_t MR = 14, NR = 32;

// Both cache lines of the B panel row 32 k steps ahead (4 KiB, ~450 cycles of FMAs): in the engine the weights
// come from DRAM on a GEMM's first row block, and one line 16 steps ahead (the earlier choice) left half of each
// row to the hardware prefetcher. 1-4% on the engine's GEMM shapes with B evicted from the caches before each
// call (2 threads); no change to the results.
__attribute__((always_inline)) inline void prefetch_b_row(const float* Bp) {
  _mm_prefetch(reinterpret_cast<const char*>(Bp + 32 * NR), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(Bp + 32 * NR + 16), _MM_HINT_T0);
}

// acc[r*NR + c] (+)= sum_k Ap[k*MR + r] * Bp[k*NR + c]: one FMA chain per element, k ascending; with
// load != 0 the chains continue from acc (see gemm_driver.h). With 32 architectural zmm registers the
// compiler keeps all 28 accumulators in registers (checked in the disassembly: no stack traffic in the
// k loop), so this one is intrinsics, not asm.
__attribute__((always_inline)) inline void micro_14x32_body(int64_t K, const float* __restrict Ap,
                                                            const float* __restrict Bp, float* __restrict acc,
                                                            int64_t load) {
  __m512 c0[MR], c1[MR];
  if (load) {
    for (int r = 0; r < MR; ++r) {
      c0[r] = _mm512_load_ps(acc + r * NR);
      c1[r] = _mm512_load_ps(acc + r * NR + 16);
    }
  } else {
    for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < K; ++k) {
    const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
    prefetch_b_row(Bp);
#pragma GCC unroll 14
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(Ap[r]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
    Ap += MR;
    Bp += NR;
  }
  for (int r = 0; r < MR; ++r) {
    _mm512_store_ps(acc + r * NR, c0[r]);
    _mm512_store_ps(acc + r * NR + 16, c1[r]);
  }
}

void micro_14x32(int64_t K, const float* Ap, const float* Bp, float* acc, int64_t load) {
  micro_14x32_body(K, Ap, Bp, acc, load);
}

// The epilogue on 16 (or n < 16, masked) columns from n0 of the mr valid rows of a 14x32 tile: alpha,
// + beta*C_old, + bias, activation, * col_scale, + residual, store: the same operations per element as
// gemm_avx2.cc's epilogue_cols. Row by row, with the per-column vectors hoisted: a v[MR] array across the
// stages made GCC keep it on the stack (12% of a K = 384 GEMM); the out-of-order core overlaps the rows'
// GELU chains by itself.
inline void epilogue_cols16(const Epilogue& e, const float* acc, int64_t m0, int64_t mr, int64_t n0, int n) {
  const __mmask16 mask = vec512::tail_mask(n);
  const __m512 alpha = _mm512_set1_ps(e.alpha), beta = _mm512_set1_ps(e.beta);
  const __m512 bias = e.bias ? _mm512_maskz_loadu_ps(mask, e.bias + n0) : _mm512_setzero_ps();
  const __m512 cs = e.col_scale ? _mm512_maskz_loadu_ps(mask, e.col_scale + n0) : _mm512_set1_ps(1.f);
  const bool has_beta = e.beta != 0.f;
  for (int64_t r = 0; r < mr; ++r) {
    float* c = e.C + (e.c_rows ? e.c_rows[m0 + r] : m0 + r) * e.ldc + n0;
    __m512 v = _mm512_mul_ps(_mm512_load_ps(acc + r * NR), alpha);
    if (has_beta) v = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(mask, c), v);
    if (e.bias) v = _mm512_add_ps(v, bias);
    if (e.act == Activation::kRelu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    else if (e.act == Activation::kGelu) v = vec512::gelu_ps(v);
    if (e.col_scale) v = _mm512_mul_ps(v, cs);
    if (e.residual)
      v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, e.residual + (e.r_rows ? e.r_rows[m0 + r] : m0 + r) * e.ldr + n0));
    _mm512_mask_storeu_ps(c, mask, v);
  }
}

struct Avx512Kern {
  static constexpr int64_t MR = r4p::MR, NR = r4p::NR, KC = 384, KPACK = 1;
  static constexpr int32_t ID = kGemmAvx512;
  static void pack_b_panel(const GemmArgs& a, int64_t j, float* dst) { gemm_pack_b_panel<NR>(a, j, dst); }
  static void pack_a_panel(const GemmArgs& a, int64_t m0, float* dst) { gemm_pack_a_panel<MR>(a, m0, dst); }
  static void micro(int64_t K, const float* Ap, const float* Bp, float* acc, int64_t load) {
    micro_14x32(K, Ap, Bp, acc, load);
  }
  static void store_tile(const Epilogue& e, const float* acc, int64_t m0, int64_t mr, int64_t n0, int64_t nr) {
    for (int64_t c = 0; c < nr; c += 16)
      epilogue_cols16(e, acc + c, m0, mr, n0 + c, static_cast<int>(std::min<int64_t>(16, nr - c)));
  }
};

// ---- BF16: A and B rounded to BF16 (vcvtneps2bf16, RNE), FP32 sums with vdpbf16ps. A panel cell is 32 bits:
// the BF16 pair (k = 2p in the low half, 2p + 1 in the high half; a zero pad past K), so the driver's layout
// holds with krows = ceil(K / 2) and the micro-kernel is the FP32 one with vdpbf16ps for vfmadd231ps.

thread_local ScratchBuffer tls_bf16_rows;  // the rows of one panel in BF16, before the cell transpose

struct Bf16Kern {
  static constexpr int64_t MR = r4p::MR, NR = r4p::NR, KC = 256, KPACK = 2;
  static constexpr int32_t ID = kGemmAvx512Bf16;

  // Bp panel j: cell (p, c) = pair (B(2p, n0 + c), B(2p + 1, n0 + c)).
  static void pack_b_panel(const GemmArgs& a, int64_t j, float* dst) {
    const int64_t n0 = j * NR, nr = std::min(NR, a.N - n0), Kc = (a.K + 1) / 2;
    if (a.transB) {
      // Rows n of B^T are K-contiguous: convert the panel's rows to BF16 (each row's pairs are its cells),
      // then transpose the [nr][Kc] cells into [Kc][NR] with the FP32 packer (a 32-bit move is a move).
      uint16_t* rows = reinterpret_cast<uint16_t*>(tls_bf16_rows.get(static_cast<size_t>(NR * Kc + 16)));
      for (int64_t c = 0; c < nr; ++c) bf16_row(a.B + (n0 + c) * a.ldb, a.K, rows + c * 2 * Kc);
      GemmArgs v;
      v.B = reinterpret_cast<const float*>(rows);
      v.ldb = Kc; v.transB = true; v.N = nr; v.K = Kc;
      gemm_pack_b_panel<NR>(v, 0, dst);
      return;
    }
    for (int64_t p = 0; p < Kc; ++p) {
      const float* lo = a.B + 2 * p * a.ldb + n0;
      const float* hi = 2 * p + 1 < a.K ? lo + a.ldb : nullptr;
      for (int64_t c = 0; c < NR; c += 16) {
        const int n = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(16, nr - c)));
        _mm512_store_si512(dst + p * NR + c, bf16_cells(lo + c, hi ? hi + c : nullptr, n));
      }
    }
  }

  // Ap panel: cell (p, r) = pair (A(m0 + r, 2p), A(m0 + r, 2p + 1)), a_rows gather applied.
  static void pack_a_panel(const GemmArgs& a, int64_t m0, float* dst) {
    const int64_t mr = std::min(MR, a.M - m0), Kc = (a.K + 1) / 2;
    if (!a.transA) {
      uint16_t* rows = reinterpret_cast<uint16_t*>(tls_bf16_rows.get(static_cast<size_t>(MR * Kc + 16)));
      for (int64_t r = 0; r < mr; ++r) bf16_row(a.A + (a.a_rows ? a.a_rows[m0 + r] : m0 + r) * a.lda, a.K, rows + r * 2 * Kc);
      GemmArgs v;
      v.A = reinterpret_cast<const float*>(rows);
      v.lda = Kc; v.M = mr; v.K = Kc;
      gemm_pack_a_panel<MR>(v, 0, dst);
      return;
    }
    for (int64_t p = 0; p < Kc; ++p) {
      const float* lo = a.A + 2 * p * a.lda + m0;
      const float* hi = 2 * p + 1 < a.K ? lo + a.lda : nullptr;
      alignas(64) uint32_t cells[16];
      _mm512_store_si512(cells, bf16_cells(lo, hi, static_cast<int>(mr)));
      std::memcpy(dst + p * MR, cells, MR * sizeof(float));
    }
  }

  static void micro(int64_t Kr, const float* Ap, const float* Bp, float* acc, int64_t load) {
    __m512 c0[MR], c1[MR];
    if (load) {
      for (int r = 0; r < MR; ++r) {
        c0[r] = _mm512_load_ps(acc + r * NR);
        c1[r] = _mm512_load_ps(acc + r * NR + 16);
      }
    } else {
      for (int r = 0; r < MR; ++r) c0[r] = c1[r] = _mm512_setzero_ps();
    }
    for (int64_t k = 0; k < Kr; ++k) {
      const __m512bh b0 = (__m512bh)_mm512_load_ps(Bp), b1 = (__m512bh)_mm512_load_ps(Bp + 16);
      prefetch_b_row(Bp);
#pragma GCC unroll 14
      for (int r = 0; r < MR; ++r) {
        const __m512bh av = (__m512bh)_mm512_set1_ps(Ap[r]);
        c0[r] = _mm512_dpbf16_ps(c0[r], av, b0);
        c1[r] = _mm512_dpbf16_ps(c1[r], av, b1);
      }
      Ap += MR;
      Bp += NR;
    }
    for (int r = 0; r < MR; ++r) {
      _mm512_store_ps(acc + r * NR, c0[r]);
      _mm512_store_ps(acc + r * NR + 16, c1[r]);
    }
  }

  static void store_tile(const Epilogue& e, const float* acc, int64_t m0, int64_t mr, int64_t n0, int64_t nr) {
    Avx512Kern::store_tile(e, acc, m0, mr, n0, nr);
  }
};

}  // namespace

Status gemm_avx512(const GemmArgs& a) { return gemm_run<Avx512Kern>(a); }
Status gemm_avx512_bf16(const GemmArgs& a) { return gemm_run<Bf16Kern>(a); }
void gemm_pack_b_avx512(const GemmArgs& a, float* dst) { gemm_pack_b_all<Avx512Kern>(a, dst); }
void gemm_pack_b_avx512_bf16(const GemmArgs& a, float* dst) { gemm_pack_b_all<Bf16Kern>(a, dst); }
int64_t gemm_packed_b_floats_avx512(int64_t N, int64_t K, bool bf16) {
  return bf16 ? gemm_packed_floats<Bf16Kern>(N, K) : gemm_packed_floats<Avx512Kern>(N, K);
}

double fma_peak_gflops_avx512(int threads, int64_t iters) {
  ThreadPool& pool = ThreadPool::instance();
  const auto t0 = std::chrono::steady_clock::now();
  int used = 1;
  pool.run(
      [&](int ith, int nth) {
        if (ith == 0) used = nth;
        // 16 independent 16-wide chains cover the FMA latency x ports product (4 x 2) twice over.
        for (int64_t i = 0; i < iters; ++i) {
          __asm__ volatile(
              "vfmadd231ps %%zmm31, %%zmm30, %%zmm0\n\tvfmadd231ps %%zmm31, %%zmm30, %%zmm1\n\t"
              "vfmadd231ps %%zmm31, %%zmm30, %%zmm2\n\tvfmadd231ps %%zmm31, %%zmm30, %%zmm3\n\t"
              "vfmadd231ps %%zmm31, %%zmm30, %%zmm4\n\tvfmadd231ps %%zmm31, %%zmm30, %%zmm5\n\t"
              "vfmadd231ps %%zmm31, %%zmm30, %%zmm6\n\tvfmadd231ps %%zmm31, %%zmm30, %%zmm7\n\t"
              "vfmadd231ps %%zmm31, %%zmm30, %%zmm8\n\tvfmadd231ps %%zmm31, %%zmm30, %%zmm9\n\t"
              "vfmadd231ps %%zmm31, %%zmm30, %%zmm10\n\tvfmadd231ps %%zmm31, %%zmm30, %%zmm11\n\t"
              "vfmadd231ps %%zmm31, %%zmm30, %%zmm12\n\tvfmadd231ps %%zmm31, %%zmm30, %%zmm13\n\t"
              "vfmadd231ps %%zmm31, %%zmm30, %%zmm14\n\tvfmadd231ps %%zmm31, %%zmm30, %%zmm15\n\t" ::
                  : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
                    "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
        }
        __asm__ volatile("vzeroupper" ::: "memory");
      },
      std::max(1, threads));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return static_cast<double>(used) * static_cast<double>(iters) * 16.0 * 32.0 / s / 1e9;
}

}  // namespace r4p
