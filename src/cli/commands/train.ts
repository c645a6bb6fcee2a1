/**
 * `reg4pru train` (SPEC §4): trains the EoMT-style segmenter with Reg4Pru routing on the TF.js `cpu`
 * backend accelerated by our native kernels (`useNativeBackend()`), through `train()` of
 * src/train/trainer.ts. Writes metrics.jsonl, checkpoint.safetensors (online weights), ema.safetensors
 * and summary.json into --out; progress bar with the loss and the ETA on stderr.
 * `--init FILE` starts from our checkpoint (its config is the model unless --preset / --image /
 * --model-config are given, which must then agree with it) or from a timm DINOv2 state dict in
 * safetensors (imported into the --preset/--model-config model by `importDinov2`).
 * `--keep dynamic[:τ]` trains for SViT's dynamic per-image keep (the engine's keep 'dynamic'): the same Gumbel-ST
 * policies with the hard decision at keep score >= τ (default 0.5), and a ratio loss on the batch's mean keep per
 * stage, targeting `--keep-mean` ρ (default 0.7), instead of each image's.
 * `--stop-after N` cuts the run after optimiser step N (the schedule stays the full run's) and writes
 * resume.safetensors; `--resume DIR` continues the run in DIR with its own options (src/train/resume.ts): only
 * --out, --stop-after and --quiet may be given with it, and --out defaults to DIR.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { UsageError, parseFloatOption, parseIntOption, println, resolveModel, type CommandContext, type Io } from '../common.js';
import { createProgress, progressMode } from '../progress.js';
import { useNativeBackend } from '../../tfjs/backend/native_backend.js';
import { readInitWeights, type InitWeights } from '../../checkpoint/init.js';
import type { ModelConfig } from '../../model/config.js';
import { train, TRAIN_POLICIES, type TrainPolicy, type TrainSummary } from '../../train/trainer.js';
import type { RouteScheduleKind } from '../../routing/schedule.js';
import { RESUME_FILE } from '../../train/resume.js';
import { isDynamic, parseKeepSpec, type KeepSpec } from '../keep.js';

export interface TrainCliOptions {
  data?: string;
  preset: 'tiny' | 'small';
  image?: number;
  modelConfig?: string;
  routing: RouteScheduleKind;
  policy: TrainPolicy;
  /** ρ of the ratio loss, or dynamic keep (its threshold; the target is keepMean). */
  keep: KeepSpec | string;
  /** With --keep dynamic: the ρ that the batch-mean ratio loss targets (default 0.7). */
  keepMean?: number;
  epochs: number;
  batch: number;
  accum: number;
  lr: number;
  weightDecay: number;
  llrd: number;
  ema: number;
  warmup: [number, number];
  seed: number;
  samples: number;
  maxSteps?: number;
  out: string;
  quiet?: boolean;
  /** Initial weights: a reg4pru checkpoint or a timm DINOv2 state dict (.safetensors). */
  init?: string;
  /** True when --preset, --image or --model-config was given on the command line (not defaulted). */
  modelExplicit?: boolean;
  /** Continue the run whose resume.safetensors is in this folder. */
  resume?: string;
  /** Stop after this optimiser step (writes resume.safetensors). */
  stopAfter?: number;
  /** Options given explicitly on the command line (to refuse run options next to --resume). */
  explicit?: string[];
}

// Options that only the run itself defines: refused next to --resume.
const RUN_OPTIONS = ['data', 'preset', 'image', 'modelConfig', 'routing', 'policy', 'keep', 'keepMean', 'epochs', 'batch', 'accum', 'lr', 'weightDecay', 'llrd', 'ema', 'warmup', 'samples', 'maxSteps', 'seed', 'init'];
const flag = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

async function runResume(o: TrainCliOptions, io: Io): Promise<Omit<TrainSummary, 'model' | 'emaWeights'>> {
  const dir = o.resume!;
  const given = (o.explicit ?? []).filter((k) => RUN_OPTIONS.includes(k));
  if (given.length > 0) throw new UsageError(`--resume: the run's options come from ${dir}; remove ${given.map(flag).join(', ')}`);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--resume: no such folder '${dir}'`);
  if (!existsSync(path.join(dir, RESUME_FILE))) throw new UsageError(`--resume: no ${RESUME_FILE} in '${dir}' (written by train with --out at every epoch end and by --stop-after)`);
  await tf.setBackend('cpu');
  useNativeBackend();
  const out = (o.explicit ?? []).includes('out') ? o.out : dir;
  const r = await train({ resume: dir, out, stopAfter: o.stopAfter, onNote: (msg) => (o.quiet ? undefined : println(io.err, msg)) });
  const { model, emaWeights: _e, ...summary } = r;
  model.dispose();
  println(io.out, `reg4pru train --resume: at step ${summary.steps} (${summary.microBatches} micro-batches), final loss ${summary.finalLoss.toFixed(4)}`);
  return summary;
}

/** Resolves `--init`: usage errors (missing file, a model that does not fit) exit with code 2. */
function initWeights(o: TrainCliOptions, config: ModelConfig): InitWeights {
  const file = o.init!;
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`--init: no such file '${file}'`);
  try {
    return readInitWeights(file, config, o.seed, { checkpointConfig: o.modelExplicit === false });
  } catch (e) {
    throw new UsageError(`--init: ${(e as Error).message}`);
  }
}

/** --keep and --keep-mean as the trainer's keep (ρ) and dynamic options. */
function trainKeep(o: TrainCliOptions): { keep: number; dynamic: { threshold: number } | null } {
  const k = typeof o.keep === 'string' ? parseKeepSpec(o.keep) : o.keep;
  if (k === null) throw new UsageError("--keep: training needs a keep ratio in (0, 1] or 'dynamic[:threshold]' (use --policy none to train without policies)");
  if (!isDynamic(k)) {
    if (o.keepMean !== undefined) throw new UsageError("--keep-mean applies to --keep dynamic (a fixed --keep is itself the ratio loss's target)");
    return { keep: k, dynamic: null };
  }
  if (k.minKeep !== 1) throw new UsageError("--keep: the floor of 'dynamic:<threshold>:<minKeep>' is an inference option; train with 'dynamic[:threshold]'");
  if (!(k.threshold > 0 && k.threshold < 1)) throw new UsageError(`--keep: expected the training threshold of 'dynamic:<threshold>' in (0, 1), received ${k.threshold}`);
  return { keep: o.keepMean ?? 0.7, dynamic: { threshold: k.threshold } };
}

export async function runTrain(o: TrainCliOptions, io: Io): Promise<Omit<TrainSummary, 'model' | 'emaWeights'>> {
  if (o.resume !== undefined) return runResume(o, io);
  const { keep, dynamic } = trainKeep(o);
  if (o.data === undefined) throw new UsageError("--data: required ('synthetic' or a FIVES folder) unless --resume is given");
  if (o.data !== 'synthetic' && !existsSync(o.data)) throw new UsageError(`--data: expected 'synthetic' or a FIVES folder, no such path '${o.data}'`);
  const m = await resolveModel({ preset: o.preset, image: o.image, modelConfig: o.modelConfig, seed: o.seed });
  const init = o.init === undefined ? undefined : initWeights(o, m.config!);
  if (init) {
    const r = init.report;
    const what = r ? `timm DINOv2 state dict: ${r.imported.length} tensors copied, ${r.resampled.length} resampled, ${r.initialised.length} initialised (seed ${o.seed}), ${r.ignored.length} ignored` : 'reg4pru checkpoint';
    println(io.out, `init: ${o.init} (${what})`);
    for (const w of r?.warnings ?? []) println(io.err, `warning: --init: ${w}`);
  }
  const config = init?.config ?? m.config!;
  await tf.setBackend('cpu');
  useNativeBackend();
  let progress: ReturnType<typeof createProgress> | null = null;
  let lossEma = NaN;
  const r = await train({
    config, weights: init?.weights, data: o.data, samples: o.samples, routing: o.routing, policy: o.policy, keep, dynamic, epochs: o.epochs,
    batch: o.batch, accum: o.accum, lr: o.lr, weightDecay: o.weightDecay, llrd: o.llrd, ema: o.ema, warmup: o.warmup, seed: o.seed,
    maxSteps: o.maxSteps, out: o.out, stopAfter: o.stopAfter,
    onMicro: (done, total, loss) => {
      progress ??= createProgress(io.err, progressMode(io.err, o.quiet === true), total, 'train', Math.max(1, Math.floor(total / 20)));
      lossEma = Number.isNaN(lossEma) ? loss : 0.9 * lossEma + 0.1 * loss;
      progress.tick(1, `loss ${loss.toFixed(4)} (avg ${lossEma.toFixed(4)})`);
    },
    onNote: (msg) => (progress ? progress.note(msg) : o.quiet ? undefined : println(io.err, msg)),
  });
  (progress as ReturnType<typeof createProgress> | null)?.stop();
  const { model, emaWeights: _e, ...summary } = r;
  model.dispose();
  println(io.out, `reg4pru train: ${summary.steps} steps (${summary.microBatches} micro-batches of ${o.batch}), final loss ${summary.finalLoss.toFixed(4)}, ${summary.medianMsPerStep.toFixed(0)} ms/step (median), ${(summary.wallMs / 60000).toFixed(1)} min wall, ${(summary.cpuMs / 60000).toFixed(1)} CPU min`);
  println(io.out, `wrote ${[summary.files.metrics, summary.files.checkpoint, summary.files.ema, summary.files.summary].join(', ')}`);
  return summary;
}

function parseWarmup(v: string): [number, number] {
  const parts = v.split(',').map((s) => s.trim());
  const n = parts.map(Number);
  if (parts.length !== 2 || !n.every((x) => Number.isInteger(x) && x >= 0)) throw new UsageError(`option --warmup: expected two integers 'head,backbone', received '${v}'`);
  return [n[0]!, n[1]!];
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('train')
    .description('train the segmenter with Reg4Pru routing (SPEC §4): JSONL metrics, checkpoints, progress with ETA')
    .option('--data <src>', "'synthetic' or a FIVES folder (train split); required unless --resume")
    .addOption(new Option('--preset <name>', 'model preset').choices(['tiny', 'small']).default('tiny'))
    .option('--image <px>', "square input size (default: the preset's)", parseIntOption('--image', 1))
    .option('--model-config <file>', 'JSON of ModelConfig fields overriding the preset')
    .addOption(new Option('--routing <kind>', 'token routing during training').choices(['none', 'fixed', 'random']).default('random'))
    .addOption(new Option('--policy <loss>', 'policy loss').choices([...TRAIN_POLICIES]).default('ratio'))
    .option('--keep <rho|dynamic[:t]>', "base keep ratio of the ratio loss, or 'dynamic[:threshold]' (per-image keep: hard decisions at score >= threshold, batch-mean ratio loss)", '0.7')
    .option('--keep-mean <rho>', 'with --keep dynamic: the mean keep ratio the ratio loss targets (default 0.7)', parseFloatOption('--keep-mean', 0, 1, { exclusiveMin: true }))
    .option('--epochs <n>', 'epochs', parseIntOption('--epochs', 1), 1)
    .option('--batch <n>', 'micro-batch size', parseIntOption('--batch', 1), 2)
    .option('--accum <n>', 'micro-batches per optimiser step', parseIntOption('--accum', 1), 1)
    .option('--lr <lr>', 'base learning rate', parseFloatOption('--lr', 0, 1), 2e-4)
    .option('--weight-decay <wd>', 'AdamW decoupled weight decay', parseFloatOption('--weight-decay', 0, 1), 0.05)
    .option('--llrd <f>', 'layer-wise lr decay', parseFloatOption('--llrd', 0, 1, { exclusiveMin: true }), 0.8)
    .option('--ema <d>', 'EMA decay', parseFloatOption('--ema', 0, 1), 0.9999)
    .option('--warmup <w1,w2>', 'head,backbone warmup steps (shrunk on short runs)', parseWarmup, [200, 400] as [number, number])
    .option('--samples <n>', 'synthetic training set size', parseIntOption('--samples', 1), 64)
    .option('--max-steps <n>', 'stop after n optimiser steps', parseIntOption('--max-steps', 1))
    .option('--seed <n>', 'seed (weights, augmentation, routes, noise)', parseIntOption('--seed', 0), 0)
    .option('--init <file>', 'initial weights: a reg4pru checkpoint or a timm DINOv2 state dict (.safetensors)')
    .option('--out <dir>', 'output folder', 'reg4pru-train')
    .option('--stop-after <n>', 'stop after optimiser step n (full-run schedule), writing resume.safetensors', parseIntOption('--stop-after', 1))
    .option('--resume <dir>', "continue the run in dir (its resume.safetensors and options; --out defaults to dir)")
    .option('-q, --quiet', 'no progress output')
    .action(async (o: TrainCliOptions, cmd: Command) => {
      const explicit = ['preset', 'image', 'modelConfig'].some((k) => cmd.getOptionValueSource(k) === 'cli');
      const given = Object.keys(cmd.opts()).filter((k) => cmd.getOptionValueSource(k) === 'cli');
      await runTrain({ ...o, modelExplicit: explicit, explicit: given }, ctx.io);
    });
}
