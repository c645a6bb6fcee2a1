/**
 * gumbelTopK (B=1 and B=8 at N=4101, k=2872, with noise, plus a small ViT-S/16-224 shape N=197, k=138)
 * and gumbelSoftmaxST (B=8, N=4101), against baselines measured in the same run:
 *   plain TS: a seeded mulberry32 stream, -log(-log u) in doubles, a full sort of (key, index), the
 *             first k indices sorted ascending (what one writes without this package);
 *   tfjs cpu: tf.topk(tf.add(logits, -log(-log(tf.randomUniform))), k) plus sorting the indices;
 *             for the softmax-ST the same noise through softmax + argMax, and a tuned form (the channel
 *             difference by a [2,1] matMul, then sigmoid / greaterEqual); speedup is against the tuned one.
 * No FLOP count (the cost is two double logs and a selection per token); bytes = logits read + out written.
 */
import * as tf from '@tensorflow/tfjs';
import { gumbelSoftmaxST, gumbelTopK } from '../../src/index.js';
import { randn, rng, withKernel } from '../../test/reference/helpers.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeSync } from '../lib/timer.js';

function plainTopK(logits: Float32Array, B: number, N: number, k: number, seed: number): Int32Array {
  const r = rng(seed);
  const out = new Int32Array(B * k);
  const keys = new Float64Array(N), order = new Int32Array(N);
  for (let b = 0; b < B; b++) {
    for (let n = 0; n < N; n++) {
      const u = (Math.floor(r() * 16777216) + 0.5) / 16777216;
      keys[n] = logits[b * N + n]! - Math.log(-Math.log(u));
      order[n] = n;
    }
    order.sort((x, y) => keys[y]! - keys[x]! || x - y);
    out.set(order.subarray(0, k).slice().sort(), b * k);
  }
  return out;
}

function plainSoftmaxST(logits: Float32Array, B: number, N: number, tau: number, seed: number): [Float32Array, Float32Array] {
  const r = rng(seed);
  const hard = new Float32Array(B * N), soft = new Float32Array(B * N);
  const g = () => -Math.log(-Math.log((Math.floor(r() * 16777216) + 0.5) / 16777216));
  for (let i = 0; i < B * N; i++) {
    const y0 = (logits[2 * i]! + g()) / tau, y1 = (logits[2 * i + 1]! + g()) / tau;
    soft[i] = 1 / (1 + Math.exp(y1 - y0));
    hard[i] = y0 >= y1 ? 1 : 0;
  }
  return [hard, soft];
}

// Unseeded on purpose: tfjs's seeded randomUniform (seedrandom) is ~10x slower than its default, and
// the baseline should be the fastest reasonable composition.
function gumbelNoise(shape: number[]): tf.Tensor {
  return tf.neg(tf.log(tf.neg(tf.log(tf.randomUniform(shape, 2 ** -25, 1 - 2 ** -25, 'float32')))));
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  await tf.setBackend('cpu');
  const rows: BenchRow[] = [];
  const budget = opts.quick ? 800 : 3000;
  for (const [B, N, k] of [[1, 4101, 2872], [8, 4101, 2872], [1, 197, 138]] as const) {
    const logits = randn(B * N, rng(B * N), 2);
    const lt = { data: logits, shape: [B, N] };
    const shape = `B=${B} N=${N} k=${k}`;
    const bytes = B * N * 4 + B * k * 4;
    let seed = 0;
    const ours = timeSync(() => gumbelTopK(lt, k, { seed: seed++ }), { budgetMs: budget, maxIterations: 300 });
    const oursRef = withKernel('ref', 1, () => timeSync(() => gumbelTopK(lt, k, { seed: seed++ }), { budgetMs: budget / 2, maxIterations: 100 }));
    const plain = timeSync(() => plainTopK(logits, B, N, k, seed++), { budgetMs: budget, maxIterations: 100 });
    const lT = tf.tensor2d(logits, [B, N]);
    const tfjs = timeSync(() => {
      const idx = tf.tidy(() => tf.topk(tf.add(lT, gumbelNoise([B, N])), k, false).indices.dataSync() as Int32Array);
      for (let b = 0; b < B; b++) idx.subarray(b * k, (b + 1) * k).sort();
      return idx;
    }, { budgetMs: budget, maxIterations: 50 });
    tf.dispose(lT);
    rows.push({ op: 'gumbelTopK', shape, impl: 'reg4pru', timing: ours, bytes, speedup: tfjs.medianMs / ours.medianMs, note: `vs tfjs; ${(plain.medianMs / ours.medianMs).toFixed(1)}x vs plain TS` });
    rows.push({ op: 'gumbelTopK', shape, impl: 'reg4pru ref 1T', timing: oursRef, bytes, speedup: tfjs.medianMs / oursRef.medianMs, note: 'single-thread literal kernel' });
    rows.push({ op: 'gumbelTopK', shape, impl: 'plain TS', timing: plain, bytes });
    rows.push({ op: 'gumbelTopK', shape, impl: 'tfjs cpu', timing: tfjs, bytes });
  }

  {
    const B = 8, N = 4101, tau = 1;
    const logits = randn(B * N * 2, rng(5), 1.5);
    const lt = { data: logits, shape: [B, N, 2] };
    const shape = `B=${B} N=${N} C=2`;
    const bytes = B * N * 2 * 4 + 2 * B * N * 4;
    let seed = 0;
    const ours = timeSync(() => gumbelSoftmaxST(lt, { tau, seed: seed++ }), { budgetMs: budget, maxIterations: 300 });
    const oursRef = withKernel('ref', 1, () => timeSync(() => gumbelSoftmaxST(lt, { tau, seed: seed++ }), { budgetMs: budget / 2, maxIterations: 100 }));
    const plain = timeSync(() => plainSoftmaxST(logits, B, N, tau, seed++), { budgetMs: budget, maxIterations: 100 });
    const lT = tf.tensor3d(logits, [B, N, 2]);
    // The textbook composition (softmax, channel 0, argmax-style hard) and a tuned one (y0 - y1 by a
    // [2,1] matMul: tfjs cpu's softmax / slice over a size-2 last axis are ~100 ms here).
    const tfjs = timeSync(() => tf.tidy(() => {
      const y = tf.div(tf.add(lT, gumbelNoise([B, N, 2])), tau);
      const soft = tf.squeeze(tf.slice(tf.softmax(y, -1), [0, 0, 0], [B, N, 1]), [2]);
      const hard = tf.cast(tf.equal(tf.argMax(y, -1), 0), 'float32');
      return [hard.dataSync(), soft.dataSync()];
    }), { budgetMs: budget, maxIterations: 50 });
    const w = tf.tensor2d([1, -1], [2, 1]);
    const tfjsTuned = timeSync(() => tf.tidy(() => {
      const d = tf.div(tf.matMul(tf.reshape(tf.add(lT, gumbelNoise([B, N, 2])), [B * N, 2]), w), tau);
      return [tf.cast(tf.greaterEqual(d, 0), 'float32').dataSync(), tf.sigmoid(d).dataSync()];
    }), { budgetMs: budget, maxIterations: 50 });
    tf.dispose(w);
    tf.dispose(lT);
    rows.push({ op: 'gumbelSoftmaxST', shape, impl: 'reg4pru', timing: ours, bytes, speedup: tfjsTuned.medianMs / ours.medianMs, note: `vs tfjs tuned; ${(tfjs.medianMs / ours.medianMs).toFixed(1)}x vs tfjs softmax, ${(plain.medianMs / ours.medianMs).toFixed(1)}x vs plain TS` });
    rows.push({ op: 'gumbelSoftmaxST', shape, impl: 'reg4pru ref 1T', timing: oursRef, bytes, speedup: tfjsTuned.medianMs / oursRef.medianMs, note: 'single-thread literal kernel' });
    rows.push({ op: 'gumbelSoftmaxST', shape, impl: 'plain TS', timing: plain, bytes });
    rows.push({ op: 'gumbelSoftmaxST', shape, impl: 'tfjs cpu softmax', timing: tfjs, bytes });
    rows.push({ op: 'gumbelSoftmaxST', shape, impl: 'tfjs cpu tuned', timing: tfjsTuned, bytes });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  printTable('gumbelTopK / gumbelSoftmaxST', rows);
  console.log(`json: ${writeJson('gumbelTopK', rows)}`);
}
