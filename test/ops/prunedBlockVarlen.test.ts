/**
 * prunedBlock with variable-length rows (opts.offsets, FlashAttention's cu_seqlens; kernels/ops.h): each batch
 * row runs on its own K_b tokens of a packed idx. Checked against the float64 reference run per row, against
 * the same op run on each row alone (bit for bit on every variant: attention never mixes rows and every GEMM row
 * reduces in a fixed order), in place and out of place, sync and async, rows of length 0 and N; bad offsets.
 */
import { describe, expect, it } from 'vitest';
import { prunedBlock, prunedBlockAsync, type PrunedBlockWeights } from '../../src/index.js';
import { native } from '../../src/native.js';
import { prunedBlockRef, randomBlockWeights } from '../reference/prunedBlock.js';
import { cpuVariants, expectClose, randIndices, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';

interface Case {
  name: string;
  N: number;
  D: number;
  H: number;
  F: number;
  /** K_b per batch row. */
  lens: number[];
}

const CASES: Case[] = [
  { name: 'two rows, tails', N: 19, D: 24, H: 3, F: 40, lens: [7, 12] },
  { name: 'a row of 0 and a full row', N: 13, D: 16, H: 2, F: 24, lens: [0, 13, 5] },
  { name: 'one token rows', N: 9, D: 8, H: 1, F: 32, lens: [1, 1, 9, 1] },
  { name: 'K 211 / 97 / 300 of 300', N: 300, D: 64, H: 2, F: 256, lens: [211, 97, 300] },
];

interface Inputs {
  x: Float32Array;
  idx: Int32Array;
  offsets: Int32Array;
  w: PrunedBlockWeights;
  want: Float64Array;
}

function inputs(c: Case): Inputs {
  const B = c.lens.length;
  const r = rng(c.N * 17 + c.D);
  const x = randn(B * c.N * c.D, r);
  const offsets = new Int32Array(B + 1);
  c.lens.forEach((k, b) => (offsets[b + 1] = offsets[b]! + k));
  const idx = new Int32Array(offsets[B]!);
  c.lens.forEach((k, b) => idx.set(randIndices(1, c.N, k, r), offsets[b]!)); // random order within a row
  const w = randomBlockWeights(c.D, c.F, c.D + c.F + 1);
  // float64: each row through the fixed-K reference alone
  const want = new Float64Array(B * c.N * c.D);
  c.lens.forEach((k, b) => {
    const xb = x.subarray(b * c.N * c.D, (b + 1) * c.N * c.D);
    want.set(k === 0 ? Float64Array.from(xb) : prunedBlockRef(xb, idx.subarray(offsets[b]!, offsets[b + 1]!), 1, c.N, k, c.D, c.H, w), b * c.N * c.D);
  });
  return { x, idx, offsets, w, want };
}

function varlen(c: Case, v: Inputs, out?: Float32Array): Float32Array {
  const B = c.lens.length;
  return prunedBlock({ data: v.x, shape: [B, c.N, c.D] }, { data: v.idx, shape: [v.idx.length] }, v.w, { heads: c.H, offsets: v.offsets, out }).data;
}

// One row alone through the fixed-K op (the row of length 0 is x unchanged).
function alone(c: Case, v: Inputs, b: number): Float32Array {
  const n = c.N * c.D, k = c.lens[b]!;
  const xb = v.x.slice(b * n, (b + 1) * n);
  if (k === 0) return xb;
  return prunedBlock({ data: xb, shape: [1, c.N, c.D] }, { data: v.idx.slice(v.offsets[b]!, v.offsets[b + 1]!), shape: [1, k] }, v.w, { heads: c.H }).data;
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe.each(cpuVariants())('prunedBlock varlen [%s]', (variant) => {
  for (const c of CASES) {
    it(`${c.name}: matches the float64 reference per row and each row run alone bit for bit, any thread count`, () => {
      const v = inputs(c);
      let first: Float32Array | undefined;
      for (const threads of threadCounts()) {
        const got = withKernel(variant, threads, () => varlen(c, v));
        expectClose(got, v.want, 2e-4, 2e-4, `${variant} t=${threads}`);
        if (first === undefined) first = got;
        else expect(bits(got).equals(bits(first))).toBe(true);
        const n = c.N * c.D;
        c.lens.forEach((_, b) => {
          const one = withKernel(variant, threads, () => alone(c, v, b));
          expect(bits(got.subarray(b * n, (b + 1) * n)).equals(bits(one)), `row ${b} (K=${c.lens[b]}) ${variant} t=${threads}`).toBe(true);
        });
      }
    });
  }

  it('in place equals out of place; the async op gives the same bits', async () => {
    const c = CASES[1]!;
    const v = inputs(c);
    const want = withKernel(variant, 2, () => varlen(c, v));
    const x = v.x.slice();
    const B = c.lens.length;
    withKernel(variant, 2, () => prunedBlock({ data: x, shape: [B, c.N, c.D] }, { data: v.idx, shape: [v.idx.length] }, v.w, { heads: c.H, offsets: v.offsets, out: x }));
    expect(bits(x).equals(bits(want))).toBe(true);
    const { setKernel } = await import('../../src/index.js');
    setKernel(variant);
    try {
      const a = await prunedBlockAsync({ data: v.x, shape: [B, c.N, c.D] }, { data: v.idx, shape: [v.idx.length] }, v.w, { heads: c.H, offsets: v.offsets });
      expect(bits(a.data).equals(bits(want))).toBe(true);
    } finally {
      setKernel('auto');
    }
  });
});

describe('prunedBlock varlen: argument errors (TS and binding)', () => {
  const c = CASES[0]!;
  const v = inputs(c);
  const B = c.lens.length;
  const x = { data: v.x, shape: [B, c.N, c.D] };
  const idx = { data: v.idx, shape: [v.idx.length] };
  const run = (offsets: unknown, i: unknown = idx) => () => prunedBlock(x, i as { data: Int32Array; shape: number[] }, v.w, { heads: c.H, offsets: offsets as Int32Array });

  it('rejects bad offsets and idx in TS, naming the argument', () => {
    expect(run(new Float32Array(3))).toThrow(TypeError);
    expect(run(new Int32Array(2))).toThrow(/opts\.offsets to have B\+1 = 3 elements, received 2/);
    expect(run(Int32Array.from([1, 7, 19]))).toThrow(/opts\.offsets\[0\] = 0, received 1/);
    expect(run(Int32Array.from([0, 12, 7]))).toThrow(/row lengths opts\.offsets\[2\] - opts\.offsets\[1\] in \[0, N=19\], received 7 - 12 = -5/);
    expect(run(Int32Array.from([0, 0, 20]))).toThrow(RangeError);
    expect(run(Int32Array.from([0, 7, 18]))).toThrow(/opts\.offsets\[B=2\] to equal the index count 19, received 18/);
    expect(run(v.offsets, null)).toThrow(/expected idx .* with opts\.offsets, received null/);
    expect(run(v.offsets, { data: v.idx, shape: [1, v.idx.length] })).toThrow(TypeError);
    const dup = v.idx.slice();
    dup[8] = dup[7]!; // row 1 positions 0 and 1
    expect(run(v.offsets, { data: dup, shape: [dup.length] })).toThrow(/idx has duplicate index \d+ in row 1 at positions 0 and 1/);
    const oob = v.idx.slice();
    oob[9] = 19;
    expect(run(v.offsets, { data: oob, shape: [oob.length] })).toThrow(/idx\[1\]\[2\] = 19 is out of range \[0, 19\)/);
    expect(() => prunedBlock(x, idx, v.w, { heads: c.H, offsets: v.offsets, device: 'cuda' })).toThrow(/offsets/);
  });

  it('the binding re-validates offsets and idx', () => {
    const w: Record<string, Float32Array> = {};
    for (const [k, t] of Object.entries(v.w)) w[k] = t.data;
    const out = new Float32Array(v.x.length);
    const call = (offsets: Int32Array, id: Int32Array = v.idx, K = id.length) => () =>
      native().prunedBlock(v.x, id, out, B, c.N, K, c.D, c.H, w, 1e-6, 'fp32', offsets);
    expect(call(Int32Array.from([0, 12, 7]))).toThrow(/prunedBlock: expected row lengths offsets\[2\] - offsets\[1\] in \[0, N=19\]/);
    expect(call(Int32Array.from([0, 7, 18]))).toThrow(/offsets\[B=2\] to equal the index count 19/);
    expect(call(Int32Array.from([0, 7]))).toThrow(/offsets/);
    const oob = v.idx.slice();
    oob[3] = -1;
    expect(call(v.offsets, oob)).toThrow(/prunedBlock: idx\[0\]\[3\] = -1 is out of range \[0, 19\)/);
    expect(() => native().prunedBlock(v.x, null, out, B, c.N, c.N, c.D, c.H, w, 1e-6, 'fp32', v.offsets)).toThrow(/idx .*with offsets/);
    expect(call(v.offsets)()).toBe(out);
  });
});
