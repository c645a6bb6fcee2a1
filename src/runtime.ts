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

export type KernelVariant = 'ref' | 'avx2' | 'avx512';
export type KernelChoice = 'auto' | KernelVariant;

/**
 * Forces a CPU kernel variant: 'ref' (portable single-thread loops), 'avx2' (pool + AVX2/FMA), 'avx512'
 * (pool + AVX-512 F/BW/DQ/VL kernels where an op has one, `info().cpu.avx512Ops`, its avx2 kernel
 * otherwise) or 'auto' (the widest the CPU has). Same as the REG4PRU_KERNEL environment variable.
 * @returns the variant that runs now
 * @throws RangeError for an unknown name, or a variant this CPU lacks (`info().cpu.variants`)
 */
export function setKernel(kernel: KernelChoice): KernelVariant {
  if (typeof kernel !== 'string') throw typeError('setKernel', `expected kernel to be a string, received ${describe(kernel)}`);
  if (!['auto', 'ref', 'avx2', 'avx512'].includes(kernel))
    throw rangeError('setKernel', `expected kernel to be 'auto', 'ref', 'avx2' or 'avx512', received '${kernel}'`);
  return native().setKernel(kernel) as KernelVariant;
}

/** The CPU kernel variant that runs now. */
export function getKernel(): KernelVariant {
  return native().getKernel() as KernelVariant;
}
