/**
 * SPEC §4 training losses in TF.js: ratio loss (eq. 2), policy loss (eq. 6), the Mask2Former set loss
 * with deep supervision. Hand-computed values, gradient flow, and finite differences (float32, 4-point).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { deepSupervisionLoss, matchOutput, policyLoss, ratioLoss, setLoss, setLossParts, type DecodedOutput } from '../../src/train/losses.js';
import type { ImageTargets, Match } from '../../src/train/matching.js';
import { rng, randn } from '../reference/helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

function fd(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, h = 1e-2): Float64Array {
  const base = x.dataSync().slice();
  const g = new Float64Array(base.length);
  const at = (i: number, d: number): number =>
    tf.tidy(() => {
      const v = base.slice();
      v[i] += d;
      return f(tf.tensor(v, x.shape, 'float32')).dataSync()[0];
    });
  for (let i = 0; i < base.length; i++) g[i] = (8 * (at(i, h) - at(i, -h)) - (at(i, 2 * h) - at(i, -2 * h))) / (12 * h);
  return g;
}

function expectGradClose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 2e-3, rtol = 2e-2): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i]), `grad[${i}] ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(atol + rtol * Math.abs(want[i]));
}

describe('ratioLoss (eq. 2)', () => {
  it('hand-computed value and gradient', () => {
    // B=2, S=2, N=4; means: b0 [.5, .25], b1 [1, .5]; rhos [.7, .49]
    // squares: .2² + .24² + .3² + .01² = .04 + .0576 + .09 + .0001 = .1877; / (B·S = 4) = .046925
    const keep = tf.tensor3d([1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0], [2, 2, 4]);
    const rhos = [0.7, 0.49];
    expect(ratioLoss(keep, rhos).dataSync()[0]).toBeCloseTo(0.046925, 6);
    // list form [B,N] per stage
    const stages = [tf.tensor2d([1, 1, 0, 0, 1, 1, 1, 1], [2, 4]), tf.tensor2d([1, 0, 0, 0, 1, 1, 0, 0], [2, 4])];
    expect(ratioLoss(stages, rhos).dataSync()[0]).toBeCloseTo(0.046925, 6);
    // d/dP_{b,s,τ} = −2 (ρ_s − mean_{b,s}) / (N · B · S)
    const g = tf.grad((k: tf.Tensor) => ratioLoss(k, rhos))(keep).dataSync();
    const dev = [0.2, 0.24, -0.3, -0.01];
    for (let i = 0; i < 16; i++) expect(g[i]).toBeCloseTo((-2 * dev[Math.floor(i / 4)]) / 16, 6);
    expect(() => ratioLoss(keep, [0.5])).toThrow(/rhos/);
  });

  it("over 'batch' (dynamic keep): only the batch mean per stage is held at ρ_s; value and gradient", () => {
    // same keep: batch means per stage s0 (.5 + 1)/2 = .75, s1 (.25 + .5)/2 = .375; rhos [.7, .49]
    // squares: .05² + .115² = .0025 + .013225 = .015725; / S = 2 -> .0078625
    const keep = tf.tensor3d([1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0], [2, 2, 4]);
    const rhos = [0.7, 0.49];
    expect(ratioLoss(keep, rhos, { over: 'batch' }).dataSync()[0]).toBeCloseTo(0.0078625, 7);
    // d/dP_{b,s,τ} = −2 (ρ_s − mean_s) / (B · N · S): the same for both images of a stage
    const g = tf.grad((k: tf.Tensor) => ratioLoss(k, rhos, { over: 'batch' }))(keep).dataSync();
    const dev = [-0.05, 0.115];
    for (let i = 0; i < 16; i++) expect(g[i]).toBeCloseTo((-2 * dev[Math.floor(i / 4) % 2]!) / 16, 7);
    // images far apart around the right mean: no loss over the batch, a loss per image
    const split = tf.tensor3d([1, 1, 1, 1, 0, 0, 0, 0], [2, 1, 4]);
    expect(ratioLoss(split, [0.5], { over: 'batch' }).dataSync()[0]).toBeCloseTo(0, 7);
    expect(ratioLoss(split, [0.5]).dataSync()[0]).toBeCloseTo(0.25, 7);
    expect(() => ratioLoss(keep, rhos, { over: 'pixel' as 'batch' })).toThrow(/over/);
  });
});

describe('policyLoss (eq. 6)', () => {
  it('hand-computed value, 1/B normalisation, gradient', () => {
    // B=1, N=2, S=2, T=[1,0]. stage 0 logits [0, ln3]: BCE = [ln 2, softplus(ln 3) = ln 4] -> mean 1.5 ln 2
    // stage 1 logits [0, 0]: mean ln 2.  L = 8 · 2.5 ln 2 = 20 ln 2
    const T = Float32Array.of(1, 0);
    const l0 = tf.tensor2d([0, Math.log(3)], [1, 2]);
    const l1 = tf.tensor2d([0, 0], [1, 2]);
    expect(policyLoss([l0, l1], T).dataSync()[0]).toBeCloseTo(20 * Math.log(2), 5);
    expect(policyLoss([l0, l1], T, 1).dataSync()[0]).toBeCloseTo(2.5 * Math.log(2), 5);
    // B=2 with the same row twice: λ/B Σ_b gives the same value
    const d0 = tf.tensor2d([0, Math.log(3), 0, Math.log(3)], [2, 2]);
    const d1 = tf.zeros([2, 2]);
    expect(policyLoss([d0, d1], Float32Array.of(1, 0, 1, 0)).dataSync()[0]).toBeCloseTo(20 * Math.log(2), 5);
    // d/dp = λ · (σ(p) − T) / (B·N): stage 1 at p = 0: 8·(.5 − 1)/2 = −2 and 8·(.5 − 0)/2 = 2 (exact at 0)
    const g = tf.grad((x: tf.Tensor) => policyLoss([l0, x], T))(l1).dataSync();
    expect(g[0]).toBeCloseTo(-2, 5);
    expect(g[1]).toBeCloseTo(2, 5);
    expect(() => policyLoss([l0], Float32Array.of(1))).toThrow(/target/);
    expect(() => policyLoss([l0, tf.zeros([1, 3])], T)).toThrow(/logits\[1\]/);
  });
});

describe('set loss (Mask2Former)', () => {
  // The matching test's tiny case: Q=2, C=1, mask 1x2, target [1,0] -> query 1 is matched.
  const cl = () => tf.tensor3d([0, 0, Math.log(3), 0], [1, 2, 2]);
  const ml = () => tf.tensor4d([0, 0, Math.log(3), -Math.log(3)], [1, 2, 1, 2]);
  const tg: ImageTargets[] = [{ labels: Int32Array.of(0), masks: Float32Array.of(1, 0) }];

  it('matching + loss on a tiny example by hand', () => {
    const p = setLossParts({ classLogits: cl(), maskLogits: ml() }, tg);
    expect([...p.matches[0].query]).toEqual([1]);
    // CE: q1 -> class 0, p = .75, w = 1; q0 -> no-object, p = .5, w = .1: (ln(4/3) + .1 ln 2) / 1.1
    const ce = (Math.log(4 / 3) + 0.1 * Math.log(2)) / 1.1;
    // BCE(q1): mean(−ln .75, −ln .75) = ln(4/3); Dice(q1) = 1 − (2·.75 + 1)/(1 + 1 + 1) = 1/6
    expect(p.ce.dataSync()[0]).toBeCloseTo(ce, 5);
    expect(p.bce.dataSync()[0]).toBeCloseTo(Math.log(4 / 3), 5);
    expect(p.dice.dataSync()[0]).toBeCloseTo(1 / 6, 5);
    expect(p.loss.dataSync()[0]).toBeCloseTo(2 * ce + 5 * Math.log(4 / 3) + 5 / 6, 5);
  });

  it('image without vessels: only the no-object CE; deep supervision sums the outputs', () => {
    const empty: ImageTargets[] = [{ labels: new Int32Array(0), masks: new Float32Array(0) }];
    const p = setLossParts({ classLogits: cl(), maskLogits: ml() }, empty);
    // both queries no-object: CE = .1(ln 2 + ln 4) / .2 = 1.5 ln 2
    expect(p.ce.dataSync()[0]).toBeCloseTo(1.5 * Math.log(2), 5);
    expect(p.loss.dataSync()[0]).toBeCloseTo(3 * Math.log(2), 5);
    const outs: DecodedOutput[] = [{ classLogits: cl(), maskLogits: ml() }, { classLogits: tf.zeros([1, 2, 2]), maskLogits: tf.zeros([1, 2, 1, 2]) }];
    const a = setLoss(outs[0], tg).dataSync()[0];
    const b = setLoss(outs[1], tg).dataSync()[0];
    expect(deepSupervisionLoss(outs, tg).dataSync()[0]).toBeCloseTo(a + b, 5);
  });

  it('gradients flow (finite, non-zero) and match finite differences (B=2, Q=3, C=2, 3x4 masks)', () => {
    const r = rng(21);
    const B = 2;
    const Q = 3;
    const C1 = 3;
    const h = 3;
    const w = 4;
    const clT = tf.tensor3d(randn(B * Q * C1, r), [B, Q, C1]);
    const mlT = tf.tensor4d(randn(B * Q * h * w, r, 2), [B, Q, h, w]);
    const mask = (seed: number) => Float32Array.from({ length: h * w }, (_, i) => ((i * 7 + seed) % 5 < 2 ? 1 : (i % 3) / 4));
    const targets: ImageTargets[] = [
      { labels: Int32Array.of(1, 0), masks: Float32Array.from([...mask(1), ...mask(3)]) },
      { labels: Int32Array.of(1), masks: mask(2) },
    ];
    const matches: Match[] = matchOutput({ classLogits: clT, maskLogits: mlT }, targets);
    // Fixed matching: the loss is then smooth in the logits.
    const f = (c: tf.Tensor, m: tf.Tensor) => setLoss({ classLogits: c, maskLogits: m }, targets, {}, matches);
    const [gc, gm] = tf.grads(f)([clT, mlT]).map((t) => t.dataSync());
    for (const g of [gc, gm]) {
      expect(g.every((v) => Number.isFinite(v))).toBe(true);
      expect(g.some((v) => v !== 0)).toBe(true);
    }
    expectGradClose(gc, fd((c) => f(c, mlT), clT));
    expectGradClose(gm, fd((m) => f(clT, m), mlT));
    // unmatched queries get no mask gradient
    const matched = new Set(matches.flatMap((mb, b) => [...mb.query].map((q) => b * Q + q)));
    for (let bq = 0; bq < B * Q; bq++) if (!matched.has(bq)) for (let p = 0; p < h * w; p++) expect(gm[bq * h * w + p]).toBe(0);
  });

  it('works under tf.variableGrads with matching inside, without leaking', () => {
    const r = rng(4);
    const v = tf.variable(tf.tensor4d(randn(12, r), [1, 3, 2, 2]));
    const c = tf.variable(tf.tensor3d(randn(6, r), [1, 3, 2]));
    const targets: ImageTargets[] = [{ labels: Int32Array.of(0), masks: Float32Array.of(1, 0, 0, 1) }];
    const step = () => {
      const { value, grads } = tf.variableGrads(() => deepSupervisionLoss([{ classLogits: c, maskLogits: v }, { classLogits: c, maskLogits: v }], targets));
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      expect(Object.keys(grads).length).toBe(2);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const before = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('errors', () => {
    expect(() => setLoss({ classLogits: tf.zeros([1, 2]), maskLogits: ml() }, tg)).toThrow(TypeError);
    expect(() => setLoss({ classLogits: cl(), maskLogits: tf.zeros([1, 3, 1, 2]) }, tg)).toThrow(/maskLogits/);
    expect(() => setLoss({ classLogits: cl(), maskLogits: ml() }, [...tg, ...tg])).toThrow(/batch/);
    expect(() => setLoss({ classLogits: cl(), maskLogits: ml() }, [{ labels: Int32Array.of(1), masks: Float32Array.of(1, 0) }])).toThrow(/labels/);
    expect(() => deepSupervisionLoss([], tg)).toThrow(RangeError);
  });
});
