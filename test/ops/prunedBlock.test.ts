import { describe, expect, it } from 'vitest';
import { prunedBlock, prunedBlockAsync, type PrunedBlockDims, type PrunedBlockWeights } from '../../src/index.js';
import { native } from '../../src/native.js';
import { erf, prunedBlockRef, randomBlockWeights } from '../reference/prunedBlock.js';
import { cpuVariants, expectClose, randIndices, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';

interface Case extends PrunedBlockDims {
  name: string;
  nullIdx?: boolean;
  big?: boolean;
}

const CASES: Case[] = [
  { name: 'tiny', B: 1, N: 1, K: 1, D: 8, H: 1, F: 32 },
  { name: 'tails B>1', B: 2, N: 19, K: 7, D: 24, H: 3, F: 40 },
  { name: 'K=N permuted, Dh=18', B: 1, N: 37, K: 37, D: 36, H: 2, F: 144 },
  { name: 'idx null', B: 2, N: 13, K: 13, D: 16, H: 2, F: 24, nullIdx: true },
  { name: 'K=211 of 300', B: 1, N: 300, K: 211, D: 64, H: 2, F: 256 },
  { name: 'realistic', B: 1, N: 1029, K: 720, D: 384, H: 6, F: 1536, big: true },
];

interface Inputs {
  x: Float32Array;
  idx: Int32Array | null;
  w: PrunedBlockWeights;
  want: Float64Array;
}

const cache = new Map<string, Inputs>();
function inputs(c: Case): Inputs {
  let v = cache.get(c.name);
  if (!v) {
    const r = rng(c.N * 131 + c.K * 7 + c.D);
    const x = randn(c.B * c.N * c.D, r);
    const idx = c.nullIdx ? null : randIndices(c.B, c.N, c.K, r); // random order, not sorted
    const w = randomBlockWeights(c.D, c.F, c.D + c.F);
    v = { x, idx, w, want: prunedBlockRef(x, idx, c.B, c.N, c.K, c.D, c.H, w) };
    cache.set(c.name, v);
  }
  return v;
}

function call(c: Case, v: Inputs, out?: Float32Array): Float32Array {
  const idx = v.idx === null ? null : { data: v.idx, shape: [c.B, c.K] };
  return prunedBlock({ data: v.x, shape: [c.B, c.N, c.D] }, idx, v.w, { heads: c.H, out }).data;
}

// Float32 pipeline (two LayerNorms, four GEMMs with reductions up to F, softmax over K) vs float64.
const ATOL = 2e-4, RTOL = 2e-4;

describe('erf (test oracle)', () => {
  it('matches tabulated values', () => {
    expect(Math.abs(erf(0.5) - 0.5204998778130465)).toBeLessThan(1e-15);
    expect(Math.abs(erf(-2) + 0.9953222650189527)).toBeLessThan(1e-15);
    expect(Math.abs(erf(4.5) - 0.9999999998033839)).toBeLessThan(1e-15);
  });
});

describe.each(cpuVariants())('prunedBlock [%s]', (variant) => {
  for (const c of CASES) {
    // The ref kernel is single-threaded and slow at the realistic size: one thread count there.
    const threads = variant === 'ref' && c.big ? [1] : threadCounts();
    it(`${c.name}: B=${c.B} N=${c.N} K=${c.K} D=${c.D} H=${c.H} F=${c.F} threads=${threads.join(',')}`, () => {
      const v = inputs(c);
      const got = threads.map((t) => withKernel(variant, t, () => call(c, v)));
      for (const g of got) expectClose(g, v.want, ATOL, RTOL, c.name);
      // rows not in idx are copied bit for bit
      if (v.idx) {
        const hit = new Uint8Array(c.B * c.N);
        for (let b = 0; b < c.B; b++) for (let k = 0; k < c.K; k++) hit[b * c.N + v.idx[b * c.K + k]!] = 1;
        for (let r = 0; r < c.B * c.N; r++)
          if (!hit[r]) expect(got[0]!.subarray(r * c.D, (r + 1) * c.D)).toEqual(v.x.subarray(r * c.D, (r + 1) * c.D));
      }
      // thread-count independence: bit-identical
      for (const g of got.slice(1)) expect(g).toEqual(got[0]);
    }, 60_000);
  }

  // The attention's threads take chunks from the back of each other's head ranges when they finish early
  // (runtime/stealing_ranges.h), so where a chunk starts changes from run to run: repeated runs must still give the
  // one-thread bits. (On a 2-core machine a run steals ~3 chunks on average at this size.)
  if (variant !== 'ref')
    it('repeated multi-thread runs (work stealing in the attention) stay bit-identical to one thread', () => {
      const c: Case = { name: 'steal', B: 2, N: 400, K: 301, D: 96, H: 3, F: 192 };
      const r = rng(77);
      const x = randn(c.B * c.N * c.D, r);
      const idx = randIndices(c.B, c.N, c.K, r);
      const w = randomBlockWeights(c.D, c.F, 5);
      const run = () => prunedBlock({ data: x, shape: [c.B, c.N, c.D] }, { data: idx, shape: [c.B, c.K] }, w, { heads: c.H }).data;
      const one = withKernel(variant, 1, run);
      const t = threadCounts()[1]!;
      for (let i = 0; i < 12; i++) expect(withKernel(variant, t, run)).toEqual(one);
    }, 60_000);

  for (const c of CASES.filter((k) => !k.big)) {
    it(`${c.name}: in-place (out = x) equals out-of-place`, () => {
      const v = inputs(c);
      for (const t of threadCounts()) {
        const want = withKernel(variant, t, () => call(c, v));
        const buf = v.x.slice();
        const idx = v.idx === null ? null : { data: v.idx, shape: [c.B, c.K] };
        const res = withKernel(variant, t, () => prunedBlock({ data: buf, shape: [c.B, c.N, c.D] }, idx, v.w, { heads: c.H, out: buf }));
        expect(res.data).toBe(buf);
        expect(buf).toEqual(want);
      }
    });
  }

  it('async equals sync', async () => {
    const c = CASES[1]!;
    const v = inputs(c);
    const want = withKernel(variant, 2, () => call(c, v));
    setKernelFor(variant);
    try {
      const res = await prunedBlockAsync({ data: v.x, shape: [c.B, c.N, c.D] }, { data: v.idx!, shape: [c.B, c.K] }, v.w, { heads: c.H });
      expect(res.shape).toEqual([c.B, c.N, c.D]);
      expect(res.data).toEqual(want);
    } finally {
      setKernelFor('auto');
    }
  });

  it('lnEps is honoured', () => {
    const c = CASES[1]!;
    const v = inputs(c);
    const want = prunedBlockRef(v.x, v.idx, c.B, c.N, c.K, c.D, c.H, v.w, 0.5);
    const got = withKernel(variant, 2, () => prunedBlock({ data: v.x, shape: [c.B, c.N, c.D] }, { data: v.idx!, shape: [c.B, c.K] }, v.w, { heads: c.H, lnEps: 0.5 }));
    expectClose(got.data, want, ATOL, RTOL);
  });
});

function setKernelFor(v: 'ref' | 'avx2' | 'avx512' | 'auto'): void {
  native().setKernel(v);
}

describe('prunedBlock errors', () => {
  const B = 1, N = 5, K = 3, D = 8, H = 2, F = 12;
  const x = { data: randn(B * N * D, rng(1)), shape: [B, N, D] };
  const idx = { data: new Int32Array([4, 0, 2]), shape: [B, K] };
  const w = randomBlockWeights(D, F, 3);

  it('missing weight -> TypeError naming it', () => {
    const { ['norm2.bias']: _drop, ...rest } = w;
    expect(() => prunedBlock(x, idx, rest as PrunedBlockWeights, { heads: H })).toThrow(TypeError);
    expect(() => prunedBlock(x, idx, rest as PrunedBlockWeights, { heads: H })).toThrow(/norm2\.bias/);
    const nw: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(rest)) nw[k] = t.data;
    expect(() => native().prunedBlock(x.data, idx.data, new Float32Array(B * N * D), B, N, K, D, H, nw, 1e-6)).toThrow(/weights\['norm2\.bias'\].*Float32Array.*undefined/);
  });

  it('wrong weight shape -> RangeError with the expected shape', () => {
    const bad = { ...w, 'attn.qkv.weight': { data: new Float32Array(2 * D * D), shape: [2 * D, D] } };
    expect(() => prunedBlock(x, idx, bad, { heads: H })).toThrow(RangeError);
    expect(() => prunedBlock(x, idx, bad, { heads: H })).toThrow(/attn\.qkv\.weight.*\[3D,D\]/);
    const badFc2 = { ...w, 'mlp.fc2.weight': { data: new Float32Array(D * (F + 1)), shape: [D, F + 1] } };
    expect(() => prunedBlock(x, idx, badFc2, { heads: H })).toThrow(/mlp\.fc2\.weight.*F=12/);
    const nw: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(w)) nw[k] = t.data;
    nw['mlp.fc1.weight'] = new Float32Array(F * D - 1);
    expect(() => native().prunedBlock(x.data, idx.data, new Float32Array(B * N * D), B, N, K, D, H, nw, 1e-6)).toThrow(/weights\['mlp\.fc1\.weight'\] to have 96 elements \(\[F,D\] = \[12,8\]\)/);
  });

  it('duplicate idx -> RangeError naming both positions', () => {
    const dup = { data: new Int32Array([4, 0, 4]), shape: [B, K] };
    expect(() => prunedBlock(x, dup, w, { heads: H })).toThrow(/duplicate index 4 in row 0 at positions 0 and 2/);
    const nw: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(w)) nw[k] = t.data;
    expect(() => native().prunedBlock(x.data, dup.data, new Float32Array(B * N * D), B, N, K, D, H, nw, 1e-6)).toThrow(/positions 0 and 2/);
    expect(() => prunedBlock(x, { data: new Int32Array([4, 0, 5]), shape: [B, K] }, w, { heads: H })).toThrow(/idx\[0\]\[2\] = 5 is out of range \[0, 5\)/);
  });

  it('D % H != 0 -> RangeError', () => {
    expect(() => prunedBlock(x, idx, w, { heads: 3 })).toThrow(/multiple of heads.*D=8 heads=3/);
    const nw: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(w)) nw[k] = t.data;
    expect(() => native().prunedBlock(x.data, idx.data, new Float32Array(B * N * D), B, N, K, D, 3, nw, 1e-6)).toThrow(RangeError);
  });

  it('buffers, idx = null with K != N, and lnEps', () => {
    const nw: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(w)) nw[k] = t.data;
    // out overlapping x but not identical
    const big = new Float32Array(B * N * D + D);
    const xs = big.subarray(0, B * N * D), os = big.subarray(D);
    expect(() => native().prunedBlock(xs, idx.data, os, B, N, K, D, H, nw, 1e-6)).toThrow(/not to share memory/);
    // out overlapping a weight
    const ow = { ...nw, 'ls2.gamma': xs.subarray(0, D) };
    expect(() => native().prunedBlock(x.data, idx.data, xs, B, N, K, D, H, ow, 1e-6)).toThrow(/ls2\.gamma.*not to share memory/);
    expect(() => native().prunedBlock(x.data, null, new Float32Array(B * N * D), B, N, K, D, H, nw, 1e-6)).toThrow(/K = N/);
    expect(() => native().prunedBlock(x.data, idx.data, new Float32Array(B * N * D), B, N, K, D, H, nw, Number.NaN)).toThrow(/lnEps/);
    expect(() => prunedBlock(x, idx, w, { heads: H, lnEps: -1 })).toThrow(RangeError);
    expect(() => prunedBlock(x, idx, w, { heads: H, out: new Float32Array(3) })).toThrow(/out/);
    expect(() => native().prunedBlock(x.data, idx.data, new Float32Array(B * N * D), B, N, K, D, H, 'w' as unknown as Record<string, Float32Array>, 1e-6)).toThrow(TypeError);
    const nb = native();
    expect(() => Reflect.apply(nb.prunedBlock, nb, [x.data, idx.data, new Float32Array(B * N * D), B, N, K, D, H, nw, 1e-6, 1])).toThrow(/expected precision to be a string/);
    expect(() => Reflect.apply(nb.prunedBlock, nb, [x.data, idx.data, new Float32Array(B * N * D), B, N, K, D, H, nw, 1e-6, 'fp32', 1])).toThrow(/expected offsets to be/);
    expect(() => Reflect.apply(nb.prunedBlock, nb, [x.data, idx.data, new Float32Array(B * N * D), B, N, K, D, H, nw, 1e-6, 'fp32', null, 1])).toThrow(/10 arguments/);
  });

  it('async: bad arguments reject the Promise with the class (the binding itself throws on the JS thread)', async () => {
    const dup = { data: new Int32Array([1, 1, 2]), shape: [B, K] };
    let p: Promise<unknown> | undefined;
    expect(() => { p = prunedBlockAsync(x, dup, w, { heads: H }); }).not.toThrow();
    await expect(p).rejects.toThrow(RangeError);
    await expect(p).rejects.toThrow(/^prunedBlockAsync: idx has duplicate index 1/);
    const nw: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(w)) nw[k] = t.data;
    expect(() => native().prunedBlockAsync(x.data, dup.data, new Float32Array(B * N * D), B, N, K, D, H, nw, 1e-6)).toThrow(/duplicate/);
  });
});
