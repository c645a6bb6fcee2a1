import { describe, expect, it } from 'vitest';
import { info, matmul } from '../../src/index.js';
import { native } from '../../src/native.js';
import { cpuVariants, expectClose, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { gemmRef, type Act, type GemmRefArgs } from '../reference/gemm.js';

const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [7, 13, 5],
  [17, 33, 65],
  [100, 130, 70],
  [6, 384, 40], // small M, one full micro-tile row
  [23, 40, 777], // K > 384: the K-blocked path (3 blocks of 259)
  [61, 70, 450], // M <= 96: one row block, B packed per tile; 2 K blocks
  [300, 257, 384],
  [29, 33, 300], // avx512 14x32 tile tails in M and N
  [15, 64, 513], // M = 14 + 1, two 32-column panels exactly, 2 K blocks (BF16: 2 blocks of k pairs)
];

interface Epi {
  name: string;
  alpha?: number;
  beta?: number;
  bias?: boolean;
  activation?: Act;
  colScale?: boolean;
  residual?: 'separate' | 'inplace';
  rowMaps?: boolean; // aRows (with duplicates, !transA only), cRows scatter into a taller C, rRows
  pad?: number; // extra leading-dim padding on every matrix
}
const EPIS: Epi[] = [
  { name: 'plain' },
  { name: 'bias+relu', bias: true, activation: 'relu' },
  { name: 'bias+gelu+colScale+residual', bias: true, activation: 'gelu', colScale: true, residual: 'separate' },
  { name: 'in-place residual (x += ls*(AB+b))', bias: true, colScale: true, residual: 'inplace' },
  { name: 'alpha+beta, padded lds', alpha: -1.5, beta: 0.5, pad: 3 },
  { name: 'aRows gather + cRows/rRows scatter', rowMaps: true, bias: true, activation: 'gelu', residual: 'separate', pad: 2 },
];

interface Case {
  g: GemmRefArgs;
  C0: Float32Array;
  opts: Parameters<ReturnType<typeof native>['gemm']>[11];
}

function buildCase(M: number, N: number, K: number, transA: boolean, transB: boolean, e: Epi, seed: number): Case {
  const r = rng(seed);
  const pad = e.pad ?? 0;
  const maps = e.rowMaps === true && !transA;
  const aRowsN = maps ? M + 3 : M; // A has extra rows; aRows repeats some
  const cRowsN = maps ? M + 5 : M; // C is taller; rows not in cRows stay untouched
  const lda = (transA ? M : K) + pad, ldb = (transB ? K : N) + pad, ldc = N + pad, ldr = N + 2 * pad;
  const A = randn(((transA ? K : aRowsN) - 1) * lda + (transA ? M : K), r);
  const B = randn(((transB ? N : K) - 1) * ldb + (transB ? K : N), r);
  const C0 = randn((cRowsN - 1) * ldc + N, r);
  const g: GemmRefArgs = { M, N, K, A, lda, transA, B, ldb, transB, C: C0, ldc, alpha: e.alpha, beta: e.beta, activation: e.activation };
  if (e.bias) g.bias = randn(N, r);
  if (e.colScale) g.colScale = randn(N, r, 0.1);
  if (maps) {
    const aRows = Int32Array.from({ length: M }, (_, m) => (m * 5 + 1) % aRowsN); // duplicates when M > aRowsN/5
    if (M > 1) aRows[M - 1] = aRows[0]!; // at least one duplicate
    g.aRows = aRows;
    // cRows: a permutation of M distinct rows out of cRowsN (reverse order, skipping a few)
    g.cRows = Int32Array.from({ length: M }, (_, m) => cRowsN - 1 - m);
    g.rRows = Int32Array.from({ length: M }, (_, m) => (m * 3) % M);
  }
  if (e.residual === 'separate') {
    g.ldr = ldr;
    g.residual = randn((M - 1) * ldr + N, r);
  } else if (e.residual === 'inplace') {
    g.ldr = ldc;
    g.residual = C0; // the native call passes C itself
  }
  const opts = {
    alpha: e.alpha, beta: e.beta, activation: e.activation,
    bias: g.bias as Float32Array | undefined, colScale: g.colScale as Float32Array | undefined,
    ldr: g.residual ? g.ldr : undefined,
    aRows: g.aRows as Int32Array | undefined, cRows: g.cRows as Int32Array | undefined, rRows: g.rRows as Int32Array | undefined,
    residual: e.residual === 'separate' ? (g.residual as Float32Array) : undefined,
  };
  return { g, C0, opts };
}

function runNative(c: Case, inplace: boolean): Float32Array {
  const C = c.C0.slice();
  const { g } = c;
  native().gemm(g.A as Float32Array, g.B as Float32Array, C, g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.transA, g.transB,
    inplace ? { ...c.opts, residual: C } : c.opts);
  return C;
}

describe.each(cpuVariants())('gemm [%s]', (variant) => {
  let seed = 1;
  for (const [M, N, K] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        // the realistic size runs the two richest epilogues only (time budget)
        const epis = M * N * K > 1e6 ? EPIS.filter((e) => e.name.startsWith('bias+gelu') || e.rowMaps) : EPIS;
        it(`M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`, () => {
          for (const e of epis) {
            const c = buildCase(M, N, K, transA, transB, e, seed++);
            const want = gemmRef(c.g);
            const tol = 1e-4 * Math.sqrt(K / 16 + 1);
            const outs = threadCounts().map((t) => withKernel(variant, t, () => runNative(c, e.residual === 'inplace')));
            for (const got of outs) expectClose(got, want, tol, 1e-4, `${e.name}`);
            // bit-identical across thread counts (every variant; required of avx2)
            expect(outs[1]!.every((v, i) => Object.is(v, outs[0]![i]))).toBe(true);
          }
        });
      }
    }
  }
});

describe('gemm avx2 determinism at a multi-tile, multi-K-block size', () => {
  // K = 900 > 384 runs the K-blocked path (sums parked between blocks); many tiles per thread.
  it.skipIf(!cpuVariants().includes('avx2'))('1, 2 and 3 threads agree bit for bit and match the reference', () => {
    const r = rng(99);
    const M = 131, N = 300, K = 900;
    const A = randn(M * K, r), B = randn(N * K, r), bias = randn(N, r);
    const outs = [1, 2, 3].map((t) =>
      withKernel('avx2', t, () => {
        const C = new Float32Array(M * N);
        native().gemm(A, B, C, M, N, K, K, K, N, false, true, { bias, activation: 'gelu' });
        return C;
      }),
    );
    expect(outs[1]).toEqual(outs[0]);
    expect(outs[2]).toEqual(outs[0]);
    const want = gemmRef({ M, N, K, A, lda: K, transA: false, B, ldb: K, transB: true, C: new Float32Array(M * N), ldc: N, bias, activation: 'gelu' });
    expectClose(outs[0]!, want, 1e-4 * Math.sqrt(K / 16 + 1), 1e-4);
  });
});

describe('gemm avx512', () => {
  // Same FMA chain per element (k ascending) and the same epilogue operations as avx2: same bits.
  it.skipIf(!cpuVariants().includes('avx512'))('gives the avx2 bits on every shape and epilogue', () => {
    const r = rng(5);
    for (const [M, N, K] of [...SHAPES, [131, 300, 900] as [number, number, number]]) {
      for (const transB of [false, true]) {
        const A = randn(M * K, r), B = randn(N * K, r), bias = randn(N, r), cs = randn(N, r), res = randn(M * N, r);
        const run = (v: 'avx2' | 'avx512') =>
          withKernel(v, 2, () => {
            const C = new Float32Array(M * N);
            native().gemm(A, B, C, M, N, K, K, transB ? K : N, N, false, transB, { bias, activation: 'gelu', colScale: cs, residual: res });
            return C;
          });
        const a2 = run('avx2'), a5 = run('avx512');
        const same = a2.every((v, i) => Object.is(v, a5[i]));
        expect(same, `M=${M} N=${N} K=${K} transB=${transB}`).toBe(true);
      }
    }
  });
  it.skipIf(cpuVariants().includes('avx512'))('is untested here: this CPU has no AVX-512 (F/BW/DQ/VL)', () => {
    expect(() => native().setKernel('avx512')).toThrow(/cannot run the 'avx512' kernels/);
  });
});

/** float32 -> bfloat16 -> float32, round to nearest even (vcvtneps2bf16 on normal numbers). */
function bf16(x: number): number {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return f[0]!;
}

describe('gemm bf16 (A, B rounded to BF16, FP32 sums)', () => {
  const hasBf16 = cpuVariants().includes('avx512') && info().cpu.bf16;
  it.skipIf(!hasBf16)('matches the float64 product of the BF16-rounded inputs on every shape, layout and epilogue', () => {
    const r = rng(17);
    for (const [M, N, K] of [...SHAPES, [40, 70, 1] as [number, number, number], [33, 48, 7] as [number, number, number]]) {
      for (const [transA, transB] of [[false, true], [false, false], [true, true], [true, false]] as const) {
        const A = randn(M * K, r), B = randn(N * K, r), bias = randn(N, r), res = randn(M * N, r);
        const lda = transA ? M : K, ldb = transB ? K : N;
        const aRows = transA ? undefined : Int32Array.from({ length: M }, (_, i) => (i * 7) % M);
        const C = withKernel('avx512', 2, () => {
          const c = new Float32Array(M * N);
          native().gemm(A, B, c, M, N, K, lda, ldb, N, transA, transB, { bias, activation: 'gelu', residual: res, aRows, precision: 'bf16' });
          return c;
        });
        const Ar = A.map(bf16), Br = B.map(bf16);
        const want = gemmRef({ M, N, K, A: Ar, lda, transA, B: Br, ldb, transB, C: new Float32Array(M * N), ldc: N, bias, activation: 'gelu', residual: res, aRows });
        expectClose(C, want, 1e-4 * Math.sqrt(K / 16 + 1), 1e-4, `bf16 M=${M} N=${N} K=${K} tA=${transA} tB=${transB}`);
        // and it really is BF16: away from the FP32 product by about BF16's precision
        if (K >= 64 && transB && !transA) {
          const want32 = gemmRef({ M, N, K, A, lda, transA, B, ldb, transB, C: new Float32Array(M * N), ldc: N, bias, activation: 'gelu', residual: res, aRows });
          let maxd = 0;
          for (let i = 0; i < C.length; i++) maxd = Math.max(maxd, Math.abs(C[i]! - want32[i]!));
          expect(maxd).toBeGreaterThan(1e-3);
          expect(maxd).toBeLessThan(0.05 * Math.sqrt(K));
        }
      }
    }
  });
  it.skipIf(!hasBf16)('threads agree bit for bit', () => {
    const r = rng(3), M = 131, N = 300, K = 900;
    const A = randn(M * K, r), B = randn(N * K, r);
    const outs = [1, 2, 3].map((t) => withKernel('avx512', t, () => native().gemm(A, B, new Float32Array(M * N), M, N, K, K, K, N, false, true, { precision: 'bf16' })));
    expect(outs[1]).toEqual(outs[0]);
    expect(outs[2]).toEqual(outs[0]);
  });
  it('names the missing kernel or CPU feature, and rejects an unknown precision', () => {
    const A = new Float32Array(4), B = new Float32Array(4), C = new Float32Array(4);
    expect(() => native().gemm(A, B, C, 2, 2, 2, 2, 2, 2, false, false, { precision: 'fp8' as 'bf16' })).toThrow(/expected opts.precision to be 'fp32' or 'bf16', received 'fp8'/);
    withKernel('ref', 1, () => expect(() => native().gemm(A, B, C, 2, 2, 2, 2, 2, 2, false, false, { precision: 'bf16' })).toThrow(/BF16 precision needs the 'avx512' kernels/));
  });
});

describe('matmul (TS wrapper)', () => {
  const r = rng(7);
  const M = 9, K = 20, N = 11;
  const a = randn(M * K, r), b = randn(K * N, r), bias = randn(N, r), ls = randn(N, r), res = randn(M * N, r);
  const ref = (o: Partial<GemmRefArgs>) =>
    gemmRef({ M, N, K, A: a, lda: K, transA: false, B: b, ldb: N, transB: false, C: new Float32Array(M * N), ldc: N, ...o });

  it('[M,K] x [K,N] with the full epilogue', () => {
    const y = matmul({ data: a, shape: [M, K] }, { data: b, shape: [K, N] }, {
      bias, activation: 'gelu', colScale: ls, residual: { data: res, shape: [M, N] }, alpha: 0.5,
    });
    expect(y.shape).toEqual([M, N]);
    expectClose(y.data, ref({ bias, activation: 'gelu', colScale: ls, residual: res, alpha: 0.5 }), 1e-4, 1e-4);
  });

  it('transA / transB read the transposed layouts', () => {
    // a^T stored as [K,M], b^T stored as [N,K]
    const aT = new Float32Array(K * M), bT = new Float32Array(N * K);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) aT[k * M + m] = a[m * K + k]!;
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) bT[n * K + k] = b[k * N + n]!;
    const y = matmul({ data: aT, shape: [K, M] }, { data: bT, shape: [N, K] }, { transA: true, transB: true, activation: 'relu' });
    expectClose(y.data, ref({ activation: 'relu' }), 1e-4, 1e-4);
  });

  it('in place: residual is out', () => {
    const x = res.slice();
    const want = ref({ colScale: ls, residual: x });
    const y = matmul({ data: a, shape: [M, K] }, { data: b, shape: [K, N] }, { colScale: ls, residual: { data: x, shape: [M, N] }, out: x });
    expect(y.data).toBe(x);
    expectClose(x, want, 1e-4, 1e-4);
  });

  it('validates its arguments', () => {
    const A = { data: a, shape: [M, K] }, B = { data: b, shape: [K, N] };
    expect(() => matmul(A, { data: b, shape: [N, K] })).toThrow(RangeError);
    expect(() => matmul(A, { data: b, shape: [N, K] })).toThrow(/b/);
    expect(() => matmul({ data: new Float64Array(M * K) as unknown as Float32Array, shape: [M, K] }, B)).toThrow(TypeError);
    expect(() => matmul(A, B, { bias: new Float32Array(N + 1) })).toThrow(/opts.bias/);
    expect(() => matmul(A, B, { activation: 'tanh' as 'gelu' })).toThrow(/activation/);
    expect(() => matmul(A, B, { alpha: NaN })).toThrow(RangeError);
    expect(() => matmul(A, B, { residual: { data: res, shape: [N, M] } })).toThrow(/residual/);
    expect(() => matmul(A, B, { out: new Float32Array(3) })).toThrow(/out/);
    expect(() => matmul(A, B, { out: a.subarray(0, M * N) })).toThrow(/opts.out not to share memory with a/);
  });
});

describe('gemm binding errors', () => {
  const M = 4, N = 5, K = 3;
  const A = new Float32Array(M * K), B = new Float32Array(K * N);
  const C = () => new Float32Array(M * N);
  const g = native().gemm;
  type Opts = Parameters<typeof g>[11];
  const call = (o?: Opts, c = C(), lds: [number, number, number] = [K, N, N], ab: [Float32Array, Float32Array] = [A, B]) =>
    g(ab[0], ab[1], c, M, N, K, lds[0], lds[1], lds[2], false, false, o);
  const cases: Array<[string, () => unknown, ErrorConstructor, RegExp]> = [
    ['arg count', () => (g as unknown as (...x: unknown[]) => unknown)(A, B), TypeError, /arguments/],
    ['A dtype', () => g(new Float64Array(12) as unknown as Float32Array, B, C(), M, N, K, K, N, N, false, false), TypeError, /A/],
    ['M zero', () => g(A, B, C(), 0, N, K, K, N, N, false, false), RangeError, /M/],
    ['transA not boolean', () => g(A, B, C(), M, N, K, K, N, N, 1 as unknown as boolean, false), TypeError, /transA/],
    ['lda too small', () => call(undefined, C(), [K - 1, N, N]), RangeError, /lda/],
    ['ldb too small', () => call(undefined, C(), [K, N - 1, N]), RangeError, /ldb/],
    ['ldc too small', () => call(undefined, C(), [K, N, N - 1]), RangeError, /ldc/],
    ['A too short', () => call(undefined, C(), [K, N, N], [A.subarray(1), B]), RangeError, /A to hold/],
    ['B too short for ldb', () => call(undefined, C(), [K, N + 1, N]), RangeError, /B to hold/],
    ['C too short', () => call(undefined, new Float32Array(M * N - 1)), RangeError, /C to hold/],
    ['opts kind', () => call(3 as unknown as Opts), TypeError, /opts/],
    ['unknown activation', () => call({ activation: 'tanh' as 'gelu' }), RangeError, /activation/],
    ['activation kind', () => call({ activation: 1 as unknown as 'gelu' }), TypeError, /activation/],
    ['alpha not finite', () => call({ alpha: Infinity }), RangeError, /alpha/],
    ['beta kind', () => call({ beta: '1' as unknown as number }), TypeError, /beta/],
    ['bias length', () => call({ bias: new Float32Array(N - 1) }), RangeError, /bias/],
    ['bias dtype', () => call({ bias: new Float64Array(N) as unknown as Float32Array }), TypeError, /bias/],
    ['empty colScale', () => call({ colScale: new Float32Array(0) }), RangeError, /colScale/],
    ['residual too short', () => call({ residual: new Float32Array(M * N - 1) }), RangeError, /residual/],
    ['ldr too small', () => call({ residual: new Float32Array(M * N), ldr: N - 1 }), RangeError, /ldr/],
    ['ldr without residual', () => call({ ldr: N }), RangeError, /residual/],
    ['aRows with transA', () => g(new Float32Array(K * M), B, C(), M, N, K, M, N, N, true, false, { aRows: new Int32Array(M) }), RangeError, /transA/],
    ['aRows length', () => call({ aRows: new Int32Array(M + 1) }), RangeError, /aRows/],
    ['aRows out of range', () => call({ aRows: Int32Array.from([0, 1, 2, M]) }), RangeError, /aRows/],
    ['aRows negative', () => call({ aRows: Int32Array.from([0, -1, 2, 3]) }), RangeError, /aRows\[1\]/],
    ['cRows out of range', () => call({ cRows: Int32Array.from([0, 1, 2, M]) }), RangeError, /cRows/],
    ['cRows duplicate', () => call({ cRows: Int32Array.from([0, 2, 1, 2]) }), RangeError, /duplicate row 2 at positions 1 and 3/],
    ['rRows out of range', () => call({ residual: new Float32Array(M * N), rRows: Int32Array.from([0, 1, 2, M]) }), RangeError, /rRows/],
    ['C overlaps A', () => { const buf = new Float32Array(100); return call(undefined, buf.subarray(0, M * N), [K, N, N], [buf.subarray(10, 10 + M * K), B]); }, RangeError, /C and A/],
    ['C overlaps B', () => { const buf = new Float32Array(100); return call(undefined, buf.subarray(0, M * N), [K, N, N], [A, buf.subarray(5, 5 + K * N)]); }, RangeError, /C and B/],
    ['C overlaps bias', () => { const c = C(); return call({ bias: c.subarray(0, N) }, c); }, RangeError, /bias/],
    ['residual partly overlaps C', () => { const buf = new Float32Array(M * N + 1); return call({ residual: buf.subarray(1) }, buf.subarray(0, M * N)); }, RangeError, /residual/],
    ['in-place residual with another ldr', () => { const c = new Float32Array(M * (N + 1)); return call({ residual: c, ldr: N + 1 }, c, [K, N, N]); }, RangeError, /ldr == ldc/],
    ['in-place residual with other rows', () => { const c = C(); return call({ residual: c, cRows: Int32Array.from([0, 1, 2, 3]), rRows: Int32Array.from([1, 0, 2, 3]) }, c); }, RangeError, /rRows == cRows/],
  ];
  for (const [name, fn, cls, re] of cases) {
    it(name, () => {
      expect(fn).toThrow(cls);
      expect(fn).toThrow(re);
    });
  }

  it('gemmPeakProbe validates and returns a positive rate', () => {
    expect(() => native().gemmPeakProbe(0, 10, 256)).toThrow(RangeError);
    expect(() => native().gemmPeakProbe(1, 10, 384 as 256)).toThrow(/256 or 512/);
    if (cpuVariants().includes('avx2')) expect(native().gemmPeakProbe(1, 1000, 256)).toBeGreaterThan(0);
    if (cpuVariants().includes('avx512')) expect(native().gemmPeakProbe(1, 1000, 512)).toBeGreaterThan(0);
    else expect(() => native().gemmPeakProbe(1, 10, 512)).toThrow(/no AVX-512/);
  });

  it('fuzz: random bad sizes throw, never crash', () => {
    const r = rng(3);
    for (let i = 0; i < 200; i++) {
      const pick = () => Math.floor(r() * 8);
      const m = pick(), n = pick(), k = pick();
      const a = new Float32Array(pick() * 3), b = new Float32Array(pick() * 3), c = new Float32Array(pick() * 3);
      try {
        g(a, b, c, m, n, k, pick(), pick(), pick(), r() < 0.5, r() < 0.5, r() < 0.3 ? { aRows: new Int32Array(m).fill(pick()) } : undefined);
      } catch (e) {
        expect(e instanceof RangeError || e instanceof TypeError).toBe(true);
      }
    }
  });
});
