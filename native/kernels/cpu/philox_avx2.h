// philox_avx2.h: eight Philox4x32-10 blocks at once with AVX2 (include only from *_avx2.cc files).
// Bit-identical to common/philox.h's scalar philox4x32_10 (integer arithmetic only), so the Gumbel
// noise is the same whichever variant draws it. Why vectorise: one scalar block is a chain of ten
// dependent 32x32->64 multiplies (~20 ns), as much as the two double logs that follow it.
// _mm256_mul_epu32 multiplies the even 32-bit lanes into 64-bit products; the odd lanes are shifted
// down and multiplied separately, then hi/lo words are blended back into lane order.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "common/philox.h"

namespace r4p {

struct Philox4x32x8 {
  __m256i v0, v1, v2, v3;
};

static inline void philox_mulhilo_x8(__m256i m, __m256i c, __m256i* hi, __m256i* lo) {
  const __m256i pe = _mm256_mul_epu32(c, m);                         // lanes 0,2,4,6: 64-bit products
  const __m256i po = _mm256_mul_epu32(_mm256_srli_epi64(c, 32), m);  // lanes 1,3,5,7
  *hi = _mm256_blend_epi32(_mm256_srli_epi64(pe, 32), po, 0xAA);
  *lo = _mm256_blend_epi32(pe, _mm256_slli_epi64(po, 32), 0xAA);
}

// counters (c0[j], c1[j], c2, c3) for the 8 lanes j, one key for all.
static inline Philox4x32x8 philox4x32_10_x8(__m256i c0, __m256i c1, uint32_t c2s, uint32_t c3s, uint32_t k0s,
                                            uint32_t k1s) {
  const __m256i M0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u)), M1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  __m256i c2 = _mm256_set1_epi32(static_cast<int>(c2s)), c3 = _mm256_set1_epi32(static_cast<int>(c3s));
  uint32_t k0 = k0s, k1 = k1s;
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    __m256i hi0, lo0, hi1, lo1;
    philox_mulhilo_x8(M0, c0, &hi0, &lo0);
    philox_mulhilo_x8(M1, c2, &hi1, &lo1);
    const __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    const __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return {c0, c1, c2, c3};
}

// The contract's draws (common/philox.h) for 8 tokens (b[j], n[j]) of one stream: words 0 and 1.
static inline void philox_tokens_x8(uint64_t seed, const uint32_t* b, const uint32_t* n, uint32_t stream, uint32_t* w0,
                                    uint32_t* w1) {
  const Philox4x32x8 x = philox4x32_10_x8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(n)),
                                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), stream, 0u,
                                          static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(w0), x.v0);
  if (w1 != nullptr) _mm256_storeu_si256(reinterpret_cast<__m256i*>(w1), x.v1);
}

// Draws for the 8 consecutive flat positions of a row-major [B, N] map starting at (*b, *n), and
// advances (*b, *n) past them. Lanes past the end of the caller's range draw values it ignores.
static inline void philox_walk_x8(uint64_t seed, int64_t N, int64_t* b, int64_t* n, uint32_t stream, uint32_t* w0,
                                  uint32_t* w1) {
  alignas(32) uint32_t lb[8], ln[8];
  for (int j = 0; j < 8; ++j) {
    lb[j] = static_cast<uint32_t>(*b);
    ln[j] = static_cast<uint32_t>(*n);
    if (++*n == N) {
      *n = 0;
      ++*b;
    }
  }
  philox_tokens_x8(seed, lb, ln, stream, w0, w1);
}

}  // namespace r4p
