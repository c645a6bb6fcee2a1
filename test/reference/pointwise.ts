/**
 * Float64 plain-TS oracles for the training graph's LayerNorm and exact GELU (SPEC §2 numerics; ops.h
 * LayerNormArgs / GeluArgs), transcribed from the formulas, not from the C++:
 *   LayerNorm over the last axis of x [R,C]: mean = sum x / C, var = sum (x - mean)^2 / C (biased),
 *     y = (x - mean) / sqrt(var + eps) * w + b
 *   its gradient by the chain rule through mean and var (dL/dvar, dL/dmean spelled out, as a textbook
 *   derivation writes them), dw = sum_r dy xhat, db = sum_r dy
 *   GELU: y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2;  dy/dx = Phi(x) + x phi(x)
 * erf in double: erf(z) = 2/sqrt(pi) e^{-z^2} sum_n 2^n z^{2n+1} / (1 3 5 ... (2n+1)) (all terms of one
 * sign, so no cancellation), and +-1 beyond |z| = 6 (erfc(6) ~ 2e-17).
 */

/** erf in double precision (relative error ~1e-15). */
export function erf(z: number): number {
  if (Number.isNaN(z)) return NaN;
  const a = Math.abs(z);
  if (a > 6) return Math.sign(z);
  let term = a, sum = a;
  for (let n = 1; n < 200; n++) {
    term *= (2 * a * a) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.sign(z) * (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
}

/** The standard normal CDF. */
export function normalCdf(x: number): number {
  return 0.5 * (1 + erf(x / Math.SQRT2));
}

export interface LayerNormRef {
  y: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
}

export function layerNormRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, R: number, C: number, eps: number): LayerNormRef {
  const y = new Float64Array(R * C), mean = new Float64Array(R), rstd = new Float64Array(R);
  for (let r = 0; r < R; r++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[r * C + c]!;
    const m = s / C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c]! - m) ** 2;
    const sd = Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = ((x[r * C + c]! - m) / sd) * w[c]! + b[c]!;
    mean[r] = m;
    rstd[r] = 1 / sd;
  }
  return { y, mean, rstd };
}

export interface LayerNormGradsRef {
  dx: Float64Array;
  dw: Float64Array;
  db: Float64Array;
}

/** Gradients of sum(dy * layerNorm(x, w, b)) by the chain rule through var and mean (statistics recomputed). */
export function layerNormBwdRef(dy: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, R: number, C: number, eps: number): LayerNormGradsRef {
  const dx = new Float64Array(R * C), dw = new Float64Array(C), db = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    const o = r * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += x[o + c]!;
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[o + c]! - m) ** 2;
    v /= C;
    const sd = Math.sqrt(v + eps);
    // y = xc / sd * w + b with xc = x - m, sd = sqrt(v + eps)
    let dvar = 0, dmean = 0;
    for (let c = 0; c < C; c++) {
      const dxhat = dy[o + c]! * w[c]!;
      dvar += dxhat * (x[o + c]! - m) * -0.5 * sd ** -3;
      dmean += -dxhat / sd;
    }
    // d var / d mean = -2/C sum xc = 0 exactly, so dmean has no var term.
    for (let c = 0; c < C; c++) {
      const dxhat = dy[o + c]! * w[c]!;
      dx[o + c] = dxhat / sd + (dvar * 2 * (x[o + c]! - m)) / C + dmean / C;
      dw[c] += dy[o + c]! * ((x[o + c]! - m) / sd);
      db[c] += dy[o + c]!;
    }
  }
  return { dx, dw, db };
}

export function geluRef(x: ArrayLike<number>): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i]! * normalCdf(x[i]!);
  return y;
}

/** dy * (Phi(x) + x phi(x)). */
export function geluBwdRef(dy: ArrayLike<number>, x: ArrayLike<number>): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    dx[i] = dy[i]! * (normalCdf(v) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI));
  }
  return dx;
}
