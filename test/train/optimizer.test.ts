/**
 * The training optimiser (SPEC §4; src/train/schedule.ts, optimizer.ts): parameter groups, LLRD and
 * decay flags, the two-stage warmup + poly lr at key steps, one AdamW step against a hand computation,
 * the EMA by hand, gradient accumulation of two micro-batches against one batch of two.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { fitWarmup, lrAt, modelConfig, paramInfo, randomWeights } from '../../src/index.js';
import { AdamW, Ema, EomtModel, GradAccumulator, deepSupervisionLoss, useNativeBackend } from '../../src/tfjs/index.js';
import { vesselTargets } from '../../src/train/matching.js';
import { randn, rng } from '../reference/helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});

describe('schedule', () => {
  it('groups, LLRD scale and weight decay by SPEC §8 name', () => {
    expect(paramInfo('blocks.11.mlp.fc1.weight', 12, 0.8)).toEqual({ group: 'backbone', lrScale: 0.8, decay: true });
    expect(paramInfo('blocks.0.attn.qkv.bias', 12, 0.8)).toEqual({ group: 'backbone', lrScale: 0.8 ** 12, decay: false });
    expect(paramInfo('blocks.3.ls1.gamma', 12, 0.8).decay).toBe(false);
    expect(paramInfo('blocks.3.norm2.weight', 12, 0.8).decay).toBe(false);
    expect(paramInfo('pos_embed', 12, 0.8)).toEqual({ group: 'backbone', lrScale: 0.8 ** 13, decay: false });
    expect(paramInfo('patch_embed.proj.weight', 12, 0.8)).toEqual({ group: 'backbone', lrScale: 0.8 ** 13, decay: true });
    expect(paramInfo('cls_token', 12).decay).toBe(false);
    expect(paramInfo('norm.weight', 12)).toEqual({ group: 'backbone', lrScale: 1, decay: false });
    expect(paramInfo('q.weight', 12)).toEqual({ group: 'head', lrScale: 1, decay: false });
    expect(paramInfo('mask_head.2.weight', 12)).toEqual({ group: 'head', lrScale: 1, decay: true });
    expect(paramInfo('upscale.1.norm.weight', 12).decay).toBe(false);
    expect(paramInfo('selectors.0.ls.gamma', 12)).toEqual({ group: 'head', lrScale: 1, decay: false });
  });

  it('two-stage warmup then poly decay at key steps', () => {
    const s = { lr: 1, warmup: [10, 20] as const, totalSteps: 100, power: 0.9 };
    expect(lrAt(0, 'head', s)).toBeCloseTo(0.1);
    expect(lrAt(9, 'head', s)).toBeCloseTo(1);
    expect(lrAt(10, 'head', s)).toBeCloseTo(1);
    expect(lrAt(55, 'head', s)).toBeCloseTo(0.5 ** 0.9);
    expect(lrAt(0, 'backbone', s)).toBe(0);
    expect(lrAt(9, 'backbone', s)).toBe(0);
    expect(lrAt(10, 'backbone', s)).toBeCloseTo(0.05);
    expect(lrAt(29, 'backbone', s)).toBeCloseTo(1);
    expect(lrAt(30, 'backbone', s)).toBeCloseTo(1);
    expect(lrAt(65, 'backbone', s)).toBeCloseTo(0.5 ** 0.9);
    expect(lrAt(99, 'head', s)).toBeCloseTo((1 / 90) ** 0.9);
    expect(lrAt(100, 'head', s)).toBe(0);
    expect(fitWarmup([200, 400], 100)).toEqual([16, 33]);
    expect(fitWarmup([200, 400], 10000)).toEqual([200, 400]);
    expect(() => lrAt(-1, 'head', s)).toThrow(RangeError);
  });
});

describe('AdamW, EMA, accumulation', () => {
  it('one AdamW step equals the hand-computed update (decay + LLRD)', () => {
    const p = tf.variable(tf.tensor1d([1, -2]));
    const q = tf.variable(tf.tensor1d([0.5, 0.25])); // a bias: no decay, head
    const opt = new AdamW({ 'blocks.3.attn.qkv.weight': p, 'class_head.bias': q }, { schedule: { lr: 0.1, warmup: [0, 0], totalSteps: 10, power: 1 }, weightDecay: 0.05, llrd: 0.8, L: 6 });
    const g = tf.tensor1d([0.3, -0.6]), gq = tf.tensor1d([1, 0]);
    opt.apply({ 'blocks.3.attn.qkv.weight': g, 'class_head.bias': gq });
    // t = 1: m̂ = g, v̂ = g², update = g / (|g| + eps) ≈ sign(g)
    const lr = 0.1 * 0.8 ** 3, eps = 1e-8;
    const exp = [1, -2].map((x, i) => { const gi = [0.3, -0.6][i]!; return x * (1 - lr * 0.05) - lr * gi / (Math.abs(gi) + eps); });
    const got = p.dataSync();
    expect(got[0]).toBeCloseTo(exp[0]!, 6);
    expect(got[1]).toBeCloseTo(exp[1]!, 6);
    const gotq = q.dataSync();
    expect(gotq[0]).toBeCloseTo(0.5 - 0.1 * 1 / (1 + eps), 6);
    expect(gotq[1]).toBeCloseTo(0.25, 7);
    // second step: the lr has decayed linearly to 0.1 · 9/10; hand-compute m, v with bias correction
    const p1 = Array.from(got);
    opt.apply({ 'blocks.3.attn.qkv.weight': g });
    const lr2 = 0.1 * 0.9 * 0.8 ** 3;
    const exp2 = p1.map((x, i) => {
      const gi = [0.3, -0.6][i]!;
      const m = 0.9 * 0.1 * gi + 0.1 * gi, v = 0.999 * 0.001 * gi * gi + 0.001 * gi * gi;
      return x * (1 - lr2 * 0.05) - lr2 * (m / (1 - 0.9 ** 2)) / (Math.sqrt(v / (1 - 0.999 ** 2)) + eps);
    });
    expect(p.dataSync()[0]).toBeCloseTo(exp2[0]!, 6);
    expect(p.dataSync()[1]).toBeCloseTo(exp2[1]!, 6);
    expect(q.dataSync()[0]).toBeCloseTo(gotq[0]!, 7); // no gradient: untouched
    opt.dispose(); p.dispose(); q.dispose(); g.dispose(); gq.dispose();
  });

  it('EMA update by hand (with and without warm-up)', () => {
    const p = tf.variable(tf.tensor1d([1, 2]));
    const e = new Ema({ w: p }, { decay: 0.5, warmup: false });
    p.assign(tf.tensor1d([3, 6]));
    e.update();
    expect(Array.from(e.exportWeights()['w']!)).toEqual([2, 4]);
    const e2 = new Ema({ w: p }, { decay: 0.9999 });
    expect(e2.nextDecay()).toBeCloseTo(2 / 11);
    p.assign(tf.tensor1d([0, 0]));
    e2.update();
    expect(e2.exportWeights()['w']![0]).toBeCloseTo(3 * 2 / 11, 6);
    e.dispose(); e2.dispose(); p.dispose();
  });

  it('accumulating two micro-batches equals one batch of two', () => {
    const cfg = modelConfig('tiny', { D: 32, H: 2, L: 6, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, stageBlocks: [1, 3] });
    const model = EomtModel.create(cfg, randomWeights(cfg, 5));
    const x = randn(2 * 3 * 32 * 32, rng(9));
    const masks = [0, 1].map((b) => Uint8Array.from({ length: 1024 }, (_, i) => ((i * 7 + b * 13) % 5 === 0 ? 1 : 0)));
    const gradsOf = (imgs: Float32Array, ms: Uint8Array[]) => {
      const B = ms.length;
      const images = tf.tensor4d(imgs, [B, 3, 32, 32]);
      const { value, grads } = tf.variableGrads(() => {
        const out = model.forwardTrain(images, { policy: 'none', route: null });
        const [h, w] = out.decoded[0]!.maskLogits.shape.slice(2) as [number, number];
        return deepSupervisionLoss(out.decoded, ms.map((m) => vesselTargets(m, 32, 32, h, w)));
      });
      value.dispose(); images.dispose();
      return grads;
    };
    const acc = new GradAccumulator();
    acc.add(gradsOf(Float32Array.from(x.subarray(0, 3072)), [masks[0]!]));
    acc.add(gradsOf(Float32Array.from(x.subarray(3072)), [masks[1]!]));
    const mean = acc.mean();
    const full = gradsOf(Float32Array.from(x), masks);
    let checked = 0;
    for (const [name, g] of Object.entries(full)) {
      const a = mean[name]!.dataSync(), b = g.dataSync();
      let maxAbs = 0, maxDiff = 0;
      for (let i = 0; i < a.length; i++) { maxAbs = Math.max(maxAbs, Math.abs(b[i]!)); maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!)); }
      expect(maxDiff).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs));
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
    for (const t of [...Object.values(mean), ...Object.values(full)]) t.dispose();
    acc.dispose();
    model.dispose();
  });
});
