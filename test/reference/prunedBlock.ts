/**
 * Float64 oracle for SPEC §5 prunedBlock (numerics §2), composed from unfused references:
 *   gather -> LayerNorm -> qkv Linear -> per-head softmax(q k^T / sqrt(Dh)) v -> proj Linear -> ls1 residual
 *   -> LayerNorm -> fc1 Linear -> exact GELU -> fc2 Linear -> ls2 residual -> scatter.
 * Written from the SPEC formulas (timm Linear: y = x W^T + b, W [out, in]); not a port of the C++.
 * Also: an erf accurate to ~1e-15 (our own, no library) and random block weights for tests / benches.
 */
import type { F32Tensor } from '../../src/index.js';
import type { PrunedBlockWeights } from '../../src/ops/prunedBlock.js';
import { gatherRef, scatterRef } from './gatherScatter.js';
import { randn, rng } from './helpers.js';

/**
 * erf(x) in double precision.
 * |x| < 4: erf x = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1)); every term is positive, so
 *   there is no cancellation, and terms shrink geometrically once 2n+3 > 2x^2.
 * |x| >= 4: erfc x = e^{-x^2}/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), the Laplace
 *   continued fraction evaluated bottom-up at a fixed depth; erfc(4) ~ 1.5e-8, so 1 - erfc is exact to
 *   double rounding there.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  let r: number;
  if (ax < 4) {
    let term = ax, sum = ax;
    for (let n = 0; n < 200; n++) {
      term *= (2 * ax * ax) / (2 * n + 3);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
  } else {
    let f = ax;
    for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}

/** Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
export function geluRef(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** y[m,:] = (x[m,:] - mean) / sqrt(var + eps) * w + b, biased variance. */
export function layerNormRef(x: ArrayLike<number>, M: number, D: number, w: ArrayLike<number>, b: ArrayLike<number>, eps: number): Float64Array {
  const y = new Float64Array(M * D);
  for (let m = 0; m < M; m++) {
    let mean = 0;
    for (let d = 0; d < D; d++) mean += x[m * D + d]!;
    mean /= D;
    let v = 0;
    for (let d = 0; d < D; d++) v += (x[m * D + d]! - mean) ** 2;
    v /= D;
    const rs = 1 / Math.sqrt(v + eps);
    for (let d = 0; d < D; d++) y[m * D + d] = (x[m * D + d]! - mean) * rs * w[d]! + b[d]!;
  }
  return y;
}

/** timm Linear: y[m,o] = sum_i x[m,i] W[o,i] + bias[o]. */
export function linearRef(x: ArrayLike<number>, M: number, inF: number, outF: number, W: ArrayLike<number>, bias: ArrayLike<number>): Float64Array {
  const y = new Float64Array(M * outF);
  for (let m = 0; m < M; m++) {
    for (let o = 0; o < outF; o++) {
      let s = bias[o]!;
      const xo = m * inF, wo = o * inF;
      for (let i = 0; i < inF; i++) s += x[xo + i]! * W[wo + i]!;
      y[m * outF + o] = s;
    }
  }
  return y;
}

/** Multi-head softmax attention over T tokens from a fused qkv [T,3D] (timm order q | k | v, head-major) -> [T,D]. */
export function mhsaRef(qkv: ArrayLike<number>, T: number, D: number, H: number): Float64Array {
  const Dh = D / H, scale = 1 / Math.sqrt(Dh);
  const out = new Float64Array(T * D);
  const s = new Float64Array(T);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < T; i++) {
      let mx = -Infinity;
      for (let j = 0; j < T; j++) {
        let dot = 0;
        for (let e = 0; e < Dh; e++) dot += qkv[i * 3 * D + h * Dh + e]! * qkv[j * 3 * D + D + h * Dh + e]!;
        s[j] = dot * scale;
        mx = Math.max(mx, s[j]!);
      }
      let den = 0;
      for (let j = 0; j < T; j++) {
        s[j] = Math.exp(s[j]! - mx);
        den += s[j]!;
      }
      for (let e = 0; e < Dh; e++) {
        let acc = 0;
        for (let j = 0; j < T; j++) acc += s[j]! * qkv[j * 3 * D + 2 * D + h * Dh + e]!;
        out[i * D + h * Dh + e] = acc / den;
      }
    }
  }
  return out;
}

/** One pre-norm block on T tokens X [T,D] -> [T,D] (SPEC §2). */
export function blockRef(X: ArrayLike<number>, T: number, D: number, H: number, w: PrunedBlockWeights, eps: number): Float64Array {
  const F = w['mlp.fc1.bias'].data.length;
  const a = layerNormRef(X, T, D, w['norm1.weight'].data, w['norm1.bias'].data, eps);
  const qkv = linearRef(a, T, D, 3 * D, w['attn.qkv.weight'].data, w['attn.qkv.bias'].data);
  const att = mhsaRef(qkv, T, D, H);
  const p = linearRef(att, T, D, D, w['attn.proj.weight'].data, w['attn.proj.bias'].data);
  const z = new Float64Array(T * D);
  for (let i = 0; i < T * D; i++) z[i] = X[i]! + w['ls1.gamma'].data[i % D]! * p[i]!;
  const c = layerNormRef(z, T, D, w['norm2.weight'].data, w['norm2.bias'].data, eps);
  const h = linearRef(c, T, D, F, w['mlp.fc1.weight'].data, w['mlp.fc1.bias'].data);
  for (let i = 0; i < h.length; i++) h[i] = geluRef(h[i]!);
  const m = linearRef(h, T, F, D, w['mlp.fc2.weight'].data, w['mlp.fc2.bias'].data);
  const y = new Float64Array(T * D);
  for (let i = 0; i < T * D; i++) y[i] = z[i]! + w['ls2.gamma'].data[i % D]! * m[i]!;
  return y;
}

/** x [B,N,D], idx [B,K] | null -> scatter(x, idx, block(gather(x, idx))) [B,N,D] in float64. */
export function prunedBlockRef(x: ArrayLike<number>, idx: ArrayLike<number> | null, B: number, N: number, K: number, D: number, H: number, w: PrunedBlockWeights, eps = 1e-6): Float64Array {
  const ids = idx ?? Int32Array.from({ length: B * N }, (_, i) => i % N);
  const X = gatherRef(x, ids, B, N, K, D);
  const Y = new Float64Array(B * K * D);
  for (let b = 0; b < B; b++) Y.set(blockRef(X.subarray(b * K * D, (b + 1) * K * D), K, D, H, w, eps), b * K * D);
  return scatterRef(x, ids, Y, B, N, K, D);
}

/**
 * Random block weights with realistic scales: LayerNorm weight ~ 1 + 0.1 n, biases ~ 0.1 n, Linear
 * weights ~ n / sqrt(in) (so activations stay O(1) and softmax is neither flat nor one-hot),
 * LayerScale in [0.2, 1).
 */
export function randomBlockWeights(D: number, F: number, seed: number): PrunedBlockWeights {
  const r = rng(seed);
  const t = (data: Float32Array, shape: number[]): F32Tensor => ({ data, shape });
  const affine = () => randn(D, r, 0.1).map((v) => 1 + v);
  const ls = () => Float32Array.from({ length: D }, () => 0.2 + 0.8 * r());
  return {
    'norm1.weight': t(affine(), [D]),
    'norm1.bias': t(randn(D, r, 0.1), [D]),
    'attn.qkv.weight': t(randn(3 * D * D, r, 1 / Math.sqrt(D)), [3 * D, D]),
    'attn.qkv.bias': t(randn(3 * D, r, 0.1), [3 * D]),
    'attn.proj.weight': t(randn(D * D, r, 1 / Math.sqrt(D)), [D, D]),
    'attn.proj.bias': t(randn(D, r, 0.1), [D]),
    'ls1.gamma': t(ls(), [D]),
    'norm2.weight': t(affine(), [D]),
    'norm2.bias': t(randn(D, r, 0.1), [D]),
    'mlp.fc1.weight': t(randn(F * D, r, 1 / Math.sqrt(D)), [F, D]),
    'mlp.fc1.bias': t(randn(F, r, 0.1), [F]),
    'mlp.fc2.weight': t(randn(D * F, r, 1 / Math.sqrt(F)), [D, F]),
    'mlp.fc2.bias': t(randn(D, r, 0.1), [D]),
    'ls2.gamma': t(ls(), [D]),
  };
}
