/**
 * The reproduction study's configuration (`reg4pru study --config study.json`, issue 15): model, seeds,
 * the pretraining stage (the DINOv2 stand-in), the second data source, the fine-tuning arms, evaluation
 * and throughput. A config file holds any subset of the fields; the rest come from {@link STUDY_DEFAULTS},
 * the CPU-budget study that docs/reproduction.md reports (each section merged field by field).
 */
import { readFileSync } from 'node:fs';
import { modelConfig, type ModelConfig } from '../model/config.js';
import type { RouteScheduleKind } from '../routing/schedule.js';
import { TRAIN_POLICIES, type TrainPolicy } from '../train/trainer.js';
import { KEEP_RATIOS, MERGE_RATIOS } from '../cli/commands/bench.js';

/** One fine-tuning arm. `prune: false` is the unpruned baseline (no policy masking, no routing). */
export interface StudyArm {
  /** Short id used in run names (`ft-<name>-s<seed>`). */
  name: string;
  /** Row label in the tables, the paper's wording. */
  label: string;
  routing: RouteScheduleKind;
  /** Policy loss; 'none' for the unpruned arm. */
  policy: TrainPolicy;
  prune: boolean;
}

/** Optimisation of one training stage. */
export interface StageConfig {
  /** Synthetic training-set size (fine-tuning on 'second' uses that folder's train split instead). */
  samples: number;
  /** Optimiser steps (the lr schedule's length). */
  steps: number;
  batch: number;
  accum: number;
  lr: number;
  llrd: number;
  weightDecay: number;
  ema: number;
  warmup: [number, number];
}

export interface StudyConfig {
  name: string;
  /** Fine-tuning seeds (data order, augmentation, routes, Gumbel noise); at least 3 for the real study. */
  seeds: number[];
  /** Preset plus ModelConfig overrides. */
  model: { preset: 'tiny' | 'small' } & Partial<Omit<ModelConfig, 'preset'>>;
  pretrain: StageConfig & {
    /** LayerScale init of every block (ls1, ls2): large enough that blocks transform tokens. */
    layerScale: number;
    /** Seed of the initial weights and of the pretraining run. */
    seed: number;
    /** The stage's steps are cut into this many runs (one schedule; each run continues the previous one's state). */
    runs: number;
  };
  /** The second source: a FIVES-layout folder by the second generator (src/data/syntheticFives.ts). */
  second: { images: number; size: [number, number]; seed: number };
  finetune: StageConfig & {
    /** Fine-tuning data: the first generator ('synthetic', the pretraining source) or the second folder. */
    data: 'synthetic' | 'second';
    /** Base keep ratio of the ratio loss and of the Table 1 evaluation. */
    keep: number;
    arms: StudyArm[];
  };
  eval: {
    /** Synthetic test images (the generator's test split: mixSeed(0, 3)). */
    samples: number;
    /** Extra keep ratios evaluated (final block) for AP vs throughput. */
    keeps: number[];
    /** ToMe (MHSA and MHSA+MLP) merge ratios on the unpruned arm. */
    tomeRatios: number[];
    batch: number;
    /** Synthetic images of the token-change measurement. */
    tokenImages: number;
  };
  bench: { warmup: number; iters: number };
  /**
   * The other pruning systems of issue 17 on one fine-tuned arm, every seed (./others.ts): SViT's dynamic keep at a
   * threshold, STEP superpatches (one CNN policy, trained once on the synthetic set) and STEP early exits (heads
   * trained per checkpoint, its backbone frozen), alone and with the arm's pruning; null: not run.
   */
  others: OthersConfig | null;
  /** Training writes its resume state every this many optimiser steps. */
  chunkSteps: number;
}

export interface OthersConfig {
  /** The (pruned) arm whose checkpoints are evaluated. */
  arm: string;
  /** Dynamic keep: keep-score threshold. */
  dynamic: number;
  /** Superpatch policy training (reg4pru train-policy's loop) and its merge threshold. */
  superpatch: { steps: number; samples: number; width: number; threshold: number };
  /** Early-exit heads (reg4pru train-exits' loop): after these blocks, trained per seed; exit threshold. */
  exits: { blocks: number[]; steps: number; samples: number; threshold: number };
}

export const STUDY_ARMS: StudyArm[] = [
  { name: 'unpruned', label: 'Not pruned', routing: 'none', policy: 'none', prune: false },
  { name: 'none-ratio', label: 'Pruned L_ratio, no routing', routing: 'none', policy: 'ratio', prune: true },
  { name: 'none-pol', label: 'Pruned L_pol, no routing', routing: 'none', policy: 'informed-distance', prune: true },
  { name: 'fixed-ratio', label: 'Pruned L_ratio, fixed routing', routing: 'fixed', policy: 'ratio', prune: true },
  { name: 'fixed-pol', label: 'Pruned L_pol, fixed routing', routing: 'fixed', policy: 'informed-distance', prune: true },
  { name: 'random-ratio', label: 'Pruned L_ratio, Reg4Pru', routing: 'random', policy: 'ratio', prune: true },
  { name: 'random-pol', label: 'Pruned L_pol, Reg4Pru', routing: 'random', policy: 'informed-distance', prune: true },
];

export const STUDY_DEFAULTS: StudyConfig = {
  name: 'reg4pru small-scale reproduction',
  seeds: [0, 1, 2],
  model: { preset: 'tiny', image: [256, 256] },
  pretrain: { samples: 512, steps: 320, batch: 2, accum: 2, lr: 1e-3, llrd: 1, weightDecay: 0.05, ema: 0.99, warmup: [20, 40], layerScale: 0.1, seed: 1000, runs: 3 },
  second: { images: 80, size: [512, 512], seed: 7 },
  finetune: { data: 'synthetic', samples: 128, steps: 200, batch: 2, accum: 1, lr: 5e-4, llrd: 0.8, weightDecay: 0.05, ema: 0.99, warmup: [15, 30], keep: 0.7, arms: STUDY_ARMS },
  eval: { samples: 32, keeps: [0.9, 0.8, 0.6, 0.5], tomeRatios: [0.7, 0.6, 0.5, 0.4], batch: 4, tokenImages: 8 },
  bench: { warmup: 5, iters: 30 },
  others: {
    arm: 'random-ratio', dynamic: 0.5,
    superpatch: { steps: 200, samples: 64, width: 16, threshold: 0.5 },
    exits: { blocks: [5, 8], steps: 100, samples: 32, threshold: 0.9 },
  },
  chunkSteps: 20,
};

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Defaults with `over` merged in (objects field by field, arrays and scalars replaced), then checked.
 * @throws {RangeError} naming the field, for a bad value
 */
export function resolveStudyConfig(over: unknown): StudyConfig {
  if (!isObj(over)) throw new RangeError(`study config: expected a JSON object, received ${Array.isArray(over) ? 'an array' : typeof over}`);
  const merge = (base: unknown, o: unknown): unknown => {
    if (!isObj(base) || !isObj(o)) return o === undefined ? base : o;
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(o)) out[k] = merge(base[k], v);
    return out;
  };
  for (const k of Object.keys(over)) if (!(k in STUDY_DEFAULTS)) throw new RangeError(`study config: unknown field '${k}' (expected ${Object.keys(STUDY_DEFAULTS).join(', ')})`);
  const c = merge(structuredClone(STUDY_DEFAULTS), over) as StudyConfig;
  checkStudyConfig(c);
  return c;
}

/** Reads a study config file (JSON) over the defaults. @throws {RangeError} unreadable file or bad field */
export function loadStudyConfig(file: string): StudyConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RangeError(`study config: cannot read '${file}': ${(e as Error).message}`);
  }
  return resolveStudyConfig(raw);
}

/** The study's ModelConfig. */
export function studyModel(c: StudyConfig): ModelConfig {
  const { preset, ...over } = c.model;
  return modelConfig(preset, over);
}

function fail(field: string, want: string, got: unknown): never {
  throw new RangeError(`study config: expected ${field} to be ${want}, received ${JSON.stringify(got)}`);
}

function checkStage(name: string, s: StageConfig): void {
  for (const k of ['samples', 'steps', 'batch', 'accum'] as const) if (!Number.isInteger(s[k]) || s[k] < 1) fail(`${name}.${k}`, 'an integer >= 1', s[k]);
  if (!(s.lr > 0 && s.lr <= 1)) fail(`${name}.lr`, 'in (0, 1]', s.lr);
  if (!(s.llrd > 0 && s.llrd <= 1)) fail(`${name}.llrd`, 'in (0, 1]', s.llrd);
  if (!(s.weightDecay >= 0 && s.weightDecay <= 1)) fail(`${name}.weightDecay`, 'in [0, 1]', s.weightDecay);
  if (!(s.ema >= 0 && s.ema < 1)) fail(`${name}.ema`, 'in [0, 1)', s.ema);
  if (!Array.isArray(s.warmup) || s.warmup.length !== 2 || !s.warmup.every((w) => Number.isInteger(w) && w >= 0)) fail(`${name}.warmup`, '[head, backbone] integers >= 0', s.warmup);
}

function checkStudyConfig(c: StudyConfig): void {
  if (!Array.isArray(c.seeds) || c.seeds.length < 1 || !c.seeds.every((s) => Number.isSafeInteger(s) && s >= 0) || new Set(c.seeds).size !== c.seeds.length)
    fail('seeds', 'a list of distinct non-negative integers', c.seeds);
  studyModel(c); // validates the model
  checkStage('pretrain', c.pretrain);
  checkStage('finetune', c.finetune);
  if (!(c.pretrain.layerScale > 0)) fail('pretrain.layerScale', '> 0', c.pretrain.layerScale);
  if (!Number.isSafeInteger(c.pretrain.seed) || c.pretrain.seed < 0) fail('pretrain.seed', 'a non-negative integer', c.pretrain.seed);
  if (!Number.isInteger(c.pretrain.runs) || c.pretrain.runs < 1 || c.pretrain.runs > c.pretrain.steps) fail('pretrain.runs', `an integer in [1, pretrain.steps = ${c.pretrain.steps}]`, c.pretrain.runs);
  if (!Number.isInteger(c.second.images) || c.second.images < 10) fail('second.images', 'an integer >= 10 (the loader keeps 10% for test)', c.second.images);
  if (!Array.isArray(c.second.size) || c.second.size.length !== 2 || !c.second.size.every((v) => Number.isInteger(v) && v >= 32)) fail('second.size', '[H, W] integers >= 32', c.second.size);
  if (c.finetune.data !== 'synthetic' && c.finetune.data !== 'second') fail('finetune.data', "'synthetic' or 'second'", c.finetune.data);
  if (!(c.finetune.keep > 0 && c.finetune.keep < 1)) fail('finetune.keep', 'in (0, 1)', c.finetune.keep);
  if (!Array.isArray(c.finetune.arms) || c.finetune.arms.length < 1) fail('finetune.arms', 'a non-empty list', c.finetune.arms);
  const names = new Set<string>();
  for (const [i, a] of c.finetune.arms.entries()) {
    if (typeof a.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(a.name) || names.has(a.name)) fail(`finetune.arms[${i}].name`, 'a unique lower-case id', a.name);
    names.add(a.name);
    if (!['none', 'fixed', 'random'].includes(a.routing)) fail(`finetune.arms[${i}].routing`, "'none', 'fixed' or 'random'", a.routing);
    if (!TRAIN_POLICIES.includes(a.policy)) fail(`finetune.arms[${i}].policy`, TRAIN_POLICIES.join('|'), a.policy);
    if (typeof a.prune !== 'boolean') fail(`finetune.arms[${i}].prune`, 'a boolean', a.prune);
    if (a.prune === (a.policy === 'none')) fail(`finetune.arms[${i}].policy`, a.prune ? 'a policy loss for a pruned arm' : "'none' for the unpruned arm", a.policy);
  }
  if (c.finetune.arms.filter((a) => !a.prune).length !== 1) fail('finetune.arms', 'exactly one unpruned arm (prune: false)', c.finetune.arms.map((a) => a.name));
  // the harness's configurations (reg4pru bench), so that every evaluated point has a throughput
  const ratios = (name: string, v: number[], allowed: readonly number[]) => {
    if (!Array.isArray(v) || !v.every((r) => allowed.includes(r))) fail(name, `a list drawn from [${allowed.join(', ')}]`, v);
  };
  ratios('eval.keeps', c.eval.keeps, KEEP_RATIOS);
  ratios('eval.tomeRatios', c.eval.tomeRatios, MERGE_RATIOS);
  if (!(KEEP_RATIOS as readonly number[]).includes(c.finetune.keep)) fail('finetune.keep', `one of [${KEEP_RATIOS.join(', ')}]`, c.finetune.keep);
  for (const k of ['samples', 'batch', 'tokenImages'] as const) if (!Number.isInteger(c.eval[k]) || c.eval[k] < 1) fail(`eval.${k}`, 'an integer >= 1', c.eval[k]);
  if (!Number.isInteger(c.bench.warmup) || c.bench.warmup < 0) fail('bench.warmup', 'an integer >= 0', c.bench.warmup);
  if (!Number.isInteger(c.bench.iters) || c.bench.iters < 1) fail('bench.iters', 'an integer >= 1', c.bench.iters);
  if (!Number.isInteger(c.chunkSteps) || c.chunkSteps < 1) fail('chunkSteps', 'an integer >= 1', c.chunkSteps);
  if (c.others !== null) checkOthers(c);
}

function checkOthers(c: StudyConfig): void {
  const o = c.others!;
  if (!isObj(o) || !isObj(o.superpatch) || !isObj(o.exits)) fail('others', 'null or {arm, dynamic, superpatch: {...}, exits: {...}}', o);
  if (!c.finetune.arms.some((a) => a.name === o.arm && a.prune)) fail('others.arm', `a pruned arm of finetune.arms (${c.finetune.arms.filter((a) => a.prune).map((a) => a.name).join(', ')})`, o.arm);
  const unit = (name: string, v: number) => {
    if (!(v >= 0 && v <= 1)) fail(name, 'in [0, 1]', v);
  };
  unit('others.dynamic', o.dynamic);
  unit('others.superpatch.threshold', o.superpatch.threshold);
  unit('others.exits.threshold', o.exits.threshold);
  for (const [name, v] of [['superpatch.steps', o.superpatch.steps], ['superpatch.samples', o.superpatch.samples], ['superpatch.width', o.superpatch.width], ['exits.steps', o.exits.steps], ['exits.samples', o.exits.samples]] as const)
    if (!Number.isInteger(v) || v < 1) fail(`others.${name}`, 'an integer >= 1', v);
  const L = studyModel(c).L, b = o.exits.blocks;
  if (!Array.isArray(b) || b.length < 1 || !b.every((x, i) => Number.isInteger(x) && x >= 0 && x < L && (i === 0 || x > b[i - 1]!)))
    fail('others.exits.blocks', `ascending block indices in [0, ${L})`, b);
}
