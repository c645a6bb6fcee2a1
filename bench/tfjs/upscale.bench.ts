/**
 * The EoMT mask head's scale block (SPEC §2: ConvTranspose2d 2x2/2 → GELU → depthwise 3x3 → LayerNorm2d) forward +
 * backward (tf.grads of sum(y * dy) w.r.t. x and the five weights) on TF.js's `cpu` backend with useNativeBackend(),
 * at the shapes of preset tiny's training step (256x256, B=2, D=192: 16x16 → 32x32 and 32x32 → 64x64), two ways
 * measured round-robin in the same run:
 *   composed : src/model/tfjs/upscale.ts upscaleComposed (native matmul / depthwise / transpose kernels, fused
 *              LayerNorm / GELU; ~30 TF.js kernels forward + backward);
 *   fused    : tfops.upscaleBlock (one native op forward, one backward).
 * The training step runs each shape 5 times (one per decode point). p10 is the figure to read on a loaded machine.
 * Run: npx tsx bench/tfjs/upscale.bench.ts [--rounds 20]
 */
import * as tf from '@tensorflow/tfjs';
import { getThreads, info } from '../../src/index.js';
import { tfops, useNativeBackend } from '../../src/tfjs/index.js';
import { upscaleComposed, type UpscaleWeights } from '../../src/model/tfjs/upscale.js';
import { UPSCALE_WEIGHT_NAMES } from '../../src/ops/upscaleBlock.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeRoundRobin } from '../../src/cli/commands/bench.js';
import { summarize } from '../lib/timer.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

export async function run(opts: { rounds: number }): Promise<BenchRow[]> {
  tf.env().set('IS_NODE', true);
  await tf.setBackend('cpu');
  await tf.ready();
  useNativeBackend(true);
  const rows: BenchRow[] = [];
  const D = 192, B = 2;
  for (const g of [16, 32]) {
    const shapes: Record<string, number[]> = { 'conv1.weight': [D, D, 2, 2], 'conv1.bias': [D], 'conv2.weight': [D, 1, 3, 3], 'norm.weight': [D], 'norm.bias': [D] };
    const w = Object.fromEntries(UPSCALE_WEIGHT_NAMES.map((n, i) => [n, tf.randomNormal(shapes[n]!, 0, 0.1, 'float32', i)])) as UpscaleWeights;
    const x = tf.randomNormal([B, g, g, D], 0, 1, 'float32', 7) as tf.Tensor4D;
    const dy = tf.randomNormal([B, 2 * g, 2 * g, D], 0, 1, 'float32', 8);
    const step = (f: (x: tf.Tensor4D, w: UpscaleWeights) => tf.Tensor4D) => () => {
      const args = [x, ...UPSCALE_WEIGHT_NAMES.map((n) => w[n])];
      const grads = tf.grads((...t: tf.Tensor[]) => {
        const ww = Object.fromEntries(UPSCALE_WEIGHT_NAMES.map((n, i) => [n, t[i + 1]!])) as UpscaleWeights;
        return tf.sum(tf.mul(f(t[0] as tf.Tensor4D, ww), dy));
      })(args);
      grads[0]!.dataSync();
      tf.dispose(grads);
    };
    // the harness's round-robin loop (the starting contender rotates each round)
    const [composed, fused] = (await timeRoundRobin([step(upscaleComposed), step((xx, ww) => tfops.upscaleBlock(xx, ww))].map((f) => async () => f()), { warmup: 2, iters: opts.rounds }))
      .map((r) => summarize(r.timingsMs));
    const t = { composed, fused };
    const shape = `B=${B} ${g}x${g}x${D} -> ${2 * g}x${2 * g}x${D}`;
    const flops = 3 * 2 * B * g * g * D * 4 * D; // the ConvTranspose GEMM, forward + two gradients
    rows.push({ op: 'upscale block fwd+bwd', shape, impl: 'tfjs cpu native, composed', timing: t.composed!, flops });
    rows.push({ op: 'upscale block fwd+bwd', shape, impl: 'tfjs cpu native, fused', timing: t.fused!, flops, speedup: t.composed!.medianMs / t.fused!.medianMs, note: `p10 ratio ${(t.composed!.p10Ms / t.fused!.p10Ms).toFixed(2)}` });
    tf.dispose([x, dy, ...Object.values(w)]);
  }
  useNativeBackend(false);
  console.log(`addon kernel ${info().cpu.kernel}, ${getThreads()} threads, ${opts.rounds} round-robin rounds; speedup = composed / fused (medians)`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ rounds: arg('--rounds', 20) });
  printTable('EoMT scale block on the TF.js cpu backend: composed vs fused (tfops.upscaleBlock)', rows);
  writeJson('tfjs-upscale', rows);
}
