// bf16_avx512.h: FP32 -> BF16 packing helpers (AVX512_BF16 vcvtneps2bf16: round to nearest even) shared by
// the BF16 GEMM (gemm_avx512.cc) and the BF16 attention core (attention_core_bf16_avx512.cc). A "cell" is 32
// bits holding a BF16 pair: the even index in the low half, the odd one in the high half, as vdpbf16ps reads
// them. Include only from *_avx512.cc (anonymous namespace: one copy per including file).
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace r4p {
namespace {

inline __mmask16 bf16_tail_mask(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }

// dst[0..n) = BF16(src[0..n)), plus a zero at dst[n] when n is odd (the pair pad).
inline void bf16_row(const float* src, int64_t n, uint16_t* dst) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
  if (i < n) {
    const __mmask16 m = bf16_tail_mask(static_cast<int>(n - i));
    _mm256_mask_storeu_epi16(dst + i, m, (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + i)));
  }
  if (n & 1) dst[n] = 0;
}

// 16 cells from two k rows: cell c = BF16(lo[c]) | BF16(hi[c]) << 16 for the first n (<= 16) c, zeros after;
// hi == nullptr: the pad row (zeros).
inline __m512i bf16_cells(const float* lo, const float* hi, int n) {
  const __mmask16 m = bf16_tail_mask(n);
  const __m512i l = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, lo)));
  if (hi == nullptr) return l;
  const __m512i h = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, hi)));
  return _mm512_or_si512(l, _mm512_slli_epi32(h, 16));
}

}  // namespace
}  // namespace r4p
