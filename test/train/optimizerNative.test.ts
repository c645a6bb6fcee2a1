/**
 * The native in-place optimiser updates (src/ops/optimizerStep.ts, kernels/optimizer_step.h): adamwStep and
 * emaStep against a float64 reference written here, AdamW / Ema with the native path against the same classes
 * with `native: false` (the TF.js composition) bit for bit over several steps (decay and no-decay parameters,
 * LLRD, a zero-lr warm-up step, a zero gradient), storage shared with other tensors left untouched, and the
 * errors of both the TS wrapper and the binding.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { adamwStep, emaStep } from '../../src/ops/optimizerStep.js';
import { AdamW, Ema, useNativeBackend } from '../../src/tfjs/index.js';
import { randn, rng } from '../reference/helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});

// float64 AdamW (PyTorch's formula) on copies; returns the new p, m, v.
function adamwRef(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, o: { lr: number; b1: number; b2: number; eps: number; wd: number; decay: boolean; t: number }) {
  const n = p.length, P = new Float64Array(n), M = new Float64Array(n), V = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    M[i] = o.b1 * m[i]! + (1 - o.b1) * g[i]!;
    V[i] = o.b2 * v[i]! + (1 - o.b2) * g[i]! * g[i]!;
    const mh = M[i]! / (1 - o.b1 ** o.t), vh = V[i]! / (1 - o.b2 ** o.t);
    P[i] = (o.decay ? 1 - o.lr * o.wd : 1) * p[i]! - o.lr * mh / (Math.sqrt(vh) + o.eps);
  }
  return { P, M, V };
}

// Largest |a - b| / (|b| + 0.1 max|b|): relative where the values are of the array's scale, absolute (against
// that scale) where a moment cancels towards 0.
function maxRel(a: Float32Array, b: Float64Array): number {
  let scale = 0, worst = 0;
  for (const x of b) scale = Math.max(scale, Math.abs(x));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + 0.1 * scale));
  return worst;
}

describe('adamwStep / emaStep (native, in place)', () => {
  it('adamwStep matches a float64 AdamW over three steps (odd length, decay on and off)', () => {
    const r = rng(5);
    for (const decay of [true, false]) {
      const n = 1037;
      const p = randn(n, r), m = new Float32Array(n), v = new Float32Array(n);
      let P = Float64Array.from(p), M = new Float64Array(n), V = new Float64Array(n);
      for (let t = 1; t <= 3; t++) {
        const g = randn(n, r);
        const o = { lr: 0.01 * t, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.05, decay, t };
        const ref = adamwRef(Float32Array.from(P), g, Float32Array.from(M), Float32Array.from(V), o);
        adamwStep(p, g, m, v, { lr: o.lr, beta1: o.b1, beta2: o.b2, eps: o.eps, weightDecay: o.wd, decay, t });
        ({ P, M, V } = ref);
        expect(maxRel(m, M)).toBeLessThan(1e-5);
        expect(maxRel(v, V)).toBeLessThan(1e-5);
        expect(maxRel(p, P)).toBeLessThan(1e-5);
      }
    }
  });

  it('lr = 0 advances the moments and leaves p as it is', () => {
    const r = rng(6);
    const p = randn(40, r), p0 = p.slice(), m = new Float32Array(40), v = new Float32Array(40), g = randn(40, r);
    adamwStep(p, g, m, v, { lr: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, decay: true, t: 1 });
    expect(p).toEqual(p0);
    expect(m[3]).toBeCloseTo(0.1 * g[3]!, 6);
  });

  it('emaStep matches e = d e + (1 - d) p', () => {
    const r = rng(7);
    const e = randn(333, r), p = randn(333, r), e0 = e.slice();
    emaStep(e, p, 0.75);
    for (const i of [0, 17, 332]) expect(e[i]).toBeCloseTo(0.75 * e0[i]! + 0.25 * p[i]!, 6);
  });

  it('errors name the argument, in the wrapper and at the binding', () => {
    const a = new Float32Array(8), b = new Float32Array(8), c = new Float32Array(8), d = new Float32Array(8);
    const o = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, decay: true, t: 1 };
    expect(() => adamwStep(a, b, c, new Float32Array(7), o)).toThrow(/adamwStep: expected v to have 8 elements/);
    expect(() => adamwStep(a, [1] as unknown as Float32Array, c, d, o)).toThrow(TypeError);
    expect(() => adamwStep(a, b, c, d, { ...o, t: 0 })).toThrow(/expected t to be an integer >= 1/);
    expect(() => adamwStep(a, b, c, d, { ...o, lr: Number.NaN })).toThrow(/expected lr/);
    expect(() => adamwStep(a, b, a, d, o)).toThrow(/not to share memory/);
    expect(() => emaStep(a, b, 1.5)).toThrow(/expected d in \[0, 1\]/);
    expect(() => emaStep(a, a, 0.5)).toThrow(/not to share memory/);
    const n = native();
    expect(() => n.adamwStep(a, b, c, d, 9, 0.9, 0.1, 0.999, 0.001, 0.1, 0.001, 1e-8, 1e-3, 1, true)).toThrow(/adamwStep: expected p to have 9 elements/);
    expect(() => n.adamwStep(a, b, c, d, 8, 0.9, 0.1, 0.999, 0.001, 0, 0.001, 1e-8, 1e-3, 1, true)).toThrow(/expected bc1 to be a finite number > 0/);
    expect(() => n.adamwStep(a, b, c, d, 8, 0.9, 0.1, 0.999, 0.001, 0.1, 0.001, 1e-8, 1e40, 1, true)).toThrow(/expected lr to be a finite number/);
    expect(() => n.adamwStep(a, b, c, c.subarray(2), 8, 0.9, 0.1, 0.999, 0.001, 0.1, 0.001, 1e-8, 1e-3, 1, true)).toThrow(RangeError);
    expect(() => (n.emaStep as unknown as (...a: unknown[]) => void)(a, b, 8, 0.5)).toThrow(/emaStep/);
  });
});

describe('AdamW / Ema: native path = TF.js composition', () => {
  const names = ['blocks.2.mlp.fc1.weight', 'blocks.2.norm1.bias', 'class_head.weight', 'pos_embed'];
  const shapes: number[][] = [[12, 7], [7], [3, 7], [1, 5, 7]];

  function setup(nativePath: boolean) {
    const r = rng(11);
    const params = Object.fromEntries(names.map((n, i) => [n, tf.variable(tf.tensor(randn(shapes[i]!.reduce((a, b) => a * b, 1), r), shapes[i]), true)]));
    const opt = new AdamW(params, { schedule: { lr: 0.05, warmup: [1, 2], totalSteps: 8, power: 0.9 }, weightDecay: 0.05, llrd: 0.7, L: 4, native: nativePath });
    const ema = new Ema(params, { decay: 0.9, native: nativePath });
    return { params, opt, ema };
  }

  it('bit-identical weights, moments and EMA over four steps (a zero-lr warm-up step, a zero gradient)', () => {
    const runs = [true, false].map((nativePath) => {
      const s = setup(nativePath);
      const r = rng(12);
      for (let step = 0; step < 4; step++) {
        const grads = Object.fromEntries(names.map((n, i) => [n, step === 2 && i === 1 ? tf.zeros(shapes[i]!) : tf.tensor(randn(shapes[i]!.reduce((a, b) => a * b, 1), r), shapes[i])]));
        s.opt.apply(grads);
        s.ema.update();
        tf.dispose(Object.values(grads));
      }
      const out = {
        p: names.map((n) => Float32Array.from(s.params[n]!.dataSync())),
        e: names.map((n) => Float32Array.from(s.ema.get(n)!.dataSync())),
        m: s.opt.exportState().m,
      };
      s.opt.dispose();
      s.ema.dispose();
      tf.dispose(Object.values(s.params));
      return out;
    });
    const [nat, comp] = runs;
    for (let i = 0; i < names.length; i++) {
      expect(nat!.p[i]).toEqual(comp!.p[i]);
      expect(nat!.e[i]).toEqual(comp!.e[i]);
      expect(nat!.m[names[i]!]).toEqual(comp!.m[names[i]!]);
    }
    // the weights did move (the comparison is not between two untouched copies)
    expect(nat!.p[0]).not.toEqual(nat!.e[0]);
  });

  it('storage shared with other tensors is left untouched (a clone of a weight, the EMA shadow)', () => {
    const p = tf.variable(tf.tensor1d([1, 2, 3, 4]), true);
    const held = p.clone(); // shares p's array in the cpu backend
    const opt = new AdamW({ 'class_head.weight': p }, { schedule: { lr: 0.1, warmup: [0, 0], totalSteps: 4 }, L: 2 });
    const ema = new Ema({ 'class_head.weight': p }, { decay: 0.5, warmup: false }); // its shadow starts as a clone of p
    const g = tf.tensor1d([1, -1, 1, -1]);
    opt.apply({ 'class_head.weight': g });
    expect(Array.from(held.dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(ema.get('class_head.weight')!.dataSync())).toEqual([1, 2, 3, 4]);
    const moved = Array.from(p.dataSync());
    expect(moved).not.toEqual([1, 2, 3, 4]);
    ema.update();
    const e = Array.from(ema.get('class_head.weight')!.dataSync());
    expect(e[0]).toBeCloseTo(0.5 * 1 + 0.5 * moved[0]!, 6);
    expect(Array.from(p.dataSync())).toEqual(moved); // the EMA update reads p and leaves it alone
    tf.dispose([p, held, g]);
    opt.dispose();
    ema.dispose();
  });
});
