import { describe, expect, it } from 'vitest';
import { getThreads, policyAttention, policyAttentionAsync, policyAttentionBackward, policyAttentionBackwardAsync, setKernel, setThreads } from '../../src/index.js';
import { native } from '../../src/native.js';
import { cpuVariants, expectClose, randn, randu, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { policyAttentionRef, type AttnShape } from '../reference/policyAttention.js';

const CASES: AttnShape[] = [
  { B: 1, H: 1, N: 1, Dh: 8 }, // tiny
  { B: 1, H: 2, N: 7, Dh: 5 }, // tails below one vector
  { B: 2, H: 3, N: 33, Dh: 24 }, // B > 1, key tile tail
  { B: 1, H: 2, N: 100, Dh: 64 }, // realistic head dim, two key tiles
  { B: 1, H: 1, N: 257, Dh: 40 }, // several tiles + super-blocks, Dh not a multiple of 16
  { B: 1, H: 1, N: 1100, Dh: 24 }, // three softmax chunks of 512 keys (the last partial, with a tile tail)
  { B: 1, H: 1, N: 1060, Dh: 40 }, // two chunks: the last 36 keys (under one tile) join the second (548 keys)
];

type PolicyKind = 'binary' | 'zeros' | 'ones' | 'soft';
const POLICIES: PolicyKind[] = ['binary', 'zeros', 'ones', 'soft'];

export function makePolicy(kind: PolicyKind, B: number, N: number, r: () => number): Float32Array {
  const p = new Float32Array(B * N);
  for (let t = 0; t < p.length; t++) p[t] = kind === 'zeros' ? 0 : kind === 'ones' ? 1 : kind === 'binary' ? (r() < 0.5 ? 0 : 1) : r();
  return p;
}

function inputs(s: AttnShape, kind: PolicyKind, seed: number) {
  const r = rng(seed);
  const n = s.B * s.H * s.N * s.Dh;
  const t = (data: Float32Array, shape: number[]) => ({ data, shape });
  return {
    q: t(randn(n, r), [s.B, s.H, s.N, s.Dh]),
    k: t(randn(n, r), [s.B, s.H, s.N, s.Dh]),
    v: t(randn(n, r), [s.B, s.H, s.N, s.Dh]),
    p: t(makePolicy(kind, s.B, s.N, r), [s.B, s.N]),
  };
}

describe('policyAttention forward vs float64 reference', () => {
  for (const s of CASES)
    for (const kind of POLICIES) {
      it(`B=${s.B} H=${s.H} N=${s.N} Dh=${s.Dh} policy=${kind}`, () => {
        const { q, k, v, p } = inputs(s, kind, s.N * 7 + s.Dh + POLICIES.indexOf(kind));
        const want = policyAttentionRef(q.data, k.data, v.data, p.data, s, 1e-6);
        for (const variant of cpuVariants()) {
          const outs: Float32Array[] = [];
          for (const threads of threadCounts()) {
            const o = withKernel(variant, threads, () => policyAttention(q, k, v, p));
            expect(o.shape).toEqual([s.B, s.H, s.N, s.Dh]);
            expectClose(o.data, want, 2e-5, 2e-4, `${variant} threads=${threads}`);
            outs.push(o.data);
          }
          // every output row is written by one thread in a fixed order: bit-identical
          expect(Buffer.from(outs[1]!.buffer).equals(Buffer.from(outs[0]!.buffer))).toBe(true);
        }
      });
    }

  it('large scores: the running max moves across key tiles and may sit on a masked key', () => {
    const s = { B: 1, H: 2, N: 150, Dh: 16 };
    const { q, k, v, p } = inputs(s, 'binary', 8);
    for (let t = 0; t < q.data.length; t++) q.data[t]! *= 4;
    // strongest keys late in the sequence (max grows tile by tile), the very largest one masked
    for (let j = 0; j < s.N; j++) for (let d = 0; d < s.Dh; d++) for (let h = 0; h < s.H; h++) k.data[(h * s.N + j) * s.Dh + d]! *= 0.5 + j / s.N;
    p.data[149] = 0;
    const want = policyAttentionRef(q.data, k.data, v.data, p.data, s, 1e-6);
    for (const variant of cpuVariants()) expectClose(withKernel(variant, 2, () => policyAttention(q, k, v, p)).data, want, 5e-5, 5e-4, variant);
  });

  it('eps = 0 and a large eps follow the formula', () => {
    const s = { B: 2, H: 2, N: 19, Dh: 12 };
    const { q, k, v, p } = inputs(s, 'binary', 3);
    for (const eps of [0, 0.5]) {
      const want = policyAttentionRef(q.data, k.data, v.data, p.data, s, eps);
      for (const variant of cpuVariants()) expectClose(withKernel(variant, 2, () => policyAttention(q, k, v, p, { eps })).data, want, 2e-5, 2e-4, `${variant} eps=${eps}`);
    }
  });

  it('a NaN query or key makes the rows it reaches NaN, and leaves the other rows as they were', () => {
    // row 3's query all NaN (every score of the row NaN: no finite max in any chunk); key 600 NaN in one
    // dimension (one NaN score in every row, in the second 512-key chunk); N spans three chunks
    const s = { B: 1, H: 1, N: 1030, Dh: 8 };
    const { q, k, v, p } = inputs(s, 'soft', 21);
    const qn = { ...q, data: q.data.slice() }, kn = { ...k, data: k.data.slice() };
    for (let d = 0; d < s.Dh; d++) qn.data[3 * s.Dh + d] = Number.NaN;
    kn.data[600 * s.Dh + 2] = Number.NaN;
    for (const variant of cpuVariants()) {
      const clean = withKernel(variant, 2, () => policyAttention(q, k, v, p)).data;
      const rowQ = withKernel(variant, 2, () => policyAttention(qn, k, v, p)).data;
      const rowK = withKernel(variant, 2, () => policyAttention(q, kn, v, p)).data;
      for (let i = 0; i < s.N; i++)
        for (let d = 0; d < s.Dh; d++) {
          const t = i * s.Dh + d;
          if (i === 3) expect(Number.isNaN(rowQ[t]!), `${variant} NaN query row ${i}`).toBe(true);
          else expect(rowQ[t], `${variant} row ${i} untouched by row 3's NaN query`).toBe(clean[t]);
          expect(Number.isNaN(rowK[t]!), `${variant} NaN key reaches row ${i}`).toBe(true);
        }
    }
  });

  it('rowMax / rowDen from the binding match the reference statistics', () => {
    const s = { B: 1, H: 2, N: 70, Dh: 16 };
    const { q, k, v, p } = inputs(s, 'binary', 4);
    const scale = 1 / Math.sqrt(s.Dh);
    for (const variant of cpuVariants()) {
      const rowMax = new Float32Array(s.H * s.N), rowDen = new Float32Array(s.H * s.N), out = new Float32Array(s.H * s.N * s.Dh);
      withKernel(variant, 2, () => native().policyAttention(q.data, k.data, v.data, p.data, out, 1, s.H, s.N, s.Dh, 1e-6, rowMax, rowDen));
      for (const r of [0, 33, 69, 70 + 5, 139]) {
        const base = Math.floor(r / s.N) * s.N * s.Dh, i = r % s.N;
        let m = -Infinity;
        const A: number[] = [];
        for (let j = 0; j < s.N; j++) {
          let t = 0;
          for (let d = 0; d < s.Dh; d++) t += q.data[base + i * s.Dh + d]! * k.data[base + j * s.Dh + d]!;
          A.push(t * scale);
          m = Math.max(m, t * scale);
        }
        let Z = 1e-6;
        for (let j = 0; j < s.N; j++) Z += Math.exp(A[j]! - m) * (i === j ? 1 : p.data[j]!);
        expect(rowMax[r]).toBeCloseTo(m, 4);
        expect(Math.abs(rowDen[r]! - Z)).toBeLessThan(1e-4 * Z);
      }
    }
  });

  it('writes into a caller buffer', () => {
    const s = { B: 1, H: 1, N: 9, Dh: 4 };
    const { q, k, v, p } = inputs(s, 'ones', 5);
    const out = new Float32Array(36);
    const o = policyAttention(q, k, v, p, { out });
    expect(o.data).toBe(out);
  });
});

describe('policyAttention async', () => {
  it('forward and backward resolve to the sync results', async () => {
    const s = { B: 2, H: 2, N: 41, Dh: 16 };
    const { q, k, v, p } = inputs(s, 'binary', 6);
    const dout = { data: randn(2 * 2 * 41 * 16, rng(9)), shape: [2, 2, 41, 16] };
    for (const variant of cpuVariants()) {
      // withKernel restores the settings when fn returns, i.e. before a promise settles: set them by hand
      const prevThreads = getThreads();
      setKernel(variant);
      setThreads(2);
      try {
        const sync = policyAttention(q, k, v, p);
        const asyncOut = await policyAttentionAsync(q, k, v, p);
        expect(Array.from(asyncOut.data)).toEqual(Array.from(sync.data));
        const g = policyAttentionBackward(q, k, v, p, dout);
        const ga = await policyAttentionBackwardAsync(q, k, v, p, dout);
        for (const key of ['dq', 'dk', 'dv', 'dpolicy'] as const) expect(Array.from(ga[key].data)).toEqual(Array.from(g[key].data));
      } finally {
        setKernel('auto');
        setThreads(prevThreads);
      }
    }
  });

  it('rejects with the error class and the argument name', async () => {
    const { q, k, v } = inputs({ B: 1, H: 1, N: 4, Dh: 4 }, 'ones', 1);
    await expect(policyAttentionAsync(q, k, v, { data: new Float32Array(3), shape: [1, 3] })).rejects.toThrow(RangeError);
    await expect(policyAttentionAsync(q, k, v, { data: new Float32Array(3), shape: [1, 3] })).rejects.toThrow(/policy/);
    // the binding validates before queueing: a bad argument throws synchronously
    expect(() =>
      native().policyAttentionAsync(q.data, k.data, v.data, new Float32Array([0, NaN, 0, 0]), new Float32Array(16), 1, 1, 4, 4, 1e-6, null, null),
    ).toThrow(/policy\[0\]\[1\]/);
    const err = await policyAttentionAsync(q, k, v, { data: new Float32Array([0, NaN, 0, 0]), shape: [1, 4] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect((err as Error).stack).toContain('policyAttention.test.ts');
  });
});

describe('policyAttention errors', () => {
  const s = { B: 1, H: 2, N: 5, Dh: 4 };
  const { q, k, v, p } = inputs(s, 'binary', 2);
  const n = 2 * 5 * 4;
  it('TS layer names the argument', () => {
    expect(() => policyAttention({ data: new Int32Array(n), shape: [1, 2, 5, 4] } as never, k, v, p)).toThrow(TypeError);
    expect(() => policyAttention(q, { data: k.data, shape: [1, 2, 4, 5] }, v, p)).toThrow(/expected k/);
    expect(() => policyAttention(q, k, { data: v.data, shape: [1, 2, 20] }, p)).toThrow(TypeError);
    expect(() => policyAttention(q, k, v, { data: new Float32Array(4), shape: [1, 4] })).toThrow(/policy/);
    expect(() => policyAttention(q, k, v, p, { eps: -1 })).toThrow(RangeError);
    expect(() => policyAttention(q, k, v, p, { eps: NaN })).toThrow(/eps/);
    expect(() => policyAttention(q, k, v, { data: new Float32Array([1, 0, Infinity, 0, 1]), shape: [1, 5] })).toThrow(/policy\[0\]\[2\]/);
    expect(() => policyAttention(q, k, v, p, { out: new Float32Array(3) })).toThrow(/out/);
    expect(() => policyAttentionBackward(q, k, v, p, { data: new Float32Array(n), shape: [1, 2, 5, 3] })).toThrow(/dout/);
  });
  it('binding re-validates', () => {
    const b = native();
    const out = new Float32Array(n);
    expect(() => Reflect.apply(b.policyAttention, b, [q.data, k.data, v.data, p.data, out, 1, 2, 5, 4, 1e-6, null])).toThrow(/argument/i);
    expect(() => b.policyAttention(q.data, k.data, v.data, p.data, out, 1, 2, 6, 4, 1e-6, null, null)).toThrow(RangeError);
    expect(() => b.policyAttention(q.data, k.data, v.data, p.data, out, 1, 2, 5, 4, -1, null, null)).toThrow(/eps/);
    expect(() => b.policyAttention(q.data, k.data, v.data, new Float32Array([0, NaN, 1, 1, 1]), out, 1, 2, 5, 4, 1e-6, null, null)).toThrow(/policy/);
    expect(() => b.policyAttention(q.data, k.data, v.data, p.data, q.data, 1, 2, 5, 4, 1e-6, null, null)).toThrow(/out and q/);
    expect(() => b.policyAttention(q.data, k.data, v.data, p.data, out, 1, 2, 5, 4, 1e-6, new Float32Array(3), null)).toThrow(/rowMax/);
    expect(() => b.policyAttention(q.data, k.data, v.data, p.data, out, 1, 2, 5, 4, 1e-6, out.subarray(0, 10), null)).toThrow(/out and rowMax/);
    expect(() => b.policyAttention(q.data, k.data, v.data, p.data as never as Float32Array, new Int32Array(n) as never as Float32Array, 1, 2, 5, 4, 1e-6, null, null)).toThrow(TypeError);
    const dq = new Float32Array(n), dk = new Float32Array(n);
    expect(() => b.policyAttentionBackward(q.data, k.data, v.data, p.data, q.data, dq, dk, null, null, 1, 2, 5, 4, 1e-6)).not.toThrow();
    expect(() => b.policyAttentionBackward(q.data, k.data, v.data, p.data, q.data, dq, dq, null, null, 1, 2, 5, 4, 1e-6)).toThrow(/dq and dk/);
    expect(() => b.policyAttentionBackward(q.data, k.data, v.data, p.data, q.data, dq, null, null, new Float32Array(3), 1, 2, 5, 4, 1e-6)).toThrow(/dpolicy/);
    expect(() => b.policyAttentionBackward(q.data, k.data, v.data, p.data, q.data, v.data, null, null, null, 1, 2, 5, 4, 1e-6)).toThrow(/dq and v/);
  });
  it('random bad calls throw, never crash', () => {
    const r = rng(77);
    const b = native();
    for (let t = 0; t < 200; t++) {
      const dims = [1 + Math.floor(r() * 3), 1 + Math.floor(r() * 3), 1 + Math.floor(r() * 5), 1 + Math.floor(r() * 5)];
      const len = () => Math.floor(r() * 40);
      const arr = () => (r() < 0.1 ? new Int32Array(len()) : new Float32Array(len())) as Float32Array;
      const dimsBad = dims.map((d) => (r() < 0.1 ? [-1, 0, 1.5, NaN][Math.floor(r() * 4)]! : d));
      expect(() => b.policyAttention(arr(), arr(), arr(), arr(), arr(), dimsBad[0]!, dimsBad[1]!, dimsBad[2]!, dimsBad[3]!, r() < 0.2 ? -1 : 1e-6, null, null)).toThrow();
    }
  });
});
