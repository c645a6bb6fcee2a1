/**
 * Benchmark of SPEC §5 prunedBlock (fused gather–attention–scatter ViT block) at the paper's shape
 * (B=1, N=4101, K=2872, D=384, H=6, Dh=64, F=1536) and a small one (N=1029, K=720).
 * Baseline in the same run: the straightforward TF.js composition on its cpu backend (tf.gather,
 * LayerNorm via tf.moments, tf.matMul with transposeB, softmax, tf.tensorScatterUpdate).
 * Useful FLOPs = B (2 K D 3D + 2 K D D + 4 K D F + 4 K^2 D): the four Linear layers plus q k^T and S v.
 * Run alone: `npx tsx bench/ops/prunedBlock.bench.ts` (REG4PRU_PROFILE=1 adds the kernel's phase split on stderr).
 */
import * as tf from '@tensorflow/tfjs';
import { getThreads, info, prunedBlock, setThreads, type PrunedBlockDims, type PrunedBlockWeights } from '../../src/index.js';
import { randIndices, randn, rng } from '../../test/reference/helpers.js';
import { randomBlockWeights } from '../../test/reference/prunedBlock.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeSync } from '../lib/timer.js';

type Shape = PrunedBlockDims;

const SHAPES: Shape[] = [
  { B: 1, N: 1029, K: 720, D: 384, H: 6, F: 1536 },
  { B: 1, N: 4101, K: 2872, D: 384, H: 6, F: 1536 },
];

function usefulFlops(s: Shape): number {
  const { B, K, D, F } = s;
  return B * (2 * K * D * 3 * D + 2 * K * D * D + 4 * K * D * F + 4 * K * K * D);
}

/** The baseline: one block composed from TF.js ops (what a user would write without the fused op). */
export function tfjsBlock(s: Shape, x: tf.Tensor3D, idx: tf.Tensor2D, w: Record<string, tf.Tensor>, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const { B, K, D, H } = s;
    const Dh = D / H;
    const X = tf.gather(x, idx, 1, 1).reshape([B * K, D]) as tf.Tensor2D;
    const ln = (t: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor) => {
      const { mean, variance } = tf.moments(t, -1, true);
      return t.sub(mean).mul(tf.rsqrt(variance.add(eps))).mul(g).add(b) as tf.Tensor2D;
    };
    const lin = (t: tf.Tensor2D, W: tf.Tensor, b: tf.Tensor) => tf.matMul(t, W as tf.Tensor2D, false, true).add(b) as tf.Tensor2D;
    const qkv = lin(ln(X, w['norm1.weight']!, w['norm1.bias']!), w['attn.qkv.weight']!, w['attn.qkv.bias']!)
      .reshape([B, K, 3, H, Dh])
      .transpose([2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const att = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(Dh)));
    const o = tf.matMul(att, v).transpose([0, 2, 1, 3]).reshape([B * K, D]) as tf.Tensor2D;
    const z = X.add(lin(o, w['attn.proj.weight']!, w['attn.proj.bias']!).mul(w['ls1.gamma']!)) as tf.Tensor2D;
    const h = lin(ln(z, w['norm2.weight']!, w['norm2.bias']!), w['mlp.fc1.weight']!, w['mlp.fc1.bias']!);
    const g = h.mul(0.5).mul(tf.erf(h.mul(Math.SQRT1_2)).add(1)) as tf.Tensor2D; // exact GELU
    const y = z.add(lin(g, w['mlp.fc2.weight']!, w['mlp.fc2.bias']!).mul(w['ls2.gamma']!));
    // scatter: [b, idx[b,k]] coordinates
    const bIdx = tf.range(0, B, 1, 'int32').reshape([B, 1]).tile([1, K]);
    const coords = tf.stack([bIdx, idx], -1).reshape([B * K, 2]);
    return tf.tensorScatterUpdate(x, coords, y);
  });
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  await tf.setBackend('cpu');
  const rows: BenchRow[] = [];
  const maxThreads = Math.max(2, getThreads());
  const prevThreads = getThreads();
  const kernel = info().cpu.kernel;
  for (const s of SHAPES) {
    const { B, N, K, D, H, F } = s;
    const shape = `B=${B} N=${N} K=${K} D=${D} H=${H} F=${F}`;
    const r = rng(N + K);
    const x = randn(B * N * D, r);
    const idxData = randIndices(B, N, K, r, true);
    const w: PrunedBlockWeights = randomBlockWeights(D, F, 7);
    const out = new Float32Array(B * N * D);
    const flops = usefulFlops(s);
    const paper = N === 4101;

    // baseline first (its median is the speedup's numerator)
    // a copy: the cpu backend's tensorScatterUpdate writes into its input's backing array
    const xt = tf.tensor3d(x.slice(), [B, N, D]);
    const it = tf.tensor2d(idxData, [B, K], 'int32');
    const wt: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(w)) wt[name] = tf.tensor(t.data, [...t.shape]);
    // The composition runs at ~0.2 GFLOP/s: a single cold iteration at the paper shape (~2.5 min on 2 cores)
    const base = timeSync(() => tfjsBlock(s, xt, it, wt, 1e-6).dataSync(), {
      warmup: paper || opts.quick ? 0 : 1,
      maxIterations: paper ? 1 : opts.quick ? 1 : 3,
      minIterations: 1,
      budgetMs: opts.quick ? 0 : 20000,
    });
    tf.dispose([xt, it, ...Object.values(wt)]);
    rows.push({ op: 'prunedBlock', shape, impl: 'tfjs cpu composition', timing: base, flops, note: `tfjs ${tf.getBackend()}` });

    for (const threads of [1, maxThreads]) {
      setThreads(threads);
      const timing = timeSync(() => prunedBlock({ data: x, shape: [B, N, D] }, { data: idxData, shape: [B, K] }, w, { heads: H, out }), {
        warmup: 2,
        maxIterations: opts.quick ? 5 : 20,
        budgetMs: opts.quick ? 2000 : 8000,
      });
      rows.push({
        op: 'prunedBlock', shape, impl: `reg4pru ${kernel} ${threads}t`, timing, flops,
        speedup: base.medianMs / timing.medianMs, note: `threads=${threads}`,
      });
    }
    setThreads(prevThreads);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  printTable('prunedBlock', rows);
  writeJson('prunedBlock', rows);
}
