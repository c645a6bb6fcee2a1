/**
 * Timing for benchmarks (STYLE §9): warm up, then a timed loop; median and p10/p90 in ms.
 * Iterations adapt to a time budget so slow baselines (plain TS / TF.js) stay bounded.
 */
export interface Timing {
  medianMs: number;
  p10Ms: number;
  p90Ms: number;
  iterations: number;
}

export interface TimeOptions {
  warmup?: number;
  /** Stop after this many timed runs... */
  maxIterations?: number;
  /** ...or once this much time was spent (after at least minIterations). */
  budgetMs?: number;
  minIterations?: number;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(samples: number[]): Timing {
  const s = [...samples].sort((a, b) => a - b);
  return { medianMs: quantile(s, 0.5), p10Ms: quantile(s, 0.1), p90Ms: quantile(s, 0.9), iterations: s.length };
}

/** Times a synchronous function. */
export function timeSync(fn: () => unknown, opts: TimeOptions = {}): Timing {
  const { warmup = 2, maxIterations = 50, budgetMs = 3000, minIterations = 3 } = opts;
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxIterations) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
    if (samples.length >= minIterations && performance.now() - start > budgetMs) break;
  }
  return summarize(samples);
}

/** Times an async function (awaited one at a time). */
export async function timeAsync(fn: () => Promise<unknown>, opts: TimeOptions = {}): Promise<Timing> {
  const { warmup = 2, maxIterations = 50, budgetMs = 3000, minIterations = 3 } = opts;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxIterations) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
    if (samples.length >= minIterations && performance.now() - start > budgetMs) break;
  }
  return summarize(samples);
}
