/**
 * The Reg4Pru training loop (SPEC §4): data → seeded augmentation → batch → `EomtModel.forwardTrain`
 * with a route sampled from the schedule → loss → gradients → accumulation → AdamW (+ LLRD, two-stage
 * warmup, poly decay) → EMA; a JSONL metrics log, checkpoints, progress callbacks.
 *
 * Loss of one micro-batch: the deep-supervision set loss over every decode point (losses.ts) plus
 *  - policy 'ratio': ratioWeight · ratioLoss(keep, ρ_s = keep^(s+1)); with `dynamic` (SViT's per-image keep) the
 *    hard decisions keep a patch at score >= dynamic.threshold and the loss holds only the batch mean at ρ_s,
 *  - 'informed-mask|distance|edges': policyLoss(p_s, T, λ_pol = 8) with p_s = l0 − l1 of the predictor's
 *    keep logits (σ(p_s) = softmax(l)[keep], the keep score) and T = policyTargetsBatch(masks, kind),
 *  - 'none': nothing (the model runs without policy masking).
 * Every micro-batch draws its forward seed (Gumbel noise, route subset) as mixSeed(seed, microIndex, 1)
 * and its route (l, n) from one `routeRng` stream; sample i of epoch e is augmented with
 * mixSeed(seed, e, i): a run is reproducible from its seed.
 * Datasets: 'synthetic' = `syntheticDataset(samples, mixSeed(dataSeed, 1), config.image)`; a FIVES root =
 * its train split (`listFives(root, {seed: dataSeed})`), quadrants resized to config.image, read lazily.
 * Files (when `out` is set): `metrics.jsonl` (one JSON line per optimiser step, plus a first `{"type":
 * "start"}` line with the options), `checkpoint.safetensors` (the online weights) and `ema.safetensors`
 * (the EMA weights), both rewritten atomically at the end of every epoch and at the end, metadata =
 * epoch / step / options; `summary.json` at the end; `resume.safetensors` (src/train/resume.ts: optimiser
 * moments, EMA, accumulator, position) with them and when `stopAfter` cuts the run. `resume: DIR` continues
 * such a run with its own options; the pieces end with the same weights as the uncut run.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { rangeError } from '../errors.js';
import type { ModelConfig } from '../model/config.js';
import { patchGrid, validateConfig } from '../model/config.js';
import { EomtModel } from '../model/tfjs/eomt.js';
import { routeRng, routeSchedule, sampleRoute, type Route, type RouteScheduleKind } from '../routing/schedule.js';
import { saveCheckpoint } from '../checkpoint/checkpoint.js';
import { mixSeed, type SegSample } from '../data/sample.js';
import { syntheticDataset } from '../data/synthetic.js';
import { listFives, loadSample } from '../data/fives.js';
import { augment, normalizeImageNet } from '../data/augment.js';
import { epochBatches, makeBatch } from '../data/batch.js';
import { vesselTargets } from './matching.js';
import { policyTargetsBatch, type PolicyTargetKind } from './targets.js';
import { deepSupervisionLoss, policyLoss, ratioLoss } from './losses.js';
import { fitWarmup } from './schedule.js';
import { AdamW, Ema, GradAccumulator } from './optimizer.js';
import { loadResume, runSpec, saveResume, type ResumeState } from './resume.js';

export type TrainPolicy = 'ratio' | 'informed-mask' | 'informed-distance' | 'informed-edges' | 'none';
export const TRAIN_POLICIES: readonly TrainPolicy[] = ['ratio', 'informed-mask', 'informed-distance', 'informed-edges', 'none'];

export interface TrainRunOptions {
  config: ModelConfig;
  /** 'synthetic' or the root of a FIVES folder. */
  data: string;
  /** Synthetic training set size (default 64). */
  samples?: number;
  /** Seed of the dataset (synthetic generation, FIVES split); default 0. */
  dataSeed?: number;
  routing?: RouteScheduleKind;
  policy?: TrainPolicy;
  /** Base keep ratio ρ of the ratio loss (default 0.7). */
  keep?: number;
  /**
   * Dynamic per-image keep (SViT; the engine's keep 'dynamic'): the Gumbel-ST hard decisions keep a patch when its
   * score passes `threshold` in (0, 1) (forwardTrain's threshold), and the ratio loss targets the batch's mean keep
   * per stage (ratioLoss over 'batch') instead of each image's. null / omitted: fixed-ratio training.
   */
  dynamic?: { threshold: number } | null;
  epochs?: number;
  /** Micro-batch size (default 2). */
  batch?: number;
  /** Micro-batches per optimiser step (default 1). */
  accum?: number;
  lr?: number;
  weightDecay?: number;
  llrd?: number;
  ema?: number;
  /** [head, backbone] warmup steps (default [200, 400], shrunk by `fitWarmup` on short runs). */
  warmup?: readonly [number, number];
  /** Weight of the ratio loss (default 1: eq. 2 has no weight). */
  ratioWeight?: number;
  /** λ_pol (default 8). */
  lambdaPol?: number;
  /** Gumbel-Softmax temperature (1). */
  tau?: number;
  /** Per-sample augmentation (default true; false: ImageNet normalisation only). */
  augment?: boolean;
  seed?: number;
  /** Output folder (metrics.jsonl, checkpoints, summary.json); omitted: no files. */
  out?: string;
  /** Initial weights (default: randomWeights(config, seed)). */
  weights?: Record<string, Float32Array>;
  /** Stop after this many optimiser steps (tests, timing); shapes the lr schedule (totalSteps). */
  maxSteps?: number;
  /**
   * Cut the run after this many optimiser steps in all (counting resumed ones), writing `resume.safetensors`
   * into `out`; the schedule is the uncut run's. Needs `out`.
   */
  stopAfter?: number;
  /** Called after every optimiser step. */
  onStep?: (rec: StepRecord) => void;
  /** Called after every micro-batch (progress bars). */
  onMicro?: (done: number, total: number, lastLoss: number) => void;
  /** A line to log (warmup shrunk, checkpoint written). */
  onNote?: (message: string) => void;
}

/** Continue the run saved in `resume` (a folder with resume.safetensors) with its own options. */
export interface TrainResumeOptions extends Pick<TrainRunOptions, 'out' | 'stopAfter' | 'onStep' | 'onMicro' | 'onNote'> {
  /** The folder; `out` defaults to it. */
  resume: string;
}

/** One line of metrics.jsonl. */
export interface StepRecord {
  type: 'step';
  step: number;
  epoch: number;
  /** Mean over the step's micro-batches. */
  loss: number;
  seg: number;
  ratio: number;
  pol: number;
  lrHead: number;
  lrBackbone: number;
  /** Routes of the step's micro-batches ([l, n] or null). */
  routes: Array<[number, number] | null>;
  /** Wall-clock milliseconds of the step (all its micro-batches, forward + backward + update). */
  ms: number;
  /** CPU milliseconds of this process over the step (user + system, all threads: JS + native pool). */
  cpuMs: number;
}

export interface TrainSummary {
  steps: number;
  microBatches: number;
  epochs: number;
  finalLoss: number;
  /** Losses of every optimiser step. */
  losses: number[];
  msPerStep: number;
  /** Median ms per step (steps after the first, or all when there is one). */
  medianMsPerStep: number;
  /** CPU time of the whole run in ms (user + system of this process, all threads). */
  cpuMs: number;
  /** Wall-clock time of the whole run in ms. */
  wallMs: number;
  warmup: [number, number];
  files: { metrics?: string; checkpoint?: string; ema?: string; summary?: string };
  /** The trained model (the caller disposes it) with its EMA weights. */
  model: EomtModel;
  emaWeights: Record<string, Float32Array>;
}

interface Source {
  n: number;
  get(i: number): Promise<SegSample>;
}

async function openDataset(o: TrainRunOptions, config: ModelConfig): Promise<Source> {
  const size: [number, number] = [config.image[0], config.image[1]];
  const dataSeed = o.dataSeed ?? 0;
  if (o.data === 'synthetic') {
    const set = syntheticDataset(o.samples ?? 64, mixSeed(dataSeed, 1), size);
    return { n: set.length, get: async (i) => set[i]! };
  }
  const list = (await listFives(o.data, { seed: dataSeed })).filter((s) => s.split === 'train');
  return { n: list.length, get: (i) => loadSample(list[i]!, { size }) };
}

function checkInt(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw rangeError('train', `expected ${name} to be an integer >= ${min}, received ${v}`);
  return v;
}

/**
 * Trains a model (see the file comment).
 * @param opts options, or `{ resume: DIR, ... }` to continue a run; the TF.js backend must be set by the caller
 *   (`useNativeBackend()` on 'cpu' is fastest)
 * @returns summary with the trained model (dispose it) and its EMA weights
 * @throws {RangeError} bad options; DatasetError for a bad FIVES folder
 * @example const r = await train({ config: modelConfig('tiny'), data: 'synthetic', routing: 'random', epochs: 1 });
 */
export async function train(opts: TrainRunOptions | TrainResumeOptions): Promise<TrainSummary> {
  let o: TrainRunOptions;
  let resumed: ResumeState | null = null;
  if (!('resume' in opts)) {
    o = opts;
  } else {
    resumed = loadResume(opts.resume);
    o = { ...resumed.spec, policy: resumed.spec.policy as TrainPolicy | undefined, weights: resumed.weights, out: opts.out ?? opts.resume, stopAfter: opts.stopAfter, onStep: opts.onStep, onMicro: opts.onMicro, onNote: opts.onNote };
  }
  const spec = runSpec(o);
  if (o.stopAfter !== undefined) {
    checkInt('stopAfter', o.stopAfter, 1);
    if (o.out === undefined) throw rangeError('train', 'expected out (the folder for resume.safetensors) with stopAfter');
  }
  const config = validateConfig(o.config);
  const epochs = checkInt('epochs', o.epochs ?? 1, 1);
  const batch = checkInt('batch', o.batch ?? 2, 1);
  const accum = checkInt('accum', o.accum ?? 1, 1);
  const seed = checkInt('seed', o.seed ?? 0, 0);
  const policy = o.policy ?? 'ratio';
  if (!TRAIN_POLICIES.includes(policy)) throw rangeError('train', `expected policy in ${TRAIN_POLICIES.join('|')}, received ${String(policy)}`);
  const keep = o.keep ?? 0.7;
  if (!(keep > 0 && keep <= 1)) throw rangeError('train', `expected keep in (0, 1], received ${keep}`);
  const dynamic = o.dynamic ?? null;
  if (dynamic !== null && (typeof dynamic !== 'object' || typeof dynamic.threshold !== 'number' || !(dynamic.threshold > 0 && dynamic.threshold < 1)))
    throw rangeError('train', `expected dynamic to be { threshold in (0, 1) } or null, received ${JSON.stringify(dynamic)}`);
  const schedule = routeSchedule(o.routing ?? 'random');
  const src = await openDataset(o, config);
  if (src.n < 1) throw rangeError('train', 'the training set is empty');

  const microPerEpoch = Math.ceil(src.n / batch);
  let totalMicro = epochs * microPerEpoch;
  let totalSteps = Math.ceil(totalMicro / accum);
  if (o.maxSteps !== undefined) {
    totalSteps = Math.min(totalSteps, checkInt('maxSteps', o.maxSteps, 1));
    totalMicro = Math.min(totalMicro, totalSteps * accum);
  }
  const warmupAsked: [number, number] = [...(o.warmup ?? [200, 400])] as [number, number];
  const warmup = fitWarmup(warmupAsked, totalSteps);
  if (warmup[0] !== warmupAsked[0] || warmup[1] !== warmupAsked[1]) o.onNote?.(`warmup [${warmupAsked.join(', ')}] shrunk to [${warmup.join(', ')}] for ${totalSteps} steps`);

  const model = EomtModel.create(config, o.weights, { seed });
  const opt = new AdamW(model.weights, { schedule: { lr: o.lr ?? 2e-4, warmup, totalSteps }, weightDecay: o.weightDecay ?? 0.05, llrd: o.llrd ?? 0.8, L: config.L });
  const ema = new Ema(model.weights, { decay: o.ema ?? 0.9999 });
  const acc = new GradAccumulator();
  const nameOf = new Map<string, string>(Object.entries(model.weights).map(([n, v]) => [v.name, n]));
  const rng = routeRng(mixSeed(seed, 0x70be));
  const shapes = Object.fromEntries(Object.entries(model.weights).map(([n, v]) => [n, [...v.shape]]));
  const { gh, gw } = patchGrid(config);
  const [H, W] = config.image;
  const rhos = config.stageBlocks.map((_, s) => keep ** (s + 1));
  const mode = policy === 'none' ? 'none' : policy === 'ratio' ? 'ratio' : 'informed';
  const targetKind = policy.startsWith('informed-') ? (policy.slice('informed-'.length) as PolicyTargetKind) : null;

  const files: TrainSummary['files'] = {};
  if (o.out !== undefined) {
    mkdirSync(o.out, { recursive: true });
    files.metrics = path.join(o.out, 'metrics.jsonl');
    files.checkpoint = path.join(o.out, 'checkpoint.safetensors');
    files.ema = path.join(o.out, 'ema.safetensors');
    files.summary = path.join(o.out, 'summary.json');
    const start = { type: 'start', date: new Date().toISOString(), config, data: o.data, samples: src.n, routing: schedule.kind, policy, keep, ...(dynamic ? { dynamic } : {}), epochs, batch, accum, lr: o.lr ?? 2e-4, weightDecay: o.weightDecay ?? 0.05, llrd: o.llrd ?? 0.8, ema: o.ema ?? 0.9999, warmup, totalSteps, seed, backend: tf.getBackend() };
    if (resumed) appendFileSync(files.metrics, JSON.stringify({ type: 'resume', date: start.date, step: resumed.pos.step, micro: resumed.pos.micro }) + '\n');
    else writeFileSync(files.metrics, JSON.stringify(start) + '\n');
  }
  const meta = (epoch: number) => ({ 'reg4pru.train': JSON.stringify({ epoch, step: opt.step, routing: schedule.kind, policy, keep, ...(dynamic ? { dynamic } : {}), seed }) });
  const saveAll = (epoch: number) => {
    if (o.out === undefined) return;
    saveCheckpoint(files.checkpoint!, config, model.exportWeights(), meta(epoch));
    saveCheckpoint(files.ema!, config, ema.exportWeights(), meta(epoch));
    o.onNote?.(`epoch ${epoch}: wrote ${files.checkpoint} and ${files.ema}`);
  };

  const losses: number[] = [], stepMs: number[] = [];
  const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
  const runStart = performance.now(), cpuStart = cpuNow();
  let micro = 0, stepStart = performance.now(), stepCpu = cpuNow();
  let parts = { loss: 0, seg: 0, ratio: 0, pol: 0 };
  let routes: StepRecord['routes'] = [];
  let epoch = 0;
  if (resumed) {
    const p = resumed.pos;
    opt.loadState({ step: p.step, m: resumed.m, v: resumed.v });
    ema.loadState(resumed.ema, p.emaUpdates);
    acc.load(resumed.acc, p.accCount);
    for (let i = 0; i < p.micro; i++) sampleRoute(schedule, config.L, rng); // replay the route stream
    micro = p.micro;
    parts = { ...p.parts };
    routes = p.routes.map((r) => (r ? [r[0], r[1]] : null));
    losses.push(...resumed.losses);
    stepMs.push(...resumed.stepMs);
  }
  // The whole state at a step boundary / epoch end; the next micro-batch is batch `b` of epoch `e`.
  const saveState = (e: number, b: number) => {
    if (o.out === undefined) return;
    const os = opt.exportState();
    saveResume(o.out, {
      spec, pos: { epoch: e, batch: b, micro, step: opt.step, emaUpdates: ema.updates, accCount: acc.count, parts, routes },
      weights: model.exportWeights(), ema: ema.exportWeights(), m: os.m, v: os.v, acc: acc.exportSums(), losses, stepMs,
    }, shapes);
  };
  const startEpoch = resumed?.pos.epoch ?? 0, startBatch = resumed?.pos.batch ?? 0;
  let stopped = false;
  const doStep = () => {
    const g = acc.mean();
    const { lrHead, lrBackbone } = opt.apply(g);
    for (const t of Object.values(g)) t.dispose();
    const n = acc.count;
    acc.reset();
    ema.update();
    const ms = performance.now() - stepStart;
    const cpuMs = cpuNow() - stepCpu;
    const rec: StepRecord = { type: 'step', step: opt.step, epoch, loss: parts.loss / n, seg: parts.seg / n, ratio: parts.ratio / n, pol: parts.pol / n, lrHead, lrBackbone, routes, ms, cpuMs };
    losses.push(rec.loss);
    stepMs.push(ms);
    if (files.metrics) appendFileSync(files.metrics, JSON.stringify(rec) + '\n');
    o.onStep?.(rec);
    parts = { loss: 0, seg: 0, ratio: 0, pol: 0 };
    routes = [];
    stepStart = performance.now();
    stepCpu = cpuNow();
  };

  try {
    outer: for (epoch = startEpoch; epoch < epochs; epoch++) {
      const order = epochBatches(src.n, batch, seed, epoch);
      for (let bi = epoch === startEpoch ? startBatch : 0; bi < order.length; bi++) {
        const idx = order[bi]!;
        if (micro >= totalMicro) break outer;
        const samples = await Promise.all(idx.map(async (i) => {
          const s = await src.get(i);
          return o.augment === false ? { ...s, image: normalizeImageNet(s.image) } : augment(s, mixSeed(seed, epoch, i));
        }));
        const b = makeBatch(samples);
        const route: Route | null = sampleRoute(schedule, config.L, rng);
        routes.push(route ? [route.l, route.n] : null);
        const fseed = mixSeed(seed, micro, 1);
        const images = tf.tensor4d(b.images, b.shape);
        const B = idx.length;
        const masks = Array.from({ length: B }, (_, k) => b.masks.subarray(k * H * W, (k + 1) * H * W));
        const target = targetKind ? policyTargetsBatch(masks, H, W, [gh, gw], targetKind) : null;
        let vals = { seg: 0, ratio: 0, pol: 0 };
        const { value, grads } = tf.variableGrads(() => {
          const out = model.forwardTrain(images, { route, policy: mode, tau: o.tau ?? 1, seed: fseed, fullResolution: false, ...(dynamic ? { threshold: dynamic.threshold } : {}) });
          const [h, w] = out.decoded[0]!.maskLogits.shape.slice(2) as [number, number];
          const targets = masks.map((m) => vesselTargets(m, H, W, h, w));
          const seg = deepSupervisionLoss(out.decoded, targets);
          let total: tf.Scalar = seg;
          vals = { seg: seg.dataSync()[0]!, ratio: 0, pol: 0 };
          if (mode === 'ratio' && out.keep) {
            const r = ratioLoss(out.keep, rhos, { over: dynamic ? 'batch' : 'image' });
            vals.ratio = r.dataSync()[0]!;
            total = tf.add(total, tf.mul(o.ratioWeight ?? 1, r));
          } else if (mode === 'informed' && out.keepLogits && target) {
            const S = out.keepLogits.shape[1];
            const ps = Array.from({ length: S }, (_, s) => {
              const l = out.keepLogits!.slice([0, s, 0, 0], [B, 1, -1, 2]).reshape([B, -1, 2]);
              return tf.sub(l.slice([0, 0, 0], [B, -1, 1]), l.slice([0, 0, 1], [B, -1, 1])).reshape([B, -1]);
            });
            const p = policyLoss(ps, target, o.lambdaPol ?? 8);
            vals.pol = p.dataSync()[0]!;
            total = tf.add(total, p);
          }
          return total;
        });
        images.dispose();
        const lossVal = value.dataSync()[0]!;
        value.dispose();
        if (!Number.isFinite(lossVal)) {
          for (const t of Object.values(grads)) t.dispose();
          throw rangeError('train', `the loss became ${lossVal} at micro-batch ${micro} (epoch ${epoch}); lower --lr`);
        }
        const named: Record<string, tf.Tensor> = {};
        for (const [vn, t] of Object.entries(grads)) named[nameOf.get(vn) ?? vn] = t;
        acc.add(named);
        parts.loss += lossVal;
        parts.seg += vals.seg;
        parts.ratio += vals.ratio;
        parts.pol += vals.pol;
        micro++;
        o.onMicro?.(micro, totalMicro, lossVal);
        if (acc.count === accum || micro === totalMicro) {
          doStep();
          if (o.stopAfter !== undefined && opt.step >= o.stopAfter && micro < totalMicro) {
            saveState(epoch, bi + 1);
            o.onNote?.(`stopped after step ${opt.step}: resume with --resume ${o.out}`);
            stopped = true;
            break outer;
          }
        }
      }
      if (acc.count > 0 && epoch === epochs - 1) doStep();
      saveAll(epoch);
      saveState(epoch + 1, 0);
    }
    if (!stopped) {
      if (acc.count > 0) doStep();
      if (epoch < epochs) saveAll(epoch); // stopped early by maxSteps
      saveState(epochs, 0); // finished: resuming it does nothing
    }
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    acc.dispose();
    opt.dispose();
  }
  const emaWeights = ema.exportWeights();
  ema.dispose();
  const sorted = (stepMs.length > 1 ? stepMs.slice(1) : stepMs).slice().sort((a, b) => a - b);
  const summary: TrainSummary = {
    steps: opt.step,
    microBatches: micro,
    epochs,
    finalLoss: losses[losses.length - 1] ?? NaN,
    losses,
    msPerStep: stepMs.reduce((s, v) => s + v, 0) / Math.max(1, stepMs.length),
    medianMsPerStep: sorted[Math.floor(sorted.length / 2)] ?? NaN,
    cpuMs: cpuNow() - cpuStart,
    wallMs: performance.now() - runStart,
    warmup,
    files,
    model,
    emaWeights,
  };
  if (files.summary) {
    const { model: _m, emaWeights: _e, ...plain } = summary;
    writeFileSync(files.summary, JSON.stringify(plain, null, 2) + '\n');
  }
  return summary;
}
