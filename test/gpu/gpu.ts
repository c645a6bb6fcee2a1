/**
 * GPU test harness (issue 6): `describeGpu` runs its suite only when a CUDA device is usable, and
 * every file that uses it also gets ONE always-running test, 'CUDA device present', which passes
 * and prints why the suite was skipped ("skipped: reg4pru was built without CUDA", "skipped:
 * cudaGetDeviceCount: cudaErrorInsufficientDriver: ...") so a green run without a GPU says so.
 * Also: bf16 rounding (round to nearest even, as the upload) and a relative-norm comparison.
 */
import { describe, it } from 'vitest';
import { cudaAvailable } from '../../src/index.js';

export const gpu = cudaAvailable();

let announced = false;

/** describe.skipIf(!gpu.ok), plus the one 'CUDA device present' test of this file. */
export function describeGpu(name: string, fn: () => void): void {
  if (!announced) {
    announced = true;
    describe('CUDA', () => {
      it('CUDA device present', () => {
        if (!gpu.ok) console.log(`skipped: ${gpu.reason}`);
      });
    });
  }
  describe.skipIf(!gpu.ok)(name, fn);
}

/** f32 -> bf16 -> f32 with round to nearest even (NaN kept): what a bfloat16 upload stores. */
export function roundBf16(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const o = new Uint32Array(out.buffer);
  for (let i = 0; i < x.length; i++) {
    const v = u[i]!;
    if ((v & 0x7fffffff) > 0x7f800000) o[i] = (v | 0x00400000) & 0xffff0000;
    else o[i] = ((v + 0x7fff + ((v >>> 16) & 1)) >>> 0) & 0xffff0000;
  }
  return out;
}

/** ||a - b|| / ||b|| (0 when both are zero); NaN anywhere gives Infinity. */
export function relNorm(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (Number.isNaN(d)) return Infinity;
    num += d * d;
    den += b[i]! * b[i]!;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Index of the first element where a and b differ bitwise (NaN == NaN), or -1. */
export function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) if (!(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) return i;
  return -1;
}
