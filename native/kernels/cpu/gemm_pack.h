// gemm_pack.h: FP32 panel packing of the internal GEMM (gemm_driver.h layout), for any micro-tile
// MR x NR with NR a multiple of 8, written with 256-bit AVX only so that gemm_avx2.cc (6x16) and
// gemm_avx512.cc (14x32) share it. Include only from *_avx2.cc / *_avx512.cc files (anonymous namespace:
// each file compiles its own copy with its own flags).
//   Bp panel j: Bp[k*NR + c] = B(k, j*NR + c), zeros for columns >= N.
//   Ap panel  : Ap[k*MR + r] = A(m0 + r, k) (a_rows gather applied), zeros for rows >= M.
// Plain copies: packing changes no value, so the products see exactly the inputs.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/ops.h"

namespace r4p {
namespace {

// In-place 8x8 transpose of r[0..8) (rows become columns).
inline void gemm_transpose8(__m256 r[8]) {
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

// Stores the first n (1..8) lanes of v at d (unaligned).
inline void gemm_store_lanes(float* d, __m256 v, int64_t n) {
  if (n == 8) {
    _mm256_storeu_ps(d, v);
  } else if (n == 6) {
    _mm_storeu_ps(d, _mm256_castps256_ps128(v));
    _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm256_extractf128_ps(v, 1));
  } else {
    alignas(32) float t[8];
    _mm256_store_ps(t, v);
    for (int64_t i = 0; i < n; ++i) d[i] = t[i];
  }
}

template <int64_t NR>
void gemm_pack_b_panel(const GemmArgs& a, int64_t j, float* dst) {
  static_assert(NR % 8 == 0, "NR must be a multiple of 8");
  const int64_t n0 = j * NR, nr = std::min(NR, a.N - n0), K = a.K;
  if (!a.transB) {
    for (int64_t k = 0; k < K; ++k) {
      const float* src = a.B + k * a.ldb + n0;
      float* d = dst + k * NR;
      if (nr == NR) {
        for (int64_t c = 0; c < NR; c += 8) _mm256_store_ps(d + c, _mm256_loadu_ps(src + c));
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
        gemm_transpose8(r);
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

template <int64_t MR>
void gemm_pack_a_panel(const GemmArgs& a, int64_t m0, float* dst) {
  const int64_t mr = std::min(MR, a.M - m0), K = a.K;
  if (a.transA) {
    for (int64_t k = 0; k < K; ++k) {
      const float* src = a.A + k * a.lda + m0;
      float* d = dst + k * MR;
      int64_t r = 0;
      for (; r < mr; ++r) d[r] = src[r];
      for (; r < MR; ++r) d[r] = 0.f;
    }
    return;
  }
  // Row pointers (the a_rows gather), then 8 rows x 8 k at a time through an in-register transpose:
  // whole-vector reads of each row instead of one strided scalar write per element.
  const float* src[MR];
  for (int64_t r = 0; r < MR; ++r) src[r] = r < mr ? a.A + (a.a_rows ? a.a_rows[m0 + r] : m0 + r) * a.lda : nullptr;
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    for (int64_t r0 = 0; r0 < MR; r0 += 8) {
      const int64_t rows = std::min<int64_t>(8, MR - r0);
      __m256 v[8];
      for (int64_t i = 0; i < 8; ++i) v[i] = i < rows && r0 + i < mr ? _mm256_loadu_ps(src[r0 + i] + k) : _mm256_setzero_ps();
      gemm_transpose8(v);
      for (int i = 0; i < 8; ++i) gemm_store_lanes(dst + (k + i) * MR + r0, v[i], rows);
    }
  }
  for (; k < K; ++k)
    for (int64_t r = 0; r < MR; ++r) dst[k * MR + r] = r < mr ? src[r][k] : 0.f;
}

}  // namespace
}  // namespace r4p
