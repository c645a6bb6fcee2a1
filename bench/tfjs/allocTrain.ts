/**
 * Where a training step's memory overhead goes, A/B in ONE process: the real training loop (src/train/trainer.ts,
 * preset tiny 256x256 B=2, full Reg4Pru loss, native kernels, every fusion on) with a switch flipped between steps
 * (ABAB...), so that the machine's load hits both arms alike. Per step: wall ms, CPU ms (user / system), minor page
 * faults (process.resourceUsage) and V8 GC pause ms (perf_hooks 'gc' entries inside the step's window).
 *   --ab pool   : the cpu backend's buffer pool bypassed (A) / used (B) (src/bufferPool.ts)
 *   --ab savedgrad : vitBlock / upscaleBlock straight on the tape (A) / inside tf.customGrad (B) (gradients/util.ts)
 *   --ab all    : both switches together
 *   --ab none   : no switch (both arms identical: the noise floor)
 * The first two steps (one per arm) are warm-up and not counted. Node flags (e.g. --max-semi-space-size) via
 * `node --import tsx/esm bench/tfjs/allocTrain.ts ...`.
 * Run: npx tsx bench/tfjs/allocTrain.ts [--ab pool|savedgrad|all|none] [--steps 16] [--verbose]
 */
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { modelConfig } from '../../src/index.js';
import { bufferPoolStats, resetBufferPoolStats, setModelFusion, train, useNativeBackend } from '../../src/tfjs/index.js';
import { summarize } from '../lib/timer.js';
import { bypassBufferPool } from '../../src/bufferPool.js';
import { savedOutputAB } from '../../src/tfjs/gradients/util.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
}
const ab = arg('--ab', 'pool');
const steps = Number(arg('--steps', '16'));
const arms: Record<string, (b: boolean) => void> = {
  none: () => {},
  // the pool stays hooked and keeps its arrays; off = every takeF32 a fresh array (src/bufferPool.ts bypass)
  pool: (b) => bypassBufferPool(!b),
  // vitBlock / upscaleBlock: the [y, saved] kernel straight on the tape (A) or inside tf.customGrad (B)
  savedgrad: (b) => (savedOutputAB.customGrad = b),
  // both of the above
  all: (b) => {
    bypassBufferPool(!b);
    savedOutputAB.customGrad = b;
  },
};
const flip = arms[ab];
if (!flip) throw new Error(`--ab: expected one of ${Object.keys(arms).join('|')}, received ${ab}`);

interface Sample { arm: 'A' | 'B'; ms: number; cpuMs: number; user: number; sys: number; faults: number; gcMs: number; gcKinds: Record<string, [number, number]>; pool: string; start: number; end: number }

tf.env().set('IS_NODE', true);
await tf.setBackend('cpu');
useNativeBackend(true);
setModelFusion({ layers: true, block: true, upscale: true });
const gc: PerformanceEntry[] = [];
const obs = new PerformanceObserver((l) => gc.push(...l.getEntries()));
obs.observe({ entryTypes: ['gc'] });

const samples: Sample[] = [];
// perf_hooks.constants NODE_PERFORMANCE_GC_*: 1 minor (scavenge), 2 major (mark-compact), 4 incremental, 8 weak callbacks
const GC_KINDS: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
let arm: 'A' | 'B' = 'A';
flip(false);
let ru = process.resourceUsage();
await train({
  config: modelConfig('tiny'), data: 'synthetic', samples: 2 * (steps + 2), batch: 2, maxSteps: steps + 2,
  policy: 'ratio', routing: 'random', seed: 0, warmup: [1, 1],
  onStep: (rec) => {
    const now = performance.now(), r = process.resourceUsage();
    samples.push({
      arm, ms: rec.ms, cpuMs: rec.cpuMs, user: (r.userCPUTime - ru.userCPUTime) / 1000, sys: (r.systemCPUTime - ru.systemCPUTime) / 1000,
      faults: r.minorPageFault - ru.minorPageFault, gcMs: 0, gcKinds: {}, pool: JSON.stringify(bufferPoolStats()), start: now - rec.ms, end: now,
    });
    arm = arm === 'A' ? 'B' : 'A';
    flip(arm === 'B');
    resetBufferPoolStats();
    ru = process.resourceUsage();
  },
});
await new Promise((r) => setTimeout(r, 50)); // let the observer deliver the last entries
obs.disconnect();
for (const e of gc) {
  const s = samples.find((x) => e.startTime >= x.start && e.startTime < x.end);
  if (!s) continue;
  s.gcMs += e.duration;
  const kind = GC_KINDS[(e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
  const k = (s.gcKinds[kind] ??= [0, 0]);
  k[0]++;
  k[1] += e.duration;
}
if (process.argv.includes('--verbose'))
  for (const [i, x] of samples.entries())
    console.log(`step ${i} ${x.arm}: wall ${x.ms.toFixed(0)} user ${x.user.toFixed(0)} sys ${x.sys.toFixed(0)} faults ${x.faults} gc ${x.gcMs.toFixed(0)} ms pool ${x.pool}`);
const timed = samples.slice(2); // the first two steps warm up (one per arm)
const med = (xs: number[]) => summarize(xs).medianMs;
for (const a of ['A', 'B'] as const) {
  const s = timed.filter((x) => x.arm === a);
  const t = summarize(s.map((x) => x.ms));
  console.log(
    `${ab} ${a === 'A' ? 'off' : 'on '}: wall ${t.medianMs.toFixed(0)} ms/step (p10 ${t.p10Ms.toFixed(0)}, p90 ${t.p90Ms.toFixed(0)}), ` +
      `user ${med(s.map((x) => x.user)).toFixed(0)} sys ${med(s.map((x) => x.sys)).toFixed(0)} ms, ` +
      `faults ${med(s.map((x) => x.faults)).toFixed(0)}/step, gc ${med(s.map((x) => x.gcMs)).toFixed(1)} ms/step (${s.length} steps)`,
  );
  const kinds = new Map<string, [number, number]>();
  for (const x of s) for (const [k, [c, ms]] of Object.entries(x.gcKinds)) { const t = kinds.get(k) ?? [0, 0]; t[0] += c; t[1] += ms; kinds.set(k, t); }
  console.log('   gc per step: ' + [...kinds].map(([k, [c, ms]]) => `${k} ${(c / s.length).toFixed(1)}x ${(ms / s.length).toFixed(1)} ms`).join(', '));
}
