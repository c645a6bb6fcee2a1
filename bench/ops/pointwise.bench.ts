/**
 * layerNorm / gelu (the TF.js training graph's LayerNorm and exact GELU), forward and backward, at the
 * training step's shapes: the decoder's upscale LayerNorm [2*64*64, 192] and the blocks' MLP GELU
 * [2*277, 768] (preset tiny, 256x256, batch 2), plus the paper's block shape [4101, 384] / [4101, 1536].
 * GB/s counts the tensors read and written once. Baseline: the stock TF.js composition the model ran before
 * (tf.moments / tf.erf, gradients by tf.grads) on TF.js's plain cpu backend, measured in the same run; the
 * backward is timed as forward + backward on both sides (tf.grads cannot run the backward alone). A second
 * baseline runs the same composition after useNativeBackend() (native Add/Sub/Mul/Sum...: what the training
 * step ran before the fused ops); the stock cpu backend's broadcasting binary ops are much slower.
 */
import * as tf from '@tensorflow/tfjs';
import { gelu, geluBackward, layerNorm, layerNormBackward } from '../../src/index.js';
import { useNativeBackend } from '../../src/tfjs/index.js';
import { randn, rng } from '../../test/reference/helpers.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeSync } from '../lib/timer.js';

function stockLayerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6))), w), b);
}
function stockGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  await tf.setBackend('cpu');
  const rows: BenchRow[] = [];
  const ours = { budgetMs: opts.quick ? 300 : 1500, maxIterations: 200 };
  const base = { warmup: 1, minIterations: 2, maxIterations: opts.quick ? 3 : 10, budgetMs: opts.quick ? 1000 : 4000 };
  type T = ReturnType<typeof timeSync>;
  // Times fn on the stock cpu backend, then with the native backend kernels.
  const both = (fn: () => void): [T, T] => {
    const stock = timeSync(fn, base);
    useNativeBackend(true);
    try {
      return [stock, timeSync(fn, base)];
    } finally {
      useNativeBackend(false);
    }
  };
  const push = (op: string, shape: string, bytes: number, mine: T, [stock, nat]: [T, T]) => {
    rows.push({ op, shape, impl: 'reg4pru', timing: mine, bytes, speedup: stock.medianMs / mine.medianMs, note: `vs tfjs cpu; ${(nat.medianMs / mine.medianMs).toFixed(1)}x vs tfjs cpu+native` });
    rows.push({ op, shape, impl: 'tfjs cpu', timing: stock, bytes });
    rows.push({ op, shape, impl: 'tfjs cpu+native', timing: nat, bytes });
  };

  for (const [R, C] of [[8192, 192], [4101, 384]] as const) {
    const r = rng(R + C);
    const x = randn(R * C, r), w = randn(C, r), b = randn(C, r), dy = randn(R * C, r);
    const T = (data: Float32Array, shape: number[]) => ({ data, shape });
    const shape = `R=${R} C=${C}`;
    const y = new Float32Array(R * C), mean = new Float32Array(R), rstd = new Float32Array(R);
    const fwd = timeSync(() => layerNorm(T(x, [R, C]), T(w, [C]), T(b, [C]), { out: y, mean, rstd }), ours);
    const dx = new Float32Array(R * C), dw = new Float32Array(C), db = new Float32Array(C);
    const m = T(mean, [R]), s = T(rstd, [R]);
    const fb = timeSync(() => {
      layerNorm(T(x, [R, C]), T(w, [C]), T(b, [C]), { out: y, mean, rstd });
      layerNormBackward(T(dy, [R, C]), T(x, [R, C]), T(w, [C]), m, s, { dx, dw, db });
    }, ours);
    const [xT, wT, bT, dyT] = [tf.tensor2d(x, [R, C]), tf.tensor1d(w), tf.tensor1d(b), tf.tensor2d(dy, [R, C])];
    const sf = both(() => tf.tidy(() => stockLayerNorm(xT, wT, bT).dataSync()));
    // forward + backward through tf.grads, minus the forward alone
    const sfb = both(() => tf.tidy(() => tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(stockLayerNorm(a, c, d), dyT)))([xT, wT, bT]).forEach((t) => t.dataSync())));
    push('layerNorm fwd', shape, 2 * R * C * 4, fwd, sf);
    push('layerNorm fwd+bwd', shape, 5 * R * C * 4, fb, sfb);
    tf.dispose([xT, wT, bT, dyT]);
  }

  for (const [R, C] of [[554, 768], [4101, 1536]] as const) {
    const n = R * C, r = rng(n);
    const x = randn(n, r, 2), dy = randn(n, r);
    const shape = `n=${R}x${C}`;
    const y = new Float32Array(n), dx = new Float32Array(n);
    const fwd = timeSync(() => gelu({ data: x, shape: [R, C] }, y), ours);
    const fb = timeSync(() => {
      gelu({ data: x, shape: [R, C] }, y);
      geluBackward({ data: dy, shape: [R, C] }, { data: x, shape: [R, C] }, dx);
    }, ours);
    const [xT, dyT] = [tf.tensor2d(x, [R, C]), tf.tensor2d(dy, [R, C])];
    const sf = both(() => tf.tidy(() => stockGelu(xT).dataSync()));
    const sfb = both(() => tf.tidy(() => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(stockGelu(a), dyT)))(xT).dataSync()));
    push('gelu fwd', shape, 2 * n * 4, fwd, sf);
    push('gelu fwd+bwd', shape, 5 * n * 4, fb, sfb);
    tf.dispose([xT, dyT]);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  printTable('layerNorm / gelu', rows);
  console.log(`json: ${writeJson('pointwise', rows)}`);
}
