/**
 * The native depthwise-conv kernels (src/tfjs/backend/depthwise.ts) against the stock TF.js cpu kernels:
 * forward and both gradients through tf.grads, NHWC, filters 1×1 / 3×3 / 5×5 / 3×5, 'same', 'valid',
 * numeric and explicit pads, odd and even sizes; plus the fallbacks (stride 2, dilation 2, channel
 * multiplier 2) that must give exactly the stock result.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { cpuReady, randT, stockVsNative } from './helpers.js';
import { useNativeBackend } from '../../src/tfjs/index.js';
import { native } from '../../src/native.js';
import { cpuVariants, threadCounts, withKernel } from '../reference/helpers.js';

beforeAll(async () => {
  await cpuReady();
});

function expectNear(a: Float32Array, b: Float32Array, tol: number): void {
  expect(a.length).toBe(b.length);
  let worst = 0, scale = 1;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  expect(worst).toBeLessThanOrEqual(tol * scale);
}

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
interface Case { B: number; H: number; W: number; C: number; fh: number; fw: number; pad: Pad }

const CASES: Case[] = [
  { B: 1, H: 1, W: 1, C: 1, fh: 3, fw: 3, pad: 'same' },
  { B: 2, H: 8, W: 8, C: 16, fh: 3, fw: 3, pad: 'same' },
  { B: 1, H: 7, W: 9, C: 5, fh: 3, fw: 3, pad: 'same' },
  { B: 2, H: 6, W: 5, C: 20, fh: 5, fw: 5, pad: 'same' },
  { B: 2, H: 4, W: 6, C: 3, fh: 4, fw: 2, pad: 'same' },
  { B: 1, H: 5, W: 4, C: 7, fh: 1, fw: 1, pad: 'same' },
  { B: 2, H: 7, W: 8, C: 9, fh: 3, fw: 3, pad: 'valid' },
  { B: 1, H: 9, W: 6, C: 4, fh: 5, fw: 5, pad: 'valid' },
  { B: 2, H: 6, W: 7, C: 2, fh: 3, fw: 5, pad: 'valid' },
  { B: 1, H: 5, W: 6, C: 6, fh: 3, fw: 3, pad: 1 },
  { B: 2, H: 4, W: 5, C: 3, fh: 3, fw: 3, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { B: 2, H: 32, W: 32, C: 12, fh: 3, fw: 3, pad: 'same' },
];

const name = (c: Case) => `B${c.B} ${c.H}x${c.W} C${c.C} f${c.fh}x${c.fw} pad ${JSON.stringify(c.pad)}`;

describe('DepthwiseConv2dNative (+ backprop input / filter) native vs stock', () => {
  it.each(CASES)('forward and gradients: %#', (c) => {
    const seed = c.H * 31 + c.W * 7 + c.C;
    const r = stockVsNative(() => {
      const x = randT([c.B, c.H, c.W, c.C], seed) as tf.Tensor4D;
      const w = randT([c.fh, c.fw, c.C, 1], seed + 1, 0.5) as tf.Tensor4D;
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, c.pad);
      const y = f(x, w);
      const dy = randT(y.shape, seed + 2);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a, b).mul(dy).sum())([x, w]);
      return [y, gx!, gw!];
    });
    expect(r.shapes[0]).toEqual([c.B, r.shapes[0]![1], r.shapes[0]![2], c.C]);
    for (let k = 0; k < 3; k++) {
      try {
        expectNear(r.native[k]!, r.stock[k]!, 1e-5);
      } catch (e) {
        throw new Error(`${name(c)}: output ${k}: ${String(e)}`);
      }
    }
  });

  it('every kernel variant and thread count (ref loops / AVX2) agrees with stock; the filter gradient is thread-count independent', () => {
    const cases = [CASES[1]!, CASES[3]!, CASES[10]!, CASES[11]!];
    for (const c of cases) {
      const seed = c.H * 13 + c.C;
      const run = () => stockVsNative(() => {
        const x = randT([c.B, c.H, c.W, c.C], seed) as tf.Tensor4D;
        const w = randT([c.fh, c.fw, c.C, 1], seed + 1, 0.5) as tf.Tensor4D;
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, c.pad);
        const dy = randT(f(x, w).shape, seed + 2);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a, b).mul(dy).sum())([x, w]);
        return [f(x, w), gx!, gw!];
      });
      for (const variant of cpuVariants()) {
        const perThreads = threadCounts().map((t) => withKernel(variant, t, run));
        for (const r of perThreads) for (let k = 0; k < 3; k++) expectNear(r.native[k]!, r.stock[k]!, 1e-5);
        expect(Array.from(perThreads[0]!.native[2]!)).toEqual(Array.from(perThreads[perThreads.length - 1]!.native[2]!));
      }
    }
  });

  it('bindings check every size and name the argument', () => {
    const n = native();
    const x = new Float32Array(2 * 4 * 4 * 3), w = new Float32Array(27), out = new Float32Array(2 * 4 * 4 * 3);
    expect(() => n.depthwiseConv(x, w, out, 2, 4, 4, 3, 3, 3, 1, 1, 4, 4, false)).not.toThrow();
    expect(() => n.depthwiseConv(x, w, out, 2, 4, 5, 3, 3, 3, 1, 1, 4, 4, false)).toThrow(/\bx\b/);
    expect(() => n.depthwiseConv(x, new Float32Array(26), out, 2, 4, 4, 3, 3, 3, 1, 1, 4, 4, false)).toThrow(/\bw\b/);
    expect(() => n.depthwiseConv(x, w, out, 2, 4, 4, 3, 3, 3, 1, 1, 5, 4, false)).toThrow(/out/);
    expect(() => n.depthwiseConv(x, w, x, 2, 4, 4, 3, 3, 3, 1, 1, 4, 4, false)).toThrow(/share memory/);
    expect(() => n.depthwiseConv(x, w, out, 2, 4, 4, 3, 3, 3, 1.5, 1, 4, 4, false)).toThrow(/top/);
    expect(() => n.depthwiseConv(x, w, out, 2, 4, 4, 3, 3, 3, -1e12, 1, 4, 4, false)).toThrow(/top/);
    expect(() => n.depthwiseConv(x, w, out, 2, 4, 4, 0, 3, 3, 1, 1, 4, 4, false)).toThrow(/\bC\b/);
    expect(() => n.depthwiseFilterGrad(x, out, w, 2, 4, 4, 3, 3, 3, 1, 1, 4, 4)).not.toThrow();
    expect(() => n.depthwiseFilterGrad(x, out, new Float32Array(9), 2, 4, 4, 3, 3, 3, 1, 1, 4, 4)).toThrow(/dw/);
    expect(() => n.depthwiseFilterGrad(x, new Float32Array(5), w, 2, 4, 4, 3, 3, 3, 1, 1, 4, 4)).toThrow(/dy/);
    // Offsets far outside the input are clamped, never dereferenced: the result is all zeros.
    const far = n.depthwiseConv(x.fill(1), w.fill(1), new Float32Array(out.length), 2, 4, 4, 3, 3, 3, -100, 100, 4, 4, true);
    expect(Array.from(far).every((v) => v === 0)).toBe(true);
    expect(() => (n.depthwiseConv as (...a: unknown[]) => unknown)(x, w, out, 2, 4, 4, 3, 3, 3, 1, 1, 4, 4)).toThrow(TypeError);
  });

  it('the native kernels are registered while useNativeBackend is on', () => {
    const names = useNativeBackend(true);
    try {
      expect(names).toEqual(expect.arrayContaining([tf.DepthwiseConv2dNative, tf.DepthwiseConv2dNativeBackpropInput, tf.DepthwiseConv2dNativeBackpropFilter]));
    } finally {
      useNativeBackend(false);
    }
  });

  it.each([
    ['stride 2', (x: tf.Tensor4D, w: tf.Tensor4D) => tf.depthwiseConv2d(x, w, 2, 'same'), 1],
    ['dilation 2', (x: tf.Tensor4D, w: tf.Tensor4D) => tf.depthwiseConv2d(x, w, 1, 'same', 'NHWC', 2), 1],
    ['channel multiplier 2', (x: tf.Tensor4D, w: tf.Tensor4D) => tf.depthwiseConv2d(x, w, 1, 'same'), 2],
  ] as const)('falls back to the stock kernel: %s (bit-identical)', (_n, f, mul) => {
    const r = stockVsNative(() => {
      const x = randT([2, 7, 6, 5], 11) as tf.Tensor4D;
      const w = randT([3, 3, 5, mul], 12) as tf.Tensor4D;
      const y = f(x, w);
      const list: tf.Tensor[] = [y];
      // Dilated depthwise convs have no TF.js gradient; the others go through both backprop kernels.
      if (_n !== 'dilation 2') {
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a as tf.Tensor4D, b as tf.Tensor4D).square().sum())([x, w]);
        list.push(gx!, gw!);
      }
      return list;
    });
    for (let k = 0; k < r.stock.length; k++) expect(Array.from(r.native[k]!)).toEqual(Array.from(r.stock[k]!));
  });

  it('int32 input falls back to the stock kernel', () => {
    // The op rejects int32; the kernel itself (reached through runKernel) must still behave as stock.
    const r = stockVsNative(() => tf.engine().runKernel(tf.DepthwiseConv2dNative,
      { x: tf.range(0, 18, 1, 'int32').reshape([1, 3, 3, 2]), filter: tf.ones([3, 3, 2, 1], 'int32') },
      { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 }) as tf.Tensor);
    expect(Array.from(r.native[0]!)).toEqual(Array.from(r.stock[0]!));
  });
});
