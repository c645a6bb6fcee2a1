/**
 * tfops.vitBlock, the fused ViT-block training op (SPEC §2 block, §4 policy attention), on the cpu backend:
 * the forward and every gradient (x, policy, all 14 weights) against the composition of the existing
 * differentiable TF.js ops (blockComposed: stock matMul / softmax, tfops.layerNorm / gelu / policyAttention),
 * with and without a policy, B > 1, odd N, every CPU kernel variant; bit-identical across thread counts;
 * float32 finite differences of the fused op itself; errors that name the argument at both layers; no leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { tfops } from '../../src/tfjs/index.js';
import { native } from '../../src/native.js';
import { blockComposed, type BlockWeights } from '../../src/model/tfjs/block.js';
import { PRUNED_BLOCK_WEIGHT_NAMES } from '../../src/ops/prunedBlock.js';
import { vitBlockSavedFloats } from '../../src/ops/vitBlock.js';
import { cpuVariants, expectClose, randn, randu, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { expectNoLeak, pick, samplePositions, tfFiniteDiff, useBackend } from './helpers.js';

interface Case { B: number; N: number; D: number; H: number; F: number }
const CASES: Case[] = [
  { B: 2, N: 7, D: 12, H: 3, F: 24 },
  { B: 1, N: 1, D: 8, H: 2, F: 16 },
  { B: 3, N: 13, D: 16, H: 2, F: 40 },
];

function makeWeights(c: Case, seed: number): BlockWeights {
  const r = rng(seed);
  const { D, F } = c;
  const shape: Record<string, number[]> = {
    'attn.qkv.weight': [3 * D, D], 'attn.qkv.bias': [3 * D], 'attn.proj.weight': [D, D],
    'mlp.fc1.weight': [F, D], 'mlp.fc1.bias': [F], 'mlp.fc2.weight': [D, F],
  };
  const w = {} as Record<string, tf.Tensor>;
  for (const n of PRUNED_BLOCK_WEIGHT_NAMES) {
    const s = shape[n] ?? [D];
    const size = s.reduce((a, b) => a * b, 1);
    // LayerNorm scales around 1, LayerScale around 0.5, Linear weights ~ 1/sqrt(fan-in)
    const data = n.endsWith('norm1.weight') || n.endsWith('norm2.weight') ? randu(size, r, 0.6, 1.4)
      : n.startsWith('ls') ? randu(size, r, 0.3, 0.8)
      : randn(size, r, s.length === 2 ? 1 / Math.sqrt(s[1]!) : 0.2);
    w[n] = tf.tensor(data, s, 'float32');
  }
  return w as BlockWeights;
}

interface Inputs { x: tf.Tensor3D; policy: tf.Tensor2D; dy: tf.Tensor3D; w: BlockWeights }
function makeInputs(c: Case, seed: number): Inputs {
  const r = rng(seed + 1000);
  return {
    x: tf.tensor3d(randn(c.B * c.N * c.D, r), [c.B, c.N, c.D]),
    policy: tf.tensor2d(randu(c.B * c.N, r, 0.15, 0.95), [c.B, c.N]),
    dy: tf.tensor3d(randn(c.B * c.N * c.D, r), [c.B, c.N, c.D]),
    w: makeWeights(c, seed),
  };
}

type BlockFn = (x: tf.Tensor3D, w: BlockWeights, pol: tf.Tensor2D | null) => tf.Tensor3D;
const fused = (H: number): BlockFn => (x, w, pol) => tfops.vitBlock(x, w, { heads: H, policy: pol });
const composed = (H: number): BlockFn => (x, w, pol) => blockComposed(x, w, H, pol);

// y and the gradients of sum(y * dy) w.r.t. x, (policy,) and the 14 weights, as plain arrays.
function valueAndGrads(f: BlockFn, inp: Inputs, withPolicy: boolean): Float32Array[] {
  return tf.tidy(() => {
    const names = PRUNED_BLOCK_WEIGHT_NAMES;
    const args: tf.Tensor[] = [inp.x, ...(withPolicy ? [inp.policy] : []), ...names.map((n) => inp.w[n])];
    const run = (...t: tf.Tensor[]) => {
      const w = {} as Record<string, tf.Tensor>;
      names.forEach((n, i) => (w[n] = t[i + (withPolicy ? 2 : 1)]!));
      return f(t[0] as tf.Tensor3D, w as BlockWeights, withPolicy ? (t[1] as tf.Tensor2D) : null);
    };
    const y = run(...args);
    const g = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.mul(run(...t), inp.dy)))(args);
    return [y, ...g].map((t) => t.dataSync() as Float32Array);
  });
}

function labels(withPolicy: boolean): string[] {
  return ['y', 'dx', ...(withPolicy ? ['dpolicy'] : []), ...PRUNED_BLOCK_WEIGHT_NAMES.map((n) => `d[${n}]`)];
}

// Relative to the array's scale (float32 rounding differs between the paths).
function expectNearArr(got: Float32Array, want: Float32Array, rel: number, what: string): void {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  expect(got.length, what).toBe(want.length);
  expectClose(got, want, rel * Math.max(scale, 1e-3), rel, what);
}

function dispose(inp: Inputs): void {
  tf.dispose([inp.x, inp.policy, inp.dy, ...Object.values(inp.w)]);
}

describe('tfops.vitBlock [cpu] vs the composition of the differentiable TF.js ops', () => {
  beforeAll(() => useBackend('cpu'));

  for (const [ci, c] of CASES.entries())
    for (const withPolicy of [true, false])
      it(`B=${c.B} N=${c.N} D=${c.D} H=${c.H} F=${c.F} ${withPolicy ? 'policy' : 'plain'}: y and every gradient, every variant, thread-independent`, () => {
        const inp = makeInputs(c, 17 + ci);
        try {
          const want = withKernel('ref', 1, () => valueAndGrads(composed(c.H), inp, withPolicy));
          const names = labels(withPolicy);
          for (const variant of cpuVariants()) {
            const perThreads = threadCounts().map((t) => withKernel(variant, t, () => valueAndGrads(fused(c.H), inp, withPolicy)));
            const got = perThreads[0]!;
            got.forEach((g, i) => expectNearArr(g, want[i]!, 2e-4, `${variant} ${names[i]}`));
            for (const other of perThreads.slice(1))
              other.forEach((g, i) => expect(Buffer.from(g.buffer).equals(Buffer.from(got[i]!.buffer)), `${variant} ${names[i]} bit-identical across threads`).toBe(true));
          }
        } finally {
          dispose(inp);
        }
      });

  it('float32 finite differences of the fused op: x, policy and sampled weights', () => {
    const c = CASES[0]!;
    const inp = makeInputs(c, 5);
    try {
      const [, dx, dpol, ...dw] = valueAndGrads(fused(c.H), inp, true);
      const loss = (x: tf.Tensor3D, w: BlockWeights, p: tf.Tensor2D) => tf.sum(tf.mul(tfops.vitBlock(x, w, { heads: c.H, policy: p }), inp.dy));
      const check = (name: string, t: tf.Tensor, analytic: Float32Array, f: (v: tf.Tensor) => tf.Tensor) => {
        const pos = samplePositions(t.size, 12);
        const fd = tfFiniteDiff(f, t, pos, 1e-2);
        let scale = 0;
        for (const v of analytic) scale = Math.max(scale, Math.abs(v));
        expectClose(pick(analytic, pos), pick(fd, pos), 2e-3 * scale + 2e-3, 2e-2, `finite differences ${name}`);
      };
      check('x', inp.x, dx!, (v) => loss(v as tf.Tensor3D, inp.w, inp.policy));
      check('policy', inp.policy, dpol!, (v) => loss(inp.x, inp.w, v as tf.Tensor2D));
      for (const [i, n] of PRUNED_BLOCK_WEIGHT_NAMES.entries())
        check(n, inp.w[n], dw[i]!, (v) => loss(inp.x, { ...inp.w, [n]: v }, inp.policy));
    } finally {
      dispose(inp);
    }
  });

  it('no leaks (forward + gradient, with and without a policy)', () => {
    const c = CASES[0]!;
    const inp = makeInputs(c, 9);
    try {
      expectNoLeak(() => void valueAndGrads(fused(c.H), inp, true));
      expectNoLeak(() => void valueAndGrads(fused(c.H), inp, false));
      expectNoLeak(() => tfops.vitBlock(inp.x, inp.w, { heads: c.H }).dispose());
    } finally {
      dispose(inp);
    }
  });

  it('errors name the op and the argument (TS layer)', () => {
    const c = CASES[0]!;
    const inp = makeInputs(c, 3);
    try {
      const { x, w, policy } = inp;
      expect(() => tfops.vitBlock(x, w, { heads: 5 })).toThrow(/vitBlock: .*multiple of heads/);
      expect(() => tfops.vitBlock(x, w, { heads: c.H, policy: tf.zeros([c.B, c.N + 1]) as tf.Tensor2D })).toThrow(RangeError);
      expect(() => tfops.vitBlock(x, w, { heads: c.H, policy: tf.zeros([c.B, c.N + 1]) as tf.Tensor2D })).toThrow(/policy/);
      expect(() => tfops.vitBlock(x, w, { heads: c.H, policy: tf.zeros([c.B], 'float32') as unknown as tf.Tensor2D })).toThrow(TypeError);
      const nan = tf.tensor2d(new Float32Array(c.B * c.N).fill(NaN), [c.B, c.N]);
      expect(() => tfops.vitBlock(x, w, { heads: c.H, policy: nan })).toThrow(/vitBlock: expected policy values to be finite/);
      const { ['ls2.gamma']: _drop, ...missing } = w;
      expect(() => tfops.vitBlock(x, missing as BlockWeights, { heads: c.H })).toThrow(/vitBlock: expected weights\['ls2.gamma'\]/);
      expect(() => tfops.vitBlock(x, { ...w, 'mlp.fc2.weight': tf.zeros([c.D, c.F + 1]) }, { heads: c.H })).toThrow(/weights\['mlp.fc2.weight'\]/);
      expect(() => tfops.vitBlock(x, w, { heads: c.H, attnEps: -1 })).toThrow(/attnEps/);
      expect(() => tfops.vitBlock(x, w, { heads: c.H, lnEps: 0 })).toThrow(/lnEps/);
      expect(() => tfops.vitBlock(x.toInt(), w, { heads: c.H })).toThrow(/vitBlock: expected x/);
      void policy;
    } finally {
      dispose(inp);
    }
  });

  it('errors name the op and the argument (C++ boundary, binding called directly)', () => {
    const { B, N, D, H, F } = CASES[0]!;
    const r = rng(1);
    const w: Record<string, Float32Array> = {};
    const sizes: Record<string, number> = { 'attn.qkv.weight': 3 * D * D, 'attn.qkv.bias': 3 * D, 'attn.proj.weight': D * D, 'mlp.fc1.weight': F * D, 'mlp.fc1.bias': F, 'mlp.fc2.weight': D * F };
    for (const n of PRUNED_BLOCK_WEIGHT_NAMES) w[n] = randn(sizes[n] ?? D, r);
    const x = randn(B * N * D, r), y = new Float32Array(B * N * D);
    const S = vitBlockSavedFloats({ B, N, D, H, F });
    const nb = native();
    expect(() => nb.vitBlock(x, null, w, y, new Float32Array(S - 1), B, N, D, H, 1e-6, 1e-6)).toThrow(/vitBlock: expected saved/);
    expect(() => nb.vitBlock(x, null, w, y, new Float32Array(S), B, N, D, 5, 1e-6, 1e-6)).toThrow(/vitBlock: expected D to be a multiple of H/);
    expect(() => nb.vitBlock(x, new Float32Array(B * N).fill(Infinity), w, y, new Float32Array(S), B, N, D, H, 1e-6, 1e-6)).toThrow(/policy\[0\]\[0\]/);
    expect(() => nb.vitBlock(x, null, w, x, new Float32Array(S), B, N, D, H, 1e-6, 1e-6)).toThrow(/y and x not to share memory/);
    expect(() => nb.vitBlock(x, null, w, y, new Float32Array(S), B, N, D, H, 1e-6, -1)).toThrow(/attnEps/);
    const saved = new Float32Array(S);
    nb.vitBlock(x, null, w, y, saved, B, N, D, H, 1e-6, 1e-6);
    const grads: Record<string, Float32Array> = {};
    for (const n of PRUNED_BLOCK_WEIGHT_NAMES) grads[n] = new Float32Array(w[n]!.length);
    const dx = new Float32Array(B * N * D);
    nb.vitBlockBackward(y, x, null, w, saved, dx, null, grads, B, N, D, H, 1e-6, 1e-6);
    expect(dx.some((v) => v !== 0)).toBe(true);
    const badGrads = { ...grads, 'mlp.fc1.weight': new Float32Array(3) };
    expect(() => nb.vitBlockBackward(y, x, null, w, saved, dx, null, badGrads, B, N, D, H, 1e-6, 1e-6)).toThrow(/vitBlockBackward: expected grads\['mlp.fc1.weight'\]/);
    expect(() => nb.vitBlockBackward(y, x, null, w, saved, dx, new Float32Array(B * N), grads, B, N, D, H, 1e-6, 1e-6)).toThrow(/dpolicy to be null/);
    expect(() => nb.vitBlockBackward(y, x, null, w, saved, grads['ls1.gamma']!, null, grads, B, N, D, H, 1e-6, 1e-6)).toThrow(/dx/);
    expect(() => nb.vitBlockBackward(y, x, null, w, saved, dx, null, { ...grads, 'ls1.gamma': w['ls1.gamma']! }, B, N, D, H, 1e-6, 1e-6)).toThrow(/share memory/);
  });
});
