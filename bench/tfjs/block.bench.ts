/**
 * TF.js `cpu` backend, stock vs `useNativeBackend()` (src/tfjs/backend/), measured in the same run:
 * - the ViT block of SPEC §2 (bench/tfjs/vitBlock.ts, preset tiny: D=192, H=3, N=261 tokens, B=2)
 *   forward + backward (tf.variableGrads on mean(out^2)) step time;
 * - a 1024x1024 x 1024x1024 tf.matMul.
 * Prints the replaced kernels and the per-kernel profile of one step on each backend.
 * Run: npm run bench:tfjs  (or npx tsx bench/tfjs/block.bench.ts [--quick])
 */
import * as tf from '@tensorflow/tfjs';
import { backendInfo, useNativeBackend } from '../../src/tfjs/index.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeSync } from '../lib/timer.js';
import { formatProfile, profileKernels } from './profile.js';
import { TINY_BLOCK, blockStep, disposeParams, makeBlockParams } from './vitBlock.js';

/** Useful FLOPs of one block forward (matmuls only); a training step is ~3x that. */
function blockFlops(B: number, N: number, D: number): number {
  const lin = 2 * B * N * D * (3 * D + D + 4 * D + 4 * D);
  const att = 2 * 2 * B * N * N * D;
  return 3 * (lin + att);
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  tf.env().set('IS_NODE', true);
  await tf.setBackend('cpu');
  await tf.ready();
  const rows: BenchRow[] = [];
  const cfg = TINY_BLOCK;
  const params = makeBlockParams(cfg);
  const x = tf.randomNormal([cfg.B, cfg.N, cfg.D], 0, 1, 'float32', 7);
  const step = () => {
    const { loss, grads } = blockStep(x, params, cfg);
    loss.dataSync();
    tf.dispose([loss, ...Object.values(grads)]);
  };
  const shape = `B=${cfg.B} N=${cfg.N} D=${cfg.D} H=${cfg.H}`;
  const profiles: Record<string, string> = {};
  let stockMs = 0;
  for (const nat of [false, true]) {
    useNativeBackend(nat);
    const t = timeSync(step, nat ? { warmup: 2, maxIterations: opts.quick ? 5 : 30, budgetMs: opts.quick ? 1500 : 5000 } : { warmup: 1, maxIterations: opts.quick ? 1 : 3, minIterations: 1, budgetMs: 1 });
    if (!nat) stockMs = t.medianMs;
    rows.push({ op: 'vitBlock fwd+bwd', shape, impl: nat ? 'tfjs cpu + native' : 'tfjs cpu (stock)', timing: t, flops: blockFlops(cfg.B, cfg.N, cfg.D), speedup: nat ? stockMs / t.medianMs : undefined });
    profiles[nat ? 'native' : 'stock'] = formatProfile(profileKernels(step), 10);
  }
  useNativeBackend(false);
  x.dispose();
  disposeParams(params);

  const n = opts.quick ? 512 : 1024;
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1), b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  let mmStock = 0;
  for (const nat of [false, true]) {
    useNativeBackend(nat);
    const t = timeSync(() => { const c = tf.matMul(a, b); c.dataSync(); c.dispose(); }, nat ? { warmup: 3, maxIterations: 50, budgetMs: 3000 } : { warmup: 0, maxIterations: opts.quick ? 1 : 2, minIterations: 1, budgetMs: 1 });
    if (!nat) mmStock = t.medianMs;
    rows.push({ op: 'tf.matMul', shape: `${n}x${n}x${n}`, impl: nat ? 'tfjs cpu + native' : 'tfjs cpu (stock)', timing: t, flops: 2 * n * n * n, speedup: nat ? mmStock / t.medianMs : undefined });
  }
  tf.dispose([a, b]);

  useNativeBackend(true);
  const info = backendInfo();
  useNativeBackend(false);
  console.log(`replaced kernels (useNativeBackend): ${info.kernels.join(', ')}; addon kernel ${info.addon.cpu.kernel}, ${info.addon.cpu.threads} threads`);
  console.log(`\nper-kernel time of one block step, stock:\n${profiles.stock}`);
  console.log(`\nper-kernel time of one block step, native:\n${profiles.native}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  printTable('TF.js cpu backend: stock vs useNativeBackend()', rows);
  writeJson('tfjs-block', rows);
}
