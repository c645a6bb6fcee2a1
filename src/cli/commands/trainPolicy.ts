/**
 * `reg4pru train-policy`: trains STEP's superpatch policy (src/model/superpatch.ts, src/train/superpatchPolicy.ts):
 * the small CNN that predicts from the downscaled image which 2x2 patch windows can be one token, learned from the
 * masks (a window is mergeable when all its pixels share one label). Writes the policy (.safetensors, config in its
 * metadata) and prints loss and the held-out accuracy, precision of "merge" and merged share before and after.
 */
import * as tf from '@tensorflow/tfjs';
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { Command } from 'commander';
import { UsageError, parseIntOption, printTable, println, smallNetOptions, type CommandContext, type SmallNetCliOptions, type Io } from '../common.js';
import { createProgress, progressMode } from '../progress.js';
import { useNativeBackend } from '../../tfjs/backend/native_backend.js';
import { trainSuperpatchPolicy, type PolicyMetrics, type TrainPolicyResult } from '../../train/superpatchPolicy.js';

export interface TrainPolicyCliOptions extends SmallNetCliOptions {
  data: string;
  image: number;
  patch: number;
  width: number;
}

export async function runTrainPolicy(o: TrainPolicyCliOptions, io: Io): Promise<TrainPolicyResult> {
  if (o.data !== 'synthetic') throw new UsageError(`--data: expected 'synthetic' (the policy trains on the synthetic set so far), received '${o.data}'`);
  if (o.image % o.patch !== 0 || o.image / o.patch < 2) throw new UsageError(`--image ${o.image}: expected a multiple of --patch ${o.patch} with at least 2 patches per side`);
  await tf.setBackend('cpu');
  useNativeBackend();
  mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  const progress = createProgress(io.err, progressMode(io.err, o.quiet === true), o.steps, 'train-policy', Math.max(1, Math.floor(o.steps / 20)));
  let r: TrainPolicyResult;
  try {
    r = await trainSuperpatchPolicy({
      data: 'synthetic', image: [o.image, o.image], config: { patch: o.patch, width: o.width }, steps: o.steps, batch: o.batch, lr: o.lr,
      samples: o.samples, threshold: o.threshold, seed: o.seed, out: o.out,
      onStep: (_s, _n, loss) => progress.tick(1, `loss ${loss.toFixed(4)}`),
    });
  } finally {
    progress.stop();
  }
  const row = (name: string, m: PolicyMetrics) => [name, m.accuracy.toFixed(3), m.precision.toFixed(3), m.recall.toFixed(3), m.mergedFraction.toFixed(3)];
  println(io.out, `reg4pru train-policy: ${o.steps} steps, loss ${r.losses[0]!.toFixed(4)} -> ${r.losses.at(-1)!.toFixed(4)}; held-out windows: ${r.test.windows} (${(100 * r.test.uniformFraction).toFixed(1)}% uniform), threshold ${o.threshold}`);
  printTable(io.out, ['network', 'accuracy', 'merge precision', 'merge recall', 'merged share'], [row('initial', r.initial), row('trained', r.test)]);
  println(io.out, `wrote ${o.out}`);
  return r;
}

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('train-policy')
    .description("train STEP's superpatch policy: a small CNN predicting which 2x2 patch windows can be one token (labels from the masks)")
    .option('--data <src>', "'synthetic'", 'synthetic')
    .option('--image <px>', 'square training image size', parseIntOption('--image', 2), 256)
    .option('--patch <p>', "the backbone's patch size", parseIntOption('--patch', 1, 1024), 16)
    .option('--width <c>', 'hidden channels of the CNN', parseIntOption('--width', 1, 1024), 16);
  smallNetOptions(cmd, { steps: 200, batch: 8, samples: 64, threshold: 0.5, what: 'merge', out: 'superpatch-policy.safetensors' })
    .action(async (o: TrainPolicyCliOptions) => {
      await runTrainPolicy(o, ctx.io);
    });
}
