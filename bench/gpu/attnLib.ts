/**
 * Shared pieces of the attention / prunedBlock GPU benchmarks (helper B): the BF16 tensor-core ceiling,
 * measured once per process with the built-in GEMM (cuda.linear, mma.sync m16n8k16, FP32 accumulation) at
 * 8192 x 8192 x 8192 on random BF16 data, and the datasheet figure it is compared with.
 * Datasheet dense BF16 tensor-core peak (no sparsity): H100 SXM and H200 989 TFLOP/s, H100 PCIe 756,
 * A100 312. Our GEMM uses mma.sync, not Hopper's wgmma, so it reaches only part of the Hopper figure; rows
 * report both shares (measured GEMM = the ceiling this code base has; datasheet = the chip's).
 */
import { cuda } from '../../src/index.js';
import { datasheetBf16Tflops } from '../../src/cuda/peak.js';
import type { Timing } from '../lib/timer.js';
import { gpuTime } from './lib.js';

let peakCache: { tflops: number; timing: Timing; size: number } | undefined;

/** cuda.linear at size^3 in BF16 (bf16 output) on random data: its timing and TFLOP/s. */
function timeGemm(size: number, quick: boolean): { tflops: number; timing: Timing; size: number } {
  const fill = (n: number, seed: number) => {
    const a = new Float32Array(n);
    let s = seed >>> 0;
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      a[i] = s / 4294967296 - 0.5;
    }
    return a;
  };
  const A = cuda.upload({ data: fill(size * size, 1), shape: [size, size] }, { dtype: 'bfloat16' });
  const W = cuda.upload({ data: fill(size * size, 2), shape: [size, size] }, { dtype: 'bfloat16' });
  try {
    const timing = gpuTime(() => cuda.linear(A, W).free(), { quick });
    return { tflops: (2 * size ** 3) / (timing.medianMs * 1e9), timing, size };
  } finally {
    A.free();
    W.free();
  }
}

/** TFLOP/s of cuda.linear at size^3 in BF16 (bf16 output), median of the repeats, default tile; cached per process. */
export function gemmPeak(quick: boolean): { tflops: number; timing: Timing; size: number } {
  peakCache ??= timeGemm(quick ? 4096 : 8192, quick);
  return peakCache;
}

/**
 * The same GEMM with the tensor-core CTA tile forced (REG4PRU_CUDA_GEMM_TILE: '64' = 64x128, '128' = 128x128,
 * '256' = 128x256; the addon reads it at each call), so the tiles are compared in one run.
 */
export function gemmWithTile(tile: '64' | '128' | '256', quick: boolean): { tflops: number; timing: Timing; size: number } {
  const was = process.env.REG4PRU_CUDA_GEMM_TILE;
  process.env.REG4PRU_CUDA_GEMM_TILE = tile;
  try {
    return timeGemm(quick ? 4096 : 8192, quick);
  } finally {
    if (was === undefined) delete process.env.REG4PRU_CUDA_GEMM_TILE;
    else process.env.REG4PRU_CUDA_GEMM_TILE = was;
  }
}

/** "x% of measured GEMM, y% of datasheet" for a TFLOP/s figure. */
export function peakNote(tflops: number, gemm: number): string {
  const ds = datasheetBf16Tflops();
  return `${tflops.toFixed(1)} TFLOP/s = ${((100 * tflops) / gemm).toFixed(0)}% of our BF16 GEMM` + (ds ? `, ${((100 * tflops) / ds).toFixed(0)}% of datasheet ${ds}` : '');
}
