/**
 * Float64 oracle for the internal GEMM (ops.h GemmArgs; the Linear layers of SPEC §2/§5), written from
 * the documented formula, not from the C++:
 *   A(m,k) = transA ? A[k*lda + m] : A[arow(m)*lda + k],  B(k,n) = transB ? B[n*ldb + k] : B[k*ldb + n]
 *   v = alpha * sum_k A(m,k) B(k,n) (+ beta*C_old) (+ bias[n]); v = act(v); v *= colScale[n]; v += residual[rrow(m)*ldr + n]
 *   C[crow(m)*ldc + n] = v
 * Returns a Float64Array copy of C (entries of C not written keep their old value).
 */

/** erf by its Maclaurin series / continued fraction: |error| < 1e-14, independent of Math-library erf. */
export function erf64(x: number): number {
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    let term = ax, sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc continued fraction (Lentz), converges fast for x >= 3
    let f = ax, C = ax, D = 0;
    for (let n = 1; n < 200; n++) {
      const an = n / 2;
      D = ax + an * D; D = 1 / D;
      C = ax + an / C;
      const delta = C * D;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = 1 - Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI));
  }
  return x < 0 ? -r : r;
}

export type Act = 'none' | 'relu' | 'gelu';

export function act64(a: Act, v: number): number {
  if (a === 'relu') return v > 0 ? v : 0;
  if (a === 'gelu') return 0.5 * v * (1 + erf64(v / Math.SQRT2));
  return v;
}

export interface GemmRefArgs {
  M: number; N: number; K: number;
  A: ArrayLike<number>; lda: number; transA: boolean;
  B: ArrayLike<number>; ldb: number; transB: boolean;
  C: ArrayLike<number>; ldc: number;
  alpha?: number; beta?: number;
  bias?: ArrayLike<number>; activation?: Act; colScale?: ArrayLike<number>;
  residual?: ArrayLike<number>; ldr?: number;
  aRows?: ArrayLike<number>; cRows?: ArrayLike<number>; rRows?: ArrayLike<number>;
}

export function gemmRef(g: GemmRefArgs): Float64Array {
  const out = Float64Array.from(g.C);
  const alpha = g.alpha ?? 1, beta = g.beta ?? 0, ldr = g.ldr ?? g.N, act = g.activation ?? 'none';
  // residual may be C itself: read the residual from the original C, as each element reads its own slot first
  // monomorphic Float64Array copies keep the triple loop fast
  const A = Float64Array.from(g.A), B = Float64Array.from(g.B);
  for (let m = 0; m < g.M; m++) {
    const arow = g.aRows ? g.aRows[m]! : m, crow = g.cRows ? g.cRows[m]! : m, rrow = g.rRows ? g.rRows[m]! : m;
    for (let n = 0; n < g.N; n++) {
      let acc = 0;
      for (let k = 0; k < g.K; k++) {
        const a = g.transA ? A[k * g.lda + m]! : A[arow * g.lda + k]!;
        const b = g.transB ? B[n * g.ldb + k]! : B[k * g.ldb + n]!;
        acc += a * b;
      }
      const ci = crow * g.ldc + n;
      let v = alpha * acc;
      if (beta !== 0) v += beta * g.C[ci]!;
      if (g.bias) v += g.bias[n]!;
      v = act64(act, v);
      if (g.colScale) v *= g.colScale[n]!;
      if (g.residual) v += g.residual[rrow * ldr + n]!;
      out[ci] = v;
    }
  }
  return out;
}
