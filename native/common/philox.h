// philox.h: Philox4x32-10 counter-based RNG (Salmon, Moraes, Dror, Shaw, "Parallel random numbers:
// as easy as 1, 2, 3", SC 2011) and the Gumbel noise that SPEC §3/§4/§5 draw from it.
// Header-only and stateless: a draw is a pure function of (key, counter), so any thread (or CUDA
// thread, later) computes the same value for the same token without a shared stream.
//
// ---- The contract (CPU kernels now, CUDA kernels later, and test/reference/philox.ts) ----------
//   key     = (k0, k1) = (seed & 0xffffffff, seed >> 32)                 seed: uint64
//   counter = (c0, c1, c2, c3) = (token n, batch row b, stream id, 0)
//             stream id 0 = gumbelTopK, 1 = gumbelSoftmaxST
//   x       = philox4x32_10(counter, key)                                  four uint32 words
//   u_j     = ((x[j] >> 8) + 0.5) * 2^-24        in (0, 1): the top 24 bits, centred in their cell,
//                                                so u is never 0 or 1 and log(u), log(-log u) finite
//   g_j     = -log(-log(u_j))                    Gumbel(0, 1), computed in double
//   gumbelTopK uses g_0; gumbelSoftmaxST uses g_0 for channel 0 (keep) and g_1 for channel 1.
// u_j is exact in double (a 24-bit integer plus one half, times a power of two). g_j is computed in
// double because the keys logit + g are compared in double: float noise would make near-ties (and
// so the chosen set) depend on rounding details, while the double keys only depend on the libm log,
// which is the same on every thread count (CUDA's double log is also accurate to ~1 ulp, so CPU and
// GPU pick the same tokens unless two keys agree to ~1e-16 relative, which random logits never do).
//
// Philox4x32 round (R = 10): with M0 = 0xD2511F53, M1 = 0xCD9E8D57,
//   (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2   (32x32 -> 64-bit products)
//   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
// and the key is bumped by the Weyl constants (W0 = 0x9E3779B9, W1 = 0xBB67AE85) between rounds.
// Known answers (Random123 kat_vectors) are checked in test/ops/gumbelTopK.test.ts.
#pragma once
#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define R4P_HD __host__ __device__ __forceinline__
#else
#define R4P_HD inline
#endif

namespace r4p {

enum PhiloxStream : uint32_t { kPhiloxStreamGumbelTopK = 0, kPhiloxStreamGumbelSoftmax = 1 };

struct Philox4x32 {
  uint32_t v[4];
};

R4P_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  *hi = static_cast<uint32_t>(p >> 32);
  *lo = static_cast<uint32_t>(p);
}

// Philox4x32-10 of counter (c0..c3) under key (k0, k1).
R4P_HD Philox4x32 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {  // key schedule: bump before every round but the first
      k0 += W0;
      k1 += W1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(M0, c0, &hi0, &lo0);
    philox_mulhilo(M1, c2, &hi1, &lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return Philox4x32{{c0, c1, c2, c3}};
}

// The contract's draw for token n of batch row b in a stream.
R4P_HD Philox4x32 philox_token(uint64_t seed, int64_t b, int64_t n, uint32_t stream) {
  return philox4x32_10(static_cast<uint32_t>(n), static_cast<uint32_t>(b), stream, 0u, static_cast<uint32_t>(seed),
                       static_cast<uint32_t>(seed >> 32));
}

// u = ((x >> 8) + 0.5) * 2^-24, exact in double, in [2^-25, 1 - 2^-25].
R4P_HD double philox_uniform(uint32_t x) { return (static_cast<double>(x >> 8) + 0.5) * (1.0 / 16777216.0); }

// Gumbel(0,1) from one output word: -log(-log(u)), in double (see the contract above).
R4P_HD double philox_gumbel(uint32_t x) { return -log(-log(philox_uniform(x))); }

}  // namespace r4p
