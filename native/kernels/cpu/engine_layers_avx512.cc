// engine_layers_avx512.cc: see engine_layers_avx512.h.
#include "kernels/cpu/engine_layers_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "kernels/cpu/depthwise3x3_avx2.h"
#include "kernels/cpu/depthwise3x3_taps.h"
#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/cpu/vec_math_avx512.h"

namespace r4p::engine {

namespace {

// Transposes 16 rows r[0..15] of 16 floats in registers: r[i] lane j -> r[j] lane i.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  // r[4a + b] now holds, in 128-bit lane L, element b of rows 4a..4a+3's lane-L quads; combine lanes
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);        // lanes 0,2 of r[i], 0,2 of r[i+4]
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);    // lanes 1,3
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 4], t[i + 12], 0xDD);
  }
}

constexpr int kQb = 16;  // queries per register block (16 accumulators of 16 pixels)

// Q rows (<= 16) x 16 pixels; ut: the pixels' values transposed, ut[d*16 + i] = up[(p+i)*D + d].
template <int QB>
inline void mask_block(const float* emb, int64_t D, const float* ut, float* out, int64_t ldo, __mmask16 m) {
  __m512 acc[QB];
  for (int q = 0; q < QB; ++q) acc[q] = _mm512_setzero_ps();
  for (int64_t d = 0; d < D; ++d) {
    const __m512 u = _mm512_loadu_ps(ut + d * 16);
#pragma GCC unroll 16
    for (int q = 0; q < QB; ++q) acc[q] = _mm512_fmadd_ps(_mm512_set1_ps(emb[q * D + d]), u, acc[q]);
  }
  for (int q = 0; q < QB; ++q) _mm512_mask_storeu_ps(out + q * ldo, m, acc[q]);
}

template <int QB>
struct MaskBlockF {
  static void run(const float* emb, int64_t D, const float* ut, float* out, int64_t ldo, __mmask16 m) {
    mask_block<QB>(emb, D, ut, out, ldo, m);
  }
};

void mask_rows(int qb, const float* emb, int64_t D, const float* ut, float* out, int64_t ldo, __mmask16 m) {
  switch (qb) {
    case 1: MaskBlockF<1>::run(emb, D, ut, out, ldo, m); break;
    case 2: MaskBlockF<2>::run(emb, D, ut, out, ldo, m); break;
    case 3: MaskBlockF<3>::run(emb, D, ut, out, ldo, m); break;
    case 4: MaskBlockF<4>::run(emb, D, ut, out, ldo, m); break;
    case 5: MaskBlockF<5>::run(emb, D, ut, out, ldo, m); break;
    case 6: MaskBlockF<6>::run(emb, D, ut, out, ldo, m); break;
    case 7: MaskBlockF<7>::run(emb, D, ut, out, ldo, m); break;
    case 8: MaskBlockF<8>::run(emb, D, ut, out, ldo, m); break;
    case 9: MaskBlockF<9>::run(emb, D, ut, out, ldo, m); break;
    case 10: MaskBlockF<10>::run(emb, D, ut, out, ldo, m); break;
    case 11: MaskBlockF<11>::run(emb, D, ut, out, ldo, m); break;
    case 12: MaskBlockF<12>::run(emb, D, ut, out, ldo, m); break;
    case 13: MaskBlockF<13>::run(emb, D, ut, out, ldo, m); break;
    case 14: MaskBlockF<14>::run(emb, D, ut, out, ldo, m); break;
    case 15: MaskBlockF<15>::run(emb, D, ut, out, ldo, m); break;
    default: MaskBlockF<16>::run(emb, D, ut, out, ldo, m); break;
  }
}

}  // namespace

void mask_logits_avx512(const float* emb, int64_t Q, int64_t D, const float* up, int64_t p0, int64_t p1, float* out,
                        int64_t ldo, float* ut) {
  const int64_t D16 = D & ~int64_t(15);
  for (int64_t p = p0; p < p1; p += 16) {
    const int np = static_cast<int>(std::min<int64_t>(16, p1 - p));
    const __mmask16 m = vec512::tail_mask(np);
    for (int64_t d0 = 0; d0 < D16; d0 += 16) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) r[i] = i < np ? _mm512_loadu_ps(up + (p + i) * D + d0) : _mm512_setzero_ps();
      transpose16(r);
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(ut + (d0 + i) * 16, r[i]);
    }
    for (int64_t d = D16; d < D; ++d)
      for (int i = 0; i < 16; ++i) ut[d * 16 + i] = i < np ? up[(p + i) * D + d] : 0.f;
    for (int64_t q0 = 0; q0 < Q; q0 += kQb)
      mask_rows(static_cast<int>(std::min<int64_t>(kQb, Q - q0)), emb + q0 * D, D, ut, out + q0 * ldo + p, ldo, m);
  }
}

namespace {

// Lanes 0-7 and 8-15 of v (zero-masked extracts: GCC 12 warns about the undefined merge operand of the
// plain extract and cast once inlined here).
inline __m256 low8(__m512 v) { return _mm512_maskz_extractf32x8_ps(0xFF, v, 0); }
inline __m256 high8(__m512 v) { return _mm512_maskz_extractf32x8_ps(0xFF, v, 1); }

// The channels past the 16-wide chunks of one pixel (one 8-channel unit when D % 16 >= 8, then a masked
// tail), as the AVX2 kernel runs them, and the LayerNorm over the pixel's conv output o. ze, zo: the
// sums of the 16-wide chunks (chunk i into ze for even i, zo for odd i: their lanes 0-7 and 8-15 are partials
// 0 and 1 (ze), 2 and 3 (zo) of the AVX2 kernel's four).
inline void dw_finish_pixel(float* o, const float* const* src, const float* const* ker, int nt, int64_t D,
                            __m512 ze, __m512 zo, const float* norm_w, const float* norm_b, float eps) {
  const int64_t D16 = D & ~int64_t(15), D8 = D & ~int64_t(7), U = D8 / 8;
  const int tail = static_cast<int>(D - D8);
  const __m256i tm = vec::tail_mask(tail);
  const __m256 tmf = _mm256_castsi256_ps(tm);
  const float invD = 1.f / static_cast<float>(D);
  __m256 s0 = low8(ze), s1 = high8(ze), s2 = low8(zo), s3 = high8(zo);
  for (int64_t u = D16 / 8; u < U; ++u)
    vec::add_to_partial(s0, s1, s2, s3, u, depthwise3x3_conv8(src, ker, nt, 8 * u, o));
  if (tail) vec::add_to_partial(s0, s1, s2, s3, U, depthwise3x3_conv8_masked(src, ker, nt, D8, tm, o));
  const float mean = vec::hsum_ps(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3))) * invD;
  const __m512 vm = _mm512_set1_ps(mean);
  const __m256 vm8 = _mm256_set1_ps(mean);
  __m512 qe = _mm512_setzero_ps(), qo = _mm512_setzero_ps();
  for (int64_t c = 0; c < D16; c += 32) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(o + c), vm);
    qe = _mm512_fmadd_ps(d0, d0, qe);
    if (c + 16 < D16) {
      const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(o + c + 16), vm);
      qo = _mm512_fmadd_ps(d1, d1, qo);
    }
  }
  __m256 q0 = low8(qe), q1 = high8(qe), q2 = low8(qo), q3 = high8(qo);
  for (int64_t u = D16 / 8; u < U; ++u) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(o + 8 * u), vm8);
    vec::fmadd_to_partial(q0, q1, q2, q3, u, d, d);
  }
  if (tail) {
    const __m256 d = _mm256_and_ps(_mm256_sub_ps(_mm256_maskload_ps(o + D8, tm), vm8), tmf);
    vec::fmadd_to_partial(q0, q1, q2, q3, U, d, d);
  }
  const float var = vec::hsum_ps(_mm256_add_ps(_mm256_add_ps(q0, q1), _mm256_add_ps(q2, q3))) * invD;
  const float inv_std = 1.f / std::sqrt(var + eps);
  const __m512 rs = _mm512_set1_ps(inv_std);
  const __m256 rs8 = _mm256_set1_ps(inv_std);
  int64_t c = 0;
  for (; c < D16; c += 16) {
    const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(o + c), vm), rs);
    _mm512_storeu_ps(o + c, _mm512_fmadd_ps(d, _mm512_loadu_ps(norm_w + c), _mm512_loadu_ps(norm_b + c)));
  }
  for (; c < D8; c += 8) {
    const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(o + c), vm8), rs8);
    _mm256_storeu_ps(o + c, _mm256_fmadd_ps(d, _mm256_loadu_ps(norm_w + c), _mm256_loadu_ps(norm_b + c)));
  }
  if (tail) {
    const __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(o + D8, tm), vm8), rs8);
    _mm256_maskstore_ps(o + D8, tm, _mm256_fmadd_ps(d, _mm256_maskload_ps(norm_w + D8, tm), _mm256_maskload_ps(norm_b + D8, tm)));
  }
}

}  // namespace

void depthwise3x3_layer_norm_row_avx512(const float* const rows[3], float* out, int64_t w, int64_t D, const float* wt,
                                        const float* norm_w, const float* norm_b, float eps) {
  // The numerics of depthwise3x3_layer_norm_row_avx2 (same tap chains, the same four partial sums per
  // LayerNorm pass), 16 channels per step. Interior pixels go in pairs (x, x + 1): the two share the
  // kernel loads and three of their four source columns (21 loads for 18 FMAs, not 36).
  const int64_t D16 = D & ~int64_t(15);
  const float* src[9];
  const float* ker[9];
  int64_t x = 0;
  while (x < w) {
    float* const o = out + x * D;
    if (x >= 1 && x + 2 < w) {
      // rows of the window inside the image (the same for both pixels); pixel x reads columns x-1..x+1,
      // pixel x+1 columns x..x+2
      const float* row[3];
      const float* krow[3];
      int nr = 0;
      for (int64_t i = 0; i < 3; ++i) {
        if (rows[i] == nullptr) continue;
        row[nr] = rows[i] + (x - 1) * D;
        krow[nr] = wt + i * 3 * D;
        ++nr;
      }
      float* o1 = o + D;
      // G chunks from c of both pixels, each element one chain over the taps in window order; the 2G chains
      // interleaved row by row (one chunk at a time left the FMAs waiting on their own chain's latency)
      __m512 z0e = _mm512_setzero_ps(), z0o = _mm512_setzero_ps(), z1e = _mm512_setzero_ps(), z1o = _mm512_setzero_ps();
      auto pair_chunks = [&](auto G, int64_t c) {
        __m512 a0[G.value], a1[G.value];
        for (int q = 0; q < G.value; ++q) a0[q] = a1[q] = _mm512_setzero_ps();
        for (int r = 0; r < nr; ++r) {
          for (int q = 0; q < G.value; ++q) {
            const float* sr = row[r] + c + 16 * q;
            const float* kr = krow[r] + c + 16 * q;
            const __m512 k0 = _mm512_loadu_ps(kr), k1 = _mm512_loadu_ps(kr + D), k2 = _mm512_loadu_ps(kr + 2 * D);
            const __m512 s1 = _mm512_loadu_ps(sr + D), s2 = _mm512_loadu_ps(sr + 2 * D);
            a0[q] = _mm512_fmadd_ps(k0, _mm512_loadu_ps(sr), a0[q]);
            a1[q] = _mm512_fmadd_ps(k0, s1, a1[q]);
            a0[q] = _mm512_fmadd_ps(k1, s1, a0[q]);
            a1[q] = _mm512_fmadd_ps(k1, s2, a1[q]);
            a0[q] = _mm512_fmadd_ps(k2, s2, a0[q]);
            a1[q] = _mm512_fmadd_ps(k2, _mm512_loadu_ps(sr + 3 * D), a1[q]);
          }
        }
        for (int q = 0; q < G.value; ++q) {
          _mm512_storeu_ps(o + c + 16 * q, a0[q]);
          _mm512_storeu_ps(o1 + c + 16 * q, a1[q]);
          // chunk i = c / 16 + q into the partials of parity i % 2, as named registers (an array indexed by
          // the parity went through the stack)
          if (((c >> 4) + q) % 2 == 0) {
            z0e = _mm512_add_ps(z0e, a0[q]);
            z1e = _mm512_add_ps(z1e, a1[q]);
          } else {
            z0o = _mm512_add_ps(z0o, a0[q]);
            z1o = _mm512_add_ps(z1o, a1[q]);
          }
        }
      };
      int64_t c = 0;
      for (; c + 64 <= D16; c += 64) pair_chunks(std::integral_constant<int, 4>{}, c);
      for (; c < D16; c += 16) pair_chunks(std::integral_constant<int, 1>{}, c);
      int nt = depthwise3x3_taps(rows, wt, w, D, x, src, ker);
      dw_finish_pixel(o, src, ker, nt, D, z0e, z0o, norm_w, norm_b, eps);
      nt = depthwise3x3_taps(rows, wt, w, D, x + 1, src, ker);
      dw_finish_pixel(o1, src, ker, nt, D, z1e, z1o, norm_w, norm_b, eps);
      x += 2;
      continue;
    }
    const int nt = depthwise3x3_taps(rows, wt, w, D, x, src, ker);
    __m512 ze = _mm512_setzero_ps(), zo = _mm512_setzero_ps();
    auto chunks = [&](auto G, int64_t c) {
      __m512 acc[G.value];
      for (int q = 0; q < G.value; ++q) acc[q] = _mm512_setzero_ps();
      for (int t = 0; t < nt; ++t)
        for (int q = 0; q < G.value; ++q)
          acc[q] = _mm512_fmadd_ps(_mm512_loadu_ps(ker[t] + c + 16 * q), _mm512_loadu_ps(src[t] + c + 16 * q), acc[q]);
      for (int q = 0; q < G.value; ++q) {
        _mm512_storeu_ps(o + c + 16 * q, acc[q]);
        if (((c >> 4) + q) % 2 == 0) ze = _mm512_add_ps(ze, acc[q]);
        else zo = _mm512_add_ps(zo, acc[q]);
      }
    };
    int64_t c = 0;
    for (; c + 64 <= D16; c += 64) chunks(std::integral_constant<int, 4>{}, c);
    for (; c < D16; c += 16) chunks(std::integral_constant<int, 1>{}, c);
    dw_finish_pixel(o, src, ker, nt, D, ze, zo, norm_w, norm_b, eps);
    ++x;
  }
}

bool lerp_taps_fit_avx512(const int32_t* lo, const int32_t* hi, int64_t n) {
  for (int64_t x = 0; x < n; x += 16) {
    const int64_t e = std::min<int64_t>(n, x + 16);
    for (int64_t i = x; i < e; ++i)
      if (lo[i] < lo[x] || lo[i] - lo[x] >= 32 || hi[i] < lo[x] || hi[i] - lo[x] >= 32) return false;
  }
  return true;
}

void lerp_sigmoid_avx512(const float* row, const int32_t* lo, const int32_t* hi, const float* t, int64_t n, float* sig) {
  const __m512 one = _mm512_set1_ps(1.f);
  const int64_t n8 = n & ~int64_t(7);  // the AVX2 kernel's vector part; the rest scalar, as there
  for (int64_t x = 0; x < n8; x += 16) {
    const __mmask16 m = vec512::tail_mask(static_cast<int>(std::min<int64_t>(16, n8 - x)));
    const int32_t base = lo[x];
    const __m512i vb = _mm512_set1_epi32(base), zero = _mm512_setzero_si512();
    const __m512i il = _mm512_max_epi32(_mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, lo + x), vb), zero);
    const __m512i ih = _mm512_max_epi32(_mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, hi + x), vb), zero);
    const __m512 w0 = _mm512_loadu_ps(row + base), w1 = _mm512_loadu_ps(row + base + 16);
    const __m512 a = _mm512_permutex2var_ps(w0, il, w1);
    const __m512 b = _mm512_permutex2var_ps(w0, ih, w1);
    const __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, t + x), _mm512_sub_ps(b, a), a);
    const __m512 e = vec512::exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), v));
    _mm512_mask_storeu_ps(sig + x, m, _mm512_div_ps(one, _mm512_add_ps(one, e)));
  }
  for (int64_t x = n8; x < n; ++x) {
    const float a = row[lo[x]], v = a + t[x] * (row[hi[x]] - a);
    sig[x] = 1.f / (1.f + std::exp(-v));
  }
}

void axpy_avx512(float a, const float* s, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(a);
  for (int64_t x = 0; x < n; x += 16) {
    const __mmask16 m = vec512::tail_mask(static_cast<int>(std::min<int64_t>(16, n - x)));
    _mm512_mask_storeu_ps(y + x, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, s + x), _mm512_maskz_loadu_ps(m, y + x)));
  }
}

}  // namespace r4p::engine
