/**
 * The optimiser of SPEC §4 in TF.js ops on the model's variables: AdamW with decoupled weight decay,
 * per-parameter lr = schedule(group, step) · LLRD scale (schedule.ts), gradient accumulation and an EMA
 * of the weights. tf.train's optimisers have one lr for every variable, hence our own.
 *
 * AdamW (Loshchilov & Hutter; PyTorch's `torch.optim.AdamW` numerics), step t = 1, 2, … and
 * η_p = lrAt(t−1, group_p) · scale_p:
 *   p ← p − η_p · λ · p                          (decoupled decay, only where paramInfo says decay)
 *   m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
 *   p ← p − η_p · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + ε)
 * β = (0.9, 0.999), ε = 1e-8, λ = 0.05. A parameter without a gradient in a step (no path from the loss,
 * e.g. the selectors when the policy is off) is left alone, decay included (as PyTorch skips grad None).
 *
 * Gradient accumulation: `GradAccumulator` sums micro-batch gradients (each add disposes the previous
 * sums and the given gradients) and `mean()` hands back sum / count: with a loss that is a mean over its
 * batch, `accum` micro-batches of b images then equal one batch of accum·b images.
 *
 * EMA: e ← d_k e + (1 − d_k) p after the k-th optimiser step (k = 1, 2, …), with the usual warm-up
 * d_k = min(decay, (1 + k) / (10 + k)) (TF's ExponentialMovingAverage num_updates rule; off with
 * `warmup: false`), decay 0.9999. Without the warm-up a short run's EMA would stay at the initial weights.
 *
 * On the `cpu` backend both updates run as one native in-place pass per parameter (src/ops/optimizerStep.ts),
 * bit-identical to the TF.js composition below it, which every other backend (and `native: false`) uses: the
 * composition allocates a dozen whole-parameter tensors per step, whose fresh pages and garbage were about a
 * sixth of a training step of preset tiny.
 */
import * as tf from '@tensorflow/tfjs';
import { rangeError } from '../errors.js';
import { adamwStep, emaStep } from '../ops/optimizerStep.js';
import { f32Values, isCpuBackend, ownedF32Values } from '../tfjs/backend/cpuData.js';
import { lrAt, paramInfo, type LrSchedule, type ParamInfo } from './schedule.js';

export interface AdamWOptions {
  /** lr schedule (base lr, warmup, total steps, power). */
  schedule: LrSchedule;
  /** Decoupled weight decay λ (0.05). */
  weightDecay?: number;
  /** Layer-wise lr decay (0.8). */
  llrd?: number;
  /** Number of blocks L (for the LLRD scale); required unless `info` is given. */
  L?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Overrides the group / scale / decay of a parameter (default `paramInfo(name, L, llrd)`). */
  info?: (name: string) => ParamInfo;
  /** The native in-place update on the cpu backend (true); false: the TF.js composition everywhere. */
  native?: boolean;
}

// The values of a tensor for the native update (read only): float32 on a cpu-like backend, else undefined.
function cpuF32Values(g: tf.Tensor): Float32Array | undefined {
  const backend: unknown = tf.backend();
  return isCpuBackend(backend) ? f32Values(backend, g) : undefined;
}

/** AdamW over named variables (SPEC §8 names). */
export class AdamW {
  readonly schedule: LrSchedule;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly native: boolean;
  /** Optimiser steps taken so far. */
  step = 0;
  readonly info: Readonly<Record<string, ParamInfo>>;
  private readonly params: Record<string, tf.Variable>;
  private readonly m: Record<string, tf.Variable> = {};
  private readonly v: Record<string, tf.Variable> = {};

  /**
   * @param params name → trainable variable (e.g. `model.weights`)
   * @param opts schedule, weight decay, LLRD, L, betas, eps
   * @throws {RangeError} a bad hyper-parameter
   * @example const opt = new AdamW(model.weights, { schedule: { lr: 2e-4, warmup: [200, 400], totalSteps }, L: 12 });
   */
  constructor(params: Record<string, tf.Variable>, opts: AdamWOptions) {
    const op = 'AdamW';
    this.schedule = opts.schedule;
    this.weightDecay = opts.weightDecay ?? 0.05;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.native = opts.native ?? true;
    if (!(this.weightDecay >= 0 && Number.isFinite(this.weightDecay))) throw rangeError(op, `expected weightDecay >= 0, received ${this.weightDecay}`);
    if (!(this.beta1 >= 0 && this.beta1 < 1) || !(this.beta2 >= 0 && this.beta2 < 1)) throw rangeError(op, `expected betas in [0, 1), received ${this.beta1}, ${this.beta2}`);
    if (!(this.eps > 0)) throw rangeError(op, `expected eps > 0, received ${this.eps}`);
    lrAt(0, 'head', this.schedule); // validates the schedule
    const llrd = opts.llrd ?? 0.8;
    const infoOf = opts.info ?? ((name: string) => {
      if (opts.L === undefined) throw rangeError(op, 'expected L (number of blocks) or an info function');
      return paramInfo(name, opts.L, llrd);
    });
    this.params = { ...params };
    const info: Record<string, ParamInfo> = {};
    for (const [name, p] of Object.entries(params)) {
      info[name] = infoOf(name);
      this.m[name] = tf.variable(tf.zerosLike(p), false);
      this.v[name] = tf.variable(tf.zerosLike(p), false);
    }
    this.info = info;
  }

  /** Effective lr of a parameter at the next step (schedule · LLRD scale). */
  lrOf(name: string, step = this.step): number {
    const i = this.info[name];
    if (i === undefined) throw rangeError('AdamW.lrOf', `unknown parameter '${name}'`);
    return lrAt(step, i.group, this.schedule) * i.lrScale;
  }

  /**
   * Applies one AdamW step.
   * @param grads name → gradient (same shape as the variable); missing names are skipped. Not disposed.
   * @returns the head and backbone base lr used (before LLRD), for logging
   */
  apply(grads: Readonly<Record<string, tf.Tensor>>): { lrHead: number; lrBackbone: number } {
    const t = this.step + 1;
    const bc1 = 1 - this.beta1 ** t, bc2 = 1 - this.beta2 ** t;
    for (const [name, p] of Object.entries(this.params)) {
      const g = grads[name];
      if (g === undefined) continue;
      if (g.size !== p.size) throw rangeError('AdamW.apply', `gradient of '${name}' has ${g.size} elements, the variable ${p.size}`);
      const info = this.info[name]!;
      const lr = lrAt(this.step, info.group, this.schedule) * info.lrScale;
      if (this.native) {
        const gv = cpuF32Values(g), pv = ownedF32Values(p), mv = ownedF32Values(this.m[name]!), vv = ownedF32Values(this.v[name]!);
        if (gv && pv && mv && vv) {
          adamwStep(pv, gv, mv, vv, { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay, decay: info.decay, t });
          continue;
        }
      }
      tf.tidy(() => {
        const gg = g.reshape(p.shape);
        const m = tf.add(tf.mul(this.beta1, this.m[name]!), tf.mul(1 - this.beta1, gg));
        const v = tf.add(tf.mul(this.beta2, this.v[name]!), tf.mul(1 - this.beta2, tf.square(gg)));
        this.m[name]!.assign(m);
        this.v[name]!.assign(v);
        if (lr === 0) return;
        let next: tf.Tensor = p;
        if (info.decay && this.weightDecay > 0) next = tf.mul(1 - lr * this.weightDecay, next);
        const upd = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), this.eps));
        p.assign(tf.sub(next, tf.mul(lr, upd)));
      });
    }
    const used = { lrHead: lrAt(this.step, 'head', this.schedule), lrBackbone: lrAt(this.step, 'backbone', this.schedule) };
    this.step = t;
    return used;
  }

  /** The moments and step count (copies), for resumable runs (src/train/resume.ts). */
  exportState(): { step: number; m: Record<string, Float32Array>; v: Record<string, Float32Array> } {
    const copy = (r: Record<string, tf.Variable>) => Object.fromEntries(Object.entries(r).map(([n, t]) => [n, Float32Array.from(t.dataSync() as Float32Array)]));
    return { step: this.step, m: copy(this.m), v: copy(this.v) };
  }

  /**
   * Restores exportState()'s output. @throws {RangeError} a missing or wrongly sized moment, a bad step
   */
  loadState(s: { step: number; m: Readonly<Record<string, Float32Array>>; v: Readonly<Record<string, Float32Array>> }): void {
    if (!Number.isInteger(s.step) || s.step < 0) throw rangeError('AdamW.loadState', `expected step to be an integer >= 0, received ${s.step}`);
    for (const [name, p] of Object.entries(this.params))
      for (const [k, src, dst] of [['m', s.m, this.m], ['v', s.v, this.v]] as const) {
        const d = src[name];
        if (d === undefined || d.length !== p.size) throw rangeError('AdamW.loadState', `expected ${k}['${name}'] with ${p.size} elements, received ${d === undefined ? 'none' : d.length}`);
        dst[name]!.assign(tf.tensor(d, p.shape, 'float32'));
      }
    this.step = s.step;
  }

  dispose(): void {
    for (const x of [...Object.values(this.m), ...Object.values(this.v)]) x.dispose();
  }
}

/** Sums gradients over micro-batches (see the file comment). */
export class GradAccumulator {
  private sums: Record<string, tf.Tensor> = {};
  /** Micro-batches added since the last reset. */
  count = 0;

  /** Adds one micro-batch's gradients and DISPOSES them. */
  add(grads: Record<string, tf.Tensor>): void {
    for (const [name, g] of Object.entries(grads)) {
      const old = this.sums[name];
      if (old === undefined) {
        this.sums[name] = g;
      } else {
        this.sums[name] = tf.add(old, g);
        old.dispose();
        g.dispose();
      }
    }
    this.count++;
  }

  /** sum / count per name (new tensors, the caller disposes them). @throws {RangeError} when empty */
  mean(): Record<string, tf.Tensor> {
    if (this.count === 0) throw rangeError('GradAccumulator.mean', 'no gradient was added');
    const out: Record<string, tf.Tensor> = {};
    for (const [name, s] of Object.entries(this.sums)) out[name] = tf.div(s, this.count);
    return out;
  }

  /** The running sums (copies), for resumable runs. */
  exportSums(): Record<string, { data: Float32Array; shape: number[] }> {
    return Object.fromEntries(Object.entries(this.sums).map(([n, t]) => [n, { data: Float32Array.from(t.dataSync() as Float32Array), shape: [...t.shape] }]));
  }

  /** Replaces the state with exportSums()'s output and its count. */
  load(sums: Readonly<Record<string, { data: Float32Array; shape: number[] }>>, count: number): void {
    if (!Number.isInteger(count) || count < 0) throw rangeError('GradAccumulator.load', `expected count to be an integer >= 0, received ${count}`);
    this.reset();
    for (const [n, t] of Object.entries(sums)) this.sums[n] = tf.tensor(t.data, t.shape, 'float32');
    this.count = count;
  }

  /** Drops the sums. */
  reset(): void {
    for (const s of Object.values(this.sums)) s.dispose();
    this.sums = {};
    this.count = 0;
  }

  dispose(): void {
    this.reset();
  }
}

/** Exponential moving average of named variables (see the file comment). */
export class Ema {
  readonly decay: number;
  readonly warmup: boolean;
  /** The native in-place update on the cpu backend (see AdamW's `native`). */
  readonly native: boolean;
  /** Updates done so far. */
  updates = 0;
  private readonly params: Record<string, tf.Variable>;
  private readonly shadow: Record<string, tf.Variable> = {};

  /**
   * @param params name → variable (the shadow starts as a copy)
   * @param opts decay in [0, 1] (0.9999), warmup (true), native (true: the in-place native update on the cpu backend)
   */
  constructor(params: Record<string, tf.Variable>, opts: { decay?: number; warmup?: boolean; native?: boolean } = {}) {
    this.decay = opts.decay ?? 0.9999;
    this.warmup = opts.warmup ?? true;
    this.native = opts.native ?? true;
    if (!(this.decay >= 0 && this.decay <= 1)) throw rangeError('Ema', `expected decay in [0, 1], received ${this.decay}`);
    this.params = { ...params };
    for (const [name, p] of Object.entries(params)) this.shadow[name] = tf.variable(p.clone(), false);
  }

  /** The decay the next update uses. */
  nextDecay(): number {
    const k = this.updates + 1;
    return this.warmup ? Math.min(this.decay, (1 + k) / (10 + k)) : this.decay;
  }

  /** e ← d e + (1 − d) p for every variable. */
  update(): void {
    const d = this.nextDecay();
    for (const [name, p] of Object.entries(this.params)) {
      const e = this.shadow[name]!;
      if (this.native) {
        const ev = ownedF32Values(e), pv = cpuF32Values(p);
        if (ev && pv && ev !== pv) {
          emaStep(ev, pv, d);
          continue;
        }
      }
      tf.tidy(() => e.assign(tf.add(tf.mul(d, e), tf.mul(1 - d, p))));
    }
    this.updates++;
  }

  /** Restores the averaged weights and the update count (resumable runs). @throws {RangeError} a missing / wrongly sized weight */
  loadState(shadow: Readonly<Record<string, Float32Array>>, updates: number): void {
    if (!Number.isInteger(updates) || updates < 0) throw rangeError('Ema.loadState', `expected updates to be an integer >= 0, received ${updates}`);
    for (const [name, e] of Object.entries(this.shadow)) {
      const d = shadow[name];
      if (d === undefined || d.length !== e.size) throw rangeError('Ema.loadState', `expected '${name}' with ${e.size} elements, received ${d === undefined ? 'none' : d.length}`);
      e.assign(tf.tensor(d, e.shape, 'float32'));
    }
    this.updates = updates;
  }

  /** The averaged weights as Float32Arrays (SPEC §8 names), e.g. for `saveCheckpoint`. */
  exportWeights(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [name, e] of Object.entries(this.shadow)) out[name] = Float32Array.from(e.dataSync() as Float32Array);
    return out;
  }

  /** The shadow variable of one parameter. */
  get(name: string): tf.Variable | undefined {
    return this.shadow[name];
  }

  dispose(): void {
    for (const e of Object.values(this.shadow)) e.dispose();
  }
}
