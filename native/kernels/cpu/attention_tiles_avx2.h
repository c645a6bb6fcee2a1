// attention_tiles_avx2.h: the register-blocked pieces shared by the attention core (forward, SPEC §4/§5)
// and the policyAttention backward. Include only from *_avx2.cc files.
//
// Layouts (floats, all scratch):
//   xt [Dh][KT]  a tile of KT rows of x packed transposed (zero padded past the valid rows), so a
//                score row block is R broadcast-q FMAs against 16 contiguous keys per step;
//   xr [KT][Dp]  a tile of rows copied with a padded stride Dp = Dh rounded up to 8 (pad = 0), so the
//                P·V product needs no masked loads;
//   s  [R][lds]  scores / probabilities of an R-row micro-block (lds = KT in the backward, the softmax
//                chunk width in the forward core).
// Micro-kernels use R <= 6 rows x 2 vectors = 12 accumulators (+ 2 loads + 1 broadcast < 16 ymm).
// Every row's arithmetic is the same whatever R is (one accumulator per row and 8-key lane, d in
// order), so results do not depend on how rows are grouped: thread-count independence for free.
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cpu/vec_math_avx2.h"

namespace r4p::attn {
// Anonymous: every including file (avx2 and avx512 ones) gets its own copy compiled with its own flags;
// no inline function of an AVX-512 file can be merged by the linker into an AVX2 path.
namespace {

constexpr int KT = 64;    // keys per tile
constexpr int RMAX = 6;   // rows per micro-block

inline int64_t pad8(int64_t d) { return (d + 7) & ~int64_t(7); }

// e^x for the softmax (x = score - running max, so x <= 0 up to rounding; any x is safe).
// Cheaper than vec::exp_ps (13 vector ops instead of ~20; the exp is ~1/6 of the attention's time):
// n = round(x log2 e) by the 1.5*2^23 magic-number add, whose low mantissa bits then hold n + 127,
// so 2^n is one shift; r = x - n ln2 (two-step Cody-Waite), e^r by a degree-6 minimax polynomial
// (rel. error <= 7.7e-8 over [-87, 1], measured against double exp; vec::exp_ps: 1.2e-7).
// x <= -88 (also -inf) gives n = -127, a zero scale, so exactly 0 (masked and padding keys);
// x is clamped to 88 above (n <= 127). A NaN stays NaN (min/max return their second operand then).
// (Tried: a 2^(k/8) table via vpermps with a degree-3 polynomial, 3 fewer FMA-port ops: <= 1% faster
// and twice the error, not kept.)
inline __m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
  x = _mm256_max_ps(_mm256_set1_ps(-88.0f), x);
  const __m256 magic = _mm256_set1_ps(12582912.f + 127.f);
  const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), magic);
  const __m256 n = _mm256_sub_ps(t, magic);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.3796642888e-3f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3687817678e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1668426245e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666527092e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.9999997020e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23));
  return _mm256_mul_ps(p, scale);
}

// The softmax's exponential, base 2 (the core's scores carry log2 e through the scaled q rows, so
// e^(a - max a) = 2^(s - max s)): x = s - running max <= 0 (NaN stays NaN; x > 0 is outside the contract).
// n = round(x) by the 1.5*2^23 magic-number add (the low mantissa bits of t then hold n + 127, so 2^n is
// one shift), r = x - n exactly, in [-1/2, 1/2], and 2^r by a degree-6 polynomial with p(0) = 1 (a
// relative-error fit; max rel. error 8.0e-8 against double exp2, measured on every float in [-1, 0] and
// every 7th one in [-126, -1]). x < -126.5 (also -inf) gives n = -127, a zero scale: exactly 0 (padding
// keys). Against exp_ps above: no log2 e product and no two-step Cody-Waite reduction (the reduction is
// exact), so 8 FMA-port ops per vector instead of 11 and a shorter dependency chain (the softmax was
// latency-bound on it).
constexpr float kExp2C[6] = {0.6931471824645996f, 0.24022647738456726f, 0.055503323674201965f,
                             0.00961843691766262f, 0.0013398875016719103f, 0.00015353360504377633f};
constexpr float kLog2e = 1.44269504088896341f, kLn2 = 0.693147180559945309f;
inline __m256 exp2_ps(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-127.f), x);
  const __m256 magic = _mm256_set1_ps(12582912.f + 127.f);
  const __m256 t = _mm256_add_ps(x, magic);
  const __m256 r = _mm256_sub_ps(x, _mm256_sub_ps(t, magic));
  __m256 p = _mm256_set1_ps(kExp2C[5]);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExp2C[4]));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExp2C[3]));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExp2C[2]));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExp2C[1]));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExp2C[0]));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23));
  return _mm256_mul_ps(p, scale);
}

// A softmax chunk whose scores are all -inf or NaN (no finite max, so the row's running max stays as it was):
// its p are 0; a NaN score makes the row's sum, hence its output, NaN (the max skips NaN scores).
inline void softmax_empty_chunk(float* s, int n, int width, float* l) {
  for (int j = 0; j < n; ++j)
    if (s[j] != s[j]) *l = s[j];
  std::fill(s, s + width, 0.f);
}

// The factor that rescales a row's sums when its running max grows from m_old to m_new (base 2).
inline float softmax_rescale_factor(float m_old, float m_new) {
  return m_old == -std::numeric_limits<float>::infinity() ? 0.f : std::exp2(m_old - m_new);
}

// 8x8 transpose of r[0..7] in registers (r[i] lane j -> r[j] lane i).
inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// xt[d*KT + jl] = mul * x[(j0+jl)*ld + d] for jl < n, 0 for n <= jl < KT.
// 8x8 blocks go through registers (a scalar transpose is store-bound and was ~15% of the forward);
// every element is still the single product mul * x, so the result is the same bit for bit.
inline void pack_t(const float* x, int64_t ld, int64_t j0, int n, int64_t Dh, float* xt, float mul = 1.f) {
  const int n8 = n & ~7;
  const int64_t D8 = Dh & ~int64_t(7);
  const __m256 vmul = _mm256_set1_ps(mul);
  for (int jl = 0; jl < n8; jl += 8) {
    const float* src = x + (j0 + jl) * ld;
    for (int64_t d = 0; d < D8; d += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; ++i) r[i] = _mm256_mul_ps(vmul, _mm256_loadu_ps(src + i * ld + d));
      transpose8(r);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(xt + (d + i) * KT + jl, r[i]);
    }
    for (int64_t d = D8; d < Dh; ++d)
      for (int i = 0; i < 8; ++i) xt[d * KT + jl + i] = mul * src[i * ld + d];
  }
  for (int jl = n8; jl < n; ++jl) {
    const float* src = x + (j0 + jl) * ld;
    for (int64_t d = 0; d < Dh; ++d) xt[d * KT + jl] = mul * src[d];
  }
  if (n < KT)
    for (int64_t d = 0; d < Dh; ++d) std::fill(xt + d * KT + n, xt + (d + 1) * KT, 0.f);
}

// xr[jl*Dp + d] = mul * x[(j0+jl)*ld + d] for jl < n, d < Dh; 0 for Dh <= d < Dp.
inline void pack_rows(const float* x, int64_t ld, int64_t j0, int n, int64_t Dh, int64_t Dp, float* xr, float mul = 1.f) {
  for (int jl = 0; jl < n; ++jl) {
    const float* src = x + (j0 + jl) * ld;
    float* dst = xr + jl * Dp;
    for (int64_t d = 0; d < Dh; ++d) dst[d] = mul * src[d];
    for (int64_t d = Dh; d < Dp; ++d) dst[d] = 0.f;
  }
}

// s[r*lds + jl] = sum_d a[r*lda + d] * xt[d*KT + jl] for r < R, jl < 16*ngroups.
template <int R>
inline void scores(const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s, int64_t lds) {
  for (int g = 0; g < ngroups; ++g) {
    __m256 acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
    const float* kp = xt + g * 16;
    for (int64_t d = 0; d < Dh; ++d) {
      const __m256 k0 = _mm256_loadu_ps(kp + d * KT), k1 = _mm256_loadu_ps(kp + d * KT + 8);
      for (int r = 0; r < R; ++r) {
        const __m256 qb = _mm256_broadcast_ss(a + r * lda + d);
        acc0[r] = _mm256_fmadd_ps(qb, k0, acc0[r]);
        acc1[r] = _mm256_fmadd_ps(qb, k1, acc1[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(s + r * lds + g * 16, acc0[r]);
      _mm256_storeu_ps(s + r * lds + g * 16 + 8, acc1[r]);
    }
  }
}

// o[r*ldo + c] += sum_{j<n} p[r*lds + j] * xr[j*Dp + c] for r < R, c < Dp (Dp multiple of 8).
template <int R>
inline void pv(const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo, int64_t lds) {
  int64_t c = 0;
  for (; c + 16 <= Dp; c += 16) {
    __m256 acc0[R], acc1[R];
    for (int r = 0; r < R; ++r) {
      acc0[r] = _mm256_loadu_ps(o + r * ldo + c);
      acc1[r] = _mm256_loadu_ps(o + r * ldo + c + 8);
    }
    for (int j = 0; j < n; ++j) {
      const __m256 v0 = _mm256_loadu_ps(xr + j * Dp + c), v1 = _mm256_loadu_ps(xr + j * Dp + c + 8);
      for (int r = 0; r < R; ++r) {
        const __m256 pb = _mm256_broadcast_ss(p + r * lds + j);
        acc0[r] = _mm256_fmadd_ps(pb, v0, acc0[r]);
        acc1[r] = _mm256_fmadd_ps(pb, v1, acc1[r]);
      }
    }
    for (int r = 0; r < R; ++r) {
      _mm256_storeu_ps(o + r * ldo + c, acc0[r]);
      _mm256_storeu_ps(o + r * ldo + c + 8, acc1[r]);
    }
  }
  if (c < Dp) {  // one 8-wide column left
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_loadu_ps(o + r * ldo + c);
    for (int j = 0; j < n; ++j) {
      const __m256 v0 = _mm256_loadu_ps(xr + j * Dp + c);
      for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + r * lds + j), v0, acc[r]);
    }
    for (int r = 0; r < R; ++r) _mm256_storeu_ps(o + r * ldo + c, acc[r]);
  }
}

// Runtime R (1..RMAX) -> template instance.
template <template <int> class F, typename... Args>
inline void dispatch_rows(int R, Args&&... args) {
  switch (R) {
    case 1: F<1>::run(args...); break;
    case 2: F<2>::run(args...); break;
    case 3: F<3>::run(args...); break;
    case 4: F<4>::run(args...); break;
    case 5: F<5>::run(args...); break;
    default: F<6>::run(args...); break;
  }
}
template <int R>
struct ScoresF {
  static void run(const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s, int64_t lds) {
    scores<R>(a, lda, Dh, xt, ngroups, s, lds);
  }
};
template <int R>
struct PvF {
  static void run(const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo, int64_t lds) {
    pv<R>(p, n, xr, Dp, o, ldo, lds);
  }
};

}  // namespace
}  // namespace r4p::attn
