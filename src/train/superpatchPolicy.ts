/**
 * Training of the superpatch policy (src/model/superpatch.ts; `reg4pru train-policy`): the CNN learns from the masks
 * which 2x2 patch windows are uniform (every pixel one label: `mergeLabels`), binary cross-entropy on its logits,
 * Adam, seeded. Data: the synthetic set (`syntheticDataset(samples, mixSeed(dataSeed, 1), image)`, ImageNet-
 * normalised), evaluated on the held-out synthetic test set of `reg4pru eval` (mixSeed(dataSeed, 3)): accuracy at
 * threshold τ, the precision of "merge" (a merged window that is not uniform blurs an edge), the share of windows
 * merged and the share that are uniform.
 */
import * as tf from '@tensorflow/tfjs';
import { rangeError } from '../errors.js';
import { mixSeed } from '../data/sample.js';
import { syntheticDataset } from '../data/synthetic.js';
import { normalizeImageNet } from '../data/augment.js';
import { mergeLabels, patchMeans, policyWeightShapes, randomPolicyWeights, saveSuperpatchPolicy, validatePolicyConfig, windowGrid, type SuperpatchPolicyConfig } from '../model/superpatch.js';
import { mulberry32 } from '../model/rng.js';
import { policyLogits } from '../model/tfjs/superpatchPolicy.js';

/** The loop options of the small STEP networks (superpatch policy, exit heads). */
export interface SmallNetTrainOptions {
  /** Optimiser steps, images per step, Adam learning rate (defaults per network). */
  steps?: number;
  batch?: number;
  lr?: number;
  /** Threshold of the reported metrics (merge: default 0.5; exit: 0.9). */
  threshold?: number;
  seed?: number;
  /** Output file (.safetensors); omitted: nothing written. */
  out?: string;
  onStep?: (step: number, steps: number, loss: number) => void;
}

export interface TrainPolicyOptions extends SmallNetTrainOptions {
  /** 'synthetic' (the only source so far). */
  data: 'synthetic';
  /** Training images (default 64) and held-out test images (default 16). */
  samples?: number;
  testSamples?: number;
  dataSeed?: number;
  /** Image size [H, W] (multiples of the patch). */
  image: readonly [number, number];
  config: SuperpatchPolicyConfig;
}

export interface PolicyMetrics {
  accuracy: number;
  /** Of the windows merged, the share that are uniform (1 when none is merged). */
  precision: number;
  /** Of the uniform windows, the share merged. */
  recall: number;
  mergedFraction: number;
  uniformFraction: number;
  windows: number;
}

export interface TrainPolicyResult {
  config: SuperpatchPolicyConfig;
  weights: Record<string, Float32Array>;
  losses: number[];
  /** On the held-out test set, at `threshold`; `initial`: the untrained network's. */
  test: PolicyMetrics;
  initial: PolicyMetrics;
}

interface Prepared {
  u: Float32Array; // [n, 3, gh, gw]
  y: Float32Array; // [n, wh, ww]
  n: number;
}

function prepare(n: number, seed: number, image: readonly [number, number], patch: number): Prepared {
  const [H, W] = image;
  const { gh, gw, wh, ww } = windowGrid(H, W, patch);
  const set = syntheticDataset(n, seed, [H, W]);
  const u = new Float32Array(n * 3 * gh * gw), y = new Float32Array(n * wh * ww);
  set.forEach((s, i) => {
    u.set(patchMeans(normalizeImageNet(s.image), H, W, patch), i * 3 * gh * gw);
    y.set(mergeLabels(s.mask, H, W, patch), i * wh * ww);
  });
  return { u, y, n };
}

/** Accuracy / precision / recall of "merge" at threshold tau on a prepared set. */
function metrics(vars: Record<string, tf.Tensor>, d: Prepared, gh: number, gw: number, tau: number): PolicyMetrics {
  const p = tf.tidy(() => tf.sigmoid(policyLogits(vars, tf.tensor4d(d.u, [d.n, 3, gh, gw]))).dataSync());
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (let i = 0; i < p.length; i++) {
    const m = p[i]! >= tau, t = d.y[i]! > 0.5;
    if (m && t) tp++;
    else if (m) fp++;
    else if (t) fn++;
    else tn++;
  }
  const n = p.length;
  return { accuracy: (tp + tn) / n, precision: tp + fp === 0 ? 1 : tp / (tp + fp), recall: tp + fn === 0 ? 1 : tp / (tp + fn), mergedFraction: (tp + fp) / n, uniformFraction: (tp + fn) / n, windows: n };
}

/**
 * Trains a policy and (with `out`) writes it.
 * @throws {RangeError} a bad size, count or rate
 * @example const r = await trainSuperpatchPolicy({ data: 'synthetic', image: [256, 256], config: { patch: 16, width: 16 } });
 */
export async function trainSuperpatchPolicy(o: TrainPolicyOptions): Promise<TrainPolicyResult> {
  const op = 'trainSuperpatchPolicy';
  if (o.data !== 'synthetic') throw rangeError(op, `expected data 'synthetic' (FIVES is not wired for the policy yet), received '${String(o.data)}'`);
  const config = validatePolicyConfig(o.config);
  const [H, W] = o.image;
  const { gh, gw, wh, ww } = windowGrid(H, W, config.patch);
  if (wh < 1 || ww < 1) throw rangeError(op, `expected at least one 2x2 window of patches, received a ${gh}x${gw} patch grid`);
  const pos = (name: string, v: number, int: boolean) => {
    if (!(v > 0) || (int && !Number.isInteger(v)) || !Number.isFinite(v)) throw rangeError(op, `expected ${name} to be a positive ${int ? 'integer' : 'number'}, received ${v}`);
    return v;
  };
  const steps = pos('steps', o.steps ?? 200, true), batch = pos('batch', o.batch ?? 8, true), lr = pos('lr', o.lr ?? 3e-3, false);
  const samples = pos('samples', o.samples ?? 64, true), testSamples = pos('testSamples', o.testSamples ?? 16, true);
  const tau = o.threshold ?? 0.5;
  if (!(tau >= 0 && tau <= 1)) throw rangeError(op, `expected threshold in [0, 1], received ${tau}`);
  const seed = o.seed ?? 0, dataSeed = o.dataSeed ?? 0;
  const train = prepare(samples, mixSeed(dataSeed, 1), o.image, config.patch);
  const test = prepare(testSamples, mixSeed(dataSeed, 3), o.image, config.patch);
  const init = randomPolicyWeights(config, seed);
  const vars: Record<string, tf.Variable> = {};
  for (const [name, shape] of policyWeightShapes(config)) vars[name] = tf.variable(tf.tensor(init[name]!, shape));
  const initial = metrics(vars, test, gh, gw, tau);
  const opt = tf.train.adam(lr);
  const losses: number[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      // step's batch: distinct images, the first draws of a permutation seeded by (seed, step)
      const rand = mulberry32(mixSeed(seed, step, 7));
      const order = Array.from({ length: samples }, (_, i) => i);
      const m = Math.min(batch, samples);
      for (let k = 0; k < m; k++) {
        const j = k + Math.floor(rand() * (samples - k));
        [order[k], order[j]] = [order[j]!, order[k]!];
      }
      const idx = order.slice(0, m);
      const ub = new Float32Array(idx.length * 3 * gh * gw), yb = new Float32Array(idx.length * wh * ww);
      idx.forEach((i, k) => {
        ub.set(train.u.subarray(i * 3 * gh * gw, (i + 1) * 3 * gh * gw), k * 3 * gh * gw);
        yb.set(train.y.subarray(i * wh * ww, (i + 1) * wh * ww), k * wh * ww);
      });
      const loss = opt.minimize(() => tf.tidy(() => {
        const l = policyLogits(vars, tf.tensor4d(ub, [idx.length, 3, gh, gw]));
        return tf.losses.sigmoidCrossEntropy(tf.tensor3d(yb, [idx.length, wh, ww]), l) as tf.Scalar;
      }), true, Object.values(vars))!;
      const v = loss.dataSync()[0]!;
      loss.dispose();
      losses.push(v);
      o.onStep?.(step + 1, steps, v);
    }
    const weights: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(vars)) weights[name] = Float32Array.from(v.dataSync() as Float32Array);
    const result: TrainPolicyResult = { config, weights, losses, test: metrics(vars, test, gh, gw, tau), initial };
    if (o.out !== undefined)
      saveSuperpatchPolicy(o.out, config, weights, { 'reg4pru.train-policy': JSON.stringify({ image: o.image, steps, batch, lr, seed, dataSeed, samples, test: result.test }) });
    return result;
  } finally {
    opt.dispose();
    for (const v of Object.values(vars)) v.dispose();
  }
}
