/**
 * gatherTokens / scatterTokens at the paper's shape (N=4101, K=2872, D=384) and a small one:
 * GB/s (bytes read + written), against a plain TS row copy and tfjs (tf.gather / tf.scatterND-free
 * composition) measured in the same run. Ours and plain TS are timed with benchmark.js (sub-ms calls).
 */
import * as tf from '@tensorflow/tfjs';
import { gatherTokens, scatterTokens } from '../../src/index.js';
import { randIndices, randn, rng } from '../../test/reference/helpers.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeMicro } from '../lib/micro.js';
import { timeSync } from '../lib/timer.js';

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  await tf.setBackend('cpu');
  const rows: BenchRow[] = [];
  const budget = opts.quick ? 800 : 3000;
  for (const [B, N, K, D] of [[1, 4101, 2872, 384], [2, 1029, 720, 192]] as const) {
    const r = rng(7);
    const x = randn(B * N * D, r), src = randn(B * K * D, r);
    const idx = randIndices(B, N, K, r, true);
    const shape = `B=${B} N=${N} K=${K} D=${D}`;
    const bytes = 2 * B * K * D * 4;
    const xt = { data: x, shape: [B, N, D] }, it = { data: idx, shape: [B, K] };
    const out = new Float32Array(B * K * D);
    const micro = opts.quick ? 0.5 : 2;
    const ours = timeMicro(() => gatherTokens(xt, it, out), micro);
    const plain = timeMicro(() => {
      for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) {
        const n = idx[b * K + k]!;
        out.set(x.subarray((b * N + n) * D, (b * N + n + 1) * D), (b * K + k) * D);
      }
    }, micro);
    const xT = tf.tensor3d(x, [B, N, D]);
    const idxT = tf.tensor2d(idx, [B, K], 'int32');
    // tfjs's pure-JS gather/scatterND take seconds to minutes here: one warm-up, at most 3 timed runs.
    const tfOpts = { warmup: 1, minIterations: 1, maxIterations: 3, budgetMs: budget };
    const tfjs = timeSync(() => tf.tidy(() => tf.gather(xT, idxT, 1, 1).dataSync()), tfOpts);
    rows.push({ op: 'gatherTokens', shape, impl: 'reg4pru', timing: ours, bytes, speedup: tfjs.medianMs / ours.medianMs, note: `vs tfjs; ${(plain.medianMs / ours.medianMs).toFixed(1)}x vs plain TS` });
    rows.push({ op: 'gatherTokens', shape, impl: 'plain TS', timing: plain, bytes });
    rows.push({ op: 'gatherTokens', shape, impl: 'tfjs cpu', timing: tfjs, bytes });

    const sOut = new Float32Array(B * N * D);
    const sBytes = (B * N * D * 2 + 2 * B * K * D) * 4;
    const st = { data: src, shape: [B, K, D] };
    const sOurs = timeMicro(() => scatterTokens(xt, it, st, sOut), micro);
    const sPlain = timeMicro(() => {
      sOut.set(x);
      for (let b = 0; b < B; b++) for (let k = 0; k < K; k++) sOut.set(src.subarray((b * K + k) * D, (b * K + k + 1) * D), (b * N + idx[b * K + k]!) * D);
    }, micro);
    // tfjs: where(mask, scatterND(updates), x) — the usual way to overwrite rows in TF.js.
    const srcT = tf.tensor3d(src, [B, K, D]);
    const ndIdx = tf.tensor3d(Int32Array.from({ length: B * K * 2 }, (_, i) => (i % 2 === 0 ? Math.floor(i / 2 / K) : idx[Math.floor(i / 2)]!)), [B, K, 2], 'int32');
    const sTfjs = timeSync(() => tf.tidy(() => {
      const upd = tf.scatterND(ndIdx, srcT, [B, N, D]);
      const mask = tf.scatterND(ndIdx, tf.ones([B, K, 1], 'bool'), [B, N, 1]);
      return tf.where(tf.broadcastTo(mask, [B, N, D]), upd, xT).dataSync();
    }), tfOpts);
    rows.push({ op: 'scatterTokens', shape, impl: 'reg4pru', timing: sOurs, bytes: sBytes, speedup: sTfjs.medianMs / sOurs.medianMs, note: `vs tfjs; ${(sPlain.medianMs / sOurs.medianMs).toFixed(1)}x vs plain TS` });
    rows.push({ op: 'scatterTokens', shape, impl: 'plain TS', timing: sPlain, bytes: sBytes });
    rows.push({ op: 'scatterTokens', shape, impl: 'tfjs cpu', timing: sTfjs, bytes: sBytes });
    tf.dispose([xT, idxT, srcT, ndIdx]);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  printTable('gatherTokens / scatterTokens', rows);
  console.log(`json: ${writeJson('gatherScatter', rows)}`);
}
