/**
 * Small seeded random numbers for weight initialisation (never Math.random): mulberry32 for uniforms,
 * Box-Muller for normals, rejection for truncated normals. Deterministic across platforms: only 32-bit
 * integer ops and IEEE double log/cos/sqrt, whose results node computes identically everywhere we run
 * (the float32 rounding of the results hides any last-ulp differences in practice).
 */

/** mulberry32 stream seeded with the low 32 bits of `seed`: uniforms in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal sampler over a uniform stream (Box-Muller, one sample per pair). */
export function normalSampler(u: () => number): () => number {
  return () => {
    const a = Math.max(u(), 1e-300), b = u();
    return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
  };
}

/** Fills `out` with N(mean, std^2) samples truncated to mean +- 2 std (redrawn until inside). */
export function fillTruncNormal(out: Float32Array, n: () => number, std: number, mean = 0): Float32Array {
  for (let i = 0; i < out.length; i++) {
    let z = n();
    while (z < -2 || z > 2) z = n();
    out[i] = mean + std * z;
  }
  return out;
}
