/**
 * adamwStep / emaStep: the training loop's per-parameter updates (SPEC §8) as one native in-place pass over
 * Float32Arrays (kernels/optimizer_step.h), for src/train/optimizer.ts. Each is bit-identical to the TF.js
 * composition it replaces (the same float32 operations in the same order; the constants rounded to float32 as
 * TF.js rounds a scalar operand):
 *   AdamW: m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p = (1 - lr wd) p - lr (m / bc1) / (sqrt(v / bc2) + eps)
 *   EMA:   e = d e + (1-d) p
 * where bc1 = 1 - b1^t, bc2 = 1 - b2^t at step t, and the decay factor is left out (p itself) for parameters
 * without weight decay. With lr = 0 the moments advance and p is left as it is.
 */
import { describe, rangeError, typeError } from '../errors.js';
import { native } from '../native.js';

export interface AdamWStepOptions {
  /** Learning rate of this parameter at this step (schedule and LLRD applied), finite, >= 0. */
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay λ; 0 (or decay false) leaves p undecayed. */
  weightDecay: number;
  /** Whether this parameter is decayed (biases, norms and tokens are not). */
  decay: boolean;
  /** The step being taken (1 for the first): the bias corrections use it. */
  t: number;
}

function f32Array(op: string, name: string, v: unknown, n?: number): Float32Array {
  if (!(v instanceof Float32Array)) throw typeError(op, `expected ${name} to be a Float32Array, received ${describe(v)}`);
  if (n !== undefined && v.length !== n) throw rangeError(op, `expected ${name} to have ${n} elements (as p), received ${v.length}`);
  return v;
}

/**
 * One AdamW step on one parameter, in place on p, m and v.
 * @param p the parameter's values (updated)
 * @param g its gradient (read only)
 * @param m, v the first and second moments (updated)
 * @throws TypeError for a non-Float32Array; RangeError for a length mismatch, shared memory between the
 *   buffers, a non-finite scalar or a hyperparameter out of range
 * @example adamwStep(p, g, m, v, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, decay: true, t: 1 });
 */
export function adamwStep(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: AdamWStepOptions): void {
  const op = 'adamwStep';
  f32Array(op, 'p', p);
  const n = p.length;
  f32Array(op, 'g', g, n);
  f32Array(op, 'm', m, n);
  f32Array(op, 'v', v, n);
  if (!(o.lr >= 0 && Number.isFinite(o.lr))) throw rangeError(op, `expected lr to be a finite number >= 0, received ${o.lr}`);
  if (!(o.beta1 >= 0 && o.beta1 < 1)) throw rangeError(op, `expected beta1 in [0, 1), received ${o.beta1}`);
  if (!(o.beta2 >= 0 && o.beta2 < 1)) throw rangeError(op, `expected beta2 in [0, 1), received ${o.beta2}`);
  if (!(o.eps > 0 && Number.isFinite(o.eps))) throw rangeError(op, `expected eps to be a finite number > 0, received ${o.eps}`);
  if (!(o.weightDecay >= 0 && Number.isFinite(o.weightDecay))) throw rangeError(op, `expected weightDecay >= 0, received ${o.weightDecay}`);
  if (!(Number.isInteger(o.t) && o.t >= 1)) throw rangeError(op, `expected t to be an integer >= 1, received ${o.t}`);
  const f = Math.fround;
  const bc1 = 1 - o.beta1 ** o.t, bc2 = 1 - o.beta2 ** o.t;
  const wd = o.decay && o.weightDecay > 0 ? 1 - o.lr * o.weightDecay : 1;
  native().adamwStep(p, g, m, v, n, f(o.beta1), f(1 - o.beta1), f(o.beta2), f(1 - o.beta2), f(bc1), f(bc2), f(o.eps), f(o.lr), f(wd), o.lr !== 0);
}

/**
 * One EMA update in place: e = d e + (1 - d) p.
 * @param e the average (updated); @param p the current values (read only); @param d the decay in [0, 1]
 * @throws TypeError for a non-Float32Array; RangeError for a length mismatch, shared memory, or d outside [0, 1]
 */
export function emaStep(e: Float32Array, p: Float32Array, d: number): void {
  const op = 'emaStep';
  f32Array(op, 'e', e);
  f32Array(op, 'p', p, e.length);
  if (!(d >= 0 && d <= 1)) throw rangeError(op, `expected d in [0, 1], received ${d}`);
  native().emaStep(e, p, e.length, Math.fround(d), Math.fround(1 - d));
}
