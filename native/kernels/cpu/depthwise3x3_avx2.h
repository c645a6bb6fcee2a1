// depthwise3x3_avx2.h: the 8-channel steps of one pixel of the engine head's depthwise 3x3 (AVX2/FMA),
// shared by the avx2 row kernel and the avx512 one's channels past its 16-wide chunks, so both compute those
// channels with the same chains. Include only from *_avx2.cc / *_avx512.cc.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace r4p::engine {

// o[c..c+8) = sum over the nt taps of ker[t][c..] * src[t][c..] (one FMA chain per channel, taps in order);
// returns those 8 sums.
static inline __m256 depthwise3x3_conv8(const float* const* src, const float* const* ker, int nt, int64_t c, float* o) {
  __m256 acc = _mm256_setzero_ps();
  for (int t = 0; t < nt; ++t) acc = _mm256_fmadd_ps(_mm256_loadu_ps(ker[t] + c), _mm256_loadu_ps(src[t] + c), acc);
  _mm256_storeu_ps(o + c, acc);
  return acc;
}

// The same on the lanes of mask tm only (the last D % 8 channels from c); the other lanes are 0.
static inline __m256 depthwise3x3_conv8_masked(const float* const* src, const float* const* ker, int nt, int64_t c,
                                               __m256i tm, float* o) {
  __m256 acc = _mm256_setzero_ps();
  for (int t = 0; t < nt; ++t)
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(ker[t] + c, tm), _mm256_maskload_ps(src[t] + c, tm), acc);
  _mm256_maskstore_ps(o + c, tm, acc);
  return acc;
}

}  // namespace r4p::engine
