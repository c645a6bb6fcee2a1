/**
 * layerNorm / layerNormBackward and gelu / geluBackward (the TF.js training graph's LayerNorm and exact GELU,
 * SPEC §2 numerics) against the float64 references of test/reference/pointwise.ts, on every compiled CPU
 * variant at 1 and several threads: a case grid with C = 1, C not a multiple of 8, R = 1 and a large
 * decoder-sized tensor; results independent of the thread count (bit for bit); the reference backward
 * checked by central differences; every validation branch names its argument.
 */
import { describe, expect, it } from 'vitest';
import { gelu, geluBackward, layerNorm, layerNormBackward, layerNormDims } from '../../src/index.js';
import { native } from '../../src/native.js';
import { cpuVariants, expectClose, finiteDiff, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { erf, geluBwdRef, geluRef, layerNormBwdRef, layerNormRef } from '../reference/pointwise.js';

const LN_CASES = [
  { R: 1, C: 1 },
  { R: 1, C: 7 },
  { R: 3, C: 8 },
  { R: 5, C: 13 },
  { R: 2, C: 1 },
  { R: 9, C: 100 },
  { R: 554, C: 192 },
  { R: 131, C: 768 },
  { R: 8192, C: 192 },
];

// Inputs with a per-row offset and scale (LayerNorm must not care), deterministic per case.
function lnInputs(R: number, C: number, seed: number) {
  const r = rng(seed);
  const x = randn(R * C, r, 1.5);
  for (let i = 0; i < R; i++) {
    const off = 3 * (r() - 0.5), sc = 0.2 + 2 * r();
    for (let c = 0; c < C; c++) x[i * C + c] = x[i * C + c]! * sc + off;
  }
  return { x, w: randn(C, r, 1), b: randn(C, r, 0.5), dy: randn(R * C, r, 1) };
}

function same(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe.each(cpuVariants())('layerNorm [%s] vs the float64 reference', (variant) => {
  for (const { R, C } of LN_CASES)
    for (const threads of threadCounts())
      it(`R=${R} C=${C} threads=${threads}`, () => {
        const { x, w, b, dy } = lnInputs(R, C, R * 31 + C);
        const eps = 1e-6;
        const T = (data: Float32Array, shape: number[]) => ({ data, shape });
        const f = withKernel(variant, threads, () => layerNorm(T(x, [R, C]), T(w, [C]), T(b, [C]), { eps }));
        expect(f.y.shape).toEqual([R, C]);
        expect(f.mean.shape).toEqual([R]);
        const want = layerNormRef(x, w, b, R, C, eps);
        expectClose(f.y.data, want.y, 5e-6, 1e-5, 'y');
        expectClose(f.mean.data, want.mean, 1e-6, 1e-6, 'mean');
        expectClose(f.rstd.data, want.rstd, 0, 1e-5, 'rstd');
        const g = withKernel(variant, threads, () => layerNormBackward(T(dy, [R, C]), T(x, [R, C]), T(w, [C]), f.mean, f.rstd));
        expect(g.dx.shape).toEqual([R, C]);
        expect(g.dw.shape).toEqual([C]);
        const gw = layerNormBwdRef(dy, x, w, R, C, eps);
        // dx ~ rstd |dy w|: rows with a small spread (large rstd) get a proportionally larger atol.
        let maxRstd = 0;
        for (const v of want.rstd) maxRstd = Math.max(maxRstd, v);
        expectClose(g.dx.data, gw.dx, C === 1 ? 1e-6 * maxRstd : 5e-6 * Math.min(maxRstd, 10), 1e-4, 'dx');
        expectClose(g.dw.data, gw.dw, 2e-6 * Math.sqrt(R), 2e-5, 'dw');
        expectClose(g.db.data, gw.db, 2e-6 * Math.sqrt(R), 2e-5, 'db');
      });

  it('results do not depend on the thread count (bit for bit)', () => {
    const R = 1000, C = 203; // several dw/db chunks and a tail
    const { x, w, b, dy } = lnInputs(R, C, 5);
    const T = (data: Float32Array, shape: number[]) => ({ data, shape });
    const run = (th: number) =>
      withKernel(variant, th, () => {
        const f = layerNorm(T(x, [R, C]), T(w, [C]), T(b, [C]));
        return { f, g: layerNormBackward(T(dy, [R, C]), T(x, [R, C]), T(w, [C]), f.mean, f.rstd) };
      });
    const base = run(1);
    for (const th of [2, 3, 7]) {
      const o = run(th);
      for (const [k, a, bb] of [
        ['y', o.f.y.data, base.f.y.data], ['mean', o.f.mean.data, base.f.mean.data], ['rstd', o.f.rstd.data, base.f.rstd.data],
        ['dx', o.g.dx.data, base.g.dx.data], ['dw', o.g.dw.data, base.g.dw.data], ['db', o.g.db.data, base.g.db.data],
      ] as const)
        expect(same(a, bb), `${k} threads=${th}`).toBe(true);
    }
  });
});

const GELU_SIZES = [1, 7, 8, 9, 100, 4099, 554 * 768, (1 << 20) + 3];

describe.each(cpuVariants())('gelu [%s] vs the float64 reference', (variant) => {
  for (const n of GELU_SIZES)
    for (const threads of threadCounts())
      it(`n=${n} threads=${threads}`, () => {
        const r = rng(n);
        const x = randn(n, r, 3);
        // the region where erf saturates and where GELU is tiny
        const special = [0, -0, 1e-8, -1e-8, 5, -5, 9, -9, 20, -20, 40, -40];
        for (let i = 0; i < Math.min(n, special.length); i++) x[i] = special[i]!;
        const dy = randn(n, r);
        const y = withKernel(variant, threads, () => gelu({ data: x, shape: [n] }));
        expect(y.shape).toEqual([n]);
        // avx2: A&S erf, |error| <= 1.5e-7 absolute -> |y error| <= 0.75e-7 |x|
        expectClose(y.data, geluRef(x), 3e-7, 1e-6, 'y');
        const dx = withKernel(variant, threads, () => geluBackward({ data: dy, shape: [n] }, { data: x, shape: [n] }));
        expectClose(dx.data, geluBwdRef(dy, x), 1e-6, 1e-5, 'dx');
      });

  it('any shape (rank 0 to 4), in place, and independent of the thread count', () => {
    const r = rng(3);
    const x = randn(2 * 3 * 5 * 7, r, 2), dy = randn(x.length, r);
    const base = withKernel(variant, 1, () => gelu({ data: x, shape: [2, 3, 5, 7] }));
    expect(base.shape).toEqual([2, 3, 5, 7]);
    const s = withKernel(variant, 1, () => gelu({ data: x.subarray(0, 1), shape: [] }));
    expect(s.shape).toEqual([]);
    expect(s.data[0]).toBe(base.data[0]);
    const big = randn(300001, rng(4), 3), dbig = randn(300001, rng(5));
    const y1 = withKernel(variant, 1, () => gelu({ data: big, shape: [300001] }));
    const d1 = withKernel(variant, 1, () => geluBackward({ data: dbig, shape: [300001] }, { data: big, shape: [300001] }));
    for (const th of [2, 3]) {
      expect(same(withKernel(variant, th, () => gelu({ data: big, shape: [300001] })).data, y1.data)).toBe(true);
      expect(same(withKernel(variant, th, () => geluBackward({ data: dbig, shape: [300001] }, { data: big, shape: [300001] })).data, d1.data)).toBe(true);
    }
    // in place: out = x.data, and dx into dy.data
    const xi = x.slice();
    withKernel(variant, 2, () => gelu({ data: xi, shape: [x.length] }, xi));
    expect(same(xi, base.data)).toBe(true);
    const di = dy.slice();
    const want = withKernel(variant, 2, () => geluBackward({ data: dy, shape: [dy.length] }, { data: x, shape: [x.length] }));
    withKernel(variant, 2, () => geluBackward({ data: di, shape: [dy.length] }, { data: x, shape: [x.length] }, di));
    expect(same(di, want.data)).toBe(true);
  });
});

describe('pointwise references', () => {
  it('erf matches known values', () => {
    expect(erf(0)).toBe(0);
    expectClose([erf(0.5), erf(1), erf(2), erf(-3), erf(5.5)], [0.5204998778130465, 0.8427007929497149, 0.9953222650189527, -0.9999779095030014, 0.9999999999999927], 1e-15, 1e-14);
  });

  it('layerNormBwdRef matches central differences of sum(dy * layerNormRef) in x, w and b', () => {
    const R = 3, C = 5, eps = 1e-3;
    const r = rng(11);
    const x = Float64Array.from(randn(R * C, r)), w = Float64Array.from(randn(C, r)), b = Float64Array.from(randn(C, r)), dy = Float64Array.from(randn(R * C, r));
    const loss = (xx: Float64Array, ww: Float64Array, bb: Float64Array) => {
      const y = layerNormRef(xx, ww, bb, R, C, eps).y;
      let s = 0;
      for (let i = 0; i < y.length; i++) s += dy[i]! * y[i]!;
      return s;
    };
    const g = layerNormBwdRef(dy, x, w, R, C, eps);
    expectClose(g.dx, finiteDiff((v) => loss(v, w, b), x, 1e-5, undefined, true), 1e-8, 1e-6, 'dx');
    expectClose(g.dw, finiteDiff((v) => loss(x, v, b), w, 1e-5, undefined, true), 1e-8, 1e-6, 'dw');
    expectClose(g.db, finiteDiff((v) => loss(x, w, v), b, 1e-5, undefined, true), 1e-8, 1e-6, 'db');
  });

  it('geluBwdRef matches central differences of sum(dy * geluRef)', () => {
    const r = rng(12);
    const x = Float64Array.from(randn(40, r, 3)), dy = Float64Array.from(randn(40, r));
    const loss = (v: Float64Array) => geluRef(v).reduce((s, y, i) => s + dy[i]! * y, 0);
    expectClose(geluBwdRef(dy, x), finiteDiff(loss, x, 1e-4, undefined, true), 1e-9, 1e-7, 'dx');
  });
});

describe('layerNorm / gelu validation', () => {
  const x = { data: new Float32Array(6), shape: [2, 3] };
  const w = { data: new Float32Array(3), shape: [3] };
  const m = { data: new Float32Array(2), shape: [2] };

  it('layerNorm: TypeError / RangeError naming the argument', () => {
    expect(() => layerNorm({ data: new Float64Array(6) as unknown as Float32Array, shape: [2, 3] }, w, w)).toThrow(TypeError);
    expect(() => layerNorm({ data: new Float64Array(6) as unknown as Float32Array, shape: [2, 3] }, w, w)).toThrow(/ x /);
    expect(() => layerNorm({ data: new Float32Array(6), shape: [6] }, w, w)).toThrow(TypeError);
    expect(() => layerNorm(x, { data: new Float32Array(4), shape: [4] }, w)).toThrow(RangeError);
    expect(() => layerNorm(x, { data: new Float32Array(4), shape: [4] }, w)).toThrow(/ w /);
    expect(() => layerNorm(x, w, { data: new Float32Array(2), shape: [2] })).toThrow(/ b /);
    for (const eps of [0, -1, NaN, Infinity, 1e-50, 1e39]) expect(() => layerNorm(x, w, w, { eps })).toThrow(/eps/);
    expect(() => layerNorm(x, w, w, { eps: 0 })).toThrow(RangeError);
    expect(() => layerNorm(x, w, w, { eps: '1' as unknown as number })).toThrow(TypeError);
    expect(() => layerNorm(x, w, w, { out: new Float32Array(5) })).toThrow(/out/);
    expect(() => layerNorm(x, w, w, { mean: new Float64Array(2) as unknown as Float32Array })).toThrow(/mean/);
    expect(() => layerNorm(x, w, w, { rstd: new Float32Array(3) })).toThrow(/rstd/);
    expect(() => layerNorm(x, w, w, null as unknown as object)).toThrow(/opts/);
    expect(() => layerNorm(x, w, w, { out: x.data })).toThrow(/not to share memory/);
    expect(() => layerNormDims([])).toThrow(TypeError);
    expect(layerNormDims([2, 64, 64, 192])).toEqual({ R: 8192, C: 192 });
  });

  it('layerNormBackward: TypeError / RangeError naming the argument', () => {
    expect(() => layerNormBackward({ data: new Float32Array(8), shape: [2, 4] }, x, w, m, m)).toThrow(/ x /);
    expect(() => layerNormBackward(x, x, { data: new Float32Array(2), shape: [2] }, m, m)).toThrow(/ w /);
    expect(() => layerNormBackward(x, x, w, { data: new Float32Array(3), shape: [3] }, m)).toThrow(/mean/);
    expect(() => layerNormBackward(x, x, w, m, { data: new Int32Array(2) as unknown as Float32Array, shape: [2] })).toThrow(/rstd/);
    expect(() => layerNormBackward(x, x, w, m, m, { dw: new Float32Array(2) })).toThrow(/dw/);
    expect(() => layerNormBackward(x, x, w, m, m, { db: new Float32Array(2) })).toThrow(/db/);
    expect(() => layerNormBackward(x, x, w, m, m, { dx: new Float32Array(2) })).toThrow(/dx/);
    expect(() => layerNormBackward(x, x, w, m, m, { dx: x.data })).toThrow(/not to share memory/);
  });

  it('the native bindings re-validate (count, kinds, shapes, eps, overlaps)', () => {
    const nb = native();
    // loosely typed, for the wrong-argument-count calls
    const loose = nb as unknown as Record<'layerNorm' | 'layerNormBackward' | 'geluBackward', (...args: unknown[]) => unknown>;
    const f = (n: number) => new Float32Array(n);
    expect(() => loose.layerNorm(f(6), f(3), f(3), f(6), null, null, 2, 3)).toThrow(/arguments|expected 9/);
    expect(() => nb.layerNorm(f(6), f(3), f(3), f(6), null, null, 2, 3, 0)).toThrow(/eps/);
    expect(() => nb.layerNorm(f(6), f(3), f(3), f(6), null, null, 2, 3, 1e-60)).toThrow(/eps/);
    expect(() => nb.layerNorm(f(6), f(3), f(3), f(6), null, null, 2, 3, NaN)).toThrow(/eps/);
    expect(() => nb.layerNorm(f(5), f(3), f(3), f(6), null, null, 2, 3, 1e-6)).toThrow(/x to have 6 elements/);
    expect(() => nb.layerNorm(f(6), f(3), f(3), f(6), f(3), null, 2, 3, 1e-6)).toThrow(/mean/);
    expect(() => nb.layerNorm(f(6), f(3), f(3), f(6), null, null, -1, 3, 1e-6)).toThrow(/R/);
    expect(() => nb.layerNorm(f(6), f(3), f(3), f(6), null, null, 2, 0, 1e-6)).toThrow(/C/);
    expect(() => nb.layerNorm(new Float64Array(6) as unknown as Float32Array, f(3), f(3), f(6), null, null, 2, 3, 1e-6)).toThrow(TypeError);
    const buf = f(12);
    expect(() => nb.layerNorm(buf.subarray(0, 6), f(3), f(3), buf.subarray(4, 10), null, null, 2, 3, 1e-6)).toThrow(/y and x not to share memory/);
    const st = f(2);
    expect(() => nb.layerNorm(f(6), f(3), f(3), f(6), st, st, 2, 3, 1e-6)).toThrow(/mean and rstd not to share memory/);
    const xs = f(6);
    expect(() => nb.layerNorm(xs, f(3), f(3), f(6), xs.subarray(0, 2), null, 2, 3, 1e-6)).toThrow(/mean and x/);
    expect(() => loose.layerNormBackward(f(6), f(6), f(3), f(2), f(2), f(6), null, null, 2, 3, 0)).toThrow(/arguments|expected 10/);
    expect(() => nb.layerNormBackward(f(6), f(6), f(3), f(2), f(1), f(6), null, null, 2, 3)).toThrow(/rstd/);
    const dw = f(3);
    expect(() => nb.layerNormBackward(f(6), f(6), f(3), f(2), f(2), f(6), dw, dw, 2, 3)).toThrow(/db and dw not to share memory/);
    const dy = f(6);
    expect(() => nb.layerNormBackward(dy, f(6), f(3), f(2), f(2), dy, null, null, 2, 3)).toThrow(/dx and dy not to share memory/);
    // null parameter gradients are fine (not computed)
    expect(nb.layerNormBackward(f(6), f(6), f(3), f(2), f(2), f(6), null, null, 2, 3)).toBeInstanceOf(Float32Array);
    expect(() => nb.gelu(f(4), f(3), 4)).toThrow(/y to have 4 elements/);
    expect(() => nb.gelu(f(4), f(4), 0)).toThrow(/n/);
    const g = f(8);
    expect(() => nb.gelu(g.subarray(0, 4), g.subarray(2, 6), 4)).toThrow(/not to share memory/);
    expect(() => nb.geluBackward(f(4), g.subarray(0, 4), g.subarray(1, 5), 4)).toThrow(/dx and x not to share memory/);
    expect(() => loose.geluBackward(f(4), f(4), f(4))).toThrow(/arguments|expected 4/);
  });

  it('gelu / geluBackward: TypeError / RangeError naming the argument', () => {
    expect(() => gelu({ data: new Int32Array(3) as unknown as Float32Array, shape: [3] })).toThrow(/ x /);
    expect(() => gelu({ data: new Float32Array(3), shape: 3 as unknown as number[] })).toThrow(/x\.shape/);
    expect(() => gelu({ data: new Float32Array(3), shape: [4] })).toThrow(RangeError);
    expect(() => gelu({ data: new Float32Array(0), shape: [0] })).toThrow(/x\.shape\[0\]/);
    expect(() => gelu(null as unknown as { data: Float32Array; shape: number[] })).toThrow(TypeError);
    expect(() => gelu({ data: new Float32Array(3), shape: [3] }, new Float32Array(2))).toThrow(/out/);
    const t = { data: new Float32Array(6), shape: [2, 3] };
    expect(() => geluBackward(t, { data: new Float32Array(6), shape: [3, 2] })).toThrow(/ x /);
    expect(() => geluBackward(t, { data: new Float32Array(6), shape: [6] })).toThrow(TypeError);
    expect(() => geluBackward({ data: new Float64Array(6) as unknown as Float32Array, shape: [2, 3] }, t)).toThrow(/dy/);
    expect(() => geluBackward(t, t, t.data.subarray(1, 7) as Float32Array)).toThrow(/out/);
  });
});
