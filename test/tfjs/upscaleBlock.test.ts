/**
 * tfops.upscaleBlock, the fused EoMT scale-block training op (SPEC §2: ConvTranspose2d 2x2/2 → GELU → depthwise 3x3
 * → LayerNorm2d), on the cpu backend: the forward and every gradient (x and all five weights) against the stock TF.js
 * composition (upscaleComposed, the model's non-fused path, with stock LayerNorm / GELU) on odd shapes, C != O, B > 1,
 * every CPU kernel variant, bit-identical across thread counts; the native forward against the float64 reference and
 * the native backward against float64 central differences of it; errors that name the argument at both layers; no leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tfops } from '../../src/tfjs/index.js';
import { native } from '../../src/native.js';
import { setModelFusion } from '../../src/model/tfjs/layers.js';
import { upscaleComposed, type UpscaleWeights } from '../../src/model/tfjs/upscale.js';
import { UPSCALE_WEIGHT_NAMES, upscaleBlock, upscaleBlockBackward, upscaleBlockSavedFloats, type UpscaleBlockWeights } from '../../src/ops/upscaleBlock.js';
import type { F32Tensor } from '../../src/validate.js';
import { upscaleBlockRef, type UpscaleRefWeights } from '../reference/upscaleBlock.js';
import { cpuVariants, expectClose, finiteDiff, randn, randu, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { expectNoLeak, useBackend } from './helpers.js';

interface Case { B: number; h: number; w: number; C: number; O: number }
const CASES: Case[] = [
  { B: 2, h: 3, w: 5, C: 4, O: 6 },
  { B: 1, h: 1, w: 1, C: 3, O: 2 },
  { B: 2, h: 5, w: 3, C: 17, O: 12 },
  { B: 1, h: 4, w: 6, C: 24, O: 40 },
  { B: 2, h: 7, w: 9, C: 32, O: 48 }, // big enough that every kernel splits its work across threads
];

const SHAPES = (c: Case): Record<string, number[]> => ({
  'conv1.weight': [c.C, c.O, 2, 2], 'conv1.bias': [c.O], 'conv2.weight': [c.O, 1, 3, 3], 'norm.weight': [c.O], 'norm.bias': [c.O],
});

// Plain arrays of a case: x, dy and the five weights (LayerNorm scale around 1, conv weights ~ 1/sqrt(fan-in)).
function makeArrays(c: Case, seed: number): { x: Float32Array; dy: Float32Array; w: Record<string, Float32Array> } {
  const r = rng(seed);
  const w: Record<string, Float32Array> = {
    'conv1.weight': randn(c.C * c.O * 4, r, 1 / Math.sqrt(c.C)), 'conv1.bias': randn(c.O, r, 0.2),
    'conv2.weight': randn(c.O * 9, r, 1 / 3), 'norm.weight': randu(c.O, r, 0.6, 1.4), 'norm.bias': randn(c.O, r, 0.2),
  };
  return { x: randn(c.B * c.h * c.w * c.C, r), dy: randn(4 * c.B * c.h * c.w * c.O, r), w };
}

interface Inputs { x: tf.Tensor4D; dy: tf.Tensor4D; w: UpscaleWeights }
function makeInputs(c: Case, seed: number): Inputs {
  const a = makeArrays(c, seed);
  const w = {} as Record<string, tf.Tensor>;
  for (const n of UPSCALE_WEIGHT_NAMES) w[n] = tf.tensor(a.w[n]!, SHAPES(c)[n], 'float32');
  return { x: tf.tensor4d(a.x, [c.B, c.h, c.w, c.C]), dy: tf.tensor4d(a.dy, [c.B, 2 * c.h, 2 * c.w, c.O]), w: w as UpscaleWeights };
}

function dispose(inp: Inputs): void {
  tf.dispose([inp.x, inp.dy, ...Object.values(inp.w)]);
}

type UpFn = (x: tf.Tensor4D, w: UpscaleWeights) => tf.Tensor4D;
const fused: UpFn = (x, w) => tfops.upscaleBlock(x, w);
// The stock composition all the way down (stock LayerNorm and GELU too), so the reference shares no native code.
const composed: UpFn = (x, w) => {
  const prev = setModelFusion({ layers: false });
  try {
    return upscaleComposed(x, w);
  } finally {
    setModelFusion(prev);
  }
};

// y and the gradients of sum(y * dy) w.r.t. x and the five weights, as plain arrays.
function valueAndGrads(f: UpFn, inp: Inputs): Float32Array[] {
  return tf.tidy(() => {
    const args: tf.Tensor[] = [inp.x, ...UPSCALE_WEIGHT_NAMES.map((n) => inp.w[n])];
    const run = (...t: tf.Tensor[]) => {
      const w = {} as Record<string, tf.Tensor>;
      UPSCALE_WEIGHT_NAMES.forEach((n, i) => (w[n] = t[i + 1]!));
      return f(t[0] as tf.Tensor4D, w as UpscaleWeights);
    };
    const y = run(...args);
    const g = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(run(...t), inp.dy)))(args);
    return [y, ...g].map((t) => t.dataSync() as Float32Array);
  });
}

const LABELS = ['y', 'dx', ...UPSCALE_WEIGHT_NAMES.map((n) => `d[${n}]`)];

// Relative to the array's scale (float32 rounding differs between the paths).
function expectNearArr(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): void {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  expect(got.length, what).toBe(want.length);
  expectClose(got, want, rel * Math.max(scale, 1e-3), rel, what);
}

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('tfops.upscaleBlock [cpu] vs the stock TF.js composition', () => {
  beforeAll(() => useBackend('cpu'));

  for (const [ci, c] of CASES.entries())
    it(`B=${c.B} h=${c.h} w=${c.w} C=${c.C} O=${c.O}: y and every gradient, every variant, thread-independent`, () => {
      const inp = makeInputs(c, 11 + ci);
      try {
        const want = withKernel('ref', 1, () => valueAndGrads(composed, inp));
        for (const variant of cpuVariants()) {
          const perThreads = threadCounts().map((t) => withKernel(variant, t, () => valueAndGrads(fused, inp)));
          const got = perThreads[0]!;
          got.forEach((g, i) => expectNearArr(g, want[i]!, 2e-4, `${variant} ${LABELS[i]}`));
          for (const other of perThreads.slice(1))
            other.forEach((g, i) => expect(bitsEqual(g, got[i]!), `${variant} ${LABELS[i]} bit-identical across threads`).toBe(true));
        }
      } finally {
        dispose(inp);
      }
    });

  it('no leaks (forward + gradient)', () => {
    const inp = makeInputs(CASES[0]!, 9);
    try {
      expectNoLeak(() => void valueAndGrads(fused, inp));
      expectNoLeak(() => tfops.upscaleBlock(inp.x, inp.w).dispose());
    } finally {
      dispose(inp);
    }
  });

  it('errors name the op and the argument (TF.js layer)', () => {
    const c = CASES[0]!;
    const inp = makeInputs(c, 3);
    try {
      const { x, w } = inp;
      expect(() => tfops.upscaleBlock(x.reshape([c.B, c.h * c.w, c.C]) as unknown as tf.Tensor4D, w)).toThrow(/upscaleBlock: expected x to be a tf.Tensor float32 \[B,h,w,C\]/);
      expect(() => tfops.upscaleBlock(x.toInt(), w)).toThrow(TypeError);
      const { ['norm.bias']: _drop, ...missing } = w;
      expect(() => tfops.upscaleBlock(x, missing as UpscaleWeights)).toThrow(/upscaleBlock: expected weights\['norm.bias'\]/);
      expect(() => tfops.upscaleBlock(x, { ...w, 'conv2.weight': tf.zeros([c.O, 3, 3]) })).toThrow(/weights\['conv2.weight'\]/);
      expect(() => tfops.upscaleBlock(x, { ...w, 'conv1.weight': tf.zeros([c.C + 1, c.O, 2, 2]) })).toThrow(RangeError);
      expect(() => tfops.upscaleBlock(x, { ...w, 'conv1.weight': tf.zeros([c.C + 1, c.O, 2, 2]) })).toThrow(/weights\['conv1.weight'\]/);
      expect(() => tfops.upscaleBlock(x, { ...w, 'norm.weight': tf.zeros([c.O + 1]) })).toThrow(/weights\['norm.weight'\]/);
      expect(() => tfops.upscaleBlock(x, w, { lnEps: 0 })).toThrow(/upscaleBlock: .*lnEps/);
      expect(() => tfops.upscaleBlock(x, null as unknown as UpscaleWeights)).toThrow(/upscaleBlock: expected weights/);
    } finally {
      dispose(inp);
    }
  });
});

describe('tfops.upscaleBlock [wasm]: the generic readSync/write path', () => {
  beforeAll(() => useBackend('wasm'));
  afterAll(() => useBackend('cpu'));

  it('y and every gradient equal the cpu backend\'s (the same native kernels)', async () => {
    const run = () => {
      const inp = makeInputs(CASES[0]!, 31);
      try {
        return valueAndGrads(fused, inp);
      } finally {
        dispose(inp);
      }
    };
    const wasm = run();
    await useBackend('cpu');
    const cpu = run();
    wasm.forEach((g, i) => expect(bitsEqual(g, cpu[i]!), LABELS[i]).toBe(true));
  });
});

describe('upscaleBlock (typed arrays) vs the float64 reference', () => {
  const c: Case = { B: 2, h: 3, w: 5, C: 4, O: 6 };
  const a = makeArrays(c, 21);
  const tensors = (): { x: F32Tensor; w: UpscaleBlockWeights } => {
    const w = {} as Record<string, F32Tensor>;
    for (const n of UPSCALE_WEIGHT_NAMES) w[n] = { data: a.w[n]!, shape: SHAPES(c)[n]! };
    return { x: { data: a.x, shape: [c.B, c.h, c.w, c.C] }, w: w as UpscaleBlockWeights };
  };
  const KEYS: Record<string, keyof UpscaleRefWeights> = { 'conv1.weight': 'w1', 'conv1.bias': 'b1', 'conv2.weight': 'w2', 'norm.weight': 'nw', 'norm.bias': 'nb' };
  const x64 = Float64Array.from(a.x);
  const w64 = {} as Record<keyof UpscaleRefWeights, Float64Array>;
  for (const n of UPSCALE_WEIGHT_NAMES) w64[KEYS[n]!] = Float64Array.from(a.w[n]!);
  const loss = (x: ArrayLike<number>, w: UpscaleRefWeights): number => {
    const y = upscaleBlockRef(x, w, c.B, c.h, c.w, c.C, c.O, 1e-6);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i]! * a.dy[i]!;
    return s;
  };
  // every element of dx and of each weight gradient, by float64 central differences (computed once)
  const fd: Record<string, Float64Array> = {};
  beforeAll(() => {
    fd.dx = finiteDiff((v) => loss(v, w64), x64, 1e-5);
    for (const n of UPSCALE_WEIGHT_NAMES) fd[n] = finiteDiff((v) => loss(x64, { ...w64, [KEYS[n]!]: v }), w64[KEYS[n]!], 1e-5);
  });

  for (const variant of cpuVariants())
    it(`${variant}: forward and every gradient (odd h, w; C != O; B = 2)`, () => {
      withKernel(variant, 2, () => {
        const { x, w } = tensors();
        const { y, saved } = upscaleBlock(x, w);
        expectNearArr(y.data, upscaleBlockRef(a.x, w64, c.B, c.h, c.w, c.C, c.O, 1e-6), 1e-5, `${variant} y`);
        const g = upscaleBlockBackward({ data: a.dy, shape: [c.B, 2 * c.h, 2 * c.w, c.O] }, x, w, saved);
        expectNearArr(g.dx.data, fd.dx!, 2e-5, `${variant} dx`);
        for (const n of UPSCALE_WEIGHT_NAMES) {
          expect(g.grads[n].shape).toEqual(SHAPES(c)[n]);
          expectNearArr(g.grads[n].data, fd[n]!, 2e-5, `${variant} d[${n}]`);
        }
      });
    });

  it('errors name the op and the argument (TS layer and C++ boundary)', () => {
    const { x, w } = tensors();
    const { B, h, w: wd, C, O } = c;
    expect(() => upscaleBlock({ data: a.x, shape: [B, h, wd] }, w)).toThrow(/upscaleBlock: expected x to be float32 \[B,h,w,C\]/);
    expect(() => upscaleBlock(x, { ...w, 'conv1.bias': { data: new Float32Array(O + 1), shape: [O + 1] } })).toThrow(/weights\['conv1.weight'\]/);
    expect(() => upscaleBlock(x, w, { lnEps: -1 })).toThrow(RangeError);
    const { saved } = upscaleBlock(x, w);
    const dy = { data: a.dy, shape: [B, 2 * h, 2 * wd, O] };
    expect(() => upscaleBlockBackward({ data: a.dy, shape: [B, 2 * h, 2 * wd + 1, O] }, x, w, saved)).toThrow(/upscaleBlockBackward: expected dy/);
    expect(() => upscaleBlockBackward(dy, x, w, { data: new Float32Array(3), shape: [3] })).toThrow(/upscaleBlockBackward: expected saved/);

    const nb = native();
    const S = upscaleBlockSavedFloats(c);
    const y = new Float32Array(4 * B * h * wd * O);
    const args = (over: Partial<Record<string, unknown>> = {}) => {
      const d = { x: a.x, w: a.w, y, saved: new Float32Array(S), B, h, wd, C, O, eps: 1e-6, ...over };
      return [d.x, d.w, d.y, d.saved, d.B, d.h, d.wd, d.C, d.O, d.eps] as Parameters<typeof nb.upscaleBlock>;
    };
    expect(() => nb.upscaleBlock(...args({ saved: new Float32Array(S - 1) }))).toThrow(/upscaleBlock: expected saved/);
    expect(() => nb.upscaleBlock(...args({ C: C + 1 }))).toThrow(/upscaleBlock: expected weights\['conv1.weight'\]/);
    expect(() => nb.upscaleBlock(...args({ y: a.x }))).toThrow(RangeError);
    expect(() => nb.upscaleBlock(...args({ eps: 0 }))).toThrow(/lnEps/);
    expect(() => nb.upscaleBlock(...args({ w: { ...a.w, 'norm.bias': new Float64Array(O) } }))).toThrow(TypeError);
    expect(() => nb.upscaleBlock(...args({ w: { ...a.w, 'norm.bias': undefined } }))).toThrow(/weights\['norm.bias'\]/);
    const sharedSaved = new Float32Array(S);
    expect(() => nb.upscaleBlock(...args({ saved: sharedSaved, y: sharedSaved.subarray(0, y.length) }))).toThrow(/y and saved not to share memory/);
    const big = new Float32Array(y.length);
    big.set(a.w['conv1.weight']!);
    expect(() => nb.upscaleBlock(...args({ y: big, w: { ...a.w, 'conv1.weight': big.subarray(0, C * O * 4) } }))).toThrow(/y and weights\['conv1.weight'\] not to share memory/);
    const saved2 = new Float32Array(S);
    nb.upscaleBlock(...args({ saved: saved2 }));
    const grads: Record<string, Float32Array> = {};
    for (const n of UPSCALE_WEIGHT_NAMES) grads[n] = new Float32Array(a.w[n]!.length);
    const dx = new Float32Array(a.x.length);
    nb.upscaleBlockBackward(a.dy, a.x, a.w, saved2, dx, grads, B, h, wd, C, O);
    expect(dx.some((v) => v !== 0)).toBe(true);
    expect(() => nb.upscaleBlockBackward(a.dy, a.x, a.w, saved2, dx, { ...grads, 'conv2.weight': new Float32Array(3) }, B, h, wd, C, O)).toThrow(/upscaleBlockBackward: expected grads\['conv2.weight'\]/);
    expect(() => nb.upscaleBlockBackward(a.dy, a.x, a.w, saved2, dx, { ...grads, 'norm.weight': a.w['norm.weight']! }, B, h, wd, C, O)).toThrow(/share memory/);
    expect(() => nb.upscaleBlockBackward(a.dy, a.x, a.w, saved2, saved2.subarray(0, dx.length), grads, B, h, wd, C, O)).toThrow(/dx and saved not to share memory/);
    const untyped = nb.upscaleBlockBackward as (...args: unknown[]) => unknown;
    expect(() => untyped(a.dy, a.x, a.w, saved2, dx, grads, B, h, wd, C)).toThrow(/upscaleBlockBackward/);
  });
});

afterAll(() => setModelFusion({ layers: true }));
