/**
 * The study's runs for issue 17's systems (config `others`, ./plan.ts): SViT's dynamic per-image keep, STEP's
 * superpatches and early exits, on the fine-tuned checkpoints of one arm (every seed), alone and combined with the
 * arm's pruning, on both test sources; and their throughput with the harness. The superpatch policy is a CNN on
 * the image that does not depend on the backbone, so one policy (trained once) serves every seed; the exit heads
 * read the frozen backbone's tokens, so each checkpoint gets its own.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { runBench } from '../cli/commands/bench.js';
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import type { StageKept } from '../engine/keptStats.js';
import type { BlockMetrics } from '../eval/metrics.js';
import { trainExitHeads, type ExitMetrics } from '../train/exitHeads.js';
import { trainSuperpatchPolicy, type PolicyMetrics } from '../train/superpatchPolicy.js';
import { studyModel, type OthersConfig, type StudyArm } from './config.js';
import { emaFile, ftId, POLICY_RUN, workDir, type PlannedRun, type StudyPaths } from './plan.js';
import { benchRows, evalOn, SOURCES, timed, type BenchRow, type RunContext, type RunResultBase, type SourceName } from './runs.js';

export interface PolicyRunResult extends RunResultBase {
  /** The policy file, relative to the study folder. */
  file: string;
  steps: number;
  loss: { first: number; last: number };
  /** Held-out windows at the merge threshold: the trained policy and the untrained one. */
  test: PolicyMetrics;
  initial: PolicyMetrics;
}

export interface OthersMetrics {
  final: BlockMetrics;
  /** Kept patches per pruning stage, the tokens after merging ('merge'), the tokens halted per exit ('exit'). */
  kept?: StageKept[];
}

export interface OthersResult extends RunResultBase {
  arm: StudyArm;
  seed: number;
  /** The exit heads on held-out images at the exit threshold. */
  exits: ExitMetrics[];
  /** source → configuration label (the harness's: unpruned, prune-0.7, dynamic-0.5, superpatch-0.5, exit-0.9, …). */
  sources: Record<SourceName, Record<string, OthersMetrics>>;
  images: Record<SourceName, number>;
}

export interface OthersBenchResult extends RunResultBase {
  checkpoint: string;
  protocol: Record<string, unknown>;
  rows: BenchRow[];
}

export const policyFile = (p: StudyPaths) => path.join(workDir(p, POLICY_RUN), 'policy.safetensors');
const headsFile = (p: StudyPaths, id: string) => path.join(workDir(p, id), 'exit-heads.safetensors');

/** The configurations an `others` run evaluates, by the harness's labels, with their evaluate() options. */
export function othersConfigs(o: OthersConfig, keep: number, policy: string, heads: string) {
  const sp = { policy, threshold: o.superpatch.threshold };
  const ex = { heads, threshold: o.exits.threshold };
  const s = `superpatch-${o.superpatch.threshold}`, e = `exit-${o.exits.threshold}`, p = `prune-${keep}`;
  return [
    ['unpruned', { keep: null }],
    [p, { keep }],
    [`dynamic-${o.dynamic}`, { keep: 'dynamic' as const, threshold: o.dynamic }],
    [s, { keep: null, superpatch: sp }],
    [`${s}+${p}`, { keep, superpatch: sp }],
    [e, { keep: null, earlyExit: ex }],
    [`${e}+${p}`, { keep, earlyExit: ex }],
  ] as const;
}

export async function runPolicy(ctx: RunContext, _run: PlannedRun, base: RunResultBase): Promise<PolicyRunResult> {
  const m = studyModel(ctx.cfg), sp = ctx.cfg.others!.superpatch, file = policyFile(ctx.paths);
  mkdirSync(path.dirname(file), { recursive: true });
  const t = await timed(() => trainSuperpatchPolicy({
    data: 'synthetic', image: m.image, config: { patch: m.patch, width: sp.width }, steps: sp.steps, samples: sp.samples,
    threshold: sp.threshold, seed: ctx.cfg.pretrain.seed, out: file,
  }));
  const r = t.value;
  ctx.log(`${POLICY_RUN}: loss ${r.losses[0]!.toFixed(4)} -> ${r.losses.at(-1)!.toFixed(4)}, held-out merge precision ${r.test.precision.toFixed(3)}`);
  return {
    ...base, cpuMs: t.cpuMs, wallMs: t.wallMs, file: path.relative(ctx.paths.out, file), steps: sp.steps,
    loss: { first: r.losses[0]!, last: r.losses.at(-1)! }, test: r.test, initial: r.initial,
  };
}

export async function runOthers(ctx: RunContext, run: PlannedRun, base: RunResultBase): Promise<OthersResult> {
  const cfg = ctx.cfg, o = cfg.others!, arm = run.arm!, seed = run.seed!;
  const ck = loadCheckpoint(emaFile(ctx.paths, ftId(arm.name, seed)));
  const heads = headsFile(ctx.paths, run.id);
  mkdirSync(path.dirname(heads), { recursive: true });
  const t = await timed(async () => {
    const ex = await trainExitHeads({ config: ck.config, weights: ck.weights, blocks: o.exits.blocks, steps: o.exits.steps, samples: o.exits.samples, threshold: o.exits.threshold, seed, out: heads });
    const sources = { synthetic: {}, second: {} } as OthersResult['sources'];
    const images = { synthetic: 0, second: 0 };
    for (const s of SOURCES) {
      for (const [label, opts] of othersConfigs(o, cfg.finetune.keep, policyFile(ctx.paths), heads)) {
        const r = await evalOn(ctx, ck, s, opts);
        sources[s][label] = { final: r.m.final, ...(r.kept ? { kept: r.kept } : {}) };
        images[s] = r.images;
      }
      ctx.log(`${run.id}: evaluated on ${s} (${images[s]} images)`);
    }
    return { exits: ex.test, sources, images };
  });
  return { ...base, cpuMs: t.cpuMs, wallMs: t.wallMs, arm, seed, ...t.value };
}

export async function runOthersBench(ctx: RunContext, run: PlannedRun, base: RunResultBase): Promise<OthersBenchResult> {
  const cfg = ctx.cfg, o = cfg.others!;
  const checkpoint = emaFile(ctx.paths, ftId(run.arm!.name, run.seed!));
  const t = await timed(() => runBench({
    checkpoint, warmup: cfg.bench.warmup, iters: cfg.bench.iters, configs: ['unpruned', `prune-${cfg.finetune.keep}`, `dynamic-${o.dynamic}`],
    superpatch: { file: policyFile(ctx.paths), threshold: o.superpatch.threshold },
    earlyExit: { file: headsFile(ctx.paths, run.deps[0]!), threshold: o.exits.threshold, minActive: 1 },
    out: workDir(ctx.paths, run.id), quiet: true,
  }, ctx.io));
  return { ...base, cpuMs: t.cpuMs, wallMs: t.wallMs, checkpoint: path.relative(ctx.paths.out, checkpoint), protocol: t.value.protocol, rows: benchRows(t.value.results) };
}
