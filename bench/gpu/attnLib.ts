/**
 * Shared pieces of the attention / prunedBlock GPU benchmarks (helper B): the BF16 tensor-core ceiling,
 * measured once per process with the built-in GEMM (cuda.linear, mma.sync m16n8k16, FP32 accumulation) at
 * 8192 x 8192 x 8192 on random BF16 data, and the datasheet figure it is compared with.
 * Datasheet dense BF16 tensor-core peak (no sparsity): H100 SXM and H200 989 TFLOP/s, H100 PCIe 756,
 * A100 312. Our GEMM uses mma.sync, not Hopper's wgmma, so it reaches only part of the Hopper figure; rows
 * report both shares (measured GEMM = the ceiling this code base has; datasheet = the chip's).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cuda } from '../../src/index.js';
import { datasheetBf16Tflops } from '../../src/cuda/peak.js';
import type { Timing } from '../lib/timer.js';
import { torchPython } from '../lib/python.js';
import { withEnv } from '../../test/reference/helpers.js';
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
  return withEnv('REG4PRU_CUDA_GEMM_TILE', tile, () => timeGemm(quick ? 4096 : 8192, quick));
}

/** The wgmma GEMM (sm_90a, REG4PRU_CUDA_GEMM=wgmma) with 128x128 or 128x256 tiles; the mma.sync kernel on other devices. */
export function gemmWgmma(tile: '128' | '256', quick: boolean): { tflops: number; timing: Timing; size: number } {
  return withEnv('REG4PRU_CUDA_GEMM', 'wgmma', () => gemmWithTile(tile, quick));
}

/**
 * cuBLAS's BF16 GEMM at size^3 through torch.matmul (bench/gpu/torch_gemm.py, CUDA events), the library figure
 * issue 11 compares our GEMM with; or why it was not measured (no python3 with torch, no device, a failure).
 */
export function cublasGemm(size: number, quick: boolean): { tflops: number; ms: number; torch: string } | string {
  const py = torchPython();
  if (Array.isArray(py)) return `cuBLAS not measured: no python3 imports torch (${py.join('; ')})`;
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'torch_gemm.py');
  const r = spawnSync(py, [script, '--size', String(size), '--warmup', quick ? '3' : '5', '--iters', quick ? '5' : '20'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('TORCH_GEMM '));
  if (r.status !== 0 || !line) return `cuBLAS not measured: torch_gemm.py ${r.error?.message ?? `exit ${r.status}`}: ${(r.stderr ?? '').trim().split('\n').pop() ?? ''}`;
  const kv = Object.fromEntries(line.slice('TORCH_GEMM '.length).trim().split(/\s+/).map((x) => x.split('=', 2) as [string, string]));
  return { tflops: Number(kv.tflops), ms: Number(kv.ms), torch: kv.torch ?? '?' };
}

/** "x% of measured GEMM, y% of datasheet" for a TFLOP/s figure. */
export function peakNote(tflops: number, gemm: number): string {
  const ds = datasheetBf16Tflops();
  return `${tflops.toFixed(1)} TFLOP/s = ${((100 * tflops) / gemm).toFixed(0)}% of our BF16 GEMM` + (ds ? `, ${((100 * tflops) / ds).toFixed(0)}% of datasheet ${ds}` : '');
}
