import { describe, expect, it } from 'vitest';
import { gumbelTopK } from '../../src/index.js';
import { native } from '../../src/native.js';
import { cpuVariants, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { philox4x32ref } from '../reference/philox.js';
import { chiSquarePValue, gumbelTopKRef } from '../reference/gumbel.js';

const hex = (a: ArrayLike<number>) => Array.from(a, (x) => (x >>> 0).toString(16).padStart(8, '0')).join(' ');

describe('philox4x32-10', () => {
  // Random123 kat_vectors, philox4x32 R=10.
  const KAT: Array<[number[], number[], string]> = [
    [[0, 0, 0, 0], [0, 0], '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], '408f276d 41c83b0e a20bc7c6 6d5451fd'],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], 'd16cfe09 94fdcceb 5001e420 24126ea1'],
  ];
  it.each(KAT)('known answer %#', (c, k, want) => {
    expect(hex(native().philox4x32(Uint32Array.from(c), Uint32Array.from(k)))).toBe(want);
    expect(hex(native().philox4x32(Int32Array.from(c), Int32Array.from(k)))).toBe(want);
    expect(hex(philox4x32ref(c, k))).toBe(want);
  });

  it('native matches the independent TS Philox on random counters and keys', () => {
    const r = rng(2024);
    const word = () => Math.floor(r() * 4294967296) >>> 0;
    for (let t = 0; t < 2000; t++) {
      const c = [word(), word(), word(), word()], k = [word(), word()];
      const got = native().philox4x32(Uint32Array.from(c), Uint32Array.from(k));
      const want = philox4x32ref(c, k);
      if (hex(got) !== hex(want)) throw new Error(`counter ${hex(c)} key ${hex(k)}: got ${hex(got)} want ${hex(want)}`);
    }
  });

  it('rejects bad arguments without crashing', () => {
    expect(() => native().philox4x32(new Uint32Array(3), new Uint32Array(2))).toThrow(/counter to have 4 elements/);
    expect(() => native().philox4x32(new Uint32Array(4), new Float32Array(2) as unknown as Uint32Array)).toThrow(TypeError);
  });
});

interface Case { B: number; N: number; k: number; activeFrac?: number }
const CASES: Case[] = [
  { B: 1, N: 1, k: 1 },
  { B: 2, N: 7, k: 3 },
  { B: 3, N: 13, k: 13 }, // k = N
  { B: 4, N: 37, k: 1 }, // k = 1
  { B: 2, N: 1029, k: 300, activeFrac: 0.7 },
  { B: 1, N: 4101, k: 2872 },
  { B: 2, N: 4101, k: 2009, activeFrac: 0.7 }, // nested stage 2 of 0.7 / 0.49
];

function activeMask(B: number, N: number, k: number, frac: number, r: () => number): Uint8Array {
  const m = new Uint8Array(B * N);
  for (let b = 0; b < B; b++) {
    let count = 0;
    for (let n = 0; n < N; n++) count += m[b * N + n] = r() < frac ? 1 : 0;
    for (let n = 0; count < k; n++) if (!m[b * N + n]) { m[b * N + n] = 1; count++; }
  }
  return m;
}

describe.each(cpuVariants())('gumbelTopK [%s] vs the TS float64 reference', (variant) => {
  for (const c of CASES) {
    for (const threads of threadCounts()) {
      it(`B=${c.B} N=${c.N} k=${c.k}${c.activeFrac ? ' active' : ''} threads=${threads}`, () => {
        const r = rng(c.N * 7 + c.k);
        const logits = randn(c.B * c.N, r, 2);
        const active = c.activeFrac ? activeMask(c.B, c.N, c.k, c.activeFrac, r) : undefined;
        const t = { data: logits, shape: [c.B, c.N] };
        for (const noise of [true, false]) {
          const seed = 12345;
          const got = withKernel(variant, threads, () =>
            gumbelTopK(t, c.k, { seed, noise, active: active ? { data: active, shape: [c.B, c.N] } : undefined }));
          expect(got.shape).toEqual([c.B, c.k]);
          const want = gumbelTopKRef(logits, c.B, c.N, c.k, seed, noise, active);
          expect(Array.from(got.data)).toEqual(Array.from(want));
        }
      });
    }
  }
});

describe('gumbelTopK determinism', () => {
  const B = 3, N = 500, k = 123;
  const logits = { data: randn(B * N, rng(9)), shape: [B, N] };
  it('same seed -> same indices on every variant and thread count; different seeds differ', () => {
    const base = gumbelTopK(logits, k, { seed: 77 });
    for (const v of cpuVariants())
      for (const th of threadCounts())
        expect(Array.from(withKernel(v, th, () => gumbelTopK(logits, k, { seed: 77 })).data)).toEqual(Array.from(base.data));
    expect(Array.from(gumbelTopK(logits, k, { seed: 78 }).data)).not.toEqual(Array.from(base.data));
    expect(Array.from(gumbelTopK(logits, k, { seed: 77n }).data)).toEqual(Array.from(base.data));
  });
  it('uses the high 32 bits of the seed (bigint seeds beyond 2^53)', () => {
    const big = (1n << 63n) + 5n;
    const got = gumbelTopK(logits, k, { seed: big });
    expect(Array.from(got.data)).toEqual(Array.from(gumbelTopKRef(logits.data, B, N, k, big, true)));
    expect(Array.from(got.data)).not.toEqual(Array.from(gumbelTopK(logits, k, { seed: 5 }).data));
  });
  it('rows are ascending and distinct', () => {
    const got = gumbelTopK(logits, k, { seed: 1 });
    for (let b = 0; b < B; b++) for (let j = 1; j < k; j++) expect(got.data[b * k + j]!).toBeGreaterThan(got.data[b * k + j - 1]!);
  });
});

describe('gumbelTopK semantics', () => {
  it('noise=false is a plain top-k with ties to the lower index', () => {
    const l = { data: new Float32Array([1, 3, 3, 0, 3, 2, -Infinity, Infinity]), shape: [1, 8] };
    expect(Array.from(gumbelTopK(l, 2, { noise: false }).data)).toEqual([1, 7]);
    expect(Array.from(gumbelTopK(l, 3, { noise: false }).data)).toEqual([1, 2, 7]);
    expect(Array.from(gumbelTopK(l, 4, { noise: false }).data)).toEqual([1, 2, 4, 7]);
    const eq = { data: new Float32Array(10).fill(0.5), shape: [1, 10] };
    for (const v of cpuVariants()) expect(Array.from(withKernel(v, 2, () => gumbelTopK(eq, 4, { noise: false })).data)).toEqual([0, 1, 2, 3]);
  });

  it('nested stages with active: every selection is a subset of the previous', () => {
    const B = 2, N = 1000;
    const logits = { data: randn(B * N, rng(3)), shape: [B, N] };
    let active: Uint8Array | undefined;
    for (const [s, k] of [[0, 700], [1, 490], [2, 343]] as const) {
      const sel = gumbelTopK(logits, k, { seed: 10 + s, active: active ? { data: active, shape: [B, N] } : undefined });
      const next = new Uint8Array(B * N);
      for (let b = 0; b < B; b++)
        for (let j = 0; j < k; j++) {
          const n = sel.data[b * k + j]!;
          if (active) expect(active[b * N + n]).toBe(1);
          next[b * N + n] = 1;
        }
      active = next;
    }
  });

  it('a float32 mask is the same as a uint8 mask (nonzero = active)', () => {
    const B = 2, N = 50, k = 10, r = rng(4);
    const logits = { data: randn(B * N, r), shape: [B, N] };
    const m = activeMask(B, N, k, 0.5, r);
    const f = Float32Array.from(m, (x, i) => (x ? (i % 2 ? 0.3 : -2) : 0));
    expect(Array.from(gumbelTopK(logits, k, { seed: 3, active: { data: f, shape: [B, N] } }).data))
      .toEqual(Array.from(gumbelTopK(logits, k, { seed: 3, active: { data: m, shape: [B, N] } }).data));
  });

  it('equal logits: every token is picked equally often (chi-square)', () => {
    // 4000 draws of a 5-subset of 20: 200 rows (independent Philox counters) x 20 seeds.
    const N = 20, k = 5, rows = 200, seeds = 20;
    const counts = new Float64Array(N);
    const logits = { data: new Float32Array(rows * N), shape: [rows, N] };
    for (let s = 0; s < seeds; s++) {
      const sel = gumbelTopK(logits, k, { seed: 1000 + s });
      for (const n of sel.data) counts[n]!++;
    }
    const draws = rows * seeds, E = (draws * k) / N;
    let x2 = 0;
    for (const c of counts) x2 += (c - E) ** 2 / E;
    // Inclusion indicators of a uniform k-subset are negatively correlated (cov = -p(1-p)/(N-1)),
    // so sum (O-E)^2/E ~ (N-k)/(N-1) * chi2(N-1): rescale before the p-value.
    const p = chiSquarePValue((x2 * (N - 1)) / (N - k), N - 1);
    expect(p).toBeGreaterThan(1e-3);
  });

  it('k = 1: the first pick follows softmax(logits) (chi-square)', () => {
    const N = 8, rows = 4000;
    const l = [0, 0.5, 1, -1, 2, 0.25, -0.5, 1.5];
    const data = new Float32Array(rows * N);
    for (let b = 0; b < rows; b++) data.set(l, b * N);
    const sel = gumbelTopK({ data, shape: [rows, N] }, 1, { seed: 99 });
    const counts = new Float64Array(N);
    for (const n of sel.data) counts[n]!++;
    const z = l.reduce((a, x) => a + Math.exp(x), 0);
    let x2 = 0;
    for (let n = 0; n < N; n++) {
      const E = (rows * Math.exp(l[n]!)) / z;
      x2 += (counts[n]! - E) ** 2 / E;
    }
    expect(chiSquarePValue(x2, N - 1)).toBeGreaterThan(1e-3);
    // and a sanity check that the test has power: uniform probabilities must be rejected
    let x2u = 0;
    for (let n = 0; n < N; n++) x2u += (counts[n]! - rows / N) ** 2 / (rows / N);
    expect(chiSquarePValue(x2u, N - 1)).toBeLessThan(1e-6);
  });

  it('the chi-square p-value matches known quantiles', () => {
    expect(chiSquarePValue(30.1435, 19)).toBeCloseTo(0.05, 4);
    expect(chiSquarePValue(3.841459, 1)).toBeCloseTo(0.05, 5);
    expect(chiSquarePValue(43.8202, 19)).toBeCloseTo(0.001, 5);
  });
});

describe('gumbelTopK errors', () => {
  const logits = { data: new Float32Array(2 * 5), shape: [2, 5] };
  it('TS layer names the argument', () => {
    expect(() => gumbelTopK(logits, 6)).toThrow(RangeError);
    expect(() => gumbelTopK(logits, 6)).toThrow(/k to be an integer in \[1, 5\], received 6/);
    expect(() => gumbelTopK(logits, 0)).toThrow(/\bk\b/);
    expect(() => gumbelTopK(logits, 2.5)).toThrow(RangeError);
    const nan = { data: new Float32Array(10), shape: [2, 5] };
    nan.data[7] = NaN;
    expect(() => gumbelTopK(nan, 2)).toThrow(/logits\[1\]\[2\] = NaN/);
    const act = { data: new Uint8Array([1, 1, 1, 0, 0, 1, 0, 0, 0, 0]), shape: [2, 5] };
    expect(() => gumbelTopK(logits, 2, { active: act })).toThrow(/active\[1\] has 1 active tokens, fewer than k=2/);
    expect(() => gumbelTopK(logits, 2, { seed: -1 })).toThrow(/seed/);
    expect(() => gumbelTopK(logits, 2, { seed: 1.5 })).toThrow(RangeError);
    expect(() => gumbelTopK(logits, 2, { seed: 1n << 64n })).toThrow(/seed/);
    expect(() => gumbelTopK(logits, 2, { seed: '1' as unknown as number })).toThrow(TypeError);
    expect(() => gumbelTopK(logits, 2, { noise: 1 as unknown as boolean })).toThrow(/noise/);
    expect(() => gumbelTopK({ data: new Float64Array(10) as unknown as Float32Array, shape: [2, 5] }, 2)).toThrow(TypeError);
    expect(() => gumbelTopK({ data: new Float32Array(10), shape: [10] }, 2)).toThrow(/logits/);
    expect(() => gumbelTopK(logits, 2, { active: { data: new Int32Array(10) as unknown as Uint8Array, shape: [2, 5] } })).toThrow(/active/);
    expect(() => gumbelTopK(logits, 2, { active: { data: new Uint8Array(5), shape: [1, 5] } })).toThrow(/active/);
  });

  it('C++ layer re-validates (direct binding calls)', () => {
    const nb = native();
    const out = new Int32Array(4);
    const ok = () => new Float32Array(10);
    expect(() => nb.gumbelTopK(ok(), null, new Int32Array(12), 2, 5, 6, 0, true)).toThrow(/k to be an integer in \[1, N=5\]/);
    expect(() => nb.gumbelTopK(ok(), null, new Int32Array(6), 2, 5, 2, 0, true)).toThrow(/out to have 4 elements/);
    const nan = ok(); nan[3] = NaN;
    for (const v of cpuVariants())
      expect(() => withKernel(v, 2, () => nb.gumbelTopK(nan, null, out, 2, 5, 2, 0, true))).toThrow(/logits\[0\]\[3\] = NaN/);
    for (const v of cpuVariants())
      expect(() => withKernel(v, 2, () => nb.gumbelTopK(ok(), new Uint8Array([1, 1, 0, 0, 0, 0, 0, 1, 0, 0]), out, 2, 5, 2, 0, true)))
        .toThrow(/active\[1\] has 1 active tokens, fewer than k=2/);
    expect(() => nb.gumbelTopK(ok(), new Uint8Array([1, 0, 0, 0, 0, 1, 1, 1, 0, 0]), out, 2, 5, 2, 0, true)).toThrow(/active\[0\] has 1 active tokens, fewer than k=2/);
    expect(() => nb.gumbelTopK(ok(), new Uint8Array(9), out, 2, 5, 2, 0, true)).toThrow(/active/);
    expect(() => nb.gumbelTopK(ok(), null, out, 2, 5, 2, -3, true)).toThrow(/seed/);
    expect(() => nb.gumbelTopK(ok(), null, out, 2, 5, 2, 2n ** 64n, true)).toThrow(/seed/);
    expect(() => nb.gumbelTopK(ok(), null, out, 2, 5, 2, 0, 1 as unknown as boolean)).toThrow(/noise/);
    const shared = new Float32Array(16);
    expect(() => nb.gumbelTopK(shared.subarray(0, 10), null, new Int32Array(shared.buffer, 24, 4), 2, 5, 2, 0, true)).toThrow(/not to share memory/);
    expect(() => (nb.gumbelTopK as unknown as (...a: unknown[]) => void)(ok(), null, out, 2, 5)).toThrow(TypeError);
  });

  it('fuzz: random bad arguments throw, never crash', () => {
    const r = rng(77);
    const pool: unknown[] = [null, undefined, 0, -1, 1.5, 2 ** 40, NaN, 'x', {}, [], new Float32Array(3), new Int32Array(4),
      new Uint8Array(10), new Float32Array(10), 2, 5, true, 3n];
    const pick = () => pool[Math.floor(r() * pool.length)];
    const fn = native().gumbelTopK as unknown as (...a: unknown[]) => unknown;
    for (let t = 0; t < 400; t++) {
      const args = Array.from({ length: 8 }, pick);
      try { fn(...args); } catch (e) { expect(e).toBeInstanceOf(Error); }
    }
  });
});
