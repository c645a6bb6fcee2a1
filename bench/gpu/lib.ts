/**
 * Shared pieces of the GPU benchmarks (issue 6 item 5): CUDA-event timing as a bench Timing, the
 * device's measured copy bandwidth (the GB/s ceiling the memory-bound ops are compared with), and
 * what ran. Every figure is timed with CUDA events on the library stream (src/cuda/timer.ts).
 */
import { cuda, cudaTime, info, type DeviceTensor } from '../../src/index.js';
import type { Timing } from '../lib/timer.js';

export interface GpuTimeOptions {
  quick: boolean;
  /** Overwrite L2 before every timed call (inputs come from DRAM; one call per event pair). */
  flushL2?: boolean;
}

/** Times fn with CUDA events. Back-to-back: 10 calls per event pair (launch gaps amortised). */
export function gpuTime(fn: () => void, o: GpuTimeOptions): Timing {
  const reps = o.quick ? 5 : 25;
  const t = o.flushL2 ? cudaTime(fn, { warmup: 3, reps, flushL2: true }) : cudaTime(fn, { warmup: 3, reps, iters: 10 });
  return { medianMs: t.medianMs, p10Ms: t.p10Ms, p90Ms: t.p90Ms, iterations: t.samplesMs.length };
}


/** The device benchmarks run on: name, SMs, memory (info().cuda). */
export function deviceSummary(): { name: string; sm: number; multiprocessors: number; totalMemory: number } | null {
  const d = info().cuda.devices[0];
  return d ? { name: d.name, sm: d.sm, multiprocessors: d.multiprocessors, totalMemory: d.totalMemory } : null;
}

let copyCache: { gbps: number; bytes: number; timing: Timing } | undefined;

/**
 * Device-to-device copy bandwidth: a 512 MiB cudaMemcpyAsync (random bytes, not zeros), counting bytes
 * read plus bytes written, median of the repeats. Measured once per process.
 */
export function copyBandwidth(quick: boolean): { gbps: number; bytes: number; timing: Timing } {
  if (copyCache) return copyCache;
  const bytes = (quick ? 256 : 512) * 2 ** 20;
  const host = new Uint8Array(bytes);
  let s = 0x9e3779b9;
  for (let i = 0; i < bytes; i += 4) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    host[i] = s & 255; host[i + 1] = (s >>> 8) & 255; host[i + 2] = (s >>> 16) & 255; host[i + 3] = s >>> 24;
  }
  const src: DeviceTensor = cuda.upload({ data: host, shape: [bytes] });
  const dst = cuda.zeros([bytes], 'uint8');
  try {
    const timing = gpuTime(() => { cuda.copy(dst, src); }, { quick });
    copyCache = { gbps: (2 * bytes) / (timing.medianMs * 1e6), bytes, timing };
    return copyCache;
  } finally {
    src.free();
    dst.free();
  }
}
