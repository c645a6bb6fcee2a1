import { describe, expect, it } from 'vitest';
import { gatherTokens, gatherTokensBackward, scatterTokens, scatterTokensBackward } from '../../src/index.js';
import { cpuVariants, expectClose, finiteDiff, randIndices, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { gatherBwdRef, gatherRef, scatterRef } from '../reference/gatherScatter.js';

const CASES = [
  { B: 1, N: 1, K: 1, D: 1 },
  { B: 2, N: 7, K: 3, D: 5 },
  { B: 3, N: 13, K: 13, D: 9 }, // K = N
  { B: 2, N: 1029, K: 720, D: 64 },
  { B: 1, N: 4101, K: 2872, D: 384 },
];

describe.each(cpuVariants())('gather/scatter [%s]', (variant) => {
  for (const c of CASES) {
    for (const threads of threadCounts()) {
      it(`B=${c.B} N=${c.N} K=${c.K} D=${c.D} threads=${threads}`, () => {
        const r = rng(c.N * 31 + c.K);
        const { B, N, K, D } = c;
        const x = randn(B * N * D, r);
        const idx = randIndices(B, N, K, r);
        const src = randn(B * K * D, r);
        withKernel(variant, threads, () => {
          const g = gatherTokens({ data: x, shape: [B, N, D] }, { data: idx, shape: [B, K] });
          expect(g.shape).toEqual([B, K, D]);
          expectClose(g.data, gatherRef(x, idx, B, N, K, D), 0, 0, 'gather');
          const s = scatterTokens({ data: x, shape: [B, N, D] }, { data: idx, shape: [B, K] }, { data: src, shape: [B, K, D] });
          expectClose(s.data, scatterRef(x, idx, src, B, N, K, D), 0, 0, 'scatter');
          // gather backward with duplicate indices (allowed for gather)
          const dupIdx = new Int32Array(B * K).map((_, i) => (i * 7) % Math.max(1, Math.min(N, 3)));
          const dout = randn(B * K * D, r);
          const dx = gatherTokensBackward({ data: dout, shape: [B, K, D] }, { data: dupIdx, shape: [B, K] }, N);
          // float32 sums of up to K/3 rows against a float64 sum
          expectClose(dx.data, gatherBwdRef(dout, dupIdx, B, N, K, D), 1e-3, 1e-5, 'gather bwd');
          const dS = randn(B * N * D, r);
          const { dbase, dsrc } = scatterTokensBackward({ data: dS, shape: [B, N, D] }, { data: idx, shape: [B, K] });
          const wantDsrc = gatherRef(dS, idx, B, N, K, D);
          const wantDbase = scatterRef(dS, idx, new Float64Array(B * K * D), B, N, K, D);
          expectClose(dsrc.data, wantDsrc, 0, 0, 'scatter dsrc');
          expectClose(dbase.data, wantDbase, 0, 0, 'scatter dbase');
        });
      });
    }
  }

  it('in-place scatter writes into base', () => {
    const r = rng(5);
    const base = randn(2 * 6 * 3, r), src = randn(2 * 2 * 3, r), idx = new Int32Array([5, 0, 1, 3]);
    const want = scatterRef(base, idx, src, 2, 6, 2, 3);
    withKernel(variant, 2, () => scatterTokens({ data: base, shape: [2, 6, 3] }, { data: idx, shape: [2, 2] }, { data: src, shape: [2, 2, 3] }, base));
    expectClose(base, want, 0, 0);
  });
});

describe('gather/scatter gradients vs finite differences', () => {
  it('loss = sum(w * scatter(base, idx, gather(x, idx2)))', () => {
    const r = rng(11);
    const B = 2, N = 5, K = 3, D = 2;
    const idx = randIndices(B, N, K, r);
    const idx2 = new Int32Array([0, 0, 4, 1, 2, 2]); // duplicates in the gather
    const w = randn(B * N * D, r);
    const x0 = Float64Array.from(randn(B * N * D, r));
    const base = randn(B * N * D, r);
    const loss = (x: Float64Array) => {
      const g = gatherRef(x, idx2, B, N, K, D);
      const s = scatterRef(base, idx, g, B, N, K, D);
      let l = 0;
      for (let i = 0; i < s.length; i++) l += w[i]! * s[i]!;
      return l;
    };
    const fd = finiteDiff(loss, x0, 1e-4);
    const { dsrc } = scatterTokensBackward({ data: w, shape: [B, N, D] }, { data: idx, shape: [B, K] });
    const dx = gatherTokensBackward(dsrc, { data: idx2, shape: [B, K] }, N);
    expectClose(dx.data, fd, 1e-5, 1e-4);
  });
});

describe('gather/scatter errors', () => {
  const x = { data: new Float32Array(2 * 4 * 3), shape: [2, 4, 3] };
  it('names the argument and the value', () => {
    expect(() => gatherTokens(x, { data: new Int32Array([0, 4, 1, 2]), shape: [2, 2] })).toThrow(/idx\[0\]\[1\] = 4 is out of range \[0, 4\)/);
    expect(() => gatherTokens(x, { data: new Float32Array(4) as unknown as Int32Array, shape: [2, 2] })).toThrow(TypeError);
    expect(() => gatherTokens(x, { data: new Int32Array(3), shape: [3, 1] })).toThrow(/expected idx to be int32 \[B,K\] with B=2, received int32 \[3,1\]/);
    expect(() => scatterTokens(x, { data: new Int32Array([1, 1, 0, 2]), shape: [2, 2] }, { data: new Float32Array(12), shape: [2, 2, 3] })).toThrow(/duplicate index 1 in row 0 at positions 0 and 1/);
    expect(() => gatherTokens({ data: new Float32Array(0), shape: [0, 4, 3] }, { data: new Int32Array(0), shape: [0, 2] })).toThrow(RangeError);
  });
});
