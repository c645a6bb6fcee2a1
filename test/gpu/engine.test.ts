/**
 * InferenceSession device 'cuda' (native/engine/cuda_engine.h, issue 11) against device 'cpu' on the same
 * weights and images: every output of the forward, unpruned and pruned (three stages, two before and one after
 * the queries), B = 1 and 2, with the per-block maps. FP32 on both sides; tolerance: max |cuda - cpu| <=
 * 2e-4 * max(1, max |cpu|) per output (GEMM and reduction orders differ; the emulator measures ~1e-6).
 * The kept counts must match exactly. Skips with the reason when no CUDA device is usable (test/gpu/gpu.ts);
 * without a device, test/engine/sessionErrors.test.ts checks that 'cuda' is a clear error.
 */
import { expect, it } from 'vitest';
import { InferenceSession, modelConfig, randomWeights, type ModelConfig } from '../../src/index.js';
import { describeGpu } from './gpu.js';

const CFG: ModelConfig = modelConfig('tiny', { image: [64, 48] });  // stages at blocks 3, 6 (before the queries) and 9 (after)

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}
function expectClose(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  let d = 0;
  for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i]! - want[i]!));
  expect(d, `${what}: max |cuda - cpu|`).toBeLessThanOrEqual(2e-4 * Math.max(1, maxAbs(want)));
}

describeGpu('InferenceSession device cuda vs cpu', () => {
  for (const keep of [null, 0.7])
    for (const B of [1, 2])
      it(`keep=${keep} B=${B}`, async () => {
        const weights = randomWeights(CFG, 5);
        const [H, W] = CFG.image;
        const images = new Float32Array(B * 3 * H * W);
        for (let i = 0; i < images.length; i++) images[i] = Math.sin(i * 0.37) * 1.5;
        const cpu = await InferenceSession.create({ config: CFG, weights }, { keep });
        const gpu = await InferenceSession.create({ config: CFG, weights }, { keep, device: 'cuda' });
        try {
          expect(gpu.stageKeep).toEqual(cpu.stageKeep);
          const a = await cpu.run({ data: images, shape: [B, 3, H, W] }, { perBlock: true });
          for (let rep = 0; rep < 2; rep++) {
            const b = await gpu.run({ data: images, shape: [B, 3, H, W] }, { perBlock: true });
            expectClose(b.semantic.data, a.semantic.data, 'semantic');
            expectClose(b.classLogits.data, a.classLogits.data, 'classLogits');
            expectClose(b.maskLogits.data, a.maskLogits.data, 'maskLogits');
            expect(b.perBlock!.length).toBe(a.perBlock!.length);
            b.perBlock!.forEach((p, i) => expectClose(p.semantic.data, a.perBlock![i]!.semantic.data, `perBlock[${i}]`));
          }
        } finally {
          cpu.dispose();
          gpu.dispose();
        }
      });

  it('bf16 and tome on cuda are clear errors (not implemented yet), never a fallback', async () => {
    await expect(InferenceSession.create({ config: CFG }, { device: 'cuda', precision: 'bf16' })).rejects.toThrow(/precision 'bf16' is not implemented on device 'cuda'/);
    await expect(InferenceSession.create({ config: CFG }, { device: 'cuda', tome: { mode: 'mhsa', mergeRatio: 0.5 } })).rejects.toThrow(/options.tome is not implemented on device 'cuda'/);
  });
});
