import { describe, expect, it } from 'vitest';
import { prunedBlock, tomeBlock, tomeBlockAsync, tomeMergeCount, type PrunedBlockWeights, type TomeMode } from '../../src/index.js';
import { native } from '../../src/native.js';
import { randomBlockWeights } from '../reference/prunedBlock.js';
import { mergeRef, tomeBlockRef, tomePlanRef, unmergeRef } from '../reference/tomeBlock.js';
import { cpuVariants, expectClose, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';

interface Case {
  name: string;
  B: number;
  T: number;
  P0: number;
  D: number;
  H: number;
  F: number;
  ratio: number;
  big?: boolean;
}

const CASES: Case[] = [
  { name: 'tiny (Tu=1, no merge)', B: 1, T: 1, P0: 0, D: 8, H: 1, F: 16, ratio: 0.5 },
  { name: 'T=2, one merge', B: 1, T: 2, P0: 0, D: 8, H: 2, F: 16, ratio: 0.5 },
  { name: 'tails B>1', B: 2, T: 23, P0: 3, D: 24, H: 3, F: 40, ratio: 0.6 },
  { name: 'capped at |A|, Dh=18', B: 1, T: 37, P0: 0, D: 36, H: 2, F: 72, ratio: 0.4 },
  { name: 'all protected', B: 1, T: 6, P0: 6, D: 16, H: 2, F: 24, ratio: 0.5 },
  { name: 'engine 3+16+256', B: 1, T: 275, P0: 19, D: 96, H: 3, F: 384, ratio: 0.7 },
  { name: 'realistic D=384', B: 1, T: 275, P0: 19, D: 384, H: 6, F: 1536, ratio: 0.5, big: true },
];
const MODES: TomeMode[] = ['mhsa', 'mhsa+mlp'];

interface Inputs {
  x: Float32Array;
  w: PrunedBlockWeights;
}
const cache = new Map<string, Inputs>();
function inputs(c: Case): Inputs {
  let v = cache.get(c.name);
  if (!v) {
    const r = rng(c.T * 131 + c.D * 7 + c.P0);
    v = { x: randn(c.B * c.T * c.D, r), w: randomBlockWeights(c.D, c.F, c.D + c.F) };
    cache.set(c.name, v);
  }
  return v;
}
const refCache = new Map<string, ReturnType<typeof tomeBlockRef>>();
function want(c: Case, mode: TomeMode) {
  const key = `${c.name}|${mode}`;
  let v = refCache.get(key);
  if (!v) {
    const { x, w } = inputs(c);
    v = tomeBlockRef(x, c.B, c.T, c.D, c.H, c.P0, mode, c.ratio, w);
    refCache.set(key, v);
  }
  return v;
}

function call(c: Case, mode: TomeMode, ratio = c.ratio, x = inputs(c).x, out?: Float32Array) {
  const mergeMap = new Int32Array(c.B * c.T);
  const y = tomeBlock({ data: x, shape: [c.B, c.T, c.D] }, inputs(c).w, { heads: c.H, protectedTokens: c.P0, mode, ratio, mergeMap, out });
  return { out: y.data, map: mergeMap };
}

// Float32 pipeline vs float64 (as prunedBlock's tests); merged rows add one averaging step.
const ATOL = 3e-4, RTOL = 3e-4;

describe('tomeMergeCount', () => {
  it('m = Tu - round(r Tu), capped at ceil(Tu/2), 0 for Tu < 2', () => {
    expect(tomeMergeCount(256, 0.7)).toBe(77);
    expect(tomeMergeCount(256, 0.5)).toBe(128);
    expect(tomeMergeCount(256, 0.4)).toBe(128); // capped: at most |A| tokens can merge
    expect(tomeMergeCount(255, 0.4)).toBe(128);
    expect(tomeMergeCount(10, 1)).toBe(0);
    expect(tomeMergeCount(1, 0.1)).toBe(0);
    expect(tomeMergeCount(5, 0.5)).toBe(2); // round(2.5) = 3 kept
  });
});

describe('tomeBlock reference invariants', () => {
  it('unmerge(merge(x)) = x for a constant sequence and any plan; merge/unmerge with the identity plan is identity', () => {
    const T = 9, D = 5;
    const row = randn(D, rng(4));
    const x = Float64Array.from({ length: T * D }, (_, i) => row[i % D]!);
    const map = Int32Array.from([0, 1, 2, 1, 3, 2, 4, 5, 5]);
    expect(unmergeRef(mergeRef(x, map, T, 6, D), map, T, D)).toEqual(x);
    const y = randn(T * D, rng(5));
    const id = Int32Array.from({ length: T }, (_, t) => t);
    const back = unmergeRef(mergeRef(y, id, T, T, D), id, T, D);
    expectClose(back, y, 0, 0);
  });

  it('ratio 1 equals the plain block (prunedBlock reference)', () => {
    const c = CASES[2]!;
    const { x, w } = inputs(c);
    const a = tomeBlockRef(x, c.B, c.T, c.D, c.H, c.P0, 'mhsa', 1, w).out;
    const b = tomeBlockRef(x, c.B, c.T, c.D, c.H, c.P0, 'mhsa+mlp', 1, w).out;
    expectClose(a, b, 1e-12, 1e-12);
  });
});

describe.each(cpuVariants())('tomeBlock [%s]', (variant) => {
  for (const c of CASES) {
    const threads = variant === 'ref' && c.big ? [1] : threadCounts();
    for (const mode of MODES) {
      if (c.big && mode === 'mhsa+mlp' && variant === 'ref') continue; // keep the slow reference path short
      it(`${c.name} ${mode}: B=${c.B} T=${c.T} P0=${c.P0} D=${c.D} H=${c.H} r=${c.ratio} threads=${threads.join(',')}`, () => {
        const { out: wantOut, plan } = want(c, mode);
        const got = threads.map((t) => withKernel(variant, t, () => call(c, mode)));
        // the data is far from a tie, so the float32 kernel must find the float64 plan
        if (plan.m > 0) expect(plan.margin).toBeGreaterThan(1e-5);
        for (const g of got) {
          expect(g.map).toEqual(plan.map);
          expectClose(g.out, wantOut, ATOL, RTOL, c.name);
        }
        for (const g of got.slice(1)) {
          expect(g.out).toEqual(got[0]!.out);
          expect(g.map).toEqual(got[0]!.map);
        }
        // sizes: T - m distinct rows per batch row, protected tokens are their own rows
        const m = tomeMergeCount(c.T - c.P0, c.ratio);
        for (let b = 0; b < c.B; b++) {
          const row = got[0]!.map.subarray(b * c.T, (b + 1) * c.T);
          expect(new Set(row).size).toBe(c.T - m);
          expect(Math.max(...row)).toBe(c.T - m - 1);
          for (let t = 0; t < c.P0; t++) expect(row[t]).toBe(t);
          // a group of several tokens is one destination b (odd offset) and a's (even offsets) merged into it
          const groups = new Map<number, number[]>();
          for (let t = 0; t < c.T; t++) groups.set(row[t]!, [...(groups.get(row[t]!) ?? []), t]);
          for (const g of groups.values()) {
            if (g.length === 1) continue;
            expect(g.every((t) => t >= c.P0)).toBe(true);
            expect(g.filter((t) => (t - c.P0) % 2 === 1).length).toBe(1);
          }
        }
      }, 60_000);
    }
  }

  for (const c of CASES.filter((k) => !k.big)) {
    it(`${c.name}: ratio 1 equals prunedBlock (idx null) bit for bit, both modes`, () => {
      const { x, w } = inputs(c);
      for (const t of threadCounts()) {
        const plain = withKernel(variant, t, () => prunedBlock({ data: x, shape: [c.B, c.T, c.D] }, null, w, { heads: c.H }).data);
        for (const mode of MODES) {
          const got = withKernel(variant, t, () => call(c, mode, 1));
          expect(got.out).toEqual(plain);
          expect(got.map).toEqual(Int32Array.from({ length: c.B * c.T }, (_, i) => i % c.T));
        }
      }
    });

    it(`${c.name}: in-place (out = x) equals out-of-place`, () => {
      const { x } = inputs(c);
      for (const mode of MODES) {
        const wantOut = withKernel(variant, 2, () => call(c, mode).out);
        const buf = x.slice();
        const res = withKernel(variant, 2, () => call(c, mode, c.ratio, buf, buf));
        expect(res.out).toBe(buf);
        expect(buf).toEqual(wantOut);
      }
    });
  }

  it('a constant sequence: all similarities tie (lowest a merge into the first b) and the output equals the plain block', () => {
    const c: Case = { name: 'const', B: 1, T: 21, P0: 2, D: 16, H: 2, F: 32, ratio: 0.5 };
    const w = randomBlockWeights(c.D, c.F, 9);
    const row = randn(c.D, rng(8));
    const x = Float32Array.from({ length: c.T * c.D }, (_, i) => row[i % c.D]!);
    for (const mode of MODES) {
      const map = new Int32Array(c.T);
      const got = withKernel(variant, 2, () => tomeBlock({ data: x, shape: [1, c.T, c.D] }, w, { heads: c.H, protectedTokens: c.P0, mode, ratio: c.ratio, mergeMap: map }));
      const plain = withKernel(variant, 2, () => prunedBlock({ data: x, shape: [1, c.T, c.D] }, null, w, { heads: c.H }));
      expectClose(got.data, plain.data, 1e-5, 1e-5);
      const m = tomeMergeCount(c.T - c.P0, c.ratio); // 10 of Tu = 19
      expect(m).toBe(9);
      // a_0..a_{m-1} (offsets 0, 2, ..) merge into b_0 (offset 1)
      for (let i = 0; i < m; i++) expect(map[c.P0 + 2 * i]).toBe(map[c.P0 + 1]);
      expect(new Set(map).size).toBe(c.T - m);
    }
  });

  it('async equals sync; lnEps is honoured', async () => {
    const c = CASES[2]!;
    const { x, w } = inputs(c);
    const syncOut = withKernel(variant, 2, () => call(c, 'mhsa+mlp').out);
    native().setKernel(variant);
    try {
      const res = await tomeBlockAsync({ data: x, shape: [c.B, c.T, c.D] }, w, { heads: c.H, protectedTokens: c.P0, mode: 'mhsa+mlp', ratio: c.ratio });
      expect(res.shape).toEqual([c.B, c.T, c.D]);
      expect(res.data).toEqual(syncOut);
    } finally {
      native().setKernel('auto');
    }
    const ref = tomeBlockRef(x, c.B, c.T, c.D, c.H, c.P0, 'mhsa', c.ratio, w, 0.5).out;
    const got = withKernel(variant, 2, () => tomeBlock({ data: x, shape: [c.B, c.T, c.D] }, w, { heads: c.H, protectedTokens: c.P0, mode: 'mhsa', ratio: c.ratio, lnEps: 0.5 }));
    expectClose(got.data, ref, ATOL, RTOL);
  });
});

describe('tomeBlock errors', () => {
  const B = 1, T = 6, D = 8, H = 2, F = 12;
  const x = { data: randn(B * T * D, rng(1)), shape: [B, T, D] };
  const w = randomBlockWeights(D, F, 3);
  const nw: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(w)) nw[k] = t.data;
  const opts = { heads: H, protectedTokens: 2, mode: 'mhsa' as TomeMode, ratio: 0.5 };
  const nb = native();

  it('options: mode, ratio, protectedTokens, heads, mergeMap, opts', () => {
    expect(() => tomeBlock(x, w, { ...opts, mode: 'mlp' as TomeMode })).toThrow(/mode.*'mhsa' or 'mhsa\+mlp'/);
    expect(() => tomeBlock(x, w, { ...opts, ratio: 0 })).toThrow(RangeError);
    expect(() => tomeBlock(x, w, { ...opts, ratio: 1.5 })).toThrow(/ratio.*\(0, 1\].*1\.5/);
    expect(() => tomeBlock(x, w, { ...opts, ratio: Number.NaN })).toThrow(/ratio/);
    expect(() => tomeBlock(x, w, { ...opts, protectedTokens: 7 })).toThrow(/protectedTokens.*\[0, 6\].*7/);
    expect(() => tomeBlock(x, w, { ...opts, protectedTokens: -1 })).toThrow(RangeError);
    expect(() => tomeBlock(x, w, { ...opts, heads: 3 })).toThrow(/multiple of heads/);
    expect(() => tomeBlock(x, w, { ...opts, mergeMap: new Int32Array(5) })).toThrow(/mergeMap.*6 elements/);
    expect(() => tomeBlock(x, w, { ...opts, mergeMap: new Float32Array(6) as unknown as Int32Array })).toThrow(TypeError);
    expect(() => tomeBlock(x, w, { ...opts, out: new Float32Array(3) })).toThrow(/out/);
    expect(() => tomeBlock(x, w, { ...opts, lnEps: -1 })).toThrow(/lnEps/);
    expect(() => tomeBlock(x, w, null as unknown as typeof opts)).toThrow(TypeError);
    expect(() => tomeBlock({ data: x.data, shape: [B, T * D] }, w, opts)).toThrow(TypeError);
  });

  it('weights: missing -> TypeError naming it; wrong shape -> RangeError with the expected shape', () => {
    const { ['ls1.gamma']: _drop, ...rest } = w;
    expect(() => tomeBlock(x, rest as PrunedBlockWeights, opts)).toThrow(/ls1\.gamma/);
    const { ['ls1.gamma']: _drop2, ...restN } = nw;
    expect(() => nb.tomeBlock(x.data, new Float32Array(B * T * D), null, B, T, D, H, 2, restN, 'mhsa', 0.5, 1e-6)).toThrow(/weights\['ls1\.gamma'\].*Float32Array.*undefined/);
    const bad = { ...nw, 'mlp.fc1.weight': new Float32Array(F * D - 1) };
    expect(() => nb.tomeBlock(x.data, new Float32Array(B * T * D), null, B, T, D, H, 2, bad, 'mhsa', 0.5, 1e-6)).toThrow(/weights\['mlp\.fc1\.weight'\] to have 96 elements \(\[F,D\] = \[12,8\]\)/);
    expect(() => nb.tomeBlock(x.data, new Float32Array(B * T * D), null, B, T, D, H, 2, 'w' as unknown as Record<string, Float32Array>, 'mhsa', 0.5, 1e-6)).toThrow(TypeError);
  });

  it('native binding re-validates every argument', () => {
    const out = () => new Float32Array(B * T * D);
    expect(() => nb.tomeBlock(x.data, out(), null, B, T, D, H, 2, nw, 'mlp', 0.5, 1e-6)).toThrow(RangeError);
    expect(() => nb.tomeBlock(x.data, out(), null, B, T, D, H, 2, nw, 3 as unknown as string, 0.5, 1e-6)).toThrow(TypeError);
    expect(() => nb.tomeBlock(x.data, out(), null, B, T, D, H, 2, nw, 'mhsa', 0, 1e-6)).toThrow(/ratio/);
    expect(() => nb.tomeBlock(x.data, out(), null, B, T, D, H, 2, nw, 'mhsa', Number.NaN, 1e-6)).toThrow(/ratio/);
    expect(() => nb.tomeBlock(x.data, out(), null, B, T, D, H, 2, nw, 'mhsa', 0.5, 0)).toThrow(/lnEps/);
    expect(() => nb.tomeBlock(x.data, out(), null, B, T, D, H, 7, nw, 'mhsa', 0.5, 1e-6)).toThrow(/P0 <= T/);
    expect(() => nb.tomeBlock(x.data, out(), null, B, T, D, 3, 2, nw, 'mhsa', 0.5, 1e-6)).toThrow(/multiple of H/);
    expect(() => nb.tomeBlock(x.data, out(), null, B, T + 1, D, H, 2, nw, 'mhsa', 0.5, 1e-6)).toThrow(/x to have/);
    expect(() => nb.tomeBlock(x.data, out(), new Int32Array(5), B, T, D, H, 2, nw, 'mhsa', 0.5, 1e-6)).toThrow(/mergeMap/);
    const big = new Float32Array(B * T * D + D);
    expect(() => nb.tomeBlock(big.subarray(0, B * T * D), big.subarray(D), null, B, T, D, H, 2, nw, 'mhsa', 0.5, 1e-6)).toThrow(/not to share memory/);
    const mapOverX = new Int32Array(x.data.buffer, x.data.byteOffset, B * T);
    expect(() => nb.tomeBlock(x.data, out(), mapOverX, B, T, D, H, 2, nw, 'mhsa', 0.5, 1e-6)).toThrow(/mergeMap and x not to share memory/);
    const o = out();
    const ow = { ...nw, 'ls2.gamma': o.subarray(0, D) };
    expect(() => nb.tomeBlock(x.data, o, null, B, T, D, H, 2, ow, 'mhsa', 0.5, 1e-6)).toThrow(/ls2\.gamma.*not to share memory/);
    const mw = new Int32Array(nw['ls1.gamma']!.buffer, nw['ls1.gamma']!.byteOffset, B * T);
    expect(() => nb.tomeBlock(x.data, out(), mw, B, T, D, H, 2, nw, 'mhsa', 0.5, 1e-6)).toThrow(/mergeMap and weights\['ls1\.gamma'\] not to share memory/);
    expect(() => Reflect.apply(nb.tomeBlock, nb, [x.data, out(), null, B, T, D, H, 2, nw, 'mhsa', 0.5])).toThrow(/12 arguments/);
    expect(() => nb.tomeBlockAsync(x.data, out(), null, B, T, D, H, 2, nw, 'x', 0.5, 1e-6)).toThrow(/mode/);
  });
});
