/**
 * Float64 TS oracles for gumbelTopK and gumbelSoftmaxST (SPEC §3, §4, §5), using the TS Philox.
 * Top-k: full sort by (key desc, index asc), first k, indices ascending. Softmax-ST: the two-channel
 * formulas with hard = [y_0 >= y_1]. Plus the chi-square p-value used by the statistical tests.
 */
import { gumbelPair, STREAM_SOFTMAX, STREAM_TOPK } from './philox.js';

export function gumbelTopKRef(logits: ArrayLike<number>, B: number, N: number, k: number, seed: number | bigint, noise: boolean, active?: ArrayLike<number>): Int32Array {
  const out = new Int32Array(B * k);
  for (let b = 0; b < B; b++) {
    const cand: Array<[number, number]> = [];
    for (let n = 0; n < N; n++) {
      if (active && active[b * N + n] === 0) continue;
      const g = noise ? gumbelPair(seed, b, n, STREAM_TOPK)[0] : 0;
      cand.push([logits[b * N + n]! + g, n]);
    }
    if (cand.length < k) throw new Error(`row ${b}: ${cand.length} active < k`);
    cand.sort((x, y) => (x[0] !== y[0] ? (x[0] > y[0] ? -1 : 1) : x[1] - y[1]));
    const pick = cand.slice(0, k).map((c) => c[1]).sort((x, y) => x - y);
    out.set(pick, b * k);
  }
  return out;
}

export function gumbelSoftmaxSTRef(logits: ArrayLike<number>, B: number, N: number, tau: number, seed: number | bigint): { hard: Float64Array; soft: Float64Array } {
  const hard = new Float64Array(B * N), soft = new Float64Array(B * N);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++) {
      const i = b * N + n;
      const [g0, g1] = gumbelPair(seed, b, n, STREAM_SOFTMAX);
      const y0 = (logits[2 * i]! + g0) / tau, y1 = (logits[2 * i + 1]! + g1) / tau;
      // softmax over two channels, written as the max-shifted exponentials
      const m = Math.max(y0, y1), e0 = Math.exp(y0 - m), e1 = Math.exp(y1 - m);
      soft[i] = e0 / (e0 + e1);
      hard[i] = y0 >= y1 ? 1 : 0;
    }
  return { hard, soft };
}

/** Soft surrogate for finite differences: soft as a function of logits with fixed noise. */
export function gumbelSoftOnly(logits: Float64Array, B: number, N: number, tau: number, seed: number): Float64Array {
  return gumbelSoftmaxSTRef(logits, B, N, tau, seed).soft;
}

export function gumbelSoftmaxSTBwdRef(dhard: ArrayLike<number>, soft: ArrayLike<number>, tau: number): Float64Array {
  const out = new Float64Array(2 * dhard.length);
  for (let i = 0; i < dhard.length; i++) {
    const s = soft[i]!, g = (dhard[i]! * s * (1 - s)) / tau;
    out[2 * i] = g;
    out[2 * i + 1] = -g;
  }
  return out;
}

// ---- statistics

function lnGamma(z: number): number {
  // Lanczos approximation (g = 7, 9 terms), |error| < 1e-13 for z > 0.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lnGamma(1 - z);
  z -= 1;
  let x = c[0]!;
  for (let i = 1; i < 9; i++) x += c[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}

/** Regularised upper incomplete gamma Q(a, x) (series below a+1, Lentz continued fraction above). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = a * Math.log(x) - x - lnGamma(a);
  if (x < a + 1) {
    let sum = 1 / a, term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(lead);
  }
  const tiny = 1e-300;
  let b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.exp(lead) * h;
}

/** P(X >= stat) for X ~ chi-square(df). */
export function chiSquarePValue(stat: number, df: number): number {
  return gammaQ(df / 2, stat / 2);
}
