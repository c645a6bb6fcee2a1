/**
 * Helpers of the CUDA attention / GEMM / prunedBlock tests (helper B): BF16 rounding on the host (the same
 * round-to-nearest-even as cudaUpload's 'bfloat16'), relative-norm error over any array kind, downloads.
 * Tolerances used by the GPU files (stated here once):
 *   float32 inputs (SIMT FP32 kernels): elementwise |got - want| <= 2e-5 + 1e-4 |want| against the CPU op on
 *     the same inputs; gradients by relative L2 norm <= 1e-4.
 *   bfloat16 inputs (tensor cores, FP32 accumulation): relative L2 norm <= 1e-2 against the CPU op run on the
 *     BF16-rounded inputs (outputs), <= 3e-2 for gradients and for prunedBlock (BF16 activations between the
 *     GEMMs).
 */
import { expect } from 'vitest';
import type { DeviceTensor } from '../../src/index.js';
import { roundBf16 } from './gpu.js';

/** Rounds each float to the nearest bfloat16 (ties to even), widened back to float32: gpu.ts's roundBf16. */
export const bf16Round = roundBf16;

/**
 * ||got - want||_2 / max(||want||_2, floorRms * sqrt(n)) (NaN anywhere -> Infinity). The floor keeps an exactly
 * zero reference (dq, dk at N = 1, where the exact gradient vanishes) from turning FP32 rounding noise (~1e-6)
 * into an infinite relative error.
 */
export function relNorm(got: ArrayLike<number>, want: ArrayLike<number>, floorRms = 1e-2): number {
  expect(got.length).toBe(want.length);
  let num = 0, den = 0;
  for (let i = 0; i < got.length; i++) {
    const d = got[i]! - want[i]!;
    if (!Number.isFinite(d)) return Infinity;
    num += d * d;
    den += want[i]! * want[i]!;
  }
  return Math.sqrt(num / Math.max(den, floorRms * floorRms * got.length));
}

export function expectRelNorm(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  const e = relNorm(got, want);
  if (!(e <= tol)) throw new Error(`${what}: relative L2 error ${e} > ${tol}`);
}

/** Downloads a float32 / bfloat16 DeviceTensor and frees it. */
export function take(t: DeviceTensor): Float32Array {
  try {
    const h = t.downloadSync();
    if (!(h.data instanceof Float32Array)) throw new Error(`expected a float tensor, received ${t.dtype}`);
    return h.data;
  } finally {
    t.free();
  }
}
