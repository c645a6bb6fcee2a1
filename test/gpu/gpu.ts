/**
 * GPU test harness (issue 6): `describeGpu` runs its suite only when a CUDA device is usable, and every
 * file that uses it also gets ONE always-running test, 'CUDA device present' (checkCudaPresence: a device
 * that is found must answer sane queries and round-trip data; a missing one must be explained by info()
 * and refused by the ops). It prints why the suite was skipped ("skipped: reg4pru was built without
 * CUDA", "skipped: cudaGetDeviceCount: cudaErrorInsufficientDriver: ...") so a green run without a GPU
 * says so. Also: bf16 rounding (round to nearest even, as the upload) and a relative-norm comparison.
 */
import { describe, expect, it } from 'vitest';
import { cuda, cudaAvailable, info } from '../../src/index.js';

export const gpu = cudaAvailable();

/**
 * The check behind 'CUDA device present'. With a device: info() lists it with sane query fields and a
 * round trip through device memory returns the same bytes. Without one: the reason is stated, info()
 * explains it (compiled = false, or an error / no usable device), and a device op refuses with that
 * reason, so a suite skipped here is skipped for a true reason. REG4PRU_EXPECT_GPU=1 (a GPU runner) makes
 * a missing device a failure.
 */
export function checkCudaPresence(): void {
  const i = info();
  if (gpu.ok) {
    expect(gpu.reason).toBe('');
    expect(i.cuda.compiled).toBe(true);
    expect(i.cuda.error).toBeUndefined();
    expect(i.cuda.archs).toMatch(/sm_\d+|compute_\d+/);
    expect(i.cuda.runtimeVersion).toBeGreaterThan(0);
    expect(i.cuda.driverVersion).toBeGreaterThan(0);
    expect(i.cuda.devices.length).toBeGreaterThan(0);
    i.cuda.devices.forEach((d, k) => {
      expect(d.index).toBe(k);
      expect(d.name).toMatch(/\w/);
      const m = /^(\d+)\.(\d+)$/.exec(d.computeCapability);
      expect(m, `computeCapability '${d.computeCapability}'`).not.toBeNull();
      expect(d.sm).toBe(10 * Number(m![1]) + Number(m![2]));
      expect(d.sm).toBeGreaterThanOrEqual(50);
      expect(d.multiprocessors).toBeGreaterThanOrEqual(1);
      expect(d.totalMemory).toBeGreaterThanOrEqual(2 ** 28);
    });
    const host = Float32Array.from([1, -2.5, 3e-8, 65504, -0]);
    const t = cuda.upload({ data: host, shape: [5] });
    try {
      expect(Buffer.from(t.downloadSync().data.buffer).equals(Buffer.from(host.buffer))).toBe(true);
    } finally {
      t.free();
    }
    return;
  }
  console.log(`skipped: ${gpu.reason}`);
  expect(gpu.reason).toMatch(/\w{3}/);
  if (!i.cuda.compiled) {
    expect(gpu.reason).toMatch(/without CUDA/);
    expect(i.cuda.devices).toEqual([]);
    expect(i.cuda.error).toMatch(/without CUDA/);
  } else if (i.cuda.devices.length === 0) {
    expect(i.cuda.error, 'compiled with CUDA, no device, and info() does not say why').toMatch(/\w{3}/);
  }
  // The ops agree with the skip: a device op refuses, naming itself and the same reason.
  expect(() => cuda.upload({ data: new Float32Array(2), shape: [2] })).toThrow(`cudaUpload: CUDA is not available: ${gpu.reason}`);
  if (process.env.REG4PRU_EXPECT_GPU === '1') expect.fail(`REG4PRU_EXPECT_GPU=1 but no CUDA device is usable: ${gpu.reason}`);
}

let announced = false;

/** describe.skipIf(!gpu.ok), plus the one 'CUDA device present' test of this file. */
export function describeGpu(name: string, fn: () => void): void {
  if (!announced) {
    announced = true;
    describe('CUDA', () => {
      it('CUDA device present', checkCudaPresence);
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
