/**
 * The native inference engine (InferenceSession, SPEC §2–§3, docs/inference-forward.md) against the
 * float64 reference forward (test/reference/eomtForward.ts): unpruned and pruned (keep 0.7, 0.5),
 * B = 1 and 2, per-block decodes, two tiny configs (square / non-square image, 1 / 2 classes, a pruning
 * stage before and after the queries), every CPU kernel variant at 1 and n threads (bit-identical
 * across thread counts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InferenceSession, roundKeepCount, modelConfig, randomWeights, saveCheckpoint, type ModelConfig } from '../../src/index.js';
import { eomtForwardRef, keepCount, roundKeepRef } from '../reference/eomtForward.js';
import { native } from '../../src/native.js';
import { cpuVariants, expectClose, randn, rng, threadCounts, withKernelAsync } from '../reference/helpers.js';

const CFG_A: ModelConfig = modelConfig('tiny', {
  D: 16, H: 2, L: 6, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, classes: 1, stageBlocks: [1, 3], selectorWidth: 4,
});
// non-square image, 2 classes, Dh = 8, one register, second stage after the queries are prepended (block 4)
const CFG_B: ModelConfig = modelConfig('tiny', {
  D: 24, H: 3, L: 6, patch: 8, image: [48, 64], R: 1, Q: 3, Bq: 2, classes: 2, stageBlocks: [2, 5], selectorWidth: 6,
});

const ATOL = 2e-4, RTOL = 1e-3;

describe('roundKeep', () => {
  it('roundKeepCount matches the search transcription for every k, prefix and multiple', () => {
    for (const m of [1, 2, 8, 16]) for (const P of [1, 3, 5]) for (const Np of [4, 16, 37]) for (let k = 1; k <= Np; k++)
      expect(roundKeepCount(k, P, Np, m), `k=${k} P=${P} Np=${Np} m=${m}`).toBe(roundKeepRef(k, P, Np, m));
    expect(roundKeepCount(717, 5, 1024, 8)).toBe(715);
  });

  it('rejects a bad roundKeep in TS and at the binding', async () => {
    const cfg = CFG_A;
    await expect(InferenceSession.create({ config: cfg }, { keep: 0.7, roundKeep: 0 })).rejects.toThrow(/InferenceSession: expected options\.roundKeep to be an integer in \[1, 1024\], received 0/);
    await expect(InferenceSession.create({ config: cfg }, { keep: 0.7, roundKeep: 2.5 })).rejects.toThrow(RangeError);
    await expect(InferenceSession.create({ config: cfg }, { keep: 0.7, roundKeep: '8' as unknown as number })).rejects.toThrow(TypeError);
    const w = randomWeights(cfg, 1);
    expect(() => new (native().InferenceSession)(JSON.stringify(cfg), w, { keep: 0.7, roundKeep: 4096 })).toThrow(/options\.roundKeep to be an integer in \[1, 1024\]/);
    expect(() => new (native().InferenceSession)(JSON.stringify(cfg), w, { keep: 0.7, roundKeep: 'x' as unknown as number })).toThrow(TypeError);
  });
});

describe.each([['A 32x32 C=1', CFG_A, 11], ['B 48x64 C=2', CFG_B, 12]] as const)('InferenceSession vs eomtForwardRef (%s)', (_name, cfg, seed) => {
  const weights = randomWeights(cfg, seed, { init: 'test' });
  const [Hi, Wi] = cfg.image;
  const images = randn(2 * 3 * Hi * Wi, rng(seed + 100));

  for (const keep of [null, 0.7, 0.5]) {
    for (const B of [1, 2]) {
      it(`keep=${keep} B=${B}: every variant and thread count matches the reference; threads bit-identical`, async () => {
        const img = images.subarray(0, B * 3 * Hi * Wi);
        const ref = eomtForwardRef(cfg, weights, img, B, { keep, perBlock: true });
        const session = await InferenceSession.create({ config: cfg, weights }, { keep });
        const { Np } = { Np: (Hi / cfg.patch) * (Wi / cfg.patch) };
        expect(session.stageKeep).toEqual(keep === null ? [] : cfg.stageBlocks.map((_, s) => keepCount(keep, s, Np)));
        try {
          for (const variant of cpuVariants()) {
            let first: Float32Array | undefined;
            for (const threads of threadCounts()) {
              const out = await withKernelAsync(variant, threads, () => session.run({ data: img, shape: [B, 3, Hi, Wi] }, { perBlock: true }));
              const tag = `${variant} t=${threads}`;
              expect(out.semantic.shape).toEqual([B, cfg.classes, Hi, Wi]);
              expect(out.classLogits.shape).toEqual([B, cfg.Q, cfg.classes + 1]);
              expect(out.maskLogits.shape).toEqual([B, cfg.Q, (4 * Hi) / cfg.patch, (4 * Wi) / cfg.patch]);
              expectClose(out.semantic.data, ref.semantic, ATOL, RTOL, `${tag} semantic`);
              expectClose(out.classLogits.data, ref.classLogits, ATOL, RTOL, `${tag} classLogits`);
              expectClose(out.maskLogits.data, ref.maskLogits, ATOL, RTOL, `${tag} maskLogits`);
              expect(out.perBlock!.map((p) => p.block)).toEqual(ref.perBlock!.map((p) => p.block));
              out.perBlock!.forEach((p, i) => expectClose(p.semantic.data, ref.perBlock![i]!.semantic, ATOL, RTOL, `${tag} perBlock[${p.block}]`));
              if (first === undefined) first = out.semantic.data;
              else expect(Buffer.from(out.semantic.data.buffer).equals(Buffer.from(first.buffer))).toBe(true);
            }
          }
        } finally {
          session.dispose();
        }
      });
    }
  }

  it('roundKeep 8 (SPEC §3): prefix + k a multiple of 8 in every stage, and the forward uses those counts', async () => {
    const Np = (Hi / cfg.patch) * (Wi / cfg.patch), P = 1 + cfg.R;
    const plain = cfg.stageBlocks.map((_, s) => keepCount(0.7, s, Np));
    const want = plain.map((k) => roundKeepRef(k, P, Np, 8));
    expect(want).not.toEqual(plain); // the case must actually round
    const session = await InferenceSession.create({ config: cfg, weights }, { keep: 0.7, roundKeep: 8 });
    try {
      expect(session.stageKeep).toEqual(want);
      for (const k of session.stageKeep) expect((P + k) % 8 === 0 || k === Np).toBe(true);
      const img = images.subarray(0, 3 * Hi * Wi);
      const out = await session.run({ data: img, shape: [1, 3, Hi, Wi] });
      const ref = eomtForwardRef(cfg, weights, img, 1, { keep: 0.7, perBlock: false, roundKeep: 8 });
      expectClose(out.semantic.data, ref.semantic, ATOL, RTOL, 'roundKeep 8 semantic');
    } finally {
      session.dispose();
    }
  });

  it('perBlock off returns no per-block maps and the same final outputs', async () => {
    const session = await InferenceSession.create({ config: cfg, weights }, { keep: 0.7 });
    const img = images.subarray(0, 3 * Hi * Wi);
    const a = await session.run(img);
    const b = await session.run(img, { perBlock: true });
    expect(a.perBlock).toBeUndefined();
    expect(Array.from(a.semantic.data)).toEqual(Array.from(b.semantic.data));
    expect(Array.from(b.perBlock!.at(-1)!.semantic.data)).toEqual(Array.from(b.semantic.data));
    session.dispose();
  });
});

describe('InferenceSession: the head\'s scale blocks in bands of input rows', () => {
  // patch 4 on 128 x 96: a 32 x 24 grid; the first scale block's 24-wide input runs in bands of 21 rows
  // (21 + 11), the second's 48-wide input in bands of 10 rows (6 x 10 + 4): band edges inside the map, a
  // short last band, and B = 2 (each image's bands in turn)
  const cfg = modelConfig('tiny', { D: 16, H: 2, L: 2, patch: 4, image: [128, 96], R: 1, Q: 3, Bq: 1, classes: 2, stageBlocks: [1], selectorWidth: 4 });
  it('several bands per image match the float64 reference, every variant, threads bit-identical', async () => {
    const weights = randomWeights(cfg, 21, { init: 'test' });
    const B = 2, [Hi, Wi] = cfg.image;
    const img = randn(B * 3 * Hi * Wi, rng(121));
    const ref = eomtForwardRef(cfg, weights, img, B, { keep: null });
    const session = await InferenceSession.create({ config: cfg, weights });
    try {
      for (const variant of cpuVariants()) {
        let first: Float32Array | undefined;
        for (const threads of threadCounts()) {
          const out = await withKernelAsync(variant, threads, () => session.run({ data: img, shape: [B, 3, Hi, Wi] }));
          expectClose(out.maskLogits.data, ref.maskLogits, ATOL, RTOL, `${variant} t=${threads} maskLogits`);
          expectClose(out.semantic.data, ref.semantic, ATOL, RTOL, `${variant} t=${threads} semantic`);
          if (first === undefined) first = out.maskLogits.data;
          else expect(Buffer.from(out.maskLogits.data.buffer).equals(Buffer.from(first.buffer))).toBe(true);
        }
      }
    } finally {
      session.dispose();
    }
  });
});

describe('InferenceSession: sources, batching, queueing', () => {
  let dir = '';
  beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 'reg4pru-eng-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a checkpoint path gives the same outputs as the in-memory model', async () => {
    const w = randomWeights(CFG_A, 3, { init: 'test' });
    const file = path.join(dir, 'm.safetensors');
    saveCheckpoint(file, CFG_A, w);
    const a = await InferenceSession.create(file, { keep: 0.5 });
    const b = await InferenceSession.create({ config: CFG_A, weights: w }, { keep: 0.5 });
    const img = randn(3 * 32 * 32, rng(5));
    const [ra, rb] = [await a.run(img), await b.run(img)];
    expect(Array.from(ra.semantic.data)).toEqual(Array.from(rb.semantic.data));
    expect(a.config).toEqual(CFG_A);
    a.dispose();
    b.dispose();
  });

  it('weights omitted = randomWeights(config, seed)', async () => {
    const a = await InferenceSession.create({ config: CFG_A, seed: 7 });
    const b = await InferenceSession.create({ config: CFG_A, weights: randomWeights(CFG_A, 7) });
    const img = randn(3 * 32 * 32, rng(6));
    expect(Array.from((await a.run(img)).classLogits.data)).toEqual(Array.from((await b.run(img)).classLogits.data));
    a.dispose();
    b.dispose();
  });

  it('a batch equals its rows run one by one, and concurrent runs are queued', async () => {
    const s = await InferenceSession.create({ config: CFG_B, weights: randomWeights(CFG_B, 4, { init: 'test' }) }, { keep: 0.7 });
    const n = 3 * 48 * 64;
    const img = randn(3 * n, rng(8));
    const [all, r0, r1, r2] = await Promise.all([s.run(img), s.run(img.subarray(0, n)), s.run(img.subarray(n, 2 * n)), s.run(img.subarray(2 * n))]);
    const m = 2 * 48 * 64;
    expectClose(all.semantic.data.subarray(0, m), r0.semantic.data, 1e-6, 1e-5, 'row 0');
    expectClose(all.semantic.data.subarray(m, 2 * m), r1.semantic.data, 1e-6, 1e-5, 'row 1');
    expectClose(all.semantic.data.subarray(2 * m), r2.semantic.data, 1e-6, 1e-5, 'row 2');
    s.dispose();
  });
});

describe('InferenceSession with ToMe blocks (SPEC §6 baseline, tomeBlock op)', () => {
  const weights = randomWeights(CFG_A, 21, { init: 'test' });
  const img = randn(2 * 3 * 32 * 32, rng(22));

  it('ratio 1 merges nothing: equals the unpruned forward', async () => {
    const plain = await InferenceSession.create({ config: CFG_A, weights });
    const want = await plain.run({ data: img, shape: [2, 3, 32, 32] });
    for (const mode of ['mhsa', 'mhsa+mlp'] as const) {
      const s = await InferenceSession.create({ config: CFG_A, weights }, { tome: { mode, mergeRatio: 0 } });
      const got = await s.run({ data: img, shape: [2, 3, 32, 32] });
      expectClose(got.semantic.data, want.semantic.data, 1e-5, 1e-4, `${mode} semantic`);
      expectClose(got.classLogits.data, want.classLogits.data, 1e-5, 1e-4, `${mode} classLogits`);
      s.dispose();
    }
    plain.dispose();
  });

  it('ratio 0.5 in both modes equals the float64 forward with tomeBlockRef in every block', async () => {
    for (const mode of ['mhsa', 'mhsa+mlp'] as const) {
      const ref = eomtForwardRef(CFG_A, weights, img, 2, { keep: null, perBlock: false, tome: { mode, mergeRatio: 0.5 } });
      // Far from a tie in every block's matching, so float32 must take the same merge plan.
      expect(ref.tomeMargin!).toBeGreaterThan(1e-5); // 4.5e-5 here; float32 moves similarities by ~1e-6
      const s = await InferenceSession.create({ config: CFG_A, weights }, { tome: { mode, mergeRatio: 0.5 } });
      const got = await s.run({ data: img, shape: [2, 3, 32, 32] });
      s.dispose();
      expectClose(got.semantic.data, ref.semantic, ATOL, RTOL, `${mode} semantic`);
      expectClose(got.classLogits.data, ref.classLogits, ATOL, RTOL, `${mode} classLogits`);
    }
  });

  it('ratio 0.5 in both modes: finite, different from unpruned, bit-identical across threads and per batch row', async () => {
    const plain = await InferenceSession.create({ config: CFG_A, weights });
    const base = (await plain.run(img)).semantic.data;
    plain.dispose();
    for (const mode of ['mhsa', 'mhsa+mlp'] as const) {
      const s = await InferenceSession.create({ config: CFG_A, weights }, { tome: { mode, mergeRatio: 0.5 } });
      for (const variant of cpuVariants()) {
        let first: Float32Array | undefined;
        for (const threads of threadCounts()) {
          const out = (await withKernelAsync(variant, threads, () => s.run(img))).semantic.data;
          expect(out.every(Number.isFinite)).toBe(true);
          if (first === undefined) first = out;
          else expect(Buffer.from(out.buffer).equals(Buffer.from(first.buffer))).toBe(true);
        }
        let maxDiff = 0;
        for (let i = 0; i < base.length; i++) maxDiff = Math.max(maxDiff, Math.abs(first![i]! - base[i]!));
        expect(maxDiff).toBeGreaterThan(1e-4);
        const row1 = (await withKernelAsync(variant, 1, () => s.run(img.subarray(3 * 32 * 32))) ).semantic.data;
        expectClose(first!.subarray(32 * 32), row1, 1e-6, 1e-5, `${mode} ${variant} batch row 1`);
      }
      s.dispose();
    }
  });
});
