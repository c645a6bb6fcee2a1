// InferenceSession precision 'bf16' (every GEMM with BF16 operands and FP32 sums) against 'fp32' on the
// synthetic fundus validation images: how close the segmentation stays. The BF16 GEMM itself is checked
// against a float64 reference in test/ops/gemm.test.ts.
import { describe, expect, it } from 'vitest';
import { InferenceSession, info, modelConfig, randomWeights, setKernel } from '../../src/index.js';
import { syntheticFundus } from '../../src/data/synthetic.js';
import { normalizeImageNet } from '../../src/data/augment.js';

const hasBf16 = info().cpu.variants.includes('avx512') && info().cpu.bf16;
const cfg = modelConfig('tiny', { image: [64, 64] });

describe('InferenceSession precision', () => {
  it('rejects an unknown precision', async () => {
    await expect(InferenceSession.create({ config: cfg }, { precision: 'fp8' as 'bf16' })).rejects.toThrow(/expected options.precision to be 'fp32' or 'bf16'/);
  });

  it.skipIf(hasBf16)('bf16 on a CPU without AVX-512 BF16 is a clear error (bf16 not tested here)', async () => {
    await expect(InferenceSession.create({ config: cfg }, { precision: 'bf16' })).rejects.toThrow(/needs a CPU with AVX-512 BF16/);
  });

  it.skipIf(!hasBf16)('bf16 stays close to fp32 on synthetic validation images (unpruned and keep 0.7)', async () => {
    const weights = randomWeights(cfg, 3);
    const [H, W] = cfg.image;
    const n = 4;
    const images = new Float32Array(n * 3 * H * W);
    for (let i = 0; i < n; i++) images.set(normalizeImageNet(syntheticFundus(1000 + i, [H, W]).image), i * 3 * H * W);
    for (const keep of [null, 0.7]) {
      const s32 = await InferenceSession.create({ config: cfg, weights }, { keep });
      const s16 = await InferenceSession.create({ config: cfg, weights }, { keep, precision: 'bf16' });
      try {
        const a = (await s32.run({ data: images, shape: [n, 3, H, W] })).semantic;
        const b = (await s16.run({ data: images, shape: [n, 3, H, W] })).semantic;
        const C = cfg.classes, px = H * W;
        let maxDiff = 0, same = 0;
        for (let i = 0; i < a.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.data[i]! - b.data[i]!));
        // The mask: probability > t for one class (FIVES vessels; argmax otherwise). Random weights put every
        // probability on one side of 0.5, so t is the FP32 median: half the pixels sit on each side and the
        // check counts the pixels BF16 moves across it.
        const t = C === 1 ? Float32Array.from(a.data).sort()[a.data.length >> 1]! : 0.5;
        const label = (d: Float32Array, img: number, p: number) => {
          if (C === 1) return d[img * px + p]! > t ? 1 : 0;
          let k = 0;
          for (let c = 1; c < C; c++) if (d[(img * C + c) * px + p]! > d[(img * C + k) * px + p]!) k = c;
          return k;
        };
        let positives = 0;
        for (let img = 0; img < n; img++)
          for (let p = 0; p < px; p++) {
            if (label(a.data, img, p) === label(b.data, img, p)) same++;
            positives += label(a.data, img, p);
          }
        // both labels occur, so agreement is not trivial
        expect(positives, `keep=${keep}`).toBeGreaterThan(0);
        expect(positives, `keep=${keep}`).toBeLessThan(n * px);
        expect(maxDiff, `keep=${keep}`).toBeGreaterThan(0); // it really ran in BF16
        expect(maxDiff, `keep=${keep}`).toBeLessThan(0.05);
        expect(same / (n * px), `keep=${keep}`).toBeGreaterThan(0.98);
      } finally {
        s32.dispose();
        s16.dispose();
      }
    }
  });

  it.skipIf(!hasBf16)('a bf16 session run under a forced avx2 kernel rejects, naming what is missing', async () => {
    const s = await InferenceSession.create({ config: cfg }, { precision: 'bf16' });
    try {
      setKernel('avx2');
      await expect(s.run(new Float32Array(3 * 64 * 64))).rejects.toThrow(/BF16 precision needs the 'avx512' kernels/);
    } finally {
      setKernel('auto');
      s.dispose();
    }
  });
});
