/**
 * Micro-benchmarks with benchmark.js: for sub-millisecond calls (gather/scatter, top-k at small
 * shapes) where one performance.now() pair per call would be mostly timer noise. benchmark.js runs
 * calibrated cycles of many calls each; every sample is one cycle's mean time per call.
 */
import Benchmark from 'benchmark';
import { summarize, type Timing } from './timer.js';

/** Times a synchronous function with benchmark.js; `maxTimeS` bounds the measuring time. */
export function timeMicro(fn: () => unknown, maxTimeS = 1): Timing & { rme: number } {
  const bench = new Benchmark('op', fn, { maxTime: maxTimeS, minSamples: 5 });
  bench.run({ async: false });
  if (bench.error) throw bench.error;
  const samplesMs = bench.stats.sample.map((s) => s * 1e3);
  return { ...summarize(samplesMs), rme: bench.stats.rme };
}
