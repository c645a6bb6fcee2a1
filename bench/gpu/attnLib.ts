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

/** TFLOP/s of cuda.linear at size^3 in BF16 (bf16 output), median of the repeats; cached per process. */
export function gemmPeak(quick: boolean): { tflops: number; timing: Timing; size: number } {
  if (peakCache) return peakCache;
  const size = quick ? 4096 : 8192;
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
    peakCache = { tflops: (2 * size ** 3) / (timing.medianMs * 1e9), timing, size };
    return peakCache;
  } finally {
    A.free();
    W.free();
  }
}

/** "x% of measured GEMM, y% of datasheet" for a TFLOP/s figure. */
export function peakNote(tflops: number, gemm: number): string {
  const ds = datasheetBf16Tflops();
  return `${tflops.toFixed(1)} TFLOP/s = ${((100 * tflops) / gemm).toFixed(0)}% of our BF16 GEMM` + (ds ? `, ${((100 * tflops) / ds).toFixed(0)}% of datasheet ${ds}` : '');
}
