/**
 * keep 'dynamic' in the native engine (SViT's per-image keep; engine.h SessionOptions::dynamic): against the
 * float64 reference forward (eomtForwardRef with keep 'dynamic'), its threshold semantics (τ = 0 keeps every
 * patch, higher τ keeps fewer, the floor minKeep), nesting, and the variable-length batch: a batch whose images
 * keep different counts equals each image run alone, bit for bit on the ref kernels (and on every variant here).
 */
import { describe, expect, it } from 'vitest';
import { InferenceSession, modelConfig, randomWeights, type ModelConfig } from '../../src/index.js';
import { patchGrid } from '../../src/model/config.js';
import { eomtForwardRef, type EomtRefResult } from '../reference/eomtForward.js';
import { cpuVariants, expectClose, randn, rng, threadCounts, withKernelAsync } from '../reference/helpers.js';

const CFG_A: ModelConfig = modelConfig('tiny', {
  D: 16, H: 2, L: 6, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, classes: 1, stageBlocks: [1, 3], selectorWidth: 4,
});
// second stage after the queries are prepended (block 5), 48 patches
const CFG_B: ModelConfig = modelConfig('tiny', {
  D: 24, H: 3, L: 6, patch: 8, image: [48, 64], R: 1, Q: 3, Bq: 2, classes: 2, stageBlocks: [2, 5], selectorWidth: 6,
});
const ATOL = 2e-4, RTOL = 1e-3;
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Kept counts [S][B] of a reference result. */
const refCounts = (r: EomtRefResult) => r.keptLists.map((perImage) => perImage.map((l) => l.length));
/** The engine's kept [S,B] as [S][B]. */
function counts(kept: { data: Int32Array; shape: [number, number] } | undefined): number[][] {
  const [S, B] = kept!.shape;
  return Array.from({ length: S }, (_, s) => Array.from(kept!.data.subarray(s * B, (s + 1) * B)));
}

/**
 * A threshold for which the images of the batch keep different counts in some stage and no score lies within
 * 1e-4 of it (float32 scores must take the float64 reference's decisions), from a few candidates.
 */
function pickThreshold(cfg: ModelConfig, w: Record<string, Float32Array>, img: Float32Array, B: number): { tau: number; ref: EomtRefResult } {
  for (const tau of [0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65]) {
    const ref = eomtForwardRef(cfg, w, img, B, { keep: 'dynamic', threshold: tau, perBlock: true });
    const c = refCounts(ref);
    if (ref.thresholdMargin! > 1e-4 && c.some((perImage) => new Set(perImage).size > 1)) return { tau, ref };
  }
  throw new Error('no threshold gives varied counts with a safe margin: change the seed');
}

describe.each([['A 32x32', CFG_A, 31], ['B 48x64', CFG_B, 32]] as const)('keep dynamic (%s)', (_name, cfg, seed) => {
  const weights = randomWeights(cfg, seed, { init: 'test' });
  const [Hi, Wi] = cfg.image;
  const { Np } = patchGrid(cfg);
  const B = 3;
  const img = randn(B * 3 * Hi * Wi, rng(seed + 7));
  const { tau, ref } = pickThreshold(cfg, weights, img, B);

  it('the reference keeps, per image, the passing patches (or the floor), nested over stages', () => {
    for (let b = 0; b < B; b++) {
      let prev: Int32Array = Int32Array.from({ length: Np }, (_, n) => n);
      for (const perImage of ref.keptLists) {
        const l = perImage[b]!;
        expect(l.length).toBeGreaterThanOrEqual(1);
        for (const n of l) expect(prev.includes(n)).toBe(true); // nested: only active patches stay
        expect(Array.from(l)).toEqual(Array.from(l).sort((p, q) => p - q));
        prev = l;
      }
    }
  });

  it(`τ from the data: every variant and thread count matches the float64 reference, kept counts included`, async () => {
    const s = await InferenceSession.create({ config: cfg, weights }, { keep: 'dynamic', threshold: tau });
    try {
      expect(s.keep).toBe('dynamic');
      expect(s.dynamic).toEqual({ threshold: tau, minKeep: 1 });
      expect(s.stageKeep).toEqual([]);
      for (const variant of cpuVariants()) {
        let first: Float32Array | undefined;
        for (const threads of threadCounts()) {
          const out = await withKernelAsync(variant, threads, () => s.run({ data: img, shape: [B, 3, Hi, Wi] }, { perBlock: true }));
          const tag = `${variant} t=${threads}`;
          expect(counts(out.kept), tag).toEqual(refCounts(ref));
          expectClose(out.semantic.data, ref.semantic, ATOL, RTOL, `${tag} semantic`);
          expectClose(out.classLogits.data, ref.classLogits, ATOL, RTOL, `${tag} classLogits`);
          expectClose(out.maskLogits.data, ref.maskLogits, ATOL, RTOL, `${tag} maskLogits`);
          out.perBlock!.forEach((p, i) => expectClose(p.semantic.data, ref.perBlock![i]!.semantic, ATOL, RTOL, `${tag} perBlock[${p.block}]`));
          if (first === undefined) first = out.semantic.data;
          else expect(bits(out.semantic.data).equals(bits(first)), tag).toBe(true);
        }
      }
    } finally {
      s.dispose();
    }
  });

  it('a variable-length batch equals each image run alone: bit for bit on ref, and on every variant', async () => {
    const s = await InferenceSession.create({ config: cfg, weights }, { keep: 'dynamic', threshold: tau });
    const n = 3 * Hi * Wi, m = cfg.classes * Hi * Wi, q = cfg.Q * (cfg.classes + 1);
    try {
      for (const variant of cpuVariants()) {
        const all = await withKernelAsync(variant, 2, () => s.run({ data: img, shape: [B, 3, Hi, Wi] }));
        expect(counts(all.kept).some((perImage) => new Set(perImage).size > 1)).toBe(true); // really variable length
        for (let b = 0; b < B; b++) {
          const one = await withKernelAsync(variant, 2, () => s.run({ data: img.subarray(b * n, (b + 1) * n), shape: [1, 3, Hi, Wi] }));
          expect(counts(one.kept).map((c) => c[0])).toEqual(counts(all.kept).map((c) => c[b]));
          expect(bits(all.semantic.data.subarray(b * m, (b + 1) * m)).equals(bits(one.semantic.data)), `${variant} image ${b} semantic`).toBe(true);
          expect(bits(all.classLogits.data.subarray(b * q, (b + 1) * q)).equals(bits(one.classLogits.data)), `${variant} image ${b} classLogits`).toBe(true);
        }
      }
    } finally {
      s.dispose();
    }
  });

  it('τ = 0 keeps every patch (the unpruned forward); higher τ keeps fewer; τ = 1 leaves the floor', async () => {
    const plain = await InferenceSession.create({ config: cfg, weights });
    const want = await withKernelAsync('ref', 1, () => plain.run({ data: img, shape: [B, 3, Hi, Wi] }));
    plain.dispose();
    const all = await InferenceSession.create({ config: cfg, weights }, { keep: 'dynamic', threshold: 0 });
    const got = await withKernelAsync('ref', 1, () => all.run({ data: img, shape: [B, 3, Hi, Wi] }));
    all.dispose();
    expect(counts(got.kept)).toEqual(cfg.stageBlocks.map(() => Array(B).fill(Np)));
    expect(bits(got.semantic.data).equals(bits(want.semantic.data))).toBe(true);

    let prev: number[][] | undefined;
    for (const t of [0.3, tau, 0.7, 1]) {
      const s = await InferenceSession.create({ config: cfg, weights }, { keep: 'dynamic', threshold: t, minKeep: 2 });
      const c = counts((await s.run({ data: img, shape: [B, 3, Hi, Wi] })).kept);
      s.dispose();
      for (const perImage of c) for (const k of perImage) expect(k).toBeGreaterThanOrEqual(2); // the floor
      c.forEach((perImage, st) => perImage.forEach((k, b) => st > 0 && expect(k).toBeLessThanOrEqual(c[st - 1]![b]!))); // nested
      if (prev) c.forEach((perImage, st) => perImage.forEach((k, b) => expect(k, `τ=${t} stage ${st} image ${b}`).toBeLessThanOrEqual(prev![st]![b]!)));
      if (t === 1) expect(c).toEqual(cfg.stageBlocks.map(() => Array(B).fill(2))); // no score reaches 1 here
      prev = c;
    }
  });

  it('minKeep above the passing count keeps the top-scoring patches (the reference floor)', async () => {
    const minKeep = Math.ceil(Np * 0.6);
    const r = eomtForwardRef(cfg, weights, img, B, { keep: 'dynamic', threshold: 0.9, minKeep, perBlock: false });
    const s = await InferenceSession.create({ config: cfg, weights }, { keep: 'dynamic', threshold: 0.9, minKeep });
    const out = await s.run({ data: img, shape: [B, 3, Hi, Wi] });
    s.dispose();
    expect(counts(out.kept)).toEqual(refCounts(r));
    expect(counts(out.kept)[0]!.every((k) => k >= minKeep)).toBe(true);
    expectClose(out.semantic.data, r.semantic, ATOL, RTOL, 'floor semantic');
  });
});

it('fixed keep reports its stage counts per image in kept; unpruned has no kept', async () => {
  const s = await InferenceSession.create({ config: CFG_A, seed: 3 }, { keep: 0.7 });
  const out = await s.run(randn(2 * 3 * 32 * 32, rng(4)));
  expect(counts(out.kept)).toEqual(s.stageKeep.map((k) => [k, k]));
  s.dispose();
  const u = await InferenceSession.create({ config: CFG_A, seed: 3 });
  expect((await u.run(randn(3 * 32 * 32, rng(4)))).kept).toBeUndefined();
  u.dispose();
});
