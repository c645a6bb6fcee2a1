/**
 * layerNorm / layerNormBackward: the LayerNorm of the TF.js training graph (SPEC §2 numerics: biased
 * variance, eps 1e-6 in the model) as one native op, with the statistics the backward needs
 * (ops.h LayerNormArgs / LayerNormBwdArgs). Over the last axis of x [R,C]:
 *   mean_r = sum_c x[r,c] / C,  var_r = sum_c (x[r,c] - mean_r)^2 / C,  rstd_r = 1 / sqrt(var_r + eps)
 *   y[r,c] = (x[r,c] - mean_r) rstd_r w[c] + b[c]
 * Backward, xhat = (x - mean) rstd, g = dy w:
 *   dx = rstd (g - mean_c(g) - xhat mean_c(g xhat)),  dw = sum_r dy xhat,  db = sum_r dy
 * Rows are independent (one thread each); dw / db are summed over fixed row chunks and then in chunk
 * order, so results do not depend on the thread count. The avx2 variant works in float32 (8 lanes, a
 * two-pass centred variance), the ref in double.
 */
import { native } from '../native.js';
import { describe, rangeError, typeError } from '../errors.js';
import { expectEps, expectTensor, outputF32, snapshotAll, type F32Tensor } from '../validate.js';

export interface LayerNormOptions {
  /** Added to the variance; finite and > 0 (also as float32). Default 1e-6 (SPEC §2). */
  eps?: number;
  /** Float32Array of R*C elements to write y into. */
  out?: Float32Array;
  /** Float32Array of R elements to write the row means into. */
  mean?: Float32Array;
  /** Float32Array of R elements to write the row 1 / sqrt(var + eps) into. */
  rstd?: Float32Array;
}

export interface LayerNormOutput {
  /** float32 [R,C] */
  y: F32Tensor;
  /** float32 [R]: row means (for layerNormBackward) */
  mean: F32Tensor;
  /** float32 [R]: row 1 / sqrt(var + eps) (for layerNormBackward) */
  rstd: F32Tensor;
}

export interface LayerNormBackwardOptions {
  /** Float32Array of R*C elements to write dx into. */
  dx?: Float32Array;
  /** Float32Array of C elements to write dw into. */
  dw?: Float32Array;
  /** Float32Array of C elements to write db into. */
  db?: Float32Array;
}

export interface LayerNormGrads {
  /** float32 [R,C] */
  dx: F32Tensor;
  /** float32 [C] */
  dw: F32Tensor;
  /** float32 [C] */
  db: F32Tensor;
}

/**
 * The [R,C] view LayerNorm takes of a tensor of any rank >= 1: C = the last dim, R = the product of the others.
 * @param shape the tensor's shape (dims >= 0)
 * @returns `{ R, C }`
 * @throws TypeError for rank 0; RangeError for a dim that is not a non-negative integer
 * @example
 *   layerNormDims([2, 64, 64, 192]); // { R: 8192, C: 192 }
 */
export function layerNormDims(shape: readonly number[]): { R: number; C: number } {
  const op = 'layerNorm';
  if (!Array.isArray(shape)) throw typeError(op, `expected x.shape to be an array, received ${describe(shape)}`);
  if (shape.length === 0) throw typeError(op, 'expected x to have rank >= 1 (LayerNorm normalises the last axis), received rank 0');
  for (const [i, d] of shape.entries())
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) throw rangeError(op, `expected x.shape[${i}] to be a non-negative integer, received ${describe(d)}`);
  const C = shape[shape.length - 1]!;
  let R = 1;
  for (let i = 0; i < shape.length - 1; i++) R *= shape[i]!;
  return { R, C };
}

function checkEps(op: string, eps: unknown): number {
  return expectEps(op, 'eps', eps);
}

/**
 * LayerNorm over the last axis, returning the row statistics for the backward.
 * @param x float32 [R,C]
 * @param w float32 [C] scale
 * @param b float32 [C] shift
 * @param opts `eps` (default 1e-6), optional output buffers `out` [R*C], `mean` [R], `rstd` [R] (must not overlap the inputs)
 * @returns `{ y: float32 [R,C], mean: float32 [R], rstd: float32 [R] }`
 * @throws TypeError for a wrong dtype / rank, a non-object opts or a non-Float32Array output buffer;
 *   RangeError for a shape or buffer-length mismatch, a bad eps, or output buffers that overlap the inputs
 * @example
 *   const { y, mean, rstd } = layerNorm({ data: x, shape: [554, 192] }, { data: w, shape: [192] }, { data: b, shape: [192] });
 */
export function layerNorm(x: F32Tensor, w: F32Tensor, b: F32Tensor, opts: LayerNormOptions = {}): LayerNormOutput {
  const op = 'layerNorm';
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
  [x, w, b] = snapshotAll(x, w, b); // each input's data / shape read once
  const [R, C] = expectTensor(op, 'x', x, 'float32', ['R', 'C']) as [number, number];
  expectTensor(op, 'w', w, 'float32', ['C'], { C });
  expectTensor(op, 'b', b, 'float32', ['C'], { C });
  const eps = checkEps(op, opts.eps ?? 1e-6);
  const y = outputF32(op, 'out', opts.out, R * C);
  const mean = outputF32(op, 'mean', opts.mean, R);
  const rstd = outputF32(op, 'rstd', opts.rstd, R);
  native().layerNorm(x.data, w.data, b.data, y, mean, rstd, R, C, eps);
  return { y: { data: y, shape: [R, C] }, mean: { data: mean, shape: [R] }, rstd: { data: rstd, shape: [R] } };
}

/**
 * Gradients of layerNorm w.r.t. x, w and b (overwritten, not accumulated).
 * @param dy float32 [R,C] upstream gradient of y
 * @param x float32 [R,C] the forward's input
 * @param w float32 [C] the forward's scale
 * @param mean float32 [R] from layerNorm
 * @param rstd float32 [R] from layerNorm
 * @param opts optional output buffers `dx` [R*C], `dw` [C], `db` [C] (must not overlap the inputs or each other)
 * @returns `{ dx: float32 [R,C], dw: float32 [C], db: float32 [C] }`
 * @throws TypeError for a wrong dtype / rank or a non-Float32Array output buffer; RangeError for a shape or
 *   buffer-length mismatch or overlapping buffers
 * @example
 *   const { dx, dw, db } = layerNormBackward(dy, x, w, mean, rstd);
 */
export function layerNormBackward(dy: F32Tensor, x: F32Tensor, w: F32Tensor, mean: F32Tensor, rstd: F32Tensor, opts: LayerNormBackwardOptions = {}): LayerNormGrads {
  const op = 'layerNormBackward';
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
  [dy, x, w, mean, rstd] = snapshotAll(dy, x, w, mean, rstd);
  const [R, C] = expectTensor(op, 'dy', dy, 'float32', ['R', 'C']) as [number, number];
  expectTensor(op, 'x', x, 'float32', ['R', 'C'], { R, C });
  expectTensor(op, 'w', w, 'float32', ['C'], { C });
  expectTensor(op, 'mean', mean, 'float32', ['R'], { R });
  expectTensor(op, 'rstd', rstd, 'float32', ['R'], { R });
  const dx = outputF32(op, 'dx', opts.dx, R * C);
  const dw = outputF32(op, 'dw', opts.dw, C);
  const db = outputF32(op, 'db', opts.db, C);
  native().layerNormBackward(dy.data, x.data, w.data, mean.data, rstd.data, dx, dw, db, R, C);
  return { dx: { data: dx, shape: [R, C] }, dw: { data: dw, shape: [C] }, db: { data: db, shape: [C] } };
}
