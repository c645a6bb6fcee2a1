/**
 * `reg4pru bench --device cuda`: the throughput protocol of SPEC §6 (paper §4.2) on the CUDA engine
 * (InferenceSession device 'cuda', native/engine/cuda_engine.h). Same configurations and round-robin order as
 * the CPU harness (./bench.ts, its timeRoundRobin loop): no pruning, pruning at keep 0.9…0.5, ToMe and keep
 * 'dynamic' (reported unavailable: not on the CUDA engine yet), each run on one seeded standard-normal batch
 * [B,3,H,W], for each --batch size.
 *
 * Timing: every run's forward is timed on the device with CUDA events (the engine records them after the image
 * upload and before the output download; `session.lastRun.deviceMs`): images/s = B·1000 / device ms. The
 * wall-clock time of each awaited `session.run` (upload + forward + download + the host copies) is kept beside it.
 * Steady state: CUDA graphs are on (the first run of a shape is eager, the second captures; warm-up covers
 * both), `--no-cuda-graphs` times plain launches; the JSON records each configuration's graph state.
 * Also per row: TFLOP/s of the useful FLOPs (src/engine/flops.ts) at the median device time and its share of
 * the device's dense BF16 datasheet peak (src/cuda/peak.ts; omitted for unknown devices).
 *
 * Defaults: 1024x1024 (preset), 10 warm-up + 50 timed per configuration and batch, batch 1; `--paper` is the
 * paper's 20 + 200. Without a usable CUDA device it fails with "no CUDA device: <reason>" (exit code 1), never
 * a CPU run. Each result also prints as one line `THROUGHPUT impl=reg4pru ... img_s=<median> ms=<median>`,
 * the format bench/gpu/torch_eomt.py prints for PyTorch, so a GPU run can put the two side by side.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../../io/atomicFile.js';
import { cudaAvailable } from '../../cuda/deviceTensor.js';
import { datasheetBf16Tflops } from '../../cuda/peak.js';
import { forwardFlops } from '../../engine/flops.js';
import type { ModelConfig } from '../../model/config.js';
import { info } from '../../runtime.js';
import { CommandError, UsageError, fixedOrDash, printTable, println, randomNormal, resolveModel, type Io, type Session, type SessionFactory } from '../common.js';
import { createProgress, progressMode } from '../progress.js';
import { PAPER_PROTOCOL, selectConfigs, sessionOptions, throughputStats, timeRoundRobin, type BenchConfig, type BenchOptions, type ThroughputStats } from './bench.js';

export const CUDA_BENCH_DEFAULTS = { image: 1024, warmup: 10, iters: 50, batch: [1] };

export interface CudaBenchRow extends BenchConfig {
  batch: number;
  status: 'ok' | 'unavailable';
  reason?: string;
  /** CUDA-event ms of each run's forward (warm-up, then timed). */
  warmupDeviceMs: number[];
  deviceMs: number[];
  /** Wall-clock ms of each awaited run (upload + forward + download). */
  wallMs: number[];
  /** Images/s from the device times (the headline figure). */
  stats?: ThroughputStats;
  /** Images/s from the wall-clock times. */
  wallStats?: ThroughputStats;
  /** Median device img/s over the unpruned median at the same batch size. */
  speedup?: number;
  tflops?: number;
  /** tflops over the device's dense BF16 datasheet peak (undefined: unknown device). */
  peakShare?: number;
  /** The CUDA-graph state of the last timed run ('replayed' in steady state) and why it fell back, if it did. */
  graph?: string;
  graphNote?: string;
}

export interface CudaBenchReport {
  tool: 'reg4pru bench --device cuda';
  date: string;
  protocol: {
    device: 'cuda'; batches: number[]; image: [number, number]; warmup: number; iters: number; precision: 'fp32' | 'bf16';
    cudaGraphs: boolean; paper: boolean; input: string; timing: string; order: 'round-robin per batch size'; roundKeep: number;
  };
  model: { source: string; config: ModelConfig };
  device: { name: string; sm: number; multiprocessors: number; bf16PeakTflops: number | null } | null;
  machine: { reg4pru: unknown };
  results: CudaBenchRow[];
  files: { json: string };
}

/** The line both harnesses print per result (bench/gpu/torch_eomt.py prints the same for PyTorch). */
export function throughputLine(impl: string, r: { label: string; batch: number; precision: string; imgPerS: number; ms: number }): string {
  return `THROUGHPUT impl=${impl} config=${r.label} batch=${r.batch} precision=${r.precision} img_s=${r.imgPerS.toFixed(2)} ms=${r.ms.toFixed(3)}`;
}

/**
 * Runs the CUDA protocol, writes `<out>/throughput-cuda.json`, prints the table and the THROUGHPUT lines.
 * @param available the device check (tests pass a stand-in)
 * @throws CommandError without a usable CUDA device ("no CUDA device: <reason>"); UsageError for bad flags
 */
export async function runBenchCuda(opts: BenchOptions, io: Io, createSession: SessionFactory,
  available: () => { ok: boolean; reason: string } = cudaAvailable): Promise<CudaBenchReport> {
  if (opts.against !== undefined) throw new UsageError('--against applies to the CPU harness (--device cpu) only');
  if (opts.threads !== undefined) throw new UsageError('--threads applies to the CPU harness (--device cpu) only');
  if (opts.accuracy !== undefined) throw new UsageError('--accuracy applies to the CPU harness (--device cpu) only');
  if (opts.superpatch !== undefined) throw new UsageError('--superpatch applies to the CPU harness (--device cpu) only: the CUDA engine has no STEP superpatches yet');
  if (opts.earlyExit !== undefined) throw new UsageError('--early-exit applies to the CPU harness (--device cpu) only: the CUDA engine has no STEP early exits yet');
  const precision = opts.precision ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'bf16') throw new UsageError(`--precision: expected 'fp32' or 'bf16', received '${String(precision)}'`);
  const batches = opts.batch ?? CUDA_BENCH_DEFAULTS.batch;
  const avail = available();
  if (!avail.ok) throw new CommandError(`bench --device cuda: no CUDA device: ${avail.reason}`);

  const paper = opts.paper === true;
  const usePreset = opts.checkpoint === undefined ? (opts.preset ?? 'small') : undefined;
  const model = await resolveModel({ ...opts, preset: usePreset, image: opts.image ?? (usePreset ? (paper ? PAPER_PROTOCOL.image : CUDA_BENCH_DEFAULTS.image) : undefined) });
  const warmup = opts.warmup ?? (paper ? PAPER_PROTOCOL.warmup : CUDA_BENCH_DEFAULTS.warmup);
  const iters = opts.iters ?? (paper ? PAPER_PROTOCOL.iters : CUDA_BENCH_DEFAULTS.iters);
  if (iters < 1) throw new UsageError(`--iters: expected at least 1, received ${iters}`);
  const configs = selectConfigs(opts.configs);
  const cudaGraphs = opts.cudaGraphs !== false;
  const roundKeep = opts.roundKeep ?? 1;
  const outDir = path.resolve(opts.out ?? 'reg4pru-bench');
  const dev = info().cuda.devices[0];
  const peak = dev ? datasheetBf16Tflops(dev.name) : undefined;

  const progress = createProgress(io.err, progressMode(io.err, opts.quiet === true), batches.length * configs.length * (warmup + iters), 'bench cuda', warmup + iters);
  const results: CudaBenchRow[] = [];
  let config: ModelConfig | undefined;
  try {
    for (const B of batches) {
      const live: Array<{ c: BenchConfig; session: Session; row: CudaBenchRow }> = [];
      try {
        for (const c of configs) {
          const row: CudaBenchRow = { ...c, batch: B, status: 'ok', warmupDeviceMs: [], deviceMs: [], wallMs: [] };
          try {
            const session = await createSession(model.source, { ...sessionOptions(c, precision, roundKeep, 'cuda'), cudaGraphs });
            live.push({ c, session, row });
          } catch (e) {
            if (!c.method.startsWith('tome') && c.method !== 'dynamic') throw e;  // not on the CUDA engine yet: reported
            Object.assign(row, { status: 'unavailable', reason: (e as Error).message });
            progress.note(`${c.label} B=${B}: unavailable (${row.reason})`);
            progress.tick(warmup + iters, `${c.label} unavailable`);
          }
          results.push(row);
        }
        config ??= live[0]?.session.config;
        if (config === undefined) throw new UsageError('no configuration could run');
        const [H, W] = config.image;
        const input = { data: randomNormal(B * 3 * H * W, opts.seed ?? 0), shape: [B, 3, H, W] as [number, number, number, number] };
        const wall = await timeRoundRobin(live.map((x) => () => x.session.run(input)), {
          warmup, iters,
          onRun: (i, round) => {  // the device time of the run just timed
            const x = live[i]!, last = x.session.lastRun;
            if (!last) throw new CommandError(`bench --device cuda: ${x.c.label}: the session reported no device timing (not a CUDA session?)`);
            (round < warmup ? x.row.warmupDeviceMs : x.row.deviceMs).push(last.deviceMs);
            x.row.graph = last.graph;
            x.row.graphNote = last.graphNote || undefined;
            progress.tick(1, `${x.c.label} B=${B}`);
          },
        });
        live.forEach((x, i) => { x.row.wallMs = wall[i]!.timingsMs; });
      } finally {
        for (const x of live) x.session.dispose();
      }
    }
  } finally {
    progress.stop();
  }

  for (const r of results) {
    if (r.status !== 'ok') continue;
    r.stats = throughputStats(r.deviceMs, r.batch);
    r.wallStats = throughputStats(r.wallMs, r.batch);
    r.tflops = (r.batch * forwardFlops(config!, r.method === 'pruning' ? r.ratio : null)) / (r.stats.medianMs * 1e9);
    if (peak) r.peakShare = r.tflops / peak;
  }
  for (const r of results) {
    const base = results.find((u) => u.label === 'unpruned' && u.batch === r.batch)?.stats?.median;
    if (r.stats && base) r.speedup = r.stats.median / base;
  }

  const [H, W] = config!.image;
  mkdirSync(outDir, { recursive: true });
  const report: CudaBenchReport = {
    tool: 'reg4pru bench --device cuda',
    date: new Date().toISOString(),
    protocol: {
      device: 'cuda', batches, image: [H, W], warmup, iters, precision, cudaGraphs, paper, roundKeep,
      input: `standard normal [B,3,${H},${W}], seed ${opts.seed ?? 0}`,
      timing: 'CUDA events around the forward (after the image upload, before the output download); wall: performance.now around await session.run',
      order: 'round-robin per batch size',
    },
    model: { source: model.label, config: config! },
    device: dev ? { name: dev.name, sm: dev.sm, multiprocessors: dev.multiprocessors, bf16PeakTflops: peak ?? null } : null,
    machine: { reg4pru: info() },
    results,
    files: { json: path.join(outDir, 'throughput-cuda.json') },
  };
  writeFileAtomicSync(report.files.json, JSON.stringify(report, null, 2) + '\n');
  printCudaBenchTable(report, io);
  return report;
}

const f = (v: number | undefined, d = 2): string => fixedOrDash(v, d);

export function printCudaBenchTable(report: CudaBenchReport, io: Io): void {
  const p = report.protocol;
  println(io.out, `\nreg4pru bench --device cuda: ${report.model.source}; ${report.device?.name ?? 'CUDA device'}; ${p.image[0]}x${p.image[1]}, ${p.precision}, batch ${p.batches.join(',')}, ${p.warmup} warm-up + ${p.iters} timed, CUDA graphs ${p.cudaGraphs ? 'on' : 'off'}`);
  const header = ['config', 'B', 'img/s median', 'p10', 'p90', 'ms/batch', 'wall img/s', 'speedup', 'TFLOP/s', '% BF16 peak', 'graph'];
  const rows = report.results.map((r) =>
    r.stats
      ? [r.label, String(r.batch), f(r.stats.median, 1), f(r.stats.p10, 1), f(r.stats.p90, 1), f(r.stats.medianMs, 3), f(r.wallStats?.median, 1),
        r.speedup === undefined ? '-' : `${r.speedup.toFixed(2)}x`, f(r.tflops, 1), r.peakShare === undefined ? '-' : `${(100 * r.peakShare).toFixed(1)}%`, r.graph ?? '-']
      : [r.label, String(r.batch), 'unavailable', '', '', '', '', '', '', '', ''],
  );
  printTable(io.out, header, rows);
  const missing = report.results.filter((r) => r.status === 'unavailable');
  if (missing.length) println(io.out, `unavailable: ${[...new Set(missing.map((r) => r.label))].join(', ')}: ${[...new Set(missing.map((r) => r.reason))].join('; ')}`);
  const fallback = report.results.filter((r) => r.graph === 'fallback');
  if (fallback.length) println(io.out, `CUDA graph fallback: ${fallback.map((r) => `${r.label} B=${r.batch}`).join(', ')}: ${fallback[0]!.graphNote ?? ''}`);
  println(io.out, `note: img/s from CUDA-event device time of the forward; wall img/s includes the host upload and download`);
  for (const r of report.results)
    if (r.stats) println(io.out, throughputLine('reg4pru', { label: r.label, batch: r.batch, precision: p.precision, imgPerS: r.stats.median, ms: r.stats.medianMs }));
  println(io.out, `wrote ${report.files.json}`);
}
