/**
 * The whole forward on the GPU (InferenceSession device 'cuda', FP32): preset small with random weights at the
 * paper's 1024x1024 (Np = 4096), batch 1 and 8, unpruned and at keep 0.7, timed per `session.run` (host input
 * uploaded, outputs downloaded: what a user sees), median of the timed runs. The forward's useful FLOPs
 * (bench/model/engine.bench.ts forwardFlops) over that time give TFLOP/s. Part of `npm run bench:gpu`.
 */
import { InferenceSession, modelConfig, patchGrid, randomWeights } from '../../src/index.js';
import { forwardFlops } from '../model/engine.bench.js';
import type { BenchRow } from '../lib/report.js';
import { summarize } from '../lib/timer.js';

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const size = 1024;
  const cfg = modelConfig('small', { image: [size, size] });
  const weights = randomWeights(cfg, 0);
  const { Np } = patchGrid(cfg);
  const rows: BenchRow[] = [];
  for (const B of [1, 8]) {
    const img = new Float32Array(B * 3 * size * size);
    for (let i = 0; i < img.length; i++) img[i] = Math.sin(i * 0.37) * 1.5;
    for (const keep of [null, 0.7]) {
      let s: InferenceSession;
      try {
        s = await InferenceSession.create({ config: cfg, weights }, { keep, device: 'cuda' });
      } catch (e) {
        rows.push({ op: 'engine.forward', shape: `small ${size}x${size} B=${B}`, impl: `cuda fp32 ${keep === null ? 'unpruned' : `keep ${keep}`}`, timing: { medianMs: NaN, p10Ms: NaN, p90Ms: NaN, iterations: 0 }, note: `unavailable: ${(e as Error).message}` });
        continue;
      }
      try {
        const warm = opts.quick ? 2 : 5, iters = opts.quick ? 5 : 20;
        const ms: number[] = [];
        for (let i = 0; i < warm + iters; i++) {
          const t0 = performance.now();
          await s.run({ data: img, shape: [B, 3, size, size] });
          if (i >= warm) ms.push(performance.now() - t0);
        }
        const timing = summarize(ms);
        const flops = B * forwardFlops(cfg, keep);
        rows.push({
          op: 'engine.forward', shape: `small ${size}x${size} B=${B} Np=${Np}`, impl: `cuda fp32 ${keep === null ? 'unpruned' : `keep ${keep}`}`,
          timing, flops,
          note: `${((1000 * B) / timing.medianMs).toFixed(1)} img/s; ${(flops / (timing.medianMs * 1e9)).toFixed(1)} TFLOP/s; kept ${s.stageKeep.join('/') || Np}; host upload + download included`,
        });
      } finally {
        s.dispose();
      }
    }
  }
  return rows;
}
