/**
 * The other replaced kernels (src/tfjs/backend/elementwise.ts, softmax.ts) and the whole ViT block:
 * - native softmax (ops.h SoftmaxArgs) against the float64 reference, every variant x thread count;
 *   its argument errors;
 * - Add/Sub/Multiply/RealDiv with broadcasting, Sum over contiguous axes, Transpose: bit-identical to
 *   the stock kernels (same float64 arithmetic); Softmax to float32 tolerance; gradients through tf.grad;
 * - the ViT block (bench/tfjs/vitBlock.ts) forward + backward: native vs stock, and no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { softmaxRows } from '../../src/index.js';
import { useNativeBackend } from '../../src/tfjs/index.js';
import { native } from '../../src/native.js';
import { cpuVariants, expectClose, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { softmaxRef } from '../reference/softmax.js';
import { blockStep, disposeParams, makeBlockParams, vitBlock, type VitBlockConfig } from '../../bench/tfjs/vitBlock.js';
import { cpuReady, randT, stockVsNative } from './helpers.js';

beforeAll(cpuReady);

describe('softmax native kernel vs float64 reference', () => {
  const cases: Array<[number, number, number]> = [[1, 1, 1], [3, 7, 4], [5, 8, 1], [4, 17, 30], [2, 261, 8], [6 * 261, 261, 3]];
  for (const variant of cpuVariants())
    for (const threads of threadCounts())
      it(`${variant} threads=${threads}`, () => {
        for (const [R, C, scale] of cases) {
          const x = randn(R * C, rng(R * 31 + C), scale);
          const want = softmaxRef(x, R, C);
          const got = withKernel(variant, threads, () => softmaxRows({ data: x, shape: [R, C] }).data);
          expectClose(got, want, 1e-7, 2e-6, `${variant} R=${R} C=${C}`);
        }
      });

  it('results do not depend on the thread count', () => {
    const R = 700, C = 133;
    const x = randn(R * C, rng(5), 4);
    for (const variant of cpuVariants()) {
      const [a, b] = threadCounts().map((t) => withKernel(variant, t, () => softmaxRows({ data: x, shape: [R, C] }).data));
      expect(Array.from(a!)).toEqual(Array.from(b!));
    }
  });

  it('argument errors name the argument', () => {
    const x = new Float32Array(6);
    expect(() => softmaxRows({ data: x, shape: [2, 4] })).toThrow(RangeError);
    expect(() => softmaxRows({ data: new Int32Array(6) as unknown as Float32Array, shape: [2, 3] })).toThrow(/x/);
    expect(() => softmaxRows({ data: x, shape: [2, 3] }, new Float32Array(5))).toThrow(/out/);
    expect(() => native().softmax(x, x, 2, 3)).toThrow(/overlap|share memory/);
    expect(() => native().softmax(x, new Float32Array(6), 2, 4)).toThrow(/x/);
    expect(() => native().softmax(x, new Float32Array(6), 0, 3)).toThrow(/R/);
  });
});

describe('elementwise kernels: native vs stock', () => {
  const pairs: Array<[number[], number[]]> = [
    [[4, 5], [4, 5]], [[4, 5], []], [[], [4, 5]], [[2, 3, 7], [7]], [[2, 3, 7], [3, 1]], [[2, 1, 7], [1, 3, 1]],
    [[2, 3, 5, 5], [2, 3, 5, 1]], [[6, 1], [1, 9]], [[3, 1, 4, 1], [5, 1, 2]],
  ];
  for (const [sa, sb] of pairs)
    it(`Add/Sub/Mul/Div [${sa}] (op) [${sb}] bit-identical, with gradients`, () => {
      const r = stockVsNative(() => {
        const a = randT(sa, 1), b = tf.add(tf.abs(randT(sb, 2)), 0.5);
        const outs = [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b)];
        const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.div(tf.mul(tf.sub(x, y), tf.add(x, y)), y)))([a, b]);
        return [...outs, ...g];
      });
      r.native.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(r.stock[i]!)));
    });

  it('Sum over contiguous axes (keepDims both ways) bit-identical; non-contiguous falls back', () => {
    const r = stockVsNative(() => {
      const x = randT([3, 4, 5, 6], 3);
      return [tf.sum(x), tf.sum(x, -1), tf.sum(x, 0), tf.sum(x, [1, 2]), tf.sum(x, [0, 1], true), tf.sum(x, [2, 3], true), tf.sum(x, [0, 2]), tf.mean(x, -1)];
    });
    r.native.forEach((v, i) => expect(Array.from(v), `case ${i}`).toEqual(Array.from(r.stock[i]!)));
  });

  it('large Add/Sub/Mul/Div (native kernel) bit-identical to stock, every variant and thread count', () => {
    const pairs: Array<[number[], number[]]> = [
      [[2, 16, 16, 19], [2, 16, 16, 19]], [[2, 16, 16, 19], []], [[], [3, 70, 41]], [[2, 16, 13, 19], [19]], [[2, 16, 16, 19], [2, 16, 16, 1]],
      [[2, 1, 17, 51], [1, 3, 17, 1]], [[5000], [5000]], [[4, 1, 1100], [1, 3, 1]],
    ];
    const ops = (a: tf.Tensor, b: tf.Tensor) => [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b), tf.sub(b, a), tf.div(b, a)];
    for (const [sa, sb] of pairs) {
      const a = randT(sa, 21), b = tf.add(tf.abs(randT(sb, 22)), 0.25);
      useNativeBackend(false);
      const stock = tf.tidy(() => ops(a, b).map((t) => Float32Array.from(t.dataSync())));
      useNativeBackend(true);
      try {
        for (const variant of cpuVariants())
          for (const threads of threadCounts())
            withKernel(variant, threads, () => {
              const got = tf.tidy(() => ops(a, b).map((t) => Float32Array.from(t.dataSync())));
              got.forEach((v, i) => expect(Array.from(v), `${variant}/${threads} [${sa}] [${sb}] op ${i}`).toEqual(Array.from(stock[i]!)));
            });
      } finally {
        useNativeBackend(false);
        tf.dispose([a, b]);
      }
    }
  });

  it('binaryBroadcast binding: every extent is checked, errors name the argument', () => {
    const b = native();
    const a = new Float32Array(12), c = new Float32Array(4), out = new Float32Array(12);
    expect(Array.from(b.binaryBroadcast(0, a.fill(1), c.fill(2), out, [3, 4], [4, 1], [0, 1]))).toEqual(new Array(12).fill(3));
    expect(() => b.binaryBroadcast(4, a, c, out, [3, 4], [4, 1], [0, 1])).toThrow(/op/);
    expect(() => b.binaryBroadcast(0, a, c, out, [3, 5], [4, 1], [0, 1])).toThrow(/out/);
    expect(() => b.binaryBroadcast(0, a, c, out, [3, 4], [5, 1], [0, 1])).toThrow(/\ba\b.*largest offset/);
    expect(() => b.binaryBroadcast(0, a, c, out, [3, 4], [4, 1], [1, 1])).toThrow(/\bb\b.*largest offset/);
    expect(() => b.binaryBroadcast(0, a, c, out, [3, 4], [4, -1], [0, 1])).toThrow(/sa\[1\]/);
    expect(() => b.binaryBroadcast(0, a, c, out, [12, 1, 1, 1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0])).toThrow(/size/);
    expect(() => b.binaryBroadcast(0, a, c, out, [12], [1], [0, 1])).toThrow(/same length/);
    expect(() => b.binaryBroadcast(0, a, c, a, [12], [1], [0])).toThrow(/share memory/);
    expect(() => b.binaryBroadcast(0, a, c, out, [3, 4.5], [4, 1], [0, 1])).toThrow(/size\[1\]/);
    expect(() => b.binaryBroadcast(0, new Int32Array(12) as unknown as Float32Array, c, out, [12], [1], [0])).toThrow(/\ba\b/);
    expect(() => (b.binaryBroadcast as (...x: unknown[]) => unknown)(0, a, c, out, [12], [1])).toThrow(TypeError);
  });

  it('Mean over contiguous axes bit-identical to stock (x/n then Sum), with its gradient', () => {
    const r = stockVsNative(() => {
      const x = randT([2, 6, 5, 7], 11, 3);
      return [tf.mean(x), tf.mean(x, -1, true), tf.mean(x, 0), tf.mean(x, [1, 2]), tf.mean(x, [2, 3], true), tf.mean(x, [0, 3]),
        tf.grad((y: tf.Tensor) => tf.sum(tf.square(tf.mean(y, -1, true))))(x)];
    });
    r.native.forEach((v, i) => expect(Array.from(v), `case ${i}`).toEqual(Array.from(r.stock[i]!)));
  });

  it('Slice / SplitV / PadV2 (Slice gradient): boxes of every kind, bit-identical', () => {
    const r = stockVsNative(() => {
      const x = randT([2, 7, 5, 3], 12);
      const x3 = randT([2, 277, 6], 13);
      const outs: tf.Tensor[] = [
        tf.slice(x, [0, 0, 0, 0], [2, 7, 5, 3]), tf.slice(x, [1, 2, 1, 0], [1, 3, 4, 3]), tf.slice(x, [0, 3, 0, 0], [2, 4, 5, 3]),
        tf.slice(x, [0, 0, 0, 1], [2, 7, 5, 1]), tf.slice(x, [1, 6, 4, 2], [1, 1, 1, 1]), tf.slice(x, [0, 2, 0, 0], [-1, 2, -1, -1]),
        tf.slice(x3, [0, 21, 0], [2, 256, 6]), tf.slice(x, [0, 0, 0, 0], [2, 0, 5, 3]), tf.slice(randT([9], 14), [3], [4]),
        ...tf.split(x3, [16, 261], 1), ...tf.split(x3, [1, 4, -1], 1), ...tf.split(x, 7, 1), ...tf.split(x, [1, 2], 3),
        tf.pad(x, [[0, 1], [2, 0], [1, 1], [0, 0]]), tf.pad(x3, [[0, 0], [21, 0], [0, 0]], 0.5),
        tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tf.slice(y, [0, 1, 1, 0], [2, 5, 3, 2]), 3)))(x),
        tf.grad((y: tf.Tensor) => { const [a, b] = tf.split(y, [2, 5], 1); return tf.add(tf.sum(tf.square(a!)), tf.sum(b!)); })(x),
      ];
      return outs;
    });
    r.native.forEach((v, i) => {
      expect(r.shapes[i], `case ${i}`).toBeDefined();
      expect(Array.from(v), `case ${i}`).toEqual(Array.from(r.stock[i]!));
    });
  });

  it('Transpose: every permutation of a rank-4 tensor and rank 5, bit-identical', () => {
    const perms: number[][] = [];
    const rec = (p: number[]) => { if (p.length === 4) perms.push(p); else for (let i = 0; i < 4; i++) if (!p.includes(i)) rec([...p, i]); };
    rec([]);
    const r = stockVsNative(() => {
      const x = randT([2, 3, 4, 5], 4), y = randT([2, 5, 3, 2, 4], 5);
      return [...perms.map((p) => tf.transpose(x, p)), tf.transpose(y, [2, 0, 3, 1, 4])];
    });
    r.native.forEach((v, i) => expect(Array.from(v), `perm ${i}`).toEqual(Array.from(r.stock[i]!)));
  });

  it('Softmax forward and gradient, float32 tolerance', () => {
    const r = stockVsNative(() => {
      const x = randT([2, 3, 13, 29], 6, 3);
      const w = randT([2, 3, 13, 29], 7);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.softmax(t), w)))(x);
      return [tf.softmax(x), g, tf.softmax(randT([5], 8))];
    });
    r.native.forEach((v, i) => expectClose(v, r.stock[i]!, 1e-6, 1e-5, `softmax ${i}`));
  });
});

describe('ViT block (bench/tfjs/vitBlock.ts)', () => {
  const cfg: VitBlockConfig = { B: 2, N: 13, D: 24, H: 3 };

  it('forward + backward: native vs stock', () => {
    const r = stockVsNative(() => {
      const params = makeBlockParams(cfg, 3);
      const x = randT([cfg.B, cfg.N, cfg.D], 9);
      const out = vitBlock(x, params, cfg);
      const { loss, grads } = blockStep(x, params, cfg);
      const res = [out, loss, ...Object.keys(params).sort().map((k) => grads[k]!)];
      disposeParams(params);
      return res;
    });
    r.native.forEach((v, i) => expectClose(v, r.stock[i]!, 1e-5, 1e-3, `block output ${i}`));
  });

  it('no tensor leaks over repeated native forward + backward', () => {
    useNativeBackend();
    try {
      const params = makeBlockParams(cfg, 4);
      const x = randT([cfg.B, cfg.N, cfg.D], 10);
      const step = () => { const { loss, grads } = blockStep(x, params, cfg); tf.dispose([loss, ...Object.values(grads)]); };
      step();
      const n0 = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) step();
      expect(tf.memory().numTensors).toBe(n0);
      x.dispose();
      disposeParams(params);
    } finally {
      useNativeBackend(false);
    }
  });
});
