/**
 * CUDA token ops vs the CPU ops and the float64 references (SPEC §3-§5), on random inputs and odd
 * shapes. Skipped (with the reason printed) when no CUDA device is usable.
 *
 * Tolerances:
 *   - gather / scatter / scatter gradient move rows: bit-exact for float32 and for bfloat16 (against
 *     the CPU op applied to the bf16-rounded input, then rounded: a copy commutes with rounding);
 *   - gather gradient: float32 bit-exact against the CPU op (same ascending-k FP32 sum); bfloat16
 *     equal to round_bf16(CPU sum of the rounded inputs) (FP32 accumulation, one final rounding);
 *   - gumbelTopK: indices identical to the CPU op for the same seed (float32 and bf16-rounded logits);
 *   - gumbelSoftmaxST: hard identical; soft within 1e-6 absolute (double exp on the device may differ
 *     from glibc's by an ulp before the float rounding); bfloat16 soft within 1e-2 relative norm;
 *     backward float32 bit-exact (the same float expression), bfloat16 within 1e-2 relative norm.
 */
import { expect, it } from 'vitest';
import {
  cuda,
  gatherTokens,
  gatherTokensBackward,
  gumbelSoftmaxST,
  gumbelSoftmaxSTBackward,
  gumbelTopK,
  scatterTokens,
  scatterTokensBackward,
  type DeviceTensor,
} from '../../src/index.js';
import { gatherBwdRef, gatherRef, scatterRef } from '../reference/gatherScatter.js';
import { gumbelTopKRef } from '../reference/gumbel.js';
import { expectClose, randIndices, randn, rng } from '../reference/helpers.js';
import { describeGpu, firstDiff, relNorm, roundBf16 } from './gpu.js';

type Dt = 'float32' | 'bfloat16';
const DTYPES: Dt[] = ['float32', 'bfloat16'];

// [B, N, K, D]: tiny, tails (D not a multiple of 4/8; odd D makes 2-byte bf16 packets), K = 1,
// K = N, B > 1, D = 1, and the paper's shape.
const GRID: Array<[number, number, number, number]> = [
  [1, 1, 1, 1], [1, 7, 3, 5], [2, 13, 13, 3], [3, 17, 1, 8], [2, 33, 20, 385], [1, 64, 31, 1], [2, 4101, 2871, 384],
];

function dl(t: DeviceTensor): Float32Array {
  const d = t.downloadSync().data;
  if (!(d instanceof Float32Array)) throw new Error('expected float data');
  return d;
}

function withDevice<T>(fn: (own: <U extends DeviceTensor | null>(t: U) => U) => T): T {
  const owned: DeviceTensor[] = [];
  try {
    return fn((t) => {
      if (t) owned.push(t);
      return t;
    });
  } finally {
    for (const t of owned) t.free();
  }
}

function expectBits(got: Float32Array, want: Float32Array, what: string): void {
  const i = firstDiff(got, want);
  expect(i, `${what}: first difference at ${i}: got ${got[i]}, want ${want[i]}`).toBe(-1);
}

describeGpu('cuda gatherTokens / scatterTokens', () => {
  for (const dt of DTYPES)
    for (const [B, N, K, D] of GRID)
      it(`${dt} B=${B} N=${N} K=${K} D=${D}: forward and gradients match the CPU`, () => {
        const r = rng(B * 1000 + N * 10 + K + D);
        const round = (a: Float32Array) => (dt === 'bfloat16' ? roundBf16(a) : a);
        const x = round(randn(B * N * D, r)), src = round(randn(B * K * D, r)), dout = round(randn(B * K * D, r));
        const doutN = round(randn(B * N * D, r));
        const idx = randIndices(B, N, K, r); // distinct, random order
        const xt = { data: x, shape: [B, N, D] }, it32 = { data: idx, shape: [B, K] };
        withDevice((own) => {
          const X = own(cuda.upload(xt, { dtype: dt })), I = own(cuda.upload(it32));
          const S = own(cuda.upload({ data: src, shape: [B, K, D] }, { dtype: dt }));
          // gather
          const g = dl(own(cuda.gatherTokens(X, I)));
          expectBits(g, gatherTokens(xt, it32).data, 'gather');
          expectClose(g, gatherRef(x, idx, B, N, K, D), 0, 0, 'gather vs float64 reference');
          // scatter (out of place, then in place)
          const want = scatterTokens(xt, it32, { data: src, shape: [B, K, D] }).data;
          expectBits(dl(own(cuda.scatterTokens(X, I, S))), want, 'scatter');
          expectClose(want, scatterRef(x, idx, src, B, N, K, D), 0, 0, 'scatter vs float64 reference');
          const base = own(cuda.upload(xt, { dtype: dt }));
          expect(cuda.scatterTokens(base, I, S, { inPlace: true })).toBe(base);
          expectBits(dl(base), want, 'scatter in place');
          // gather gradient (distinct indices)
          const Dout = own(cuda.upload({ data: dout, shape: [B, K, D] }, { dtype: dt }));
          const dx = dl(own(cuda.gatherTokensBackward(Dout, I, N)));
          expectBits(dx, round(gatherTokensBackward({ data: dout, shape: [B, K, D] }, it32, N).data), 'gather backward');
          // scatter gradients
          const DoutN = own(cuda.upload({ data: doutN, shape: [B, N, D] }, { dtype: dt }));
          const gs = cuda.scatterTokensBackward(DoutN, I);
          own(gs.dbase);
          own(gs.dsrc);
          const cpu = scatterTokensBackward({ data: doutN, shape: [B, N, D] }, it32);
          expectBits(dl(gs.dbase!), cpu.dbase.data, 'scatter backward dbase');
          expectBits(dl(gs.dsrc!), cpu.dsrc.data, 'scatter backward dsrc');
          const only = cuda.scatterTokensBackward(DoutN, I, { dbase: false });
          expect(only.dbase).toBeNull();
          expectBits(dl(own(only.dsrc)!), cpu.dsrc.data, 'scatter backward dsrc only');
          cuda.synchronize();
        });
      });

  for (const dt of DTYPES)
    it(`${dt}: gather gradient sums duplicate indices in ascending k (FP32 accumulation)`, () => {
      const r = rng(99);
      const B = 2, N = 9, K = 40, D = 12;
      const idx = Int32Array.from({ length: B * K }, () => Math.floor(r() * 4) * 2); // heavy duplicates, some rows unused
      const dout = dt === 'bfloat16' ? roundBf16(randn(B * K * D, r)) : randn(B * K * D, r);
      const cpu = gatherTokensBackward({ data: dout, shape: [B, K, D] }, { data: idx, shape: [B, K] }, N).data;
      withDevice((own) => {
        const dx = dl(own(cuda.gatherTokensBackward(own(cuda.upload({ data: dout, shape: [B, K, D] }, { dtype: dt })), own(cuda.upload({ data: idx, shape: [B, K] })), N)));
        expectBits(dx, dt === 'bfloat16' ? roundBf16(cpu) : cpu, 'gather backward with duplicates');
        if (dt === 'float32') expectClose(dx, gatherBwdRef(dout, idx, B, N, K, D), 1e-5, 1e-5, 'vs float64 reference');
        // duplicate-free forward gather with duplicates is still a plain gather
        const x = randn(B * N * D, r);
        expectBits(dl(own(cuda.gatherTokens(own(cuda.upload({ data: x, shape: [B, N, D] })), own(cuda.upload({ data: idx, shape: [B, K] }))))),
          gatherTokens({ data: x, shape: [B, N, D] }, { data: idx, shape: [B, K] }).data, 'gather with duplicates');
      });
    });

  it('an out-of-range index is a RangeError at the next synchronisation, rows zeroed, nothing else written', () => {
    const B = 2, N = 5, K = 3, D = 4;
    const x = randn(B * N * D, rng(5));
    const idx = Int32Array.from([0, 7, 2, 4, -1, 1]);
    withDevice((own) => {
      const X = own(cuda.upload({ data: x, shape: [B, N, D] })), I = own(cuda.upload({ data: idx, shape: [B, K] }));
      const y = own(cuda.gatherTokens(X, I));
      expect(() => cuda.synchronize()).toThrow(RangeError);
      cuda.synchronize(); // reported once
      const g = dl(y);
      expect(Array.from(g.subarray(4, 8))).toEqual([0, 0, 0, 0]);
      expect(Array.from(g.subarray(16, 20))).toEqual([0, 0, 0, 0]);
      expect(g.subarray(0, 4)).toEqual(x.subarray(0, 4));
      const out = own(cuda.scatterTokens(X, I, own(cuda.gatherTokens(X, I))));
      let msg = '';
      try {
        out.downloadSync();
      } catch (e) {
        msg = (e as Error).message;
        expect(e).toBeInstanceOf(RangeError);
      }
      expect(msg).toMatch(/idx\[\d\]\[\d\] = (7|-1) is out of range \[0, 5\)/);
      cuda.synchronize();
    });
  });

  it("host ops with device: 'cuda' return what the CPU returns", () => {
    const r = rng(3);
    const B = 2, N = 50, K = 17, D = 24;
    const x = { data: randn(B * N * D, r), shape: [B, N, D] }, idx = { data: randIndices(B, N, K, r, true), shape: [B, K] };
    const src = { data: randn(B * K * D, r), shape: [B, K, D] };
    expectBits(gatherTokens(x, idx, undefined, { device: 'cuda' }).data, gatherTokens(x, idx).data, 'gatherTokens');
    const out = new Float32Array(B * K * D);
    expect(gatherTokens(x, idx, out, { device: 'cuda' }).data).toBe(out);
    expectBits(scatterTokens(x, idx, src, undefined, { device: 'cuda' }).data, scatterTokens(x, idx, src).data, 'scatterTokens');
    expectBits(gatherTokensBackward(src, idx, N, undefined, { device: 'cuda' }).data, gatherTokensBackward(src, idx, N).data, 'gatherTokensBackward');
    const a = scatterTokensBackward(x, idx, { device: 'cuda' }), b = scatterTokensBackward(x, idx);
    expectBits(a.dbase.data, b.dbase.data, 'dbase');
    expectBits(a.dsrc.data, b.dsrc.data, 'dsrc');
  });
});

describeGpu('cuda gumbelTopK', () => {
  const cases: Array<[number, number, number]> = [[1, 1, 1], [1, 7, 3], [3, 33, 33], [2, 100, 1], [8, 4101, 2871], [1, 16384, 11469], [2, 16385, 5]];
  for (const dt of DTYPES)
    for (const [B, N, k] of cases)
      for (const noise of [true, false])
        it(`${dt} B=${B} N=${N} k=${k} noise=${noise}: indices identical to the CPU`, () => {
          const r = rng(B + N + k);
          let logits = randn(B * N, r, 2);
          if (dt === 'bfloat16') logits = roundBf16(logits);
          const lt = { data: logits, shape: [B, N] };
          for (const seed of [0, 12345, 2n ** 64n - 1n]) {
            const cpu = gumbelTopK(lt, k, { seed, noise }).data;
            const got = withDevice((own) => own(cuda.gumbelTopK(own(cuda.upload(lt, { dtype: dt })), k, { seed, noise })).downloadSync().data);
            expect(firstDiff(got, cpu), `seed ${seed}`).toBe(-1);
            if (N <= 100) expect(Array.from(got)).toEqual(Array.from(gumbelTopKRef(logits, B, N, k, seed, noise)));
          }
        });

  it('ties go to the lower index; -0 equals +0; ±Infinity rank first/last; active mask respected', () => {
    const B = 3, N = 40, k = 9;
    const r = rng(8);
    const logits = new Float32Array(B * N);
    for (let i = 0; i < logits.length; i++) logits[i] = [0, -0, 1, 1, Infinity, -Infinity, -1][Math.floor(r() * 7)]!;
    const active = Uint8Array.from({ length: B * N }, () => (r() < 0.7 ? 1 : 0));
    for (let b = 0; b < B; b++) for (let n = 0; n < k; n++) active[b * N + n] = 1;
    const lt = { data: logits, shape: [B, N] }, at = { data: active, shape: [B, N] };
    for (const noise of [false, true]) {
      const cpu = gumbelTopK(lt, k, { seed: 4, noise, active: at }).data;
      expect(Array.from(gumbelTopK(lt, k, { seed: 4, noise, active: at, device: 'cuda' }).data)).toEqual(Array.from(cpu));
    }
    // equal logits: a uniform random subset, identical to the CPU for the same seed
    const eq = { data: new Float32Array(2 * 500), shape: [2, 500] };
    expect(Array.from(gumbelTopK(eq, 250, { seed: 77, device: 'cuda' }).data)).toEqual(Array.from(gumbelTopK(eq, 250, { seed: 77 }).data));
    expect(Array.from(gumbelTopK(eq, 250, { noise: false, device: 'cuda' }).data)).toEqual(Array.from({ length: 500 }, (_, i) => i % 250));
  });

  it('a NaN logit or too few active tokens: RangeError at the next synchronisation, that row -1', () => {
    const logits = Float32Array.from([0.1, NaN, 0.3, 0.5, 0.2, 0.4]);
    withDevice((own) => {
      const out = own(cuda.gumbelTopK(own(cuda.upload({ data: logits, shape: [2, 3] })), 2, { seed: 1 }));
      expect(() => out.downloadSync()).toThrow(/logits\[0\]\[1\] = NaN/);
      const rows = out.downloadSync().data;
      expect(Array.from(rows.subarray(0, 2))).toEqual([-1, -1]);
      // row 1 is unaffected (same Philox counters (seed, b=1, n) as the CPU op on a NaN-free copy)
      const clean = Float32Array.from(logits, (v) => (Number.isNaN(v) ? 0 : v));
      expect(Array.from(rows.subarray(2, 4))).toEqual(Array.from(gumbelTopK({ data: clean, shape: [2, 3] }, 2, { seed: 1 }).data.subarray(2, 4)));
      const act = own(cuda.upload({ data: Uint8Array.from([1, 0, 0, 1, 1, 1]), shape: [2, 3] }));
      const o2 = own(cuda.gumbelTopK(own(cuda.upload({ data: Float32Array.from([1, 2, 3, 4, 5, 6]), shape: [2, 3] })), 2, { active: act, noise: false }));
      expect(() => cuda.synchronize()).toThrow(/active\[0\] has 1 active tokens, fewer than k=2/);
      expect(Array.from(o2.downloadSync().data)).toEqual([-1, -1, 1, 2]);
    });
  });
});

describeGpu('cuda gumbelSoftmaxST', () => {
  for (const dt of DTYPES)
    for (const [B, N] of [[1, 1], [3, 17], [8, 4101]] as const)
      it(`${dt} B=${B} N=${N}: forward and straight-through gradient match the CPU`, () => {
        const r = rng(B * 31 + N);
        const round = (a: Float32Array) => (dt === 'bfloat16' ? roundBf16(a) : a);
        const logits = round(randn(B * N * 2, r, 2)), dhard = round(randn(B * N, r));
        for (const [tau, seed] of [[1, 0], [0.3, 99], [2.5, 2n ** 63n]] as const) {
          const cpu = gumbelSoftmaxST({ data: logits, shape: [B, N, 2] }, { tau, seed });
          withDevice((own) => {
            const res = cuda.gumbelSoftmaxST(own(cuda.upload({ data: logits, shape: [B, N, 2] }, { dtype: dt })), { tau, seed });
            own(res.hard);
            own(res.soft);
            expectBits(dl(res.hard), cpu.hard.data, 'hard');
            const soft = dl(res.soft);
            if (dt === 'float32') expectClose(soft, cpu.soft.data, 1e-6, 0, 'soft');
            else expect(relNorm(soft, cpu.soft.data)).toBeLessThan(1e-2);
            const softT = own(cuda.upload({ data: dt === 'float32' ? cpu.soft.data : soft, shape: [B, N] }, { dtype: dt }));
            const g = dl(own(cuda.gumbelSoftmaxSTBackward(own(cuda.upload({ data: dhard, shape: [B, N] }, { dtype: dt })), softT, { tau })));
            const want = gumbelSoftmaxSTBackward({ data: dhard, shape: [B, N] }, { data: dt === 'float32' ? cpu.soft.data : soft, shape: [B, N] }, { tau }).data;
            if (dt === 'float32') expectBits(g, want, 'dlogits');
            else expect(relNorm(g, want)).toBeLessThan(1e-2);
          });
        }
      });

  it("host op with device: 'cuda'", () => {
    const logits = { data: randn(2 * 50 * 2, rng(1)), shape: [2, 50, 2] };
    const a = gumbelSoftmaxST(logits, { seed: 5, device: 'cuda' }), b = gumbelSoftmaxST(logits, { seed: 5 });
    expectBits(a.hard.data, b.hard.data, 'hard');
    expectClose(a.soft.data, b.soft.data, 1e-6, 0, 'soft');
    expectBits(gumbelSoftmaxSTBackward(b.hard, b.soft, { device: 'cuda' }).data, gumbelSoftmaxSTBackward(b.hard, b.soft).data, 'backward');
  });
});
