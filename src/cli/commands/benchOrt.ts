/**
 * `reg4pru bench --against onnxruntime`: the same model, side by side in one run, batch 1, FP32, CPU:
 *   - ONNX Runtime (onnxruntime-node): the unpruned forward exported on the fly (src/export/) into a
 *     temporary directory, CPU execution provider, graphOptimizationLevel 'all', intraOpNumThreads = our
 *     thread count, sequential execution;
 *   - our engine (InferenceSession) unpruned and pruned at base keep 0.7 (or the --configs selection),
 *     on the very same weights.
 * Timed round-robin (each round runs every configuration once, the starting one rotating), so every
 * configuration sees the same background load on a shared machine. Before timing, ORT's semantic map
 * is compared with the engine's unpruned one (max abs difference, printed and in the JSON). Reports ms
 * per image (median, p10, p90), images/s and the speedup over ONNX Runtime (ORT median ms / ours).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomicSync } from '../../io/atomicFile.js';
import { loadCheckpoint } from '../../checkpoint/checkpoint.js';
import { eomtToOnnx } from '../../export/eomtOnnx.js';
import { writeFileAtomic } from '../../export/exportOnnx.js';
import { createOrtSession, loadOnnxRuntime } from '../../export/onnxRuntime.js';
import type { ModelConfig } from '../../model/config.js';
import { randomWeights } from '../../model/weights.js';
import { info, setThreads } from '../../runtime.js';
import {
  CommandError, UsageError, fixedOrDash, printTable, println, randomNormal, resolveModel, type Io, type Session, type SessionFactory,
} from '../common.js';
import { createProgress, progressMode } from '../progress.js';
import { BENCH_DEFAULTS, ORT_SETTLE_MS, selectConfigs, sessionOptions, throughputStats, timeRoundRobin, type BenchConfig, type BenchOptions, type ThroughputStats } from './bench.js';

export interface OrtBenchRow {
  label: string;
  /** 'onnxruntime' or our engine's method. */
  impl: 'onnxruntime' | BenchConfig['method'];
  ratio: number | null;
  status: 'ok' | 'unavailable';
  reason?: string;
  timingsMs: number[];
  /** Our engine's GEMM / attention precision (ONNX Runtime runs FP32). */
  precision?: 'fp32' | 'bf16';
  stats?: ThroughputStats;
  /** ORT median ms / this median ms (> 1: faster than ONNX Runtime). */
  speedupVsOrt?: number;
}

export interface OrtBenchReport {
  tool: 'reg4pru bench --against onnxruntime';
  date: string;
  protocol: { batch: 1; image: [number, number]; warmup: number; iters: number; threads: number; order: 'round-robin'; precision: Array<'fp32' | 'bf16'>; device: 'cpu' };
  model: { source: string; config: ModelConfig };
  onnxruntime: { version: string; graphOptimizationLevel: 'all'; intraOpNumThreads: number; onnxBytes: number; maxAbsDiffSemantic: number };
  machine: { cpu: string; cores: number; reg4pru: unknown };
  rows: OrtBenchRow[];
  file: string;
}

/** Default configurations of ours when --configs is not given. */
export const ORT_BENCH_CONFIGS = ['unpruned', 'prune-0.7'];

export async function runBenchAgainstOrt(opts: BenchOptions, io: Io, createSession: SessionFactory): Promise<OrtBenchReport> {
  if (opts.paper) throw new UsageError('--against onnxruntime does not combine with --paper (give --image, --warmup, --iters)');
  if (opts.accuracy !== undefined) throw new UsageError('--against onnxruntime does not combine with --accuracy');
  if (opts.checkpoint !== undefined && opts.image !== undefined) throw new UsageError('--image applies to --preset only (a checkpoint carries its input size)');
  const loaded = await loadOnnxRuntime();
  if (!('ort' in loaded)) throw new CommandError(`--against onnxruntime: ${loaded.reason}`);
  const { ort } = loaded;
  const usePreset = opts.checkpoint === undefined ? (opts.preset ?? BENCH_DEFAULTS.preset) : undefined;
  const model = await resolveModel({ ...opts, preset: usePreset });
  let config: ModelConfig, weights: Record<string, Float32Array>;
  try {
    if (typeof model.source === 'string') {
      ({ config, weights } = loadCheckpoint(model.source));
    } else {
      config = model.source.config;
      weights = randomWeights(config, model.source.seed ?? 0); // what the session factory would draw
    }
  } catch (e) {
    throw new CommandError((e as Error).message);
  }
  const warmup = opts.warmup ?? BENCH_DEFAULTS.warmup;
  const iters = opts.iters ?? BENCH_DEFAULTS.iters;
  const configs = selectConfigs(opts.configs ?? ORT_BENCH_CONFIGS);
  if (opts.threads !== undefined) setThreads(opts.threads);
  const threads = info().cpu.threads;
  const [H, W] = config.image;
  const input = randomNormal(3 * H * W, opts.seed ?? 0);
  const outDir = path.resolve(opts.out ?? 'reg4pru-bench');

  // The export, on the fly, into a temporary directory (removed at the end).
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'reg4pru-ort-'));
  const onnxFile = path.join(tmp, 'model.onnx');
  const ours: Array<{ c: BenchConfig; s: Session; precision: 'fp32' | 'bf16' }> = [];
  // FP32 always; BF16 too where the CPU has AVX-512 BF16 (or only BF16 with --precision bf16).
  const precisions: Array<'fp32' | 'bf16'> = opts.precision === 'bf16' ? ['bf16'] : info().cpu.bf16 && opts.precision !== 'fp32' ? ['fp32', 'bf16'] : ['fp32'];
  const rows: OrtBenchRow[] = [{ label: 'onnxruntime', impl: 'onnxruntime', ratio: null, status: 'ok', timingsMs: [] }];
  let maxAbsDiff = NaN, onnxBytes = 0;
  const progress = createProgress(io.err, progressMode(io.err, opts.quiet === true), warmup + iters, 'bench vs onnxruntime (rounds)');
  let ortSession;
  try {
    const bytes = eomtToOnnx(config, weights).bytes;
    onnxBytes = bytes.length;
    writeFileAtomic(onnxFile, bytes);
    ortSession = await createOrtSession(ort, onnxFile, threads);
    const feeds = { images: new ort.Tensor('float32', input, [1, 3, H, W]) };
    for (const precision of precisions) {
      for (const c0 of configs) {
        const c = precision === 'fp32' ? c0 : { ...c0, label: `${c0.label} bf16` };
        try {
          ours.push({ c, s: await createSession({ config, weights }, sessionOptions(c0, precision, 1)), precision });
          rows.push({ label: c.label, impl: c.method, ratio: c.ratio, status: 'ok', timingsMs: [], precision });
        } catch (e) {
          if (!c.method.startsWith('tome')) throw e;
          rows.push({ label: c.label, impl: c.method, ratio: c.ratio, status: 'unavailable', reason: (e as Error).message, timingsMs: [], precision });
        }
      }
    }
    // Same answer? ORT's semantic map vs the engine's unpruned FP32 one (the bench input).
    const unpruned = (ours.find((o) => o.c.method === 'unpruned' && o.precision === 'fp32') ?? ours.find((o) => o.c.method === 'unpruned'))!.s;
    const ref = (await unpruned.run({ data: input, shape: [1, 3, H, W] })).semantic.data;
    const got = (await ortSession.run(feeds)).semantic!.data as Float32Array;
    maxAbsDiff = 0;
    for (let i = 0; i < ref.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(got[i]! - ref[i]!));
    if (!(maxAbsDiff < 1e-3)) throw new CommandError(`onnxruntime and the engine disagree: max |semantic difference| = ${maxAbsDiff}`);

    const runners: Array<{ row: OrtBenchRow; run: () => Promise<unknown> }> = [
      { row: rows[0]!, run: () => ortSession!.run(feeds) },
      ...ours.map(({ c, s }) => ({ row: rows.find((r) => r.label === c.label)!, run: () => s.run({ data: input, shape: [1, 3, H, W] }) })),
    ];
    const timed = await timeRoundRobin(runners.map((r) => r.run), {
      warmup,
      iters,
      settleMs: ORT_SETTLE_MS,
      onRound: (round) => progress.tick(1, round < warmup ? 'warm-up' : 'timed'),
    });
    runners.forEach((r, i) => r.row.timingsMs.push(...timed[i]!.timingsMs));
  } finally {
    progress.stop();
    for (const { s } of ours) s.dispose();
    await ortSession?.release();
    rmSync(tmp, { recursive: true, force: true });
  }

  const ortMs = throughputStats(rows[0]!.timingsMs).medianMs;
  for (const r of rows) {
    if (r.status !== 'ok') continue;
    r.stats = throughputStats(r.timingsMs);
    r.speedupVsOrt = ortMs / r.stats.medianMs;
  }
  mkdirSync(outDir, { recursive: true });
  const cpus = os.cpus();
  const report: OrtBenchReport = {
    tool: 'reg4pru bench --against onnxruntime',
    date: new Date().toISOString(),
    protocol: { batch: 1, image: [H, W], warmup, iters, threads, order: 'round-robin', precision: precisions, device: 'cpu' },
    model: { source: model.label, config },
    onnxruntime: { version: ort.env.versions?.node ?? 'unknown', graphOptimizationLevel: 'all', intraOpNumThreads: threads, onnxBytes, maxAbsDiffSemantic: maxAbsDiff },
    machine: { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, reg4pru: info() },
    rows,
    file: path.join(outDir, 'throughput-vs-onnxruntime.json'),
  };
  writeFileAtomicSync(report.file, JSON.stringify(report, null, 2) + '\n');
  printOrtTable(report, io);
  return report;
}

const f = (v: number | undefined, d = 1): string => fixedOrDash(v, d);

export function printOrtTable(r: OrtBenchReport, io: Io): void {
  const p = r.protocol;
  println(io.out, `\nreg4pru bench --against onnxruntime: ${r.model.source}; ${p.image[0]}x${p.image[1]}, batch 1, ours ${p.precision.join(" + ")} (ORT FP32), ${info().cpu.kernel} kernels, ${p.threads} threads, ${p.warmup} warm-up + ${p.iters} timed rounds, round-robin`);
  println(io.out, `onnxruntime-node ${r.onnxruntime.version} (CPU EP, graph optimisation 'all', intraOpNumThreads ${r.onnxruntime.intraOpNumThreads}); max |semantic ORT - engine| = ${r.onnxruntime.maxAbsDiffSemantic.toExponential(2)}`);
  const header = ['config', 'ms/img median', 'p10', 'p90', 'img/s', 'vs ORT'];
  const rows = r.rows.map((x) => x.stats
    ? [x.label, f(x.stats.medianMs), f(quantileMs(x.timingsMs, 0.1)), f(quantileMs(x.timingsMs, 0.9)), f(x.stats.median, 2), `${x.speedupVsOrt!.toFixed(2)}x`]
    : [x.label, 'unavailable', '', '', '', '']);
  printTable(io.out, header, rows);
  println(io.out, 'vs ORT = ONNX Runtime median ms / this median ms (> 1: faster than ONNX Runtime)');
  println(io.out, `wrote ${r.file}`);
}

function quantileMs(ms: number[], q: number): number {
  const s = [...ms].sort((a, b) => a - b);
  const pos = (s.length - 1) * q, lo = Math.floor(pos), hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
