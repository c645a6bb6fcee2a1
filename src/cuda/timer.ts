/**
 * CUDA-event timing for benchmarks (issue 6 item 5). Device work is asynchronous, so host clocks
 * around a launch measure the launch; events recorded on the library stream measure the device.
 * One library-wide event pair: `cudaTime` is not re-entrant (do not nest it).
 */
import { native } from '../native.js';
import { rangeError, typeError, describe } from '../errors.js';

export interface CudaTimeOptions {
  /** Untimed calls first (module load, pool growth). Default 3. */
  warmup?: number;
  /** Timed repeats; the statistics are over repeats. Default 10. */
  reps?: number;
  /**
   * Calls per repeat between one pair of events (ms per call = elapsed / iters); several calls amortise
   * the host's launch gaps. Default 10; forced to 1 with flushL2.
   */
  iters?: number;
  /** Overwrite L2 (2x its size) before every repeat so inputs come from DRAM (STYLE §9). Default false. */
  flushL2?: boolean;
}

export interface CudaTiming {
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  /** ms per call of each repeat. */
  samplesMs: number[];
}

function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i]!;
}

/**
 * Times `fn` (which enqueues device work, e.g. a `cuda.*` op) with CUDA events.
 * @param fn enqueues the work to time; its results should be freed by the caller
 * @returns median / p10 / p90 milliseconds per call over the repeats
 * @throws Error without a usable device; TypeError / RangeError for bad options
 * @example
 * const t = cudaTime(() => { cuda.gatherTokens(x, idx).free(); }, { reps: 20 });
 */
export function cudaTime(fn: () => void, opts: CudaTimeOptions = {}): CudaTiming {
  if (typeof fn !== 'function') throw typeError('cudaTime', `expected fn to be a function, received ${describe(fn)}`);
  if (typeof opts !== 'object' || opts === null) throw typeError('cudaTime', `expected opts to be an object, received ${describe(opts)}`);
  const warmup = opts.warmup ?? 3, reps = opts.reps ?? 10;
  const iters = opts.flushL2 ? 1 : (opts.iters ?? 10);
  for (const [name, v] of [['warmup', warmup], ['reps', reps], ['iters', iters]] as const)
    if (!Number.isInteger(v) || v < (name === 'warmup' ? 0 : 1)) throw rangeError('cudaTime', `expected ${name} to be a non-negative integer${name === 'warmup' ? '' : ' >= 1'}, received ${v}`);
  const n = native();
  const avail = n.cudaAvailable();
  if (!avail.ok) throw new Error(`cudaTime: CUDA is not available: ${avail.reason}`);
  for (let i = 0; i < warmup; i++) fn();
  n.cudaSynchronize();
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    if (opts.flushL2) n.cudaFlushL2();
    n.cudaTimerStart();
    for (let i = 0; i < iters; i++) fn();
    samples.push(n.cudaTimerStop() / iters);
  }
  n.cudaSynchronize();
  const sorted = samples.slice().sort((a, b) => a - b);
  return { medianMs: quantile(sorted, 0.5), p10Ms: quantile(sorted, 0.1), p90Ms: quantile(sorted, 0.9), samplesMs: samples };
}
