/**
 * What each kind of study run does (./plan.ts lists them), returning the result the runner writes to
 * `runs/<id>.json`. Training goes through `train()` in pieces of `chunkSteps` optimiser steps (`stopAfter`,
 * then `resume`): every piece ends with resume.safetensors, so a killed run continues from its last piece
 * and ends with the weights of an uncut run (src/train/resume.ts). Each finished piece appends its CPU and
 * wall time to `work/<id>/pieces.jsonl`; a run's CPU time is their sum (work lost to a kill is not counted).
 * CPU time = user + system of this process, all threads (JS and the native pool).
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Io } from '../cli/common.js';
import { runBench, type BenchReport } from '../cli/commands/bench.js';
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import { listFives } from '../data/fives.js';
import { mixSeed } from '../data/sample.js';
import { syntheticDataset } from '../data/synthetic.js';
import { writeSyntheticFives } from '../data/syntheticFives.js';
import { evaluate, type EvaluateOptions } from '../eval/evaluate.js';
import type { BlockMetrics } from '../eval/metrics.js';
import type { StageKept } from '../engine/keptStats.js';
import { randomWeights } from '../model/weights.js';
import { train, type TrainRunOptions } from '../train/trainer.js';
import { readResumePosition } from '../train/resume.js';
import { studyModel, type StageConfig, type StudyArm, type StudyConfig } from './config.js';
import { emaFile, ftId, PRETRAIN_DIR, workDir, type PlannedRun, type StudyPaths } from './plan.js';
import { tokenStats, withLayerScale, type TokenStats } from './tokens.js';

export interface RunContext {
  cfg: StudyConfig;
  paths: StudyPaths;
  io: Io;
  log: (msg: string) => void;
  /** Called after every optimiser step of a training run (progress; tests use it to kill the process). */
  onTrainStep?: (id: string, step: number) => void;
}

/** One training piece: optimiser steps [fromStep, toStep). */
export interface Piece {
  fromStep: number;
  toStep: number;
  cpuMs: number;
  wallMs: number;
}

/** The fields every result file has. */
export interface RunResultBase {
  id: string;
  kind: PlannedRun['kind'];
  /** The configuration this run depends on (a rerun with another one refuses to reuse the result). */
  spec: unknown;
  date: string;
  cpuMs: number;
  wallMs: number;
}

/** A training curve point (the last record of each step in metrics.jsonl). */
export interface CurvePoint {
  step: number;
  loss: number;
  seg: number;
  ratio: number;
  pol: number;
}

export interface TrainResult extends RunResultBase {
  arm?: StudyArm;
  seed: number;
  steps: number;
  pieces: Piece[];
  curve: CurvePoint[];
}

/** Metrics of one evaluated configuration on one source. */
export interface ConfigMetrics {
  final: BlockMetrics;
  perBlock?: BlockMetrics[];
}

export type SourceName = 'synthetic' | 'second';
export const SOURCES: readonly SourceName[] = ['synthetic', 'second'];

export interface EvalResult extends RunResultBase {
  arm: StudyArm;
  seed: number;
  /** source → configuration label (reg4pru bench's: unpruned, prune-0.7, tome-mhsa-0.5, …) → metrics. */
  sources: Record<SourceName, Record<string, ConfigMetrics>>;
  images: Record<SourceName, number>;
  tokens: TokenStats;
}

/** A pretraining run before the last: its steps of the stage. */
export interface PretrainPartResult extends TrainResult {
  part: NonNullable<PlannedRun['part']>;
}

export interface PretrainResult extends PretrainPartResult {
  /** Token statistics: random init with LayerScale 1e-5 (DINOv2's init), at the chosen LayerScale, and pretrained. */
  tokens: { initLs1e5: TokenStats; init: TokenStats; pretrained: TokenStats };
  /** The pretrained model unpruned on both sources, per block. */
  sources: Record<SourceName, Record<string, ConfigMetrics>>;
}

export interface BenchRow {
  label: string;
  method: string;
  ratio: number | null;
  status: 'ok' | 'unavailable';
  reason?: string;
  median?: number;
  p10?: number;
  p90?: number;
  speedup?: number;
  kept?: StageKept[];
}

export interface BenchRunResult extends RunResultBase {
  checkpoint: string;
  protocol: Record<string, unknown>;
  machine: { cpu: unknown; cores: unknown; node: unknown };
  rows: BenchRow[];
}

export interface DataResult extends RunResultBase {
  root: string;
  train: number;
  test: number;
}

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** CPU and wall time of `f`. */
export async function timed<T>(f: () => Promise<T>): Promise<{ value: T; cpuMs: number; wallMs: number }> {
  const c0 = cpuNow(), t0 = performance.now();
  const value = await f();
  return { value, cpuMs: cpuNow() - c0, wallMs: performance.now() - t0 };
}

/** Sorted-key JSON: the spec comparison does not depend on key order. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));
}

/** The configuration a run depends on. */
export function runSpecOf(cfg: StudyConfig, run: PlannedRun): unknown {
  const pre = { model: cfg.model, pretrain: cfg.pretrain };
  const { arms: _a, ...ft } = cfg.finetune;
  const second = cfg.finetune.data === 'second' ? { second: cfg.second } : {};
  switch (run.kind) {
    case 'data': return { second: cfg.second };
    case 'pretrain': return { ...pre, part: run.part, ...(run.part!.index === run.part!.of ? { second: cfg.second, eval: { samples: cfg.eval.samples, tokenImages: cfg.eval.tokenImages } } : {}) };
    case 'finetune': return { ...pre, ...second, finetune: ft, arm: run.arm, seed: run.seed };
    case 'eval': return { ...pre, second: cfg.second, finetune: ft, arm: run.arm, seed: run.seed, eval: cfg.eval };
    case 'bench': return { model: cfg.model, bench: cfg.bench, keeps: [cfg.finetune.keep, ...cfg.eval.keeps], tome: cfg.eval.tomeRatios };
    case 'policy': {
      const m = studyModel(cfg);
      return { image: m.image, patch: m.patch, superpatch: cfg.others?.superpatch };
    }
    case 'others': return { ...pre, finetune: ft, arm: run.arm, seed: run.seed, second: cfg.second, eval: { samples: cfg.eval.samples, batch: cfg.eval.batch }, others: cfg.others };
    case 'othersBench': return { model: cfg.model, bench: cfg.bench, keep: cfg.finetune.keep, others: cfg.others, arm: run.arm, seed: run.seed };
  }
}

/** The last record of every step of a metrics.jsonl (a resumed piece repeats the steps after its state). */
export function readCurve(file: string): CurvePoint[] {
  if (!existsSync(file)) return [];
  const byStep = new Map<number, CurvePoint>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const r = JSON.parse(line) as { type: string } & CurvePoint;
    if (r.type === 'step') byStep.set(r.step, { step: r.step, loss: r.loss, seg: r.seg, ratio: r.ratio, pol: r.pol });
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

function readPieces(dir: string): Piece[] {
  const f = path.join(dir, 'pieces.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Piece);
}

/**
 * Runs (or continues) a training run in `dir` to step `until` (default `opts.maxSteps`, the end of its
 * schedule) in pieces of `chunk` steps.
 * @returns the pieces of the run's folder (earlier processes' and earlier runs' included)
 */
export async function trainInPieces(ctx: RunContext, id: string, dir: string, opts: TrainRunOptions & { maxSteps: number }, chunk: number, until = opts.maxSteps): Promise<Piece[]> {
  const total = opts.maxSteps;
  for (;;) {
    const pos = readResumePosition(dir);
    const from = pos?.step ?? 0;
    if (from >= until && (until < total || existsSync(path.join(dir, 'ema.safetensors')))) break;
    const next = Math.min((Math.floor(from / chunk) + 1) * chunk, until);
    const stopAfter = next < total ? next : undefined;
    const onStep = (r: { step: number }) => ctx.onTrainStep?.(id, r.step);
    const t = await timed(() => (pos === null ? train({ ...opts, out: dir, stopAfter, onStep }) : train({ resume: dir, stopAfter, onStep })));
    t.value.model.dispose();
    const piece: Piece = { fromStep: from, toStep: t.value.steps, cpuMs: t.cpuMs, wallMs: t.wallMs };
    appendFileSync(path.join(dir, 'pieces.jsonl'), JSON.stringify(piece) + '\n');
    ctx.log(`${id}: steps ${from}..${piece.toStep} of ${total}, ${(t.cpuMs / 1000).toFixed(0)} CPU s, loss ${t.value.finalLoss.toFixed(3)}`);
  }
  return readPieces(dir);
}

/** Epochs that hold `steps` optimiser steps over `n` training samples. */
const epochsFor = (s: StageConfig, n: number) => Math.max(1, Math.ceil((s.steps * s.accum) / Math.ceil(n / s.batch)));

const stageOptions = (s: StageConfig) => ({ batch: s.batch, accum: s.accum, lr: s.lr, llrd: s.llrd, weightDecay: s.weightDecay, ema: s.ema, warmup: s.warmup, maxSteps: s.steps });

/** The synthetic test images of the token measurement (the first of the evaluation's test split). */
function tokenImages(cfg: StudyConfig) {
  const m = studyModel(cfg);
  return syntheticDataset(cfg.eval.tokenImages, mixSeed(0, 3), m.image);
}

/** Evaluates one checkpoint or weights on one source (kept: tokens per stage / merged / halted, when any). */
export async function evalOn(ctx: RunContext, model: string | Parameters<typeof evaluate>[0], source: SourceName,
  o: Pick<EvaluateOptions, 'keep' | 'tome' | 'perBlock' | 'threshold' | 'superpatch' | 'earlyExit'>): Promise<{ m: ConfigMetrics; images: number; kept?: StageKept[] }> {
  const data = source === 'synthetic' ? { data: 'synthetic', samples: ctx.cfg.eval.samples } : { data: ctx.paths.second, split: 'test' as const };
  const r = await evaluate(model, { ...data, ...o, batch: ctx.cfg.eval.batch });
  return { m: r.perBlock ? { final: r.final, perBlock: r.perBlock } : { final: r.final }, images: r.images, ...(r.kept ? { kept: r.kept } : {}) };
}

export async function runData(ctx: RunContext, run: PlannedRun, base: RunResultBase): Promise<DataResult> {
  const s = ctx.cfg.second;
  const t = await timed(() => writeSyntheticFives(ctx.paths.second, { images: s.images, size: s.size, seed: s.seed }));
  return { ...base, cpuMs: t.cpuMs, wallMs: t.wallMs, root: path.relative(ctx.paths.out, ctx.paths.second), train: t.value.train, test: t.value.test };
}

/**
 * One pretraining run: steps [part.start, part.end) of the stage's schedule in work/pretrain/; the last part
 * also measures the tokens and evaluates the pretrained model.
 */
export async function runPretrain(ctx: RunContext, run: PlannedRun, base: RunResultBase): Promise<PretrainPartResult | PretrainResult> {
  const cfg = ctx.cfg, p = cfg.pretrain, config = studyModel(cfg), part = run.part!;
  const dir = workDir(ctx.paths, PRETRAIN_DIR);
  const init = randomWeights(config, p.seed);
  const w0 = withLayerScale(init, p.layerScale);
  const opts = { config, weights: w0, data: 'synthetic', samples: p.samples, dataSeed: 0, routing: 'none' as const, policy: 'none' as const, epochs: epochsFor(p, p.samples), seed: p.seed, ...stageOptions(p) };
  const pieces = (await trainInPieces(ctx, run.id, dir, opts, cfg.chunkSteps, part.end)).filter((q) => q.fromStep >= part.start && q.toStep <= part.end);
  const curve = readCurve(path.join(dir, 'metrics.jsonl')).filter((q) => q.step <= part.end);
  const trained = { seed: p.seed, steps: part.end, part, pieces, curve, cpuMs: pieces.reduce((a, x) => a + x.cpuMs, 0), wallMs: pieces.reduce((a, x) => a + x.wallMs, 0) };
  if (part.index < part.of) return { ...base, ...trained };
  const t = await timed(async () => {
    const imgs = tokenImages(cfg);
    const ck = loadCheckpoint(emaFile(ctx.paths, PRETRAIN_DIR));
    const tokens = {
      initLs1e5: tokenStats({ config, weights: withLayerScale(init, 1e-5) }, imgs),
      init: tokenStats({ config, weights: w0 }, imgs),
      pretrained: tokenStats(ck, imgs),
    };
    const sources = {} as PretrainResult['sources'];
    for (const s of SOURCES) sources[s] = { unpruned: (await evalOn(ctx, ck, s, { keep: null, perBlock: true })).m };
    return { tokens, sources };
  });
  return { ...base, ...trained, cpuMs: trained.cpuMs + t.cpuMs, wallMs: trained.wallMs + t.wallMs, ...t.value };
}

export async function runFinetune(ctx: RunContext, run: PlannedRun, base: RunResultBase): Promise<TrainResult> {
  const cfg = ctx.cfg, f = cfg.finetune, arm = run.arm!, seed = run.seed!;
  const dir = workDir(ctx.paths, run.id);
  const init = existsSync(path.join(dir, 'resume.safetensors')) ? undefined : loadCheckpoint(emaFile(ctx.paths, PRETRAIN_DIR));
  let data = 'synthetic', n = f.samples;
  if (f.data === 'second') {
    data = ctx.paths.second;
    n = (await listFives(data)).filter((s) => s.split === 'train').length;
  }
  const opts = {
    config: studyModel(cfg), weights: init?.weights, data, samples: f.samples, dataSeed: 0, routing: arm.routing, policy: arm.policy, keep: f.keep,
    epochs: epochsFor(f, n), seed, ...stageOptions(f),
  };
  const pieces = await trainInPieces(ctx, run.id, dir, opts, cfg.chunkSteps);
  return {
    ...base, cpuMs: pieces.reduce((a, x) => a + x.cpuMs, 0), wallMs: pieces.reduce((a, x) => a + x.wallMs, 0),
    arm, seed, steps: f.steps, pieces, curve: readCurve(path.join(dir, 'metrics.jsonl')),
  };
}

export async function runEval(ctx: RunContext, run: PlannedRun, base: RunResultBase): Promise<EvalResult> {
  const cfg = ctx.cfg, arm = run.arm!, seed = run.seed!, keep = cfg.finetune.keep;
  const ck = loadCheckpoint(emaFile(ctx.paths, ftId(arm.name, seed)));
  const t = await timed(async () => {
    const sources = { synthetic: {}, second: {} } as EvalResult['sources'];
    const images = { synthetic: 0, second: 0 };
    for (const s of SOURCES) {
      const put = async (label: string, o: Pick<EvaluateOptions, 'keep' | 'tome' | 'perBlock'>) => {
        const r = await evalOn(ctx, ck, s, o);
        sources[s][label] = r.m;
        images[s] = r.images;
      };
      await put('unpruned', { keep: null, perBlock: true });
      if (arm.prune) {
        await put(`prune-${keep}`, { keep, perBlock: true });
        for (const k of cfg.eval.keeps) if (k !== keep) await put(`prune-${k}`, { keep: k });
      } else {
        for (const mode of ['mhsa', 'mhsa+mlp'] as const)
          for (const r of cfg.eval.tomeRatios) await put(`tome-${mode}-${r}`, { keep: null, tome: { mode, mergeRatio: r }, perBlock: true });
      }
      ctx.log(`${run.id}: evaluated on ${s} (${images[s]} images)`);
    }
    return { sources, images, tokens: tokenStats(ck, tokenImages(cfg)) };
  });
  return { ...base, cpuMs: t.cpuMs, wallMs: t.wallMs, arm, seed, ...t.value };
}

/** The harness's results as the study keeps them (kept counts per stage when the configuration prunes, merges or exits). */
export function benchRows(results: BenchReport['results']): BenchRow[] {
  return results.map((x): BenchRow => ({
    label: x.label, method: x.method, ratio: x.ratio, status: x.status, ...(x.reason ? { reason: x.reason } : {}),
    ...(x.stats ? { median: x.stats.median, p10: x.stats.p10, p90: x.stats.p90, speedup: x.speedup } : {}),
    ...(x.kept?.length ? { kept: x.kept } : {}),
  }));
}

export async function runBenchRun(ctx: RunContext, run: PlannedRun, base: RunResultBase): Promise<BenchRunResult> {
  const cfg = ctx.cfg;
  const checkpoint = emaFile(ctx.paths, run.deps[0]!);
  const configs = ['unpruned', ...[cfg.finetune.keep, ...cfg.eval.keeps].map((k) => `prune-${k}`), ...cfg.eval.tomeRatios.flatMap((r) => [`tome-mhsa-${r}`, `tome-mhsa+mlp-${r}`])];
  const t = await timed(() => runBench({ checkpoint, warmup: cfg.bench.warmup, iters: cfg.bench.iters, configs, out: workDir(ctx.paths, run.id), quiet: true }, ctx.io));
  const r = t.value;
  const rows = benchRows(r.results);
  return {
    ...base, cpuMs: t.cpuMs, wallMs: t.wallMs, checkpoint: path.relative(ctx.paths.out, checkpoint), protocol: r.protocol,
    machine: { cpu: r.machine.cpu, cores: r.machine.cores, node: r.machine.node }, rows,
  };
}
