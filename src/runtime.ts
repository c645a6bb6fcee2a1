/**
 * Runtime controls: what was built and what runs (sharp's `simd()`/`concurrency()`, ORT's backends).
 */
import { native, type BuildInfo } from './native.js';
import { describe, rangeError, typeError } from './errors.js';

/** `{version, build, cpu: {simd, threads, kernel}, cuda: {compiled, devices, error?}, ops}`. Never throws for a missing GPU. */
export function info(): BuildInfo {
  return native().info();
}

/**
 * Sets the CPU thread count used by every native kernel (results do not depend on it).
 * @param n integer in [1, 256]
 * @returns the thread count now in use
 * @throws RangeError when n is out of range
 */
export function setThreads(n: number): number {
  if (typeof n !== 'number') throw typeError('setThreads', `expected n to be an integer, received ${describe(n)}`);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw rangeError('setThreads', `expected n to be an integer in [1, 256], received ${n}`);
  return native().setThreads(n);
}

/** The CPU thread count in use. */
export function getThreads(): number {
  return native().getThreads();
}

export type KernelChoice = 'auto' | 'ref' | 'avx2';

/**
 * Forces a CPU kernel variant: 'ref' (portable single-thread loops), 'avx2' (pool + AVX2/FMA) or
 * 'auto' (avx2 when the CPU has AVX2+FMA). Same as the REG4PRU_KERNEL environment variable.
 * @returns the variant that runs now
 * @throws RangeError for an unknown name, or 'avx2' on a CPU without AVX2+FMA
 */
export function setKernel(kernel: KernelChoice): 'ref' | 'avx2' {
  if (typeof kernel !== 'string') throw typeError('setKernel', `expected kernel to be a string, received ${describe(kernel)}`);
  if (!['auto', 'ref', 'avx2'].includes(kernel)) throw rangeError('setKernel', `expected kernel to be 'auto', 'ref' or 'avx2', received '${kernel}'`);
  return native().setKernel(kernel) as 'ref' | 'avx2';
}

/** The CPU kernel variant that runs now. */
export function getKernel(): 'ref' | 'avx2' {
  return native().getKernel() as 'ref' | 'avx2';
}
