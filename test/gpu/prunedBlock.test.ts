/**
 * CUDA prunedBlock (SPEC §5) against the CPU op and the float64 reference (gather -> block -> scatter composed).
 * GPU cases skip without a device; the argument-kind and no-device tests run everywhere.
 * Tolerances (attnHelpers.ts): float32 weights (FP32 SIMT throughout) elementwise 5e-5 + 2e-4 rel vs the CPU op;
 * bfloat16 weights (tensor cores, BF16 activations between the GEMMs, FP32 residual) rel-L2 3e-2 of the block's
 * change y - X (the untouched residual would hide errors) against the CPU op on BF16-rounded weights and x.
 */
import { describe, expect, it } from 'vitest';
import { cuda, prunedBlock, type PrunedBlockWeights } from '../../src/index.js';
import { PRUNED_BLOCK_WEIGHT_NAMES } from '../../src/ops/prunedBlock.js';
import { native } from '../../src/native.js';
import { prunedBlockRef, randomBlockWeights } from '../reference/prunedBlock.js';
import { expectClose, randIndices, randn, rng } from '../reference/helpers.js';
import { bf16Round, expectRelNorm, take } from './attnHelpers.js';
import { describeGpu, gpu } from './gpu.js';

interface Case {
  name: string;
  B: number;
  N: number;
  K: number;
  D: number;
  H: number;
  F: number;
  nullIdx?: boolean;
}

const CASES: Case[] = [
  { name: 'tiny', B: 1, N: 1, K: 1, D: 8, H: 1, F: 32 },
  { name: 'tails B>1, Dh=8', B: 2, N: 19, K: 7, D: 24, H: 3, F: 40 },
  { name: 'K=N permuted, Dh=18', B: 1, N: 37, K: 37, D: 36, H: 2, F: 144 },
  { name: 'idx null', B: 2, N: 13, K: 13, D: 16, H: 2, F: 24, nullIdx: true },
  { name: 'Dh=64 (tensor-core attention) K=211 of 300', B: 2, N: 300, K: 211, D: 128, H: 2, F: 512 },
  { name: 'realistic D=384 H=6', B: 1, N: 1029, K: 720, D: 384, H: 6, F: 1536 },
];

function inputs(c: Case) {
  const r = rng(c.N * 31 + c.K * 5 + c.D);
  const x = randn(c.B * c.N * c.D, r);
  const idx = c.nullIdx ? null : randIndices(c.B, c.N, c.K, r);
  const w = randomBlockWeights(c.D, c.F, c.D + c.F + 1);
  return { x, idx, w };
}

function roundWeights(w: PrunedBlockWeights): PrunedBlockWeights {
  const o: Partial<Record<keyof PrunedBlockWeights, { data: Float32Array; shape: readonly number[] }>> = {};
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) o[name] = { data: bf16Round(w[name].data), shape: w[name].shape };
  return o as PrunedBlockWeights;
}

// The rows idx (all rows for a null idx) minus x there: the block's own contribution.
function delta(out: Float32Array, x: Float32Array, c: Case, idx: Int32Array | null): Float64Array {
  const d = new Float64Array(c.B * c.K * c.D);
  for (let b = 0; b < c.B; b++)
    for (let k = 0; k < c.K; k++) {
      const n = idx ? idx[b * c.K + k]! : k;
      for (let e = 0; e < c.D; e++) d[(b * c.K + k) * c.D + e] = out[(b * c.N + n) * c.D + e]! - x[(b * c.N + n) * c.D + e]!;
    }
  return d;
}

describeGpu('cuda prunedBlock', () => {
  for (const c of CASES) {
    it(`float32 weights match the CPU op (and the float64 reference on small cases): ${c.name}`, () => {
      const { x, idx, w } = inputs(c);
      const X = { data: x, shape: [c.B, c.N, c.D] };
      const I = idx ? { data: idx, shape: [c.B, c.K] } : null;
      const want = prunedBlock(X, I, w, { heads: c.H });
      const xd = cuda.upload(X), id = I ? cuda.upload(I) : null;
      const wd = cuda.uploadBlockWeights(w);
      try {
        const got = take(cuda.prunedBlock(xd, id, wd, { heads: c.H }));
        expectClose(got, want.data, 5e-5, 2e-4, 'vs CPU');
        if (c.N * c.D <= 20000) expectClose(got, prunedBlockRef(x, idx, c.B, c.N, c.K, c.D, c.H, w), 5e-5, 2e-4, 'vs float64 reference');
        // in place: x's DeviceTensor itself becomes the result
        const same = cuda.prunedBlock(xd, id, wd, { heads: c.H, inPlace: true });
        expect(same).toBe(xd);
        expectClose(xd.downloadSync().data, want.data, 5e-5, 2e-4, 'in place');
      } finally {
        xd.free();
        id?.free();
        cuda.freeBlockWeights(wd);
      }
    });

    it(`bfloat16 weights (and x) within rel-L2 3e-2 of the block's change: ${c.name}`, () => {
      const { x, idx, w } = inputs(c);
      const xr = bf16Round(x), wr = roundWeights(w);
      const X = { data: xr, shape: [c.B, c.N, c.D] };
      const I = idx ? { data: idx, shape: [c.B, c.K] } : null;
      const want = prunedBlock(X, I, wr, { heads: c.H });
      const wd = cuda.uploadBlockWeights(wr, { dtype: 'bfloat16' });
      const id = I ? cuda.upload(I) : null;
      try {
        for (const xdtype of ['float32', 'bfloat16'] as const) {
          const xd = cuda.upload(X, { dtype: xdtype });
          try {
            const got = take(cuda.prunedBlock(xd, id, wd, { heads: c.H }));
            expectRelNorm(delta(got, xr, c, idx), delta(want.data, xr, c, idx), 3e-2, `x ${xdtype}`);
          } finally {
            xd.free();
          }
        }
      } finally {
        id?.free();
        cuda.freeBlockWeights(wd);
      }
    });
  }

  it('an out-of-range or duplicate idx is a RangeError naming the position (checked on the device), x untouched', () => {
    const c = CASES[1]!;
    const { x, w } = inputs(c);
    const xd = cuda.upload({ data: x, shape: [c.B, c.N, c.D] });
    const wd = cuda.uploadBlockWeights(w);
    const bad = new Int32Array(c.B * c.K).map((_, i) => i % c.K);
    try {
      bad[c.K + 3] = c.N; // row 1, position 3
      let id = cuda.upload({ data: bad, shape: [c.B, c.K] });
      expect(() => cuda.prunedBlock(xd, id, wd, { heads: c.H, inPlace: true })).toThrow(RangeError);
      expect(() => cuda.prunedBlock(xd, id, wd, { heads: c.H })).toThrow(`idx[1][3] = ${c.N} is out of range [0, ${c.N})`);
      id.free();
      bad[c.K + 3] = 3;
      bad[c.K + 5] = 1; // duplicates position 1 of row 1
      id = cuda.upload({ data: bad, shape: [c.B, c.K] });
      expect(() => cuda.prunedBlock(xd, id, wd, { heads: c.H })).toThrow('idx has duplicate index 1 in row 1 at positions 1 and 5');
      id.free();
      expect(Array.from(xd.downloadSync().data)).toEqual(Array.from(x));
    } finally {
      xd.free();
      cuda.freeBlockWeights(wd);
    }
  });

  it("device: 'cuda' on the host op gives the CPU result (sync and async)", async () => {
    const c = CASES[2]!;
    const { x, idx, w } = inputs(c);
    const X = { data: x, shape: [c.B, c.N, c.D] }, I = idx ? { data: idx, shape: [c.B, c.K] } : null;
    const want = prunedBlock(X, I, w, { heads: c.H });
    expectClose(prunedBlock(X, I, w, { heads: c.H, device: 'cuda' }).data, want.data, 5e-5, 2e-4, 'sync');
    const { prunedBlockAsync } = await import('../../src/ops/prunedBlock.js');
    expectClose((await prunedBlockAsync(X, I, w, { heads: c.H, device: 'cuda' })).data, want.data, 5e-5, 2e-4, 'async');
  });

  it('rejects mixed weight dtypes and wrong weight shapes', () => {
    const c = CASES[1]!;
    const { x, w } = inputs(c);
    const xd = cuda.upload({ data: x, shape: [c.B, c.N, c.D] });
    const wd = cuda.uploadBlockWeights(w);
    const odd = cuda.upload(w['ls2.gamma'], { dtype: 'bfloat16' });
    const wrong = cuda.upload({ data: new Float32Array(c.D + 1), shape: [c.D + 1] });
    try {
      expect(() => cuda.prunedBlock(xd, null, { ...wd, 'ls2.gamma': odd }, { heads: c.H })).toThrow(/weights\['ls2\.gamma'\]/);
      expect(() => cuda.prunedBlock(xd, null, { ...wd, 'norm1.bias': wrong }, { heads: c.H })).toThrow(RangeError);
      expect(() => cuda.prunedBlock(xd, null, wd, { heads: 5 })).toThrow(/multiple of H/);
    } finally {
      for (const t of [xd, odd, wrong]) t.free();
      cuda.freeBlockWeights(wd);
    }
  });
});

describeGpu('cuda prunedBlock: variable-length rows (offsets)', () => {
  // rows of 7, 0 and 19 tokens of N = 19 (Dh 12) and of 211 / 97 of 300 (Dh 64: the tensor-core path in BF16)
  const VARLEN = [{ N: 19, D: 24, H: 2, F: 40, lens: [7, 0, 19] }, { N: 300, D: 128, H: 2, F: 512, lens: [211, 97] }];
  for (const v of VARLEN) {
    it(`float32 and bfloat16 weights match the CPU varlen op: lens ${v.lens.join('/')} of N=${v.N}`, () => {
      const B = v.lens.length, r = rng(v.N + v.D);
      const x = randn(B * v.N * v.D, r);
      const offsets = new Int32Array(B + 1);
      v.lens.forEach((k, b) => (offsets[b + 1] = offsets[b]! + k));
      const idx = new Int32Array(offsets[B]!);
      v.lens.forEach((k, b) => idx.set(randIndices(1, v.N, k, r), offsets[b]!));
      const w = randomBlockWeights(v.D, v.F, v.D + 3);
      const X = { data: x, shape: [B, v.N, v.D] }, I = { data: idx, shape: [idx.length] };
      const od = cuda.upload({ data: offsets, shape: [B + 1] }), id = cuda.upload(I);
      for (const dtype of ['float32', 'bfloat16'] as const) {
        const wr = dtype === 'float32' ? w : roundWeights(w);
        const want = prunedBlock(X, I, wr, { heads: v.H, offsets });
        const xd = cuda.upload(X), wd = cuda.uploadBlockWeights(wr, { dtype });
        try {
          const got = take(cuda.prunedBlock(xd, id, wd, { heads: v.H, offsets: od, maxLen: Math.max(...v.lens) }));
          if (dtype === 'float32') expectClose(got, want.data, 5e-5, 2e-4, 'f32 vs CPU varlen');
          else expectRelNorm(got.map((g, i) => g - x[i]!), want.data.map((g, i) => g - x[i]!), 3e-2, 'bf16 vs CPU varlen');
        } finally {
          xd.free();
          cuda.freeBlockWeights(wd);
        }
      }
      // bad offsets: the CPU binding's message, from the device check
      const bad = cuda.upload({ data: Int32Array.from([0, 7, 6, idx.length]).subarray(0, B + 1), shape: [B + 1] });
      const xd = cuda.upload(X), wd = cuda.uploadBlockWeights(w);
      try {
        if (B === 3) expect(() => cuda.prunedBlock(xd, id, wd, { heads: v.H, offsets: bad })).toThrow(/row lengths offsets\[2\] - offsets\[1\] in \[0, N=19\]/);
        expect(() => cuda.prunedBlock(xd, null, wd, { heads: v.H, offsets: od })).toThrow(/with opts\.offsets/);
      } finally {
        for (const t of [bad, xd, od, id]) t.free();
        cuda.freeBlockWeights(wd);
      }
    });
  }
});

describe('cuda prunedBlock: argument checks without touching the device', () => {
  const c = CASES[0]!;
  const { x, idx, w } = inputs(c);
  const X = { data: x, shape: [c.B, c.N, c.D] }, I = idx ? { data: idx, shape: [c.B, c.K] } : null;
  it('the binding names the argument that is not a DeviceTensor (TypeError)', () => {
    const n = native();
    expect(() => n.cudaPrunedBlock(x as never, null, {}, 1, 1e-6, false)).toThrow(/cudaPrunedBlock: expected x to be a DeviceTensor, received Float32Array/);
    expect(() => n.cudaPrunedBlock(x as never, null, [] as never, 1, 1e-6, false)).toThrow(TypeError);
    expect(() => (n.cudaPrunedBlock as (...a: unknown[]) => unknown)(x)).toThrow(/expected 6 arguments/);
    expect(() => (n.cudaPrunedBlock as (...a: unknown[]) => unknown)(x, null, {}, 1, 1e-6, false, new Int32Array(2))).toThrow(/cudaPrunedBlock: expected offsets to be a DeviceTensor/);
    expect(() => (n.cudaPrunedBlock as (...a: unknown[]) => unknown)(x, null, {}, 1, 1e-6, false, null, 3)).toThrow(/maxLen applies to variable-length rows/);
  });
  it('the TS wrapper names missing weights, bad heads and lnEps', () => {
    expect(() => cuda.prunedBlock(X as never, null, {} as never, { heads: 1 })).toThrow(/weights\['norm1\.weight'\]/);
    expect(() => cuda.prunedBlock(X as never, null, {} as never, { heads: 0 })).toThrow(RangeError);
    expect(() => cuda.prunedBlock(X as never, null, {} as never, { heads: 1.5 })).toThrow(/opts\.heads/);
    expect(() => cuda.prunedBlock(X as never, null, {} as never, { heads: 1, lnEps: 0 })).toThrow(/lnEps/);
    expect(() => cuda.prunedBlock(X as never, null, {} as never, null as never)).toThrow(TypeError);
    expect(() => cuda.prunedBlock(X as never, null, {} as never, { heads: 1, offsets: new Int32Array(2) as never })).toThrow(/weights|offsets/);
  });
  it("device must be 'cpu' or 'cuda'", () => {
    expect(() => prunedBlock(X, I, w, { heads: c.H, device: 'gpu' as never })).toThrow(/expected device to be 'cpu' or 'cuda'/);
  });
  it.skipIf(gpu.ok)("device: 'cuda' without a device is a clear Error carrying the reason", async () => {
    expect(() => prunedBlock(X, I, w, { heads: c.H, device: 'cuda' })).toThrow(/CUDA is not available/);
    expect(() => cuda.uploadBlockWeights(w)).toThrow(gpu.reason);
    const { prunedBlockAsync } = await import('../../src/ops/prunedBlock.js');
    // an async op reports every problem as a rejected Promise, never a synchronous throw
    await expect(prunedBlockAsync(X, I, w, { heads: c.H, device: 'cuda' })).rejects.toThrow(/CUDA is not available/);
  });
});
