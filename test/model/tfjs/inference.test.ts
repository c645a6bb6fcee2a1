/**
 * The TF.js EoMT model's inference forward (src/model/tfjs/eomt.ts) against the native engine
 * (InferenceSession) and the float64 reference (eomtForwardRef), unpruned and keep 0.7, per-block
 * decodes, fused (tfops.prunedBlock) and unfused (gather → TF.js block → scatter) blocks; shapes; the
 * weights round trip through exportWeights.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { InferenceSession, modelConfig, randomWeights, type ModelConfig } from '../../../src/index.js';
import { EomtModel, useNativeBackend } from '../../../src/tfjs/index.js';
import { eomtForwardRef, keepCount } from '../../reference/eomtForward.js';
import { expectClose, randn, rng } from '../../reference/helpers.js';

const CFG: ModelConfig = modelConfig('tiny', {
  D: 16, H: 2, L: 6, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, classes: 1, stageBlocks: [1, 3], selectorWidth: 4,
});
const ATOL = 2e-4, RTOL = 1e-3;

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});

describe('EomtModel.forwardInference', () => {
  const weights = randomWeights(CFG, 11, { init: 'test' });
  const [Hi, Wi] = CFG.image;
  const B = 2;
  const data = randn(B * 3 * Hi * Wi, rng(111));

  for (const keep of [null, 0.7]) {
    it(`keep=${keep}: equals InferenceSession and eomtForwardRef (fused and unfused)`, async () => {
      const model = EomtModel.create(CFG, weights);
      const ref = eomtForwardRef(CFG, weights, data, B, { keep, perBlock: true });
      const session = await InferenceSession.create({ config: CFG, weights }, { keep });
      const nat = await session.run({ data, shape: [B, 3, Hi, Wi] }, { perBlock: true });
      session.dispose();
      const images = tf.tensor4d(data, [B, 3, Hi, Wi]);
      for (const fused of [true, false]) {
        const before = tf.memory().numTensors;
        const out = model.forwardInference(images, { keep, perBlock: true, fused });
        const tag = `fused=${fused}`;
        expect(out.semantic.shape).toEqual([B, 1, Hi, Wi]);
        expect(out.classLogits.shape).toEqual([B, CFG.Q, 2]);
        expect(out.maskLogits.shape).toEqual([B, CFG.Q, 16, 16]);
        expectClose(out.semantic.dataSync(), ref.semantic, ATOL, RTOL, `${tag} semantic vs ref`);
        expectClose(out.classLogits.dataSync(), ref.classLogits, ATOL, RTOL, `${tag} classLogits vs ref`);
        expectClose(out.maskLogits.dataSync(), ref.maskLogits, ATOL, RTOL, `${tag} maskLogits vs ref`);
        expectClose(out.semantic.dataSync(), nat.semantic.data, ATOL, RTOL, `${tag} semantic vs native`);
        expectClose(out.maskLogits.dataSync(), nat.maskLogits.data, ATOL, RTOL, `${tag} maskLogits vs native`);
        expect(out.perBlock!.map((p) => p.block)).toEqual([3, 4, 5]);
        out.perBlock!.forEach((p, i) => {
          expectClose(p.semantic.dataSync(), ref.perBlock![i]!.semantic, ATOL, RTOL, `${tag} perBlock ${p.block} vs ref`);
          expectClose(p.semantic.dataSync(), nat.perBlock![i]!.semantic.data, ATOL, RTOL, `${tag} perBlock ${p.block} vs native`);
        });
        expect(out.keptPerStage.length).toBe(keep === null ? 0 : 2);
        out.keptPerStage.forEach((k, s) => {
          expect(k.shape).toEqual([B, keepCount(0.7, s, 16)]);
          expect(Array.from(k.dataSync())).toEqual(Array.from(ref.keptPerStage[s]!));
        });
        tf.dispose([out.semantic, out.classLogits, out.maskLogits, ...out.keptPerStage, ...out.perBlock!.map((p) => p.semantic)]);
        expect(tf.memory().numTensors).toBe(before);
      }
      images.dispose();
      model.dispose();
    });
  }

  it('perBlock off gives the same final maps; exportWeights round-trips; bad inputs throw', () => {
    const model = EomtModel.create(CFG, weights);
    const images = tf.tensor4d(data.subarray(0, 3 * Hi * Wi), [1, 3, Hi, Wi]);
    const a = model.forwardInference(images, { keep: 0.7 });
    const ref = eomtForwardRef(CFG, weights, data.subarray(0, 3 * Hi * Wi), 1, { keep: 0.7, perBlock: false });
    expect(a.perBlock).toBeUndefined();
    expectClose(a.semantic.dataSync(), ref.semantic, ATOL, RTOL, 'semantic');
    const ex = model.exportWeights();
    expect(Object.keys(ex).sort()).toEqual(Object.keys(weights).sort());
    for (const k of Object.keys(weights)) expect(ex[k]).toEqual(weights[k]);
    expect(() => model.forwardInference(tf.zeros([1, 3, 16, 32]) as tf.Tensor4D)).toThrow(/images/);
    expect(() => model.forwardInference(images, { keep: 0 })).toThrow(/keep/);
    expect(() => EomtModel.create(CFG, { ...weights, 'norm.bias': new Float32Array(3) })).toThrow(/norm.bias/);
    tf.dispose([images, a.semantic, a.classLogits, a.maskLogits, ...a.keptPerStage]);
    model.dispose();
  });

  it("keep 'dynamic': equals InferenceSession (variable-length batch) and eomtForwardRef, kept counts per image", async () => {
    const model = EomtModel.create(CFG, weights);
    // a threshold whose decisions float32 takes like float64 and that gives the two images different counts
    const tau = [0.5, 0.45, 0.55, 0.4, 0.6].find((t) => {
      const r = eomtForwardRef(CFG, weights, data, B, { keep: 'dynamic', threshold: t, perBlock: false });
      return r.thresholdMargin! > 1e-4 && r.keptLists.some((l) => l[0]!.length !== l[1]!.length);
    });
    expect(tau).toBeDefined();
    const ref = eomtForwardRef(CFG, weights, data, B, { keep: 'dynamic', threshold: tau!, minKeep: 2, perBlock: true });
    const session = await InferenceSession.create({ config: CFG, weights }, { keep: 'dynamic', threshold: tau!, minKeep: 2 });
    const nat = await session.run({ data, shape: [B, 3, Hi, Wi] }, { perBlock: true });
    session.dispose();
    const images = tf.tensor4d(data, [B, 3, Hi, Wi]);
    for (const fused of [true, false]) {
      const before = tf.memory().numTensors;
      const out = model.forwardInference(images, { keep: 'dynamic', threshold: tau!, minKeep: 2, perBlock: true, fused });
      const tag = `dynamic fused=${fused}`;
      expect(out.keptCounts).toEqual(ref.keptLists.map((l) => l.map((k) => k.length)));
      expect(out.keptCounts.flat()).toEqual(Array.from(nat.kept!.data));
      expect(out.semantic.shape).toEqual([B, 1, Hi, Wi]);
      expectClose(out.semantic.dataSync(), ref.semantic, ATOL, RTOL, `${tag} semantic vs ref`);
      expectClose(out.semantic.dataSync(), nat.semantic.data, ATOL, RTOL, `${tag} semantic vs native`);
      expectClose(out.classLogits.dataSync(), nat.classLogits.data, ATOL, RTOL, `${tag} classLogits vs native`);
      out.perBlock!.forEach((p, i) => expectClose(p.semantic.dataSync(), nat.perBlock![i]!.semantic.data, ATOL, RTOL, `${tag} perBlock ${p.block} vs native`));
      tf.dispose([out.semantic, out.classLogits, out.maskLogits, ...out.perBlock!.map((p) => p.semantic)]);
      expect(tf.memory().numTensors).toBe(before);
    }
    expect(() => model.forwardInference(images, { keep: 'dynamic', threshold: 2 })).toThrow(/threshold/);
    images.dispose();
    model.dispose();
  });
});
