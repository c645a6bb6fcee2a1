/**
 * InferenceSession device 'cuda' (native/engine/cuda_engine.h, issue 11) against device 'cpu' on the same
 * weights and images: every output of the forward, unpruned and pruned (three stages, two before and one after
 * the queries), B = 1 and 2, with the per-block maps. FP32 on both sides; tolerance: max |cuda - cpu| <=
 * 2e-4 * max(1, max |cpu|) per output (GEMM and reduction orders differ; the emulator measures ~1e-6).
 * Three runs per session: eager, captured as a CUDA graph, replayed on other images (lastRun.graph says which;
 * a replay must read the new images). BF16 (tensor cores) against the CPU in FP32, no further from it than twice
 * the CPU BF16 engine (+2e-3; 1e-1 relative L2 without AVX512_BF16), as on the emulator. cudaGraphs: false runs plain launches.
 * The kept counts must match exactly. Skips with the reason when no CUDA device is usable (test/gpu/gpu.ts);
 * without a device, test/engine/sessionErrors.test.ts checks that 'cuda' is a clear error.
 */
import { expect, it } from 'vitest';
import { InferenceSession, info, modelConfig, randomWeights, type ModelConfig } from '../../src/index.js';
import { describeGpu, relNorm } from './gpu.js';

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
        const cpu = await InferenceSession.create({ config: CFG, weights }, { keep });
        const gpu = await InferenceSession.create({ config: CFG, weights }, { keep, device: 'cuda' });
        try {
          expect(gpu.stageKeep).toEqual(cpu.stageKeep);
          expect(gpu.lastRun).toBeNull();
          for (const [rep, graph] of (['eager', 'captured', 'replayed'] as const).entries()) {
            const images = new Float32Array(B * 3 * H * W);
            for (let i = 0; i < images.length; i++) images[i] = Math.sin(i * 0.37 + rep) * 1.5;
            const a = await cpu.run({ data: images, shape: [B, 3, H, W] }, { perBlock: true });
            const b = await gpu.run({ data: images, shape: [B, 3, H, W] }, { perBlock: true });
            expect(gpu.lastRun).toMatchObject({ graph, graphNote: '' });
            expect(gpu.lastRun!.deviceMs).toBeGreaterThan(0);
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

  // BF16 noise is judged against the CPU's own: rel L2 (cuda bf16, cpu fp32) <= 2 x rel L2 (cpu bf16, cpu fp32) + 2e-3
  // where the CPU has AVX512_BF16, else <= 1e-1 (the emulator's criterion, emu_engine_modes_test.cc).
  for (const keep of [null, 0.7])
    it(`bf16 keep=${keep} B=2 against the cpu in fp32${info().cpu.bf16 ? ' (and bf16)' : ''}`, async () => {
      const weights = randomWeights(CFG, 6);
      const [H, W] = CFG.image;
      const images = new Float32Array(2 * 3 * H * W);
      for (let i = 0; i < images.length; i++) images[i] = Math.cos(i * 0.21) * 1.5;
      const shape: [number, number, number, number] = [2, 3, H, W];
      const ref = await InferenceSession.create({ config: CFG, weights }, { keep });
      const cpu16 = info().cpu.bf16 ? await InferenceSession.create({ config: CFG, weights }, { keep, precision: 'bf16' }) : null;
      const gpu = await InferenceSession.create({ config: CFG, weights }, { keep, device: 'cuda', precision: 'bf16' });
      try {
        expect(gpu.stageKeep).toEqual(ref.stageKeep);
        const a = await ref.run({ data: images, shape }, { perBlock: true });
        const c = cpu16 ? await cpu16.run({ data: images, shape }, { perBlock: true }) : null;
        const outs = (r: typeof a) => [r.semantic.data, r.classLogits.data, r.maskLogits.data, ...r.perBlock!.map((p) => p.semantic.data)];
        for (let rep = 0; rep < 3; rep++) {  // eager, captured, replayed
          const b = await gpu.run({ data: images, shape }, { perBlock: true });
          outs(b).forEach((got, i) => {
            const want = outs(a)[i]!;
            const lim = c ? 2 * relNorm(outs(c)[i]!, want) + 2e-3 : 1e-1;
            expect(relNorm(got, want), `output ${i} (semantic, class, mask, per-block...)`).toBeLessThanOrEqual(lim);
          });
        }
        expect(gpu.lastRun!.graph).toBe('replayed');
      } finally {
        ref.dispose();
        cpu16?.dispose();
        gpu.dispose();
      }
    });

  it('cudaGraphs: false runs plain launches', async () => {
    const s = await InferenceSession.create({ config: CFG, weights: randomWeights(CFG, 7) }, { keep: 0.7, device: 'cuda', cudaGraphs: false });
    try {
      const [H, W] = CFG.image;
      for (let rep = 0; rep < 3; rep++) {
        await s.run(new Float32Array(3 * H * W).fill(0.25));
        expect(s.lastRun).toMatchObject({ graph: 'off' });
      }
    } finally {
      s.dispose();
    }
  });

  it('tome on cuda is a clear error (not implemented yet), never a fallback', async () => {
    await expect(InferenceSession.create({ config: CFG }, { device: 'cuda', tome: { mode: 'mhsa', mergeRatio: 0.5 } })).rejects.toThrow(/options.tome is not implemented on device 'cuda'/);
  });
});
