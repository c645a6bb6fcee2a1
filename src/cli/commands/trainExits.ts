/**
 * `reg4pru train-exits`: trains STEP early-exit heads (src/model/earlyExit.ts, src/train/exitHeads.ts) for a
 * checkpoint's frozen backbone, after the given blocks; writes the heads file that `--early-exit` reads and prints, per
 * head, the held-out share of patch tokens that would leave at the threshold and how many of those are classified right.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { UsageError, printTable, println, smallNetOptions, type CommandContext, type SmallNetCliOptions, type Io } from '../common.js';
import { createProgress, progressMode } from '../progress.js';
import { useNativeBackend } from '../../tfjs/backend/native_backend.js';
import { loadCheckpoint } from '../../checkpoint/checkpoint.js';
import { trainExitHeads, type TrainExitsResult } from '../../train/exitHeads.js';

export interface TrainExitsCliOptions extends SmallNetCliOptions {
  checkpoint: string;
  blocks: string;
}

export async function runTrainExits(o: TrainExitsCliOptions, io: Io): Promise<TrainExitsResult> {
  if (!existsSync(o.checkpoint)) throw new UsageError(`--checkpoint: no such file '${o.checkpoint}'`);
  const blocks = o.blocks.split(',').map((b) => Number(b.trim()));
  const { config, weights } = loadCheckpoint(o.checkpoint);
  if (!blocks.every((b, i) => Number.isInteger(b) && b >= 0 && b < config.L && (i === 0 || b > blocks[i - 1]!)))
    throw new UsageError(`--blocks: expected ascending block indices in [0, ${config.L}), received '${o.blocks}'`);
  await tf.setBackend('cpu');
  useNativeBackend();
  const progress = createProgress(io.err, progressMode(io.err, o.quiet === true), o.steps, 'train-exits', Math.max(1, Math.floor(o.steps / 20)));
  let r: TrainExitsResult;
  try {
    r = await trainExitHeads({ config, weights, blocks, steps: o.steps, batch: o.batch, lr: o.lr, samples: o.samples, threshold: o.threshold, seed: o.seed, out: o.out,
      onStep: (_s, _n, loss) => progress.tick(1, `loss ${loss.toFixed(4)}`) });
  } finally {
    progress.stop();
  }
  println(io.out, `reg4pru train-exits: heads after blocks ${blocks.join(', ')}, ${o.steps} steps, loss ${r.losses[0]!.toFixed(4)} -> ${r.losses.at(-1)!.toFixed(4)}; held-out at threshold ${o.threshold}:`);
  printTable(io.out, ['block', 'accuracy', 'exit share', 'exit accuracy'], r.test.map((m) => [String(m.block), m.accuracy.toFixed(3), m.exitShare.toFixed(3), m.exitAccuracy.toFixed(3)]));
  println(io.out, `wrote ${o.out}`);
  return r;
}

export function register(program: Command, ctx: CommandContext): void {
  const cmd = program
    .command('train-exits')
    .description("train STEP early-exit heads for a checkpoint's frozen backbone (per-token class heads after chosen blocks)")
    .requiredOption('--checkpoint <file>', 'safetensors checkpoint (its backbone stays frozen)')
    .requiredOption('--blocks <list>', 'comma-separated blocks after which a head runs (ascending)');
  smallNetOptions(cmd, { steps: 100, batch: 4, samples: 32, threshold: 0.9, what: 'exit', out: 'exit-heads.safetensors' })
    .action(async (o: TrainExitsCliOptions) => {
      await runTrainExits(o, ctx.io);
    });
}
