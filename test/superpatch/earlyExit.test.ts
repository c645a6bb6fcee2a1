/**
 * STEP early exits in the native engine (engine.h EarlyExitOptions; src/model/earlyExit.ts): halted counts and outputs
 * against the float64 reference forward, alone and composed with fixed keep and superpatches; threshold 1 changes
 * nothing (bit for bit), threshold 0 halts everything the floor allows; a batch equals each image alone (ref bits);
 * heads file round trip and option errors.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { EomtModel, useNativeBackend } from '../../src/tfjs/index.js';
import { InferenceSession, modelConfig, randomWeights, type ModelConfig } from '../../src/index.js';
import { patchGrid } from '../../src/model/config.js';
import { loadExitHeads, randomExitHeads, saveExitHeads } from '../../src/model/earlyExit.js';
import { eomtForwardRef } from '../reference/eomtForward.js';
import { cpuVariants, expectClose, randn, rng, withKernelAsync } from '../reference/helpers.js';

const CFG: ModelConfig = modelConfig('tiny', {
  D: 24, H: 3, L: 6, patch: 8, image: [48, 64], R: 1, Q: 3, Bq: 2, classes: 2, stageBlocks: [2, 5], selectorWidth: 6,
});
const ATOL = 2e-4, RTOL = 1e-3;
const bits = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const [Hi, Wi] = CFG.image;
const { Np } = patchGrid(CFG);
const B = 3;
const weights = randomWeights(CFG, 51, { init: 'test' });
const images = randn(B * 3 * Hi * Wi, rng(52));
const hc = { blocks: [1, 3], D: 24, classes: 2 };
const heads = { config: hc, weights: randomExitHeads(hc, 53, 4) };
const refExits = (threshold: number, minActive = 1) => ({ blocks: hc.blocks, threshold, minActive, weights: heads.weights });

/** A threshold giving a varied halt count with every confidence at least 1e-4 away from it. */
function pickThreshold(): number {
  for (const t of [0.6, 0.65, 0.55, 0.7, 0.5, 0.75]) {
    const r = eomtForwardRef(CFG, weights, images, B, { keep: null, perBlock: false, exits: refExits(t) });
    if (r.exitMargin! > 1e-4 && r.halted!.some((h) => new Set(h).size > 1) && r.halted!.flat().some((h) => h > 0)) return t;
  }
  throw new Error('no threshold with varied exits: change the heads seed');
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});

describe('early exits in the engine', () => {
  const tau = pickThreshold();

  for (const keep of [null, 0.7] as const) {
    it(`keep ${keep}: halted tokens and outputs match the float64 reference, every variant`, async () => {
      const s = await InferenceSession.create({ config: CFG, weights }, { keep, earlyExit: { heads, threshold: tau } });
      const ref = eomtForwardRef(CFG, weights, images, B, { keep, perBlock: true, exits: refExits(tau) });
      try {
        for (const variant of cpuVariants()) {
          const out = await withKernelAsync(variant, 2, () => s.run({ data: images, shape: [B, 3, Hi, Wi] }, { perBlock: true }));
          expect(out.halted!.shape).toEqual([2, B]);
          expect(Array.from(out.halted!.data)).toEqual(ref.halted!.flat());
          expectClose(out.semantic.data, ref.semantic, ATOL, RTOL, `${variant} semantic`);
          out.perBlock!.forEach((q, i) => expectClose(q.semantic.data, ref.perBlock![i]!.semantic, ATOL, RTOL, `${variant} perBlock[${q.block}]`));
          if (keep !== null) expect(Array.from(out.kept!.data)).toEqual(ref.keptLists.flatMap((l) => l.map((k) => k.length)));
        }
      } finally {
        s.dispose();
      }
    });
  }

  it('a batch equals each image alone (ref bits); threshold 1 changes nothing; threshold 0 halts all the floor allows', async () => {
    const s = await InferenceSession.create({ config: CFG, weights }, { keep: 0.7, earlyExit: { heads, threshold: tau } });
    const n = 3 * Hi * Wi, m = CFG.classes * Hi * Wi;
    const all = await withKernelAsync('ref', 1, () => s.run({ data: images, shape: [B, 3, Hi, Wi] }));
    for (let b = 0; b < B; b++) {
      const one = await withKernelAsync('ref', 1, () => s.run({ data: images.subarray(b * n, (b + 1) * n), shape: [1, 3, Hi, Wi] }));
      expect(bits(all.semantic.data.subarray(b * m, (b + 1) * m)).equals(bits(one.semantic.data)), `image ${b}`).toBe(true);
    }
    s.dispose();
    const plain = await InferenceSession.create({ config: CFG, weights }, { keep: 0.7 });
    const want = await withKernelAsync('ref', 1, () => plain.run({ data: images, shape: [B, 3, Hi, Wi] }));
    plain.dispose();
    const one = await InferenceSession.create({ config: CFG, weights }, { keep: 0.7, earlyExit: { heads, threshold: 1 } });
    const got = await withKernelAsync('ref', 1, () => one.run({ data: images, shape: [B, 3, Hi, Wi] }));
    one.dispose();
    expect(got.halted!.data.every((h) => h === 0)).toBe(true);
    expect(bits(got.semantic.data).equals(bits(want.semantic.data))).toBe(true);
    const zero = await InferenceSession.create({ config: CFG, weights }, { earlyExit: { heads, threshold: 0, minActive: 5 } });
    const z = await zero.run({ data: images, shape: [B, 3, Hi, Wi] });
    zero.dispose();
    expect(Array.from(z.halted!.data)).toEqual([...Array(B).fill(Np - 5), ...Array(B).fill(0)]); // exit 0 leaves 5; exit 1 keeps the floor
    const r0 = eomtForwardRef(CFG, weights, images, B, { keep: null, perBlock: false, exits: refExits(0, 5) });
    expectClose(z.semantic.data, r0.semantic, ATOL, RTOL, 'threshold 0');
  });

  it('composes with superpatches (every window merged): halts count the merged tokens', async () => {
    const policy = { config: { patch: 8, width: 4 }, weights: { 'conv1.weight': new Float32Array(108), 'conv1.bias': new Float32Array(4), 'conv2.weight': new Float32Array(64), 'conv2.bias': new Float32Array(4), 'conv3.weight': new Float32Array(4), 'conv3.bias': Float32Array.of(9) } };
    const s = await InferenceSession.create({ config: CFG, weights }, { earlyExit: { heads, threshold: 0, minActive: 2 }, superpatch: { policy, threshold: 0.5 } });
    const out = await s.run({ data: images, shape: [B, 3, Hi, Wi] });
    s.dispose();
    expect(out.merged!.data.every((v) => v === 1)).toBe(true);
    expect(Array.from(out.halted!.data.subarray(0, B))).toEqual(Array(B).fill(Np / 4 - 2));
    const ref = eomtForwardRef(CFG, weights, images, B, { keep: null, perBlock: false, exits: refExits(0, 2), superpatch: { merged: out.merged!.data } });
    expectClose(out.semantic.data, ref.semantic, ATOL, RTOL, 'superpatch + exits');
  });

  it('the TF.js model with the same heads and weights equals the engine (alone and with keep 0.7)', async () => {
    const model = EomtModel.create(CFG, weights);
    const x = tf.tensor4d(images, [B, 3, Hi, Wi]);
    try {
      for (const keep of [null, 0.7] as const) {
        const s = await InferenceSession.create({ config: CFG, weights }, { keep, earlyExit: { heads, threshold: tau } });
        const nat = await s.run({ data: images, shape: [B, 3, Hi, Wi] }, { perBlock: true });
        s.dispose();
        const out = model.forwardInference(x, { keep, perBlock: true, earlyExit: { heads, threshold: tau } });
        expect(out.halted!.flat()).toEqual(Array.from(nat.halted!.data));
        expectClose(out.semantic.dataSync(), nat.semantic.data, ATOL, RTOL, `keep ${keep} semantic`);
        if (keep !== null) expect(out.keptCounts.flat()).toEqual(Array.from(nat.kept!.data));
        tf.dispose([out.semantic, out.classLogits, out.maskLogits, ...out.perBlock!.map((q) => q.semantic)]);
      }
    } finally {
      x.dispose();
      model.dispose();
    }
  });

  it('heads file round trip; option errors', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'r4p-exit-')), 'heads.safetensors');
    saveExitHeads(file, hc, heads.weights);
    const back = loadExitHeads(file);
    expect(back.config).toEqual(hc);
    const a = await InferenceSession.create({ config: CFG, weights }, { earlyExit: { heads: file, threshold: tau } });
    const b = await InferenceSession.create({ config: CFG, weights }, { earlyExit: { heads, threshold: tau } });
    const [ra, rb] = [await a.run(images.subarray(0, 3 * Hi * Wi)), await b.run(images.subarray(0, 3 * Hi * Wi))];
    expect(bits(ra.semantic.data).equals(bits(rb.semantic.data))).toBe(true);
    a.dispose();
    b.dispose();
    const mk = (ex: unknown, extra: object = {}) => InferenceSession.create({ config: CFG, weights }, { earlyExit: ex as never, ...extra });
    await expect(mk({ heads: { config: { ...hc, D: 16 }, weights: randomExitHeads({ ...hc, D: 16 }, 1) } })).rejects.toThrow(/fit the model/);
    await expect(mk({ heads: { config: { ...hc, blocks: [3, 1] }, weights: heads.weights } })).rejects.toThrow(/ascending/);
    await expect(mk({ heads, threshold: 1.5 })).rejects.toThrow(/earlyExit\.threshold in \[0, 1\]/);
    await expect(mk({ heads, minActive: 0 })).rejects.toThrow(/minActive/);
    await expect(mk({ heads: { config: hc, weights: { ...heads.weights, 'exits.1.fc.bias': new Float32Array(2) } } })).rejects.toThrow(/exits\.1\.fc\.bias/);
    await expect(mk({ heads }, { tome: { mode: 'mhsa', mergeRatio: 0.5 } })).rejects.toThrow(/cannot be combined/);
    await expect(mk({ heads }, { device: 'cuda' })).rejects.toThrow(/earlyExit|CUDA|cuda/);
  });
});
