import { describe, expect, it } from 'vitest';
import { gumbelSoftmaxST, gumbelSoftmaxSTBackward } from '../../src/index.js';
import { native } from '../../src/native.js';
import { cpuVariants, expectClose, finiteDiff, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { chiSquarePValue, gumbelSoftmaxSTBwdRef, gumbelSoftmaxSTRef, gumbelSoftOnly } from '../reference/gumbel.js';

const CASES = [
  { B: 1, N: 1, tau: 1 },
  { B: 2, N: 7, tau: 1 },
  { B: 3, N: 13, tau: 0.5 },
  { B: 2, N: 1029, tau: 2 },
  { B: 8, N: 4101, tau: 1 },
];

describe.each(cpuVariants())('gumbelSoftmaxST [%s] vs the TS float64 reference', (variant) => {
  for (const c of CASES) {
    for (const threads of threadCounts()) {
      it(`B=${c.B} N=${c.N} tau=${c.tau} threads=${threads}`, () => {
        const { B, N, tau } = c;
        const r = rng(B * 1000 + N);
        const logits = randn(B * N * 2, r, 1.5);
        const seed = 4242;
        const { hard, soft } = withKernel(variant, threads, () => gumbelSoftmaxST({ data: logits, shape: [B, N, 2] }, { tau, seed }));
        expect(hard.shape).toEqual([B, N]);
        const want = gumbelSoftmaxSTRef(logits, B, N, tau, seed);
        expectClose(hard.data, want.hard, 0, 0, 'hard');
        expectClose(soft.data, want.soft, 1e-7, 1e-6, 'soft');
        const dhard = randn(B * N, r);
        const d = withKernel(variant, threads, () => gumbelSoftmaxSTBackward({ data: dhard, shape: [B, N] }, soft, { tau }));
        expect(d.shape).toEqual([B, N, 2]);
        expectClose(d.data, gumbelSoftmaxSTBwdRef(dhard, soft.data, tau), 1e-7, 1e-5, 'dlogits');
      });
    }
  }

  it('bit-identical to the ref variant and across thread counts', () => {
    const B = 3, N = 2051, r = rng(8);
    const logits = { data: randn(B * N * 2, r), shape: [B, N, 2] };
    const dhard = { data: randn(B * N, r), shape: [B, N] };
    const base = withKernel('ref', 1, () => gumbelSoftmaxST(logits, { tau: 0.7, seed: 5n }));
    const dbase = withKernel('ref', 1, () => gumbelSoftmaxSTBackward(dhard, base.soft, { tau: 0.7 }));
    for (const th of threadCounts()) {
      const got = withKernel(variant, th, () => gumbelSoftmaxST(logits, { tau: 0.7, seed: 5n }));
      expect(Buffer.from(got.hard.data.buffer).equals(Buffer.from(base.hard.data.buffer))).toBe(true);
      expect(Buffer.from(got.soft.data.buffer).equals(Buffer.from(base.soft.data.buffer))).toBe(true);
      const d = withKernel(variant, th, () => gumbelSoftmaxSTBackward(dhard, base.soft, { tau: 0.7 }));
      expect(Buffer.from(d.data.buffer).equals(Buffer.from(dbase.data.buffer))).toBe(true);
    }
  });
});

describe('gumbelSoftmaxST semantics', () => {
  it('P(hard = 1) = sigmoid(l0 - l1) for any tau (chi-square over groups)', () => {
    const diffs = [-2, -0.5, 0, 0.7, 1.5, 3];
    const per = 2000, N = diffs.length * per;
    const data = new Float32Array(N * 2);
    for (let n = 0; n < N; n++) {
      const d = diffs[Math.floor(n / per)]!;
      data[2 * n] = 0.3 + d;
      data[2 * n + 1] = 0.3;
    }
    for (const tau of [1, 0.3]) {
      const { hard } = gumbelSoftmaxST({ data, shape: [1, N, 2] }, { tau, seed: 31 });
      let x2 = 0;
      diffs.forEach((d, g) => {
        let ones = 0;
        for (let j = 0; j < per; j++) ones += hard.data[g * per + j]!;
        const p = 1 / (1 + Math.exp(-d));
        x2 += (ones - per * p) ** 2 / (per * p * (1 - p));
      });
      expect(chiSquarePValue(x2, diffs.length)).toBeGreaterThan(1e-3);
    }
  });

  it('a tie y0 == y1 keeps the token (hard = 1, soft = 0.5)', () => {
    // At 1e30 the Gumbel noise (|g| < 20) is absorbed in double, so y0 == y1 exactly.
    const data = new Float32Array(2 * 16).fill(1e30);
    for (const v of cpuVariants()) {
      const { hard, soft } = withKernel(v, 2, () => gumbelSoftmaxST({ data, shape: [1, 16, 2] }, { seed: 3 }));
      expect(Array.from(hard.data)).toEqual(new Array(16).fill(1));
      expect(Array.from(soft.data)).toEqual(new Array(16).fill(0.5));
    }
  });

  it('a NaN logit propagates (soft = NaN, hard = 0) without affecting other tokens', () => {
    const data = new Float32Array([NaN, 0, 1, 0, 0, NaN]);
    for (const v of cpuVariants()) {
      const { hard, soft } = withKernel(v, 2, () => gumbelSoftmaxST({ data, shape: [1, 3, 2] }, { seed: 1 }));
      expect(Number.isNaN(soft.data[0])).toBe(true);
      expect(hard.data[0]).toBe(0);
      expect(Number.isFinite(soft.data[1])).toBe(true);
      expect(Number.isNaN(soft.data[2])).toBe(true);
    }
  });

  it('same seed -> same output; different seeds differ; the noise differs from gumbelTopK stream', () => {
    const B = 2, N = 300;
    const l = { data: new Float32Array(B * N * 2), shape: [B, N, 2] };
    const a = gumbelSoftmaxST(l, { seed: 1 }), b = gumbelSoftmaxST(l, { seed: 1 }), c = gumbelSoftmaxST(l, { seed: 2 });
    expect(Array.from(a.soft.data)).toEqual(Array.from(b.soft.data));
    expect(Array.from(a.soft.data)).not.toEqual(Array.from(c.soft.data));
  });
});

describe('gumbelSoftmaxST gradients', () => {
  it('reference backward = finite differences of the soft surrogate (fixed noise)', () => {
    const B = 2, N = 5, tau = 0.8, seed = 17, r = rng(21);
    const x = Float64Array.from(randn(B * N * 2, r));
    const w = Float64Array.from(randn(B * N, r));
    const f = (l: Float64Array) => gumbelSoftOnly(l, B, N, tau, seed).reduce((acc, s, i) => acc + w[i]! * s, 0);
    const fd = finiteDiff(f, x, 1e-5, undefined, true);
    const soft = gumbelSoftOnly(x, B, N, tau, seed);
    expectClose(gumbelSoftmaxSTBwdRef(w, soft, tau), fd, 1e-8, 1e-6, 'ref bwd vs fd');
  });

  it('native backward on float32 vs a direct finite difference of native soft (sampled)', () => {
    const B = 1, N = 40, tau = 1.3, seed = 8, r = rng(22);
    const x = randn(B * N * 2, r, 0.5);
    const w = randn(B * N, r);
    const f = (l: Float64Array) => {
      const { soft } = gumbelSoftmaxST({ data: Float32Array.from(l), shape: [B, N, 2] }, { tau, seed });
      let acc = 0;
      for (let i = 0; i < soft.data.length; i++) acc += w[i]! * soft.data[i]!;
      return acc;
    };
    const positions = [0, 1, 7, 22, 41, 79];
    const fd = finiteDiff(f, Float64Array.from(x), 2e-2, positions, true);
    const { soft } = gumbelSoftmaxST({ data: x, shape: [B, N, 2] }, { tau, seed });
    const d = gumbelSoftmaxSTBackward({ data: w, shape: [B, N] }, soft, { tau });
    expectClose(positions.map((p) => d.data[p]!), positions.map((p) => fd[p]!), 2e-4, 2e-3, 'native bwd vs fd');
  });
});

describe('gumbelSoftmaxST errors', () => {
  const logits = { data: new Float32Array(2 * 3 * 2), shape: [2, 3, 2] };
  const bhn = { data: new Float32Array(6), shape: [2, 3] };
  it('TS layer names the argument', () => {
    for (const tau of [0, -1, NaN, Infinity, 1e-50, 1e39]) expect(() => gumbelSoftmaxST(logits, { tau })).toThrow(/tau/);
    expect(() => gumbelSoftmaxST(logits, { tau: 0 })).toThrow(RangeError);
    expect(() => gumbelSoftmaxST(logits, { tau: '1' as unknown as number })).toThrow(TypeError);
    expect(() => gumbelSoftmaxST(logits, { seed: -2 })).toThrow(/seed/);
    expect(() => gumbelSoftmaxST(logits, { seed: 2 ** 60 })).toThrow(RangeError);
    expect(() => gumbelSoftmaxST({ data: new Float32Array(18), shape: [2, 3, 3] })).toThrow(/logits/);
    expect(() => gumbelSoftmaxST({ data: new Float32Array(6), shape: [2, 3] })).toThrow(TypeError);
    expect(() => gumbelSoftmaxST({ data: new Int32Array(12) as unknown as Float32Array, shape: [2, 3, 2] })).toThrow(/logits/);
    expect(() => gumbelSoftmaxSTBackward(bhn, { data: new Float32Array(4), shape: [2, 2] })).toThrow(/soft/);
    expect(() => gumbelSoftmaxSTBackward({ data: new Uint8Array(6) as unknown as Float32Array, shape: [2, 3] }, bhn)).toThrow(/dhard/);
    expect(() => gumbelSoftmaxSTBackward(bhn, bhn, { tau: -1 })).toThrow(/tau/);
  });

  it('C++ layer re-validates (direct binding calls)', () => {
    const nb = native();
    const l = () => new Float32Array(12), o = () => new Float32Array(6);
    expect(() => nb.gumbelSoftmaxST(l(), o(), o(), 2, 3, 0, 0)).toThrow(/tau/);
    expect(() => nb.gumbelSoftmaxST(l(), o(), o(), 2, 3, NaN, 0)).toThrow(/tau/);
    expect(() => nb.gumbelSoftmaxST(l(), o(), o(), 2, 3, 1e300, 0)).toThrow(/tau/);
    expect(() => nb.gumbelSoftmaxST(l(), o(), o(), 2, 3, 1, -1)).toThrow(/seed/);
    expect(() => nb.gumbelSoftmaxST(new Float32Array(10), o(), o(), 2, 3, 1, 0)).toThrow(/logits to have 12 elements/);
    expect(() => nb.gumbelSoftmaxST(l(), new Float32Array(5), o(), 2, 3, 1, 0)).toThrow(/hard/);
    const shared = new Float32Array(12);
    expect(() => nb.gumbelSoftmaxST(shared, shared.subarray(0, 6), o(), 2, 3, 1, 0)).toThrow(/not to share memory/);
    const s = o();
    expect(() => nb.gumbelSoftmaxST(l(), s, s, 2, 3, 1, 0)).toThrow(/not to share memory/);
    expect(() => nb.gumbelSoftmaxSTBackward(o(), o(), new Float32Array(11), 2, 3, 1)).toThrow(/dlogits/);
    expect(() => nb.gumbelSoftmaxSTBackward(o(), o(), l(), 2, 3, -0.5)).toThrow(/tau/);
    expect(() => nb.gumbelSoftmaxSTBackward(new Int32Array(6) as unknown as Float32Array, o(), l(), 2, 3, 1)).toThrow(TypeError);
  });

  it('fuzz: random bad arguments throw, never crash', () => {
    const r = rng(78);
    const pool: unknown[] = [null, undefined, 0, -1, 0.5, 2 ** 40, NaN, 'x', {}, new Float32Array(12), new Float32Array(6), new Int32Array(6), 2, 3, true, 3n];
    const pick = () => pool[Math.floor(r() * pool.length)];
    const f1 = native().gumbelSoftmaxST as unknown as (...a: unknown[]) => unknown;
    const f2 = native().gumbelSoftmaxSTBackward as unknown as (...a: unknown[]) => unknown;
    for (let t = 0; t < 300; t++) {
      try { f1(...Array.from({ length: 7 }, pick)); } catch (e) { expect(e).toBeInstanceOf(Error); }
      try { f2(...Array.from({ length: 6 }, pick)); } catch (e) { expect(e).toBeInstanceOf(Error); }
    }
  });
});
