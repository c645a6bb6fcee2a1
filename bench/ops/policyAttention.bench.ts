/**
 * policyAttention benchmark (SPEC §4): forward at the paper's (B=1, H=6, N=4101, Dh=64), at N=1024 and
 * a small N=197; backward at N=1024 and N=197; ours with 1 thread and all threads.
 * Baseline: the straightforward TF.js composition on its cpu backend, measured in the same run:
 *   A = matMul(q, k, false, true) * scale; E = exp(A - max(A)) * M; S = (E + eps/N) / (sum E + eps); S v
 * (backward baseline = tf.grads of that composition). The tfjs-cpu baseline takes ~17 s per forward and
 * ~55 s per backward at N=1024 on the 2-core dev machine, so it runs once (no warm-up) at N <= 1024,
 * its backward at N=1024 only in the full run, and not at all at N=4101 (~16x the N=1024 cost, and
 * 400 MB per N x N intermediate): N=4101 rows carry no speedup.
 * FLOPs: forward 4 B H N^2 Dh (QK^T and SV); backward counted as 2.5x forward (the 5 N^2 Dh matmuls
 * of a flash backward), whatever the implementation recomputes.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreads, policyAttention, policyAttentionBackward, setThreads, type F32Tensor } from '../../src/index.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeSync } from '../lib/timer.js';

function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

function tfForward(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, policy: tf.Tensor2D, N: number, Dh: number, eps: number): tf.Tensor {
  const B = policy.shape[0];
  const eye = tf.eye(N).reshape([1, 1, N, N]);
  const pol = policy.reshape([B, 1, 1, N]);
  const M = tf.add(tf.mul(tf.sub(1, eye), pol), eye); // 1 on the diagonal, policy elsewhere
  const A = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(Dh));
  const E = tf.mul(tf.exp(tf.sub(A, tf.max(A, -1, true))), M);
  const S = tf.div(tf.add(E, eps / N), tf.add(tf.sum(E, -1, true), eps));
  return tf.matMul(S, v);
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  await tf.setBackend('cpu');
  const rows: BenchRow[] = [];
  const nThreads = Math.max(2, getThreads());
  const eps = 1e-6, B = 1, H = 6, Dh = 64;
  const shapes = [197, 1024, 4101];
  for (const N of shapes) {
    const n = B * H * N * Dh;
    const T = (d: Float32Array): F32Tensor => ({ data: d, shape: [B, H, N, Dh] });
    const q = T(randn(n, 1)), k = T(randn(n, 2)), v = T(randn(n, 3)), dout = T(randn(n, 4));
    const pdata = new Float32Array(B * N).map((_, i) => (i % 3 === 0 ? 0 : 1));
    const policy = { data: pdata, shape: [B, N] };
    const shape = `B=${B} H=${H} N=${N} Dh=${Dh}`;
    const fwdFlops = 4 * B * H * N * N * Dh;
    const budget = opts.quick ? 1000 : 4000;

    // baseline forward
    let base: number | undefined;
    if (N <= 1024) {
      const tq = tf.tensor4d(q.data, [B, H, N, Dh]), tk = tf.tensor4d(k.data, [B, H, N, Dh]), tv = tf.tensor4d(v.data, [B, H, N, Dh]);
      const tp = tf.tensor2d(pdata, [B, N]);
      const t = timeSync(() => tf.tidy(() => tfForward(tq, tk, tv, tp, N, Dh, eps).dataSync()), {
        warmup: N > 500 ? 0 : 1, maxIterations: N > 500 ? 1 : 5, minIterations: 1, budgetMs: budget,
      });
      rows.push({ op: 'policyAttention', shape, impl: 'tfjs-cpu composition', timing: t, flops: fwdFlops });
      base = t.medianMs;
      tf.dispose([tq, tk, tv, tp]);
    }
    for (const threads of [1, nThreads]) {
      setThreads(threads);
      const out = new Float32Array(n);
      const t = timeSync(() => policyAttention(q, k, v, policy, { out }), { warmup: 2, maxIterations: 30, budgetMs: budget });
      rows.push({
        op: 'policyAttention', shape, impl: `reg4pru threads=${threads}`, timing: t, flops: fwdFlops,
        speedup: base === undefined ? undefined : base / t.medianMs, note: base === undefined ? 'no baseline at this N' : undefined,
      });
    }

    if (N > 1024) continue;
    // backward
    let baseB: number | undefined;
    if (N < 1024 || !opts.quick) {
      const tq = tf.tensor4d(q.data, [B, H, N, Dh]), tk = tf.tensor4d(k.data, [B, H, N, Dh]), tv = tf.tensor4d(v.data, [B, H, N, Dh]);
      const tp = tf.tensor2d(pdata, [B, N]), td = tf.tensor4d(dout.data, [B, H, N, Dh]);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
        tfForward(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor2D, N, Dh, eps));
      const t = timeSync(() => tf.tidy(() => g([tq, tk, tv, tp], td).forEach((x) => x.dataSync())), {
        warmup: N > 500 ? 0 : 1, maxIterations: N > 500 ? 1 : 3, minIterations: 1, budgetMs: budget,
      });
      rows.push({ op: 'policyAttentionBackward', shape, impl: 'tfjs-cpu tf.grads', timing: t, flops: 2.5 * fwdFlops });
      baseB = t.medianMs;
      tf.dispose([tq, tk, tv, tp, td]);
    }
    for (const threads of [1, nThreads]) {
      setThreads(threads);
      const t = timeSync(() => policyAttentionBackward(q, k, v, policy, dout), { warmup: 1, maxIterations: 20, budgetMs: budget });
      rows.push({ op: 'policyAttentionBackward', shape, impl: `reg4pru threads=${threads}`, timing: t, flops: 2.5 * fwdFlops, speedup: baseB === undefined ? undefined : baseB / t.medianMs });
    }
  }
  setThreads(nThreads);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  printTable('policyAttention', rows);
  writeJson('policyAttention', rows);
}
