/**
 * tfops.layerNorm and tfops.gelu (the fused LayerNorm and exact GELU of the training graph, SPEC §2
 * numerics) through TF.js: values and gradients (tf.grads w.r.t. x, w, b) equal the stock TF.js composition
 * the model used before (tf.moments / tf.erf) on the cpu backend; a float32 finite-difference check; the
 * generic readSync/write path on wasm; empty tensors; the model's layers.ts picks the fused kernels on cpu
 * only; no leaks; validation errors name the argument.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { tfops } from '../../src/tfjs/index.js';
import { gelu as layersGelu, layerNorm as layersLayerNorm } from '../../src/model/tfjs/layers.js';
import { expectClose, randn, rng } from '../reference/helpers.js';
import { expectNoLeak, pick, samplePositions, tfFiniteDiff, useBackend } from './helpers.js';

// The stock compositions (layers.ts before the fused ops, and what it still runs off the cpu backend).
function stockLayerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), w), b);
}
function stockGelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

// Relative to the tensor's scale: the stock composition rounds differently (float32 throughout).
function expectNear(got: tf.Tensor, want: tf.Tensor, rel: number, what: string): void {
  const g = got.dataSync(), w = want.dataSync();
  let scale = 0;
  for (const v of w) scale = Math.max(scale, Math.abs(v));
  expect(got.shape, what).toEqual(want.shape);
  expectClose(g, w, rel * Math.max(scale, 1e-3), rel, what);
}

const LN_SHAPES = [[9], [3, 192], [2, 5, 7], [2, 4, 4, 13], [1, 1], [2, 277, 192]];

describe('tfops.layerNorm / tfops.gelu [cpu] vs the stock TF.js composition', () => {
  beforeAll(() => useBackend('cpu'));

  for (const shape of LN_SHAPES)
    it(`layerNorm ${JSON.stringify(shape)}: value and gradients w.r.t. x, w, b`, () => {
      const C = shape[shape.length - 1]!, n = shape.reduce((a, b) => a * b, 1);
      const r = rng(n + C);
      tf.tidy(() => {
        const x = tf.tensor(randn(n, r, 2), shape).add(0.7);
        const w = tf.tensor1d(randn(C, r)), b = tf.tensor1d(randn(C, r, 0.3)), dy = tf.tensor(randn(n, r), shape);
        for (const eps of [1e-6, 1e-2]) {
          expectNear(tfops.layerNorm(x, w, b, { eps }), stockLayerNorm(x, w, b, eps), 1e-5, `y eps=${eps}`);
          const loss = (f: typeof stockLayerNorm) => (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, ww, bb, eps), dy));
          const got = tf.grads(loss((xx, ww, bb, e) => tfops.layerNorm(xx, ww, bb, { eps: e })))([x, w, b]);
          const want = tf.grads(loss(stockLayerNorm))([x, w, b]);
          if (C === 1) {
            // dx = rstd (g - mean(g) - ...) = 0 in exact arithmetic; in float32 the rounding of g = dy w is
            // amplified by rstd = 1/sqrt(eps) (the compiler may fuse dy w into g - mean(g) in one pass only).
            const bound = 1e-6 * (1 / Math.sqrt(eps)) * tf.max(tf.abs(tf.mul(dy, w))).dataSync()[0]!;
            expectClose(got[0]!.dataSync(), want[0]!.dataSync(), bound, 0, 'dx (C=1)');
          } else {
            expectNear(got[0]!, want[0]!, 1e-5, 'dx');
          }
          expectNear(got[1]!, want[1]!, 1e-5, 'dw');
          expectNear(got[2]!, want[2]!, 1e-5, 'db');
        }
      });
    });

  for (const shape of [[], [7], [3, 200], [2, 4, 4, 9]])
    it(`gelu ${JSON.stringify(shape)}: value and gradient`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      tf.tidy(() => {
        const r = rng(n + 1);
        const x = tf.tensor(randn(n, r, 3), shape), dy = tf.tensor(randn(n, r), shape);
        expectNear(tfops.gelu(x), stockGelu(x), 1e-5, 'y');
        const loss = (f: (t: tf.Tensor) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(f(t), dy));
        expectNear(tf.grad(loss((t) => tfops.gelu(t)))(x), tf.grad(loss(stockGelu))(x), 1e-5, 'dx');
      });
    });

  it('float32 finite differences of the fused ops', () => {
    const r = rng(77);
    tf.tidy(() => {
      const x = tf.tensor(randn(3 * 6, r), [3, 6]), w = tf.tensor1d(randn(6, r)), b = tf.tensor1d(randn(6, r)), dy = tf.tensor(randn(18, r), [3, 6]);
      const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(tfops.gelu(tfops.layerNorm(xx, ww, bb)), dy));
      const [dx, dw, db] = tf.grads(f)([x, w, b]);
      const px = samplePositions(18, 8);
      expectClose(pick(dx!.dataSync(), px), pick(tfFiniteDiff((t) => f(t, w, b), x, px), px), 2e-3, 2e-3, 'dx');
      const pw = samplePositions(6, 6);
      expectClose(pick(dw!.dataSync(), pw), pick(tfFiniteDiff((t) => f(x, t, b), w, pw), pw), 2e-3, 2e-3, 'dw');
      expectClose(pick(db!.dataSync(), pw), pick(tfFiniteDiff((t) => f(x, w, t), b, pw), pw), 2e-3, 2e-3, 'db');
    });
  });

  it('empty tensors', () => {
    tf.tidy(() => {
      const y = tfops.layerNorm(tf.zeros([0, 4]), tf.ones([4]), tf.zeros([4]));
      expect(y.shape).toEqual([0, 4]);
      const [dx, dw] = tf.grads((x: tf.Tensor, w: tf.Tensor) => tf.sum(tfops.layerNorm(x, w, tf.zeros([4]))))([tf.zeros([0, 4]), tf.ones([4])]);
      expect(dx!.shape).toEqual([0, 4]);
      expect(Array.from(dw!.dataSync())).toEqual([0, 0, 0, 0]);
      expect(tfops.gelu(tf.zeros([2, 0])).shape).toEqual([2, 0]);
      expect(tf.grad((t: tf.Tensor) => tf.sum(tfops.gelu(t)))(tf.zeros([0])).shape).toEqual([0]);
    });
  });

  it('layers.ts runs the fused kernels on cpu (one kernel each way) and the same values', async () => {
    const x = tf.tensor(randn(2 * 5 * 8, rng(3)), [2, 5, 8]), w = tf.ones([8]), b = tf.zeros([8]);
    const prof = await tf.profile(() => tf.grads((t: tf.Tensor) => tf.sum(layersGelu(layersLayerNorm(t, w, b))))([x]));
    expect(prof.kernelNames).toContain('Reg4pruLayerNorm');
    expect(prof.kernelNames).toContain('Reg4pruLayerNormGrad');
    expect(prof.kernelNames).toContain('Reg4pruGelu');
    expect(prof.kernelNames).toContain('Reg4pruGeluGrad');
    expect(prof.kernelNames).not.toContain('Erf');
    expect(prof.kernelNames).not.toContain('Mean');
    (prof.result as tf.Tensor[]).forEach((t) => t.dispose());
    tf.dispose([x, w, b]);
  });

  it('no leaks through forward + backward', () => {
    const x = tf.tensor(randn(4 * 16, rng(5)), [4, 16]), w = tf.ones([16]), b = tf.zeros([16]);
    expectNoLeak(() => {
      tf.tidy(() => {
        tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tfops.gelu(tfops.layerNorm(a, c, d))))([x, w, b]);
      });
      tfops.layerNorm(x, w, b).dispose();
      tfops.gelu(x).dispose();
    });
    tf.dispose([x, w, b]);
  });

  it('validation names the argument', () => {
    tf.tidy(() => {
      const x = tf.zeros([2, 3]), w = tf.ones([3]);
      expect(() => tfops.layerNorm([1, 2] as unknown as tf.Tensor, w, w)).toThrow(/ x /);
      expect(() => tfops.layerNorm(tf.zeros([2, 3], 'int32'), w, w)).toThrow(TypeError);
      expect(() => tfops.layerNorm(tf.scalar(1), w, w)).toThrow(/rank >= 1/);
      expect(() => tfops.layerNorm(x, tf.ones([4]), w)).toThrow(RangeError);
      expect(() => tfops.layerNorm(x, tf.ones([4]), w)).toThrow(/ w /);
      expect(() => tfops.layerNorm(x, w, tf.ones([3, 1]))).toThrow(/ b /);
      expect(() => tfops.layerNorm(x, w, w, { eps: 0 })).toThrow(/eps/);
      expect(() => tfops.layerNorm(x, w, w, 3 as unknown as object)).toThrow(/opts/);
      expect(() => tfops.gelu(tf.zeros([2], 'int32'))).toThrow(/ x /);
      expect(() => tfops.gelu(undefined as unknown as tf.Tensor)).toThrow(TypeError);
    });
  });
});

describe('tfops.layerNorm / tfops.gelu [wasm]: the generic readSync/write path', () => {
  beforeAll(() => useBackend('wasm'));

  it('values and gradients equal the stock composition', () => {
    tf.tidy(() => {
      const r = rng(9);
      const x = tf.tensor(randn(3 * 10, r, 2), [3, 10]), w = tf.tensor1d(randn(10, r)), b = tf.tensor1d(randn(10, r)), dy = tf.tensor(randn(30, r), [3, 10]);
      const f = (ln: typeof stockLayerNorm, g: typeof stockGelu) => (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(g(ln(a, c, d, 1e-6)), dy));
      const got = tf.grads(f((a, c, d, eps) => tfops.layerNorm(a, c, d, { eps }), (t) => tfops.gelu(t)))([x, w, b]);
      const want = tf.grads(f(stockLayerNorm, stockGelu))([x, w, b]);
      for (let i = 0; i < 3; i++) expectNear(got[i]!, want[i]!, 1e-5, ['dx', 'dw', 'db'][i]!);
    });
  });

  it('layers.ts keeps the stock composition off the cpu backend', async () => {
    const x = tf.ones([2, 8]), w = tf.ones([8]), b = tf.zeros([8]);
    const prof = await tf.profile(() => layersGelu(layersLayerNorm(x, w, b)));
    expect(prof.kernelNames).not.toContain('Reg4pruLayerNorm');
    expect(prof.kernelNames).not.toContain('Reg4pruGelu');
    (prof.result as tf.Tensor).dispose();
    tf.dispose([x, w, b]);
  });
});
