/**
 * CUDA linear (the built-in GEMM, native/kernels/cuda/gemm.cu) against the float64 GEMM reference and the CPU
 * matmul (transB, same epilogue). GPU cases skip without a device; argument checks run everywhere.
 * Tolerances: float32 (SIMT) elementwise 1e-5 + 1e-4 rel; bfloat16 (tensor cores, FP32 accumulation) rel-L2
 * 1e-2 against the reference on the BF16-rounded operands (bf16 output: 1.5e-2).
 * Shapes cover the cp.async path (K, ldw multiples of 8) and the element-load path (K = 5, 37), M/N tails
 * smaller than and past one 128x128 tile.
 */
import { describe, expect, it } from 'vitest';
import { cuda, info, matmul } from '../../src/index.js';
import { native } from '../../src/native.js';
import { gemmRef, type Act } from '../reference/gemm.js';
import { expectClose, randn, rng, withEnv } from '../reference/helpers.js';
import { bf16Round, expectRelNorm, take } from './attnHelpers.js';
import { describeGpu } from './gpu.js';

const SHAPES: Array<[number, number, number]> = [
  [1, 1, 1],
  [3, 5, 5],
  [37, 19, 37],
  [130, 129, 64],
  [257, 384, 384],
];

describeGpu('cuda linear', () => {
  for (const [M, N, K] of SHAPES)
    for (const act of ['none', 'gelu'] as Act[])
      it(`M=${M} N=${N} K=${K} act=${act}, bias + colScale + residual`, () => {
        const r = rng(M * 7 + N * 3 + K);
        const a = randn(M * K, r), w = randn(N * K, r, 0.2), bias = randn(N, r), cs = randn(N, r), res = randn(M * N, r);
        for (const dtype of ['float32', 'bfloat16'] as const) {
          const [A, W] = dtype === 'bfloat16' ? [bf16Round(a), bf16Round(w)] : [a, w];
          const want = gemmRef({ M, N, K, A, lda: K, transA: false, B: W, ldb: K, transB: true, C: new Float32Array(M * N), ldc: N, bias, activation: act, colScale: cs, residual: res });
          if (dtype === 'float32') {
            const cpu = matmul({ data: a, shape: [M, K] }, { data: w, shape: [N, K] }, { transB: true, bias, activation: act, colScale: cs, residual: { data: res, shape: [M, N] } });
            expectClose(cpu.data, want, 1e-5, 1e-4, 'CPU matmul vs reference (sanity)');
          }
          const ad = cuda.upload({ data: A, shape: [M, K] }, { dtype }), wd = cuda.upload({ data: W, shape: [N, K] }, { dtype });
          const bd = cuda.upload({ data: bias, shape: [N] }), csd = cuda.upload({ data: cs, shape: [N] }, { dtype: 'bfloat16' });
          const rd = cuda.upload({ data: res, shape: [M, N] });
          // colScale goes up as bfloat16: the reference must see the same rounded values
          const want2 = gemmRef({ M, N, K, A, lda: K, transA: false, B: W, ldb: K, transB: true, C: new Float32Array(M * N), ldc: N, bias, activation: act, colScale: bf16Round(cs), residual: res });
          try {
            const got = take(cuda.linear(ad, wd, { bias: bd, activation: act, colScale: csd, residual: rd, outDtype: 'float32' }));
            if (dtype === 'float32') expectClose(got, want2, 1e-5, 1e-4, 'float32');
            else expectRelNorm(got, want2, 1e-2, 'bfloat16');
            const plain = cuda.linear(ad, wd, { alpha: 0.5 });
            expect(plain.dtype).toBe(dtype);
            const wantPlain = gemmRef({ M, N, K, A, lda: K, transA: false, B: W, ldb: K, transB: true, C: new Float32Array(M * N), ldc: N, alpha: 0.5 });
            if (dtype === 'float32') expectClose(take(plain), wantPlain, 1e-5, 1e-4, 'plain');
            else expectRelNorm(take(plain), wantPlain, 1.5e-2, 'plain bf16 out');
          } finally {
            for (const t of [ad, wd, bd, csd, rd]) t.free();
          }
        }
      });

  it('rejects a mismatched inner size and mixed operand dtypes', () => {
    const a = cuda.upload({ data: new Float32Array(6), shape: [2, 3] });
    const w = cuda.upload({ data: new Float32Array(8), shape: [2, 4] });
    const w16 = cuda.upload({ data: new Float32Array(6), shape: [2, 3] }, { dtype: 'bfloat16' });
    try {
      expect(() => cuda.linear(a, w)).toThrow(RangeError);
      expect(() => cuda.linear(a, w)).toThrow(/expected w to be \[N,K\] with K=3/);
      expect(() => cuda.linear(a, w16)).toThrow(TypeError);
    } finally {
      for (const t of [a, w, w16]) t.free();
    }
  });
});

// The wgmma path (native/kernels/cuda/gemm_wgmma.cu, sm_90a), opt-in by REG4PRU_CUDA_GEMM=wgmma: BF16 operands with
// K, lda, ldw multiples of 8, at each of its tiles (64x128, 128x128, 128x256), tails in M, N and K, several k tiles (the
// 4-stage ring wraps at K > 256), the layer shapes of a 512x512 block. On a device other than sm_90 the variable
// changes nothing (the mma.sync kernel runs), so the cases skip there, saying so.
const onHopper = (): boolean => info().cuda.devices[0]?.sm === 90;
describeGpu('cuda linear, wgmma path (sm_90a)', () => {
  const WG_SHAPES: Array<[number, number, number]> = [[130, 129, 64], [257, 384, 384], [300, 520, 328], [1029, 1536, 384], [1029, 384, 1536]];
  for (const tile of ['64', '128', '256'])
    for (const [M, N, K] of WG_SHAPES)
      it(`tile ${tile === '64' ? '64x128' : `128x${tile}`}, M=${M} N=${N} K=${K}, bias + GELU + colScale + residual`, (ctx) => {
        if (!onHopper()) return ctx.skip(`the device is sm_${info().cuda.devices[0]?.sm}: the wgmma path needs sm_90`);
        const r = rng(M * 5 + N * 11 + K);
        const A = bf16Round(randn(M * K, r)), W = bf16Round(randn(N * K, r, 0.2));
        const bias = randn(N, r), cs = randn(N, r), res = randn(M * N, r);
        const want = gemmRef({ M, N, K, A, lda: K, transA: false, B: W, ldb: K, transB: true, C: new Float32Array(M * N), ldc: N, bias, activation: 'gelu', colScale: cs, residual: res });
        const ad = cuda.upload({ data: A, shape: [M, K] }, { dtype: 'bfloat16' }), wd = cuda.upload({ data: W, shape: [N, K] }, { dtype: 'bfloat16' });
        const bd = cuda.upload({ data: bias, shape: [N] }), csd = cuda.upload({ data: cs, shape: [N] }), rd = cuda.upload({ data: res, shape: [M, N] });
        try {
          const got = withGemmEnv(tile, () => take(cuda.linear(ad, wd, { bias: bd, activation: 'gelu', colScale: csd, residual: rd, outDtype: 'float32' })));
          expectRelNorm(got, want, 1e-2, 'wgmma bfloat16');
          const plain = withGemmEnv(tile, () => take(cuda.linear(ad, wd)));
          expectRelNorm(plain, gemmRef({ M, N, K, A, lda: K, transA: false, B: W, ldb: K, transB: true, C: new Float32Array(M * N), ldc: N }), 1.5e-2, 'wgmma plain bf16 out');
        } finally {
          for (const t of [ad, wd, bd, csd, rd]) t.free();
        }
      });
});

function withGemmEnv<T>(tile: string, fn: () => T): T {
  return withEnv('REG4PRU_CUDA_GEMM', 'wgmma', () => withEnv('REG4PRU_CUDA_GEMM_TILE', tile, fn));
}

describe('cuda linear: argument checks without touching the device', () => {
  it('names the argument that is not a DeviceTensor, and bad options', () => {
    const x = new Float32Array(4);
    expect(() => native().cudaLinear(x as never, x as never, null, 'none', null, null, 1, null)).toThrow(/cudaLinear: expected a to be a DeviceTensor, received Float32Array/);
    expect(() => native().cudaLinear({} as never, x as never, null, 'none', null, null, 1, null)).toThrow(TypeError);
    expect(() => cuda.linear(x as never, x as never)).toThrow(/expected a to be a DeviceTensor/);
    expect(() => cuda.linear(x as never, x as never, { activation: 'tanh' as never })).toThrow(/opts\.activation/);
    expect(() => cuda.linear(x as never, x as never, { alpha: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });
});
