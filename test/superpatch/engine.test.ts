/**
 * STEP superpatches in the native engine (engine.h SuperpatchOptions) and the TF.js model: merge / unmerge round trip,
 * the engine's merged windows and outputs against the float64 reference forward (eomtForwardRef with the reference
 * policy's decisions), alone and composed with fixed and dynamic keep, a batch of images with different merges equal
 * to each image alone (bit for bit on ref), threshold 1 (nothing merged: the plain forward) and 0 (every window merged),
 * the TF.js model against the engine, and option errors.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession, modelConfig, randomWeights, type ModelConfig } from '../../src/index.js';
import { patchGrid } from '../../src/model/config.js';
import { mergeWindowRows, patchMeans, randomPolicyWeights, superpatchLayout, unmergeWindowRows } from '../../src/model/superpatch.js';
import { EomtModel, useNativeBackend } from '../../src/tfjs/index.js';
import { eomtForwardRef } from '../reference/eomtForward.js';
import { policyLogitsRef } from '../reference/superpatchPolicy.js';
import { cpuVariants, expectClose, randn, rng, withKernelAsync } from '../reference/helpers.js';

const CFG: ModelConfig = modelConfig('tiny', {
  D: 24, H: 3, L: 6, patch: 8, image: [48, 64], R: 1, Q: 3, Bq: 2, classes: 2, stageBlocks: [2, 5], selectorWidth: 6,
});
const ATOL = 2e-4, RTOL = 1e-3;
const bits = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const [Hi, Wi] = CFG.image;
const { gh, gw } = patchGrid(CFG);
const WIN = Math.floor(gh / 2) * Math.floor(gw / 2);
const B = 3;
const weights = randomWeights(CFG, 41, { init: 'test' });
const images = randn(B * 3 * Hi * Wi, rng(42));
const policy = { config: { patch: 8, width: 6 }, weights: randomPolicyWeights({ patch: 8, width: 6 }, 43) };

/** float64 merge probabilities [B*WIN] of the reference policy. */
function refProbs(): Float64Array {
  const out = new Float64Array(B * WIN);
  for (let b = 0; b < B; b++) {
    const u = patchMeans(images.subarray(b * 3 * Hi * Wi, (b + 1) * 3 * Hi * Wi), Hi, Wi, 8);
    policyLogitsRef(u, gh, gw, policy.weights, 6).forEach((l, i) => (out[b * WIN + i] = 1 / (1 + Math.exp(-l))));
  }
  return out;
}
/** A threshold with every probability at least 1e-4 away and images merging different window counts. */
function pickThreshold(p: Float64Array): number {
  const sorted = [...p].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    const t = (sorted[i - 1]! + sorted[i]!) / 2;
    if (sorted[i]! - sorted[i - 1]! < 2e-4) continue;
    const counts = Array.from({ length: B }, (_, b) => p.subarray(b * WIN, (b + 1) * WIN).filter((v) => v >= t).length);
    if (new Set(counts).size > 1 && counts.some((c) => c > 0)) return t;
  }
  throw new Error('no threshold with varied merges: change the policy seed');
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});

describe('superpatch merge / unmerge (TS, as the engine does it)', () => {
  it('layout, window means in the top-left rows, unmerge copies them back; a uniform window round-trips exactly', () => {
    const g = [4, 5] as const, D = 3; // 2 x 2 windows; the last column belongs to none
    const merged = Uint8Array.from([1, 0, 0, 1]);
    const { active, source } = superpatchLayout(merged, g[0], g[1]);
    expect(Array.from(active)).toEqual([0, 2, 3, 4, 7, 8, 9, 10, 11, 12, 14, 15, 16, 19]);
    expect(source[1]).toBe(0);
    expect(source[18]).toBe(12);
    const x = randn(20 * D, rng(3));
    // window (1,1): patches 12, 13, 17, 18 made equal (small integers: exact float sums) -> a uniform window
    x.set([3, -5, 7], 12 * D);
    for (const n of [13, 17, 18]) x.copyWithin(n * D, 12 * D, 13 * D);
    const y = x.slice();
    mergeWindowRows(y, merged, g[0], g[1], D);
    for (let d = 0; d < D; d++) expect(y[d]).toBeCloseTo((x[d]! + x[D + d]! + x[5 * D + d]! + x[6 * D + d]!) / 4, 6);
    expect(Array.from(y.subarray(2 * D))).toEqual(Array.from(x.subarray(2 * D))); // other windows' top-left untouched except merged
    unmergeWindowRows(y, merged, g[0], g[1], D);
    for (const n of [1, 5, 6]) expect(Array.from(y.subarray(n * D, (n + 1) * D))).toEqual(Array.from(y.subarray(0, D)));
    for (const n of [12, 13, 17, 18]) expect(Array.from(y.subarray(n * D, (n + 1) * D))).toEqual(Array.from(x.subarray(n * D, (n + 1) * D)));
    for (const n of [2, 3, 4, 7, 8, 9, 14, 19]) expect(Array.from(y.subarray(n * D, (n + 1) * D))).toEqual(Array.from(x.subarray(n * D, (n + 1) * D)));
  });
});

describe('superpatches in the engine', () => {
  const p = refProbs();
  const tau = pickThreshold(p);
  const merged = Uint8Array.from(p, (v) => (v >= tau ? 1 : 0));

  for (const keep of [null, 0.7, 'dynamic'] as const) {
    it(`keep ${keep}: merged windows and outputs match the float64 reference; kept counts per image`, async () => {
      const dyn = keep === 'dynamic' ? { threshold: 0.45 } : {};
      const s = await InferenceSession.create({ config: CFG, weights }, { keep, ...dyn, superpatch: { policy, threshold: tau } });
      const ref = eomtForwardRef(CFG, weights, images, B, { keep, ...dyn, perBlock: true, superpatch: { merged } });
      if (keep === 'dynamic') expect(ref.thresholdMargin!).toBeGreaterThan(1e-4);
      try {
        for (const variant of cpuVariants()) {
          const out = await withKernelAsync(variant, 2, () => s.run({ data: images, shape: [B, 3, Hi, Wi] }, { perBlock: true }));
          expect(out.merged!.shape).toEqual([B, gh / 2, gw / 2]);
          expect(Array.from(out.merged!.data)).toEqual(Array.from(merged));
          expectClose(out.semantic.data, ref.semantic, ATOL, RTOL, `${variant} semantic`);
          expectClose(out.classLogits.data, ref.classLogits, ATOL, RTOL, `${variant} classLogits`);
          out.perBlock!.forEach((q, i) => expectClose(q.semantic.data, ref.perBlock![i]!.semantic, ATOL, RTOL, `${variant} perBlock[${q.block}]`));
          if (keep !== null) expect(Array.from(out.kept!.data)).toEqual(ref.keptLists.flatMap((l) => l.map((k) => k.length)));
        }
      } finally {
        s.dispose();
      }
    });
  }

  it('a batch with different merges equals each image alone, bit for bit on ref', async () => {
    const counts = Array.from({ length: B }, (_, b) => merged.subarray(b * WIN, (b + 1) * WIN).reduce((a, v) => a + v, 0));
    expect(new Set(counts).size).toBeGreaterThan(1);
    const s = await InferenceSession.create({ config: CFG, weights }, { keep: 0.7, superpatch: { policy, threshold: tau } });
    const n = 3 * Hi * Wi, m = CFG.classes * Hi * Wi;
    try {
      const all = await withKernelAsync('ref', 1, () => s.run({ data: images, shape: [B, 3, Hi, Wi] }));
      for (let b = 0; b < B; b++) {
        const one = await withKernelAsync('ref', 1, () => s.run({ data: images.subarray(b * n, (b + 1) * n), shape: [1, 3, Hi, Wi] }));
        expect(bits(all.semantic.data.subarray(b * m, (b + 1) * m)).equals(bits(one.semantic.data)), `image ${b}`).toBe(true);
      }
    } finally {
      s.dispose();
    }
  });

  it('threshold 1 merges nothing (the plain forward, bit for bit); threshold 0 merges every window', async () => {
    const plain = await InferenceSession.create({ config: CFG, weights }, { keep: 0.7 });
    const want = await withKernelAsync('ref', 1, () => plain.run({ data: images, shape: [B, 3, Hi, Wi] }));
    plain.dispose();
    const none = await InferenceSession.create({ config: CFG, weights }, { keep: 0.7, superpatch: { policy, threshold: 1 } });
    const got = await withKernelAsync('ref', 1, () => none.run({ data: images, shape: [B, 3, Hi, Wi] }));
    none.dispose();
    expect(got.merged!.data.every((v) => v === 0)).toBe(true);
    expect(bits(got.semantic.data).equals(bits(want.semantic.data))).toBe(true);
    const all = await InferenceSession.create({ config: CFG, weights }, { keep: 0.7, superpatch: { policy, threshold: 0 } });
    const full = await all.run({ data: images, shape: [B, 3, Hi, Wi] });
    all.dispose();
    expect(full.merged!.data.every((v) => v === 1)).toBe(true);
    const tokens = (gh * gw) / 4; // every patch in a window (even grid): a quarter of the tokens
    expect(Array.from(full.kept!.data.subarray(0, B))).toEqual(Array(B).fill(Math.floor(0.7 * tokens + 0.5)));
    const ref = eomtForwardRef(CFG, weights, images, B, { keep: 0.7, perBlock: false, superpatch: { merged: new Uint8Array(B * WIN).fill(1) } });
    expectClose(full.semantic.data, ref.semantic, ATOL, RTOL, 'all merged');
  });

  it('the TF.js model with the same policy and weights equals the engine (alone and with keep 0.7)', async () => {
    const model = EomtModel.create(CFG, weights);
    const x = tf.tensor4d(images, [B, 3, Hi, Wi]);
    try {
      for (const keep of [null, 0.7] as const) {
        const s = await InferenceSession.create({ config: CFG, weights }, { keep, superpatch: { policy, threshold: tau } });
        const nat = await s.run({ data: images, shape: [B, 3, Hi, Wi] }, { perBlock: true });
        s.dispose();
        const out = model.forwardInference(x, { keep, perBlock: true, superpatch: { policy, threshold: tau } });
        expect(out.merged!.map((mm) => Array.from(mm)).flat()).toEqual(Array.from(nat.merged!.data));
        expectClose(out.semantic.dataSync(), nat.semantic.data, ATOL, RTOL, `keep ${keep} semantic`);
        expectClose(out.maskLogits.dataSync(), nat.maskLogits.data, ATOL, RTOL, `keep ${keep} maskLogits`);
        if (keep !== null) expect(out.keptCounts.flat()).toEqual(Array.from(nat.kept!.data));
        tf.dispose([out.semantic, out.classLogits, out.maskLogits, ...out.perBlock!.map((q) => q.semantic)]);
      }
    } finally {
      x.dispose();
      model.dispose();
    }
  });

  it('option errors: wrong patch, bad weights and threshold, ToMe, roundKeep, CUDA', async () => {
    const mk = (sp: unknown, extra: object = {}) => InferenceSession.create({ config: CFG, weights }, { superpatch: sp as never, ...extra });
    await expect(mk({ policy: { config: { patch: 16, width: 6 }, weights: randomPolicyWeights({ patch: 16, width: 6 }, 1) } })).rejects.toThrow(/policy's patch 16 to be the model's patch 8/);
    await expect(mk({ policy: { ...policy, weights: { ...policy.weights, 'conv2.bias': new Float32Array(2) } } })).rejects.toThrow(/conv2\.bias/);
    await expect(mk({ policy, threshold: 2 })).rejects.toThrow(/superpatch\.threshold in \[0, 1\]/);
    await expect(mk({ policy: 42 })).rejects.toThrow(TypeError);
    await expect(mk({ policy }, { tome: { mode: 'mhsa', mergeRatio: 0.5 } })).rejects.toThrow(/cannot be combined/);
    await expect(mk({ policy }, { keep: 0.7, roundKeep: 8 })).rejects.toThrow(/roundKeep/);
    await expect(mk({ policy }, { device: 'cuda' })).rejects.toThrow(/superpatch|CUDA|cuda/);
  });
});
