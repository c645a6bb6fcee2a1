/**
 * The TF.js EoMT model's training forward (SPEC §4, src/model/tfjs/eomt.ts): shapes of every decode
 * point and stage, nested policies, Reg4Pru routing (stale routed rows, gradient cut through blocks
 * l..n, queries joining a route), agreement with the inference forward when nothing is pruned or
 * routed, seeded determinism, a stable tensor count over repeated forward + backward, and a tiny model
 * whose BCE loss falls over 20 Adam steps.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelConfig, randomWeights, type ModelConfig } from '../../../src/index.js';
import { EomtModel, useNativeBackend, type TrainOptions } from '../../../src/tfjs/index.js';
import { expectClose, randn, rng } from '../../reference/helpers.js';

const CFG: ModelConfig = modelConfig('tiny', {
  D: 16, H: 2, L: 6, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, classes: 1, stageBlocks: [1, 3], selectorWidth: 4,
});
const [Hi, Wi] = CFG.image;
const Np = 16, B = 2;

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});

function setup(seed = 3) {
  const model = EomtModel.create(CFG, randomWeights(CFG, seed, { init: 'test' }));
  const images = tf.tensor4d(randn(B * 3 * Hi * Wi, rng(seed + 50)), [B, 3, Hi, Wi]);
  return { model, images };
}

/** Routed patch positions per batch row (the complement of routeKept). */
function routedMask(routeKept: tf.Tensor2D): Float32Array {
  const m = new Float32Array(B * Np).fill(1);
  const k = routeKept.dataSync(), K = routeKept.shape[1];
  for (let b = 0; b < B; b++) for (let j = 0; j < K; j++) m[b * Np + k[b * K + j]!] = 0;
  return m;
}

describe('EomtModel.forwardTrain', () => {
  it('shapes of every decode point and stage; nested policies; seeded', () => {
    const { model, images } = setup();
    const opts: TrainOptions = { route: { l: 2, n: 4 }, policy: 'ratio', tau: 1, seed: 7 };
    const out = model.forwardTrain(images, opts);
    expect(out.decoded.map((d) => d.block)).toEqual([3, 4, 5]);
    for (const d of out.decoded) {
      expect(d.semantic!.shape).toEqual([B, 1, Hi, Wi]);
      expect(d.classLogits.shape).toEqual([B, CFG.Q, 2]);
      expect(d.maskLogits.shape).toEqual([B, CFG.Q, 16, 16]);
      expect(d.maskLogitsFull!.shape).toEqual([B, CFG.Q, Hi, Wi]);
    }
    expect(out.keep!.shape).toEqual([B, 2, Np]);
    expect(out.keepLogits!.shape).toEqual([B, 2, Np, 2]);
    expect(out.routeKept!.shape).toEqual([B, 8]);
    const P = out.keep!.arraySync();
    let kept0 = 0, kept1 = 0;
    for (let b = 0; b < B; b++) {
      for (let n = 0; n < Np; n++) {
        expect([0, 1]).toContain(P[b]![0]![n]);
        expect(P[b]![1]![n]!).toBeLessThanOrEqual(P[b]![0]![n]!);
        kept0 += P[b]![0]![n]!;
        kept1 += P[b]![1]![n]!;
      }
    }
    expect(kept0).toBeGreaterThan(0);
    expect(kept1).toBeLessThan(2 * Np * B); // some token dropped (test-init logits are well spread)
    const again = model.forwardTrain(images, opts);
    expect(again.keep!.dataSync()).toEqual(out.keep!.dataSync());
    expect(again.routeKept!.dataSync()).toEqual(out.routeKept!.dataSync());
    expect(again.decoded[2]!.semantic!.dataSync()).toEqual(out.decoded[2]!.semantic!.dataSync());
    const logitsOnly = model.forwardTrain(images, { ...opts, fullResolution: false });
    logitsOnly.decoded.forEach((d, i) => {
      expect(d.maskLogitsFull).toBeNull();
      expect(d.semantic).toBeNull();
      expect(d.maskLogits.dataSync()).toEqual(out.decoded[i]!.maskLogits.dataSync());
      expect(d.classLogits.dataSync()).toEqual(out.decoded[i]!.classLogits.dataSync());
    });
    const other = model.forwardTrain(images, { ...opts, seed: 8 });
    expect(other.routeKept!.dataSync()).not.toEqual(out.routeKept!.dataSync());
    const none = model.forwardTrain(images, { policy: 'none' });
    expect(none.keep).toBeNull();
    expect(none.keepLogits).toBeNull();
    expect(none.routeKept).toBeNull();
    expect(() => model.forwardTrain(images, { route: { l: 3, n: 2 } })).toThrow(/route/);
    expect(() => model.forwardTrain(images, { route: { l: 2, n: 6 } })).toThrow(/route/);
    expect(() => model.forwardTrain(images, { tau: 0 })).toThrow(/tau/);
    expect(() => model.forwardTrain(images, { policy: 'x' as 'none' })).toThrow(/policy/);
    expect(() => model.forwardTrain(images, { seed: -1 })).toThrow(/seed/);
    model.dispose();
    images.dispose();
  });

  it('threshold θ (dynamic keep): the same noise, stricter θ keeps a subset; θ = 0.5 is the default; bad θ throws', () => {
    const { model, images } = setup();
    const stage0 = (theta?: number) => {
      const out = model.forwardTrain(images, { policy: 'ratio', seed: 5, ...(theta === undefined ? {} : { threshold: theta }) });
      return { keep: out.keep!.slice([0, 0, 0], [B, 1, Np]).dataSync(), logits: out.keepLogits!.slice([0, 0, 0, 0], [B, 1, Np, 2]).dataSync() };
    };
    const base = stage0(), half = stage0(0.5), lo = stage0(0.2), hi = stage0(0.8);
    expect(half.keep).toEqual(base.keep);
    expect(lo.logits).toEqual(base.logits); // θ moves the decision, not the stage-0 predictor
    const sum = (a: ArrayLike<number>) => Array.from(a).reduce((p, v) => p + v, 0);
    for (let i = 0; i < B * Np; i++) {
      expect(hi.keep[i]!).toBeLessThanOrEqual(base.keep[i]!);
      expect(base.keep[i]!).toBeLessThanOrEqual(lo.keep[i]!);
    }
    expect(sum(lo.keep)).toBeGreaterThan(sum(hi.keep));
    expect(() => model.forwardTrain(images, { threshold: 0 })).toThrow(/threshold/);
    expect(() => model.forwardTrain(images, { threshold: 1 })).toThrow(/threshold/);
    model.dispose();
    images.dispose();
  });

  it('no policy, no route: the final decode equals the unpruned inference forward', () => {
    const { model, images } = setup(4);
    const tr = model.forwardTrain(images, { policy: 'none' });
    const inf = model.forwardInference(images, { keep: null, perBlock: true, fused: false });
    tr.decoded.forEach((d, i) => expectClose(d.semantic!.dataSync(), inf.perBlock![i]!.semantic.dataSync(), 1e-5, 1e-4, `decode ${d.block}`));
    expectClose(tr.decoded[2]!.classLogits.dataSync(), inf.classLogits.dataSync(), 1e-5, 1e-4, 'classLogits');
    model.dispose();
    images.dispose();
  });

  for (const [l, n] of [[2, 3], [2, 4], [3, 4]] as const) {
    it(`route (${l}, ${n}): routed rows stay at their block ${l - 1} value; their gradient through blocks ${l}..${n} is cut`, () => {
      const { model, images } = setup(5);
      const opts: TrainOptions = { route: { l, n }, policy: 'ratio', seed: 11, trace: true };
      const out = model.forwardTrain(images, opts);
      const mask = routedMask(out.routeKept!);
      const after = out.patchTrace![n]!.dataSync(), before = out.patchTrace![l - 1]!.dataSync();
      let keptChanged = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < Np; t++) {
          for (let d = 0; d < CFG.D; d++) {
            const j = (b * Np + t) * CFG.D + d;
            if (mask[b * Np + t]) expect(after[j]).toBe(before[j]);
            else if (after[j] !== before[j]) keptChanged++;
          }
        }
      }
      expect(keptChanged).toBeGreaterThan(0);
      // inside the route the trace shows the kept rows moving and the routed rows stale
      for (let i = l; i < n; i++) {
        const mid = out.patchTrace![i]!.dataSync();
        for (let j = 0; j < mid.length; j++) if (mask[Math.floor(j / CFG.D)]) expect(mid[j]).toBe(before[j]);
      }

      const m = tf.tensor3d(mask, [B, Np, 1]);
      const c = tf.tensor3d(randn(B * Np * CFG.D, rng(9)), [B, Np, CFG.D]);
      const lossOn = (routed: boolean) => tf.variableGrads(() => {
        const o = model.forwardTrain(images, opts);
        const sel = routed ? m : tf.sub(1, m);
        return tf.sum(tf.mul(tf.mul(o.patchTrace![n]!, sel), c)) as tf.Scalar;
      });
      const gr = lossOn(true);
      const norm = (name: string, g: Record<string, tf.Tensor>) => {
        const t = g[model.weights[name]!.name];
        return t === undefined ? 0 : tf.norm(t).dataSync()[0]!;
      };
      for (let i = l; i <= n; i++) expect(norm(`blocks.${i}.attn.qkv.weight`, gr.grads) + norm(`blocks.${i}.mlp.fc2.weight`, gr.grads)).toBe(0);
      expect(norm(`blocks.${l - 1}.mlp.fc2.weight`, gr.grads)).toBeGreaterThan(0);
      const gk = lossOn(false);
      for (let i = l; i <= n; i++) expect(norm(`blocks.${i}.mlp.fc2.weight`, gk.grads)).toBeGreaterThan(0);
      tf.dispose([m, c, gr.value, gk.value, ...Object.values(gr.grads), ...Object.values(gk.grads), images]);
      model.dispose();
    });
  }

  it('a route that routes nothing (fraction 0) equals no route: queries join, policy restricted, predictors see the full map', () => {
    const { model, images } = setup(8);
    const base = model.forwardTrain(images, { policy: 'ratio', seed: 4 });
    // (3, 4) holds the first decode point (queries prepended inside the route); (1, 4) holds both stages
    for (const [l, n] of [[3, 4], [1, 4], [2, 5]] as const) {
      const r = model.forwardTrain(images, { route: { l, n, fraction: 0 }, policy: 'ratio', seed: 4 });
      expect(r.routeKept!.shape).toEqual([B, Np]);
      expect(r.keep!.dataSync()).toEqual(base.keep!.dataSync());
      r.decoded.forEach((d, i) => expectClose(d.semantic!.dataSync(), base.decoded[i]!.semantic!.dataSync(), 1e-6, 1e-5, `(${l},${n}) decode ${d.block}`));
    }
    model.dispose();
    images.dispose();
  });

  it('gradients reach the predictors through the straight-through policy and the head from every decode point', () => {
    const { model, images } = setup(6);
    const target = tf.tensor4d(new Float32Array(B * Hi * Wi).map((_, i) => (i % 7 < 3 ? 1 : 0)), [B, 1, Hi, Wi]);
    const { value, grads } = tf.variableGrads(() => {
      const o = model.forwardTrain(images, { route: { l: 2, n: 3 }, policy: 'ratio', seed: 2 });
      return tf.addN(o.decoded.map((d) => tf.mean(tf.square(tf.sub(d.semantic!, target))))) as tf.Scalar;
    });
    for (const s of [0, 1]) expect(tf.norm(grads[model.weights[`selectors.${s}.fc1.weight`]!.name]!).dataSync()[0]).toBeGreaterThan(0);
    expect(tf.norm(grads[model.weights['upscale.0.conv1.weight']!.name]!).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([value, target, images, ...Object.values(grads)]);
    model.dispose();
  });

  it('tf.memory() is stable over repeated train forward + backward', () => {
    const { model, images } = setup(7);
    const step = (t: number) => {
      const { value, grads } = tf.variableGrads(() => {
        const o = model.forwardTrain(images, { route: { l: 2, n: 2 + (t % 3) }, policy: 'ratio', seed: t });
        return tf.add(tf.mean(o.decoded[2]!.semantic!), tf.mean(o.keep!)) as tf.Scalar;
      });
      tf.dispose([value, ...Object.values(grads)]);
    };
    step(0);
    const before = tf.memory();
    for (let t = 1; t < 4; t++) step(t);
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    model.dispose();
    images.dispose();
  });

  it('a tiny model learns: BCE of the semantic map vs a fixed mask falls over 20 Adam steps', () => {
    const model = EomtModel.create(CFG, undefined, { seed: 1 });
    const images = tf.tensor4d(randn(B * 3 * Hi * Wi, rng(77)), [B, 3, Hi, Wi]);
    const target = tf.tensor4d(new Float32Array(B * Hi * Wi).map((_, i) => ((i % Wi) < Wi / 2 ? 1 : 0)), [B, 1, Hi, Wi]);
    const opt = tf.train.adam(3e-3);
    const losses: number[] = [];
    for (let t = 0; t < 20; t++) {
      const loss = opt.minimize(() => {
        const o = model.forwardTrain(images, { route: t % 2 ? { l: 2, n: 3 } : null, policy: 'ratio', seed: t });
        const sem = tf.clipByValue(o.decoded[o.decoded.length - 1]!.semantic!, 1e-6, 1 - 1e-6);
        const bce = tf.neg(tf.mean(tf.add(tf.mul(target, tf.log(sem)), tf.mul(tf.sub(1, target), tf.log(tf.sub(1, sem))))));
        return bce as tf.Scalar;
      }, true, model.variables())!;
      losses.push(loss.dataSync()[0]!);
      loss.dispose();
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    const first = (losses[0]! + losses[1]!) / 2, last = (losses[18]! + losses[19]!) / 2;
    expect(last).toBeLessThan(0.8 * first);
    opt.dispose();
    tf.dispose([images, target]);
    model.dispose();
  });
});
