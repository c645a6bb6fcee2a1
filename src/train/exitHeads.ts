/**
 * Training of STEP early-exit heads (src/model/earlyExit.ts; `reg4pru train-exits`) on a FROZEN backbone: the
 * checkpoint's unpruned forward gives the patch rows after every block (forwardTrain with `trace`, no policy, no route),
 * and head j learns, by cross-entropy, each patch's class after block blocks[j]: vessel class c when most of the patch's
 * pixels are vessel, background (the no-object index C) otherwise; the confidence max softmax of a trained head is what
 * the engine compares with τ. Adam, seeded; synthetic data (`syntheticDataset(samples, mixSeed(dataSeed, 1), image)`).
 * Reports, per head on the held-out synthetic test set (mixSeed(dataSeed, 3)), the accuracy of the tokens that would
 * leave at τ and their share.
 */
import * as tf from '@tensorflow/tfjs';
import { rangeError } from '../errors.js';
import { mixSeed } from '../data/sample.js';
import { syntheticDataset } from '../data/synthetic.js';
import { normalizeImageNet } from '../data/augment.js';
import { patchGrid, type ModelConfig } from '../model/config.js';
import { EomtModel } from '../model/tfjs/eomt.js';
import { layerNorm, linear } from '../model/tfjs/layers.js';
import type { SmallNetTrainOptions } from './superpatchPolicy.js';
import { exitWeightShapes, randomExitHeads, saveExitHeads, validateExitConfig, type ExitHeadsConfig } from '../model/earlyExit.js';

export interface TrainExitsOptions extends SmallNetTrainOptions {
  config: ModelConfig;
  weights: Record<string, Float32Array>;
  blocks: number[];
  samples?: number;
  testSamples?: number;
  dataSeed?: number;
}

export interface ExitMetrics {
  block: number;
  /** Share of the test patches with confidence > threshold (they would leave), and how many of those are right. */
  exitShare: number;
  exitAccuracy: number;
  /** Accuracy over all test patches. */
  accuracy: number;
}

export interface TrainExitsResult {
  config: ExitHeadsConfig;
  weights: Record<string, Float32Array>;
  losses: number[];
  test: ExitMetrics[];
}

interface Features {
  rows: tf.Tensor3D[]; // per head: [n, Np, D]
  labels: Int32Array; // [n * Np]
  n: number;
}

/** Patch rows after each head's block (frozen, unpruned forward) and per-patch class labels of n synthetic images. */
function features(model: EomtModel, n: number, seed: number, blocks: number[]): Features {
  const cfg = model.config;
  const [H, W] = cfg.image;
  const { gh, gw, Np } = patchGrid(cfg);
  const set = syntheticDataset(n, seed, [H, W]);
  const labels = new Int32Array(n * Np);
  const p = cfg.patch;
  set.forEach((s, i) => {
    for (let y = 0; y < gh; y++)
      for (let x = 0; x < gw; x++) {
        let v = 0;
        for (let a = 0; a < p; a++) for (let b = 0; b < p; b++) v += s.mask[(y * p + a) * W + x * p + b]! ? 1 : 0;
        labels[i * Np + y * gw + x] = 2 * v > p * p ? 0 : cfg.classes; // vessel = class 0, else no-object
      }
  });
  const rows = blocks.map(() => [] as tf.Tensor3D[]);
  for (let i = 0; i < n; i++) {
    tf.tidy(() => {
      const img = tf.tensor4d(normalizeImageNet(set[i]!.image), [1, 3, H, W]);
      const out = model.forwardTrain(img, { policy: 'none', trace: true, fullResolution: false });
      blocks.forEach((b, j) => rows[j]!.push(tf.keep(out.patchTrace![b]!)));
    });
  }
  return { rows: rows.map((r) => { const c = tf.concat(r, 0) as tf.Tensor3D; tf.dispose(r); return c; }), labels, n };
}

/**
 * Trains exit heads for a checkpoint's backbone and (with `out`) writes them.
 * @throws {RangeError} bad blocks or counts
 */
export async function trainExitHeads(o: TrainExitsOptions): Promise<TrainExitsResult> {
  const cfg = o.config;
  const config = validateExitConfig({ blocks: o.blocks, D: cfg.D, classes: cfg.classes }, cfg.L);
  const steps = o.steps ?? 100, batch = o.batch ?? 4, lr = o.lr ?? 3e-3, tau = o.threshold ?? 0.9;
  if (!Number.isInteger(steps) || steps < 1 || !Number.isInteger(batch) || batch < 1 || !(lr > 0)) throw rangeError('trainExitHeads', `expected positive steps, batch and lr, received ${steps}, ${batch}, ${lr}`);
  const model = EomtModel.create(cfg, o.weights, { trainable: false });
  const { Np } = patchGrid(cfg);
  const C1 = cfg.classes + 1;
  const dataSeed = o.dataSeed ?? 0;
  const train = features(model, o.samples ?? 32, mixSeed(dataSeed, 1), config.blocks);
  const test = features(model, o.testSamples ?? 8, mixSeed(dataSeed, 3), config.blocks);
  model.dispose();
  const init = randomExitHeads(config, o.seed ?? 0);
  const vars: Record<string, tf.Variable> = {};
  for (const [name, shape] of exitWeightShapes(config)) vars[name] = tf.variable(tf.tensor(init[name]!, shape));
  const logits = (j: number, x: tf.Tensor3D) => linear(layerNorm(x, vars[`exits.${j}.norm.weight`]!, vars[`exits.${j}.norm.bias`]!, 1e-6), vars[`exits.${j}.fc.weight`]!, vars[`exits.${j}.fc.bias`]!);
  const opt = tf.train.adam(lr);
  const losses: number[] = [];
  try {
    for (let step = 0; step < steps; step++) {
      const idx = Array.from({ length: Math.min(batch, train.n) }, (_, k) => (step * batch + k) % train.n);
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d(idx.flatMap((i) => Array.from(train.labels.subarray(i * Np, (i + 1) * Np))), 'int32'), C1));
      const loss = opt.minimize(() => tf.tidy(() => {
        const parts = config.blocks.map((_, j) => tf.losses.softmaxCrossEntropy(y, logits(j, tf.gather(train.rows[j]!, idx)).reshape([-1, C1])));
        return tf.addN(parts).div(parts.length) as tf.Scalar;
      }), true, Object.values(vars))!;
      losses.push(loss.dataSync()[0]!);
      tf.dispose([loss, y]);
      o.onStep?.(step + 1, steps, losses.at(-1)!);
    }
    const metrics = config.blocks.map((block, j): ExitMetrics => {
      const p = tf.tidy(() => tf.softmax(logits(j, test.rows[j]!)).reshape([-1, C1]).arraySync() as number[][]);
      let out = 0, outRight = 0, right = 0;
      p.forEach((row, r) => {
        const c = row.indexOf(Math.max(...row));
        const ok = c === test.labels[r];
        right += ok ? 1 : 0;
        if (row[c]! > tau) { out++; outRight += ok ? 1 : 0; }
      });
      return { block, exitShare: out / p.length, exitAccuracy: out ? outRight / out : 1, accuracy: right / p.length };
    });
    const weights: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(vars)) weights[name] = Float32Array.from(v.dataSync() as Float32Array);
    if (o.out !== undefined) saveExitHeads(o.out, config, weights, { 'reg4pru.train-exits': JSON.stringify({ steps, batch, lr, seed: o.seed ?? 0, test: metrics }) });
    return { config, weights, losses, test: metrics };
  } finally {
    opt.dispose();
    for (const v of Object.values(vars)) v.dispose();
    tf.dispose([...train.rows, ...test.rows]);
  }
}
