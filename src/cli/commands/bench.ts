/**
 * `reg4pru bench`: the throughput protocol of SPEC §6 (paper §4.2) on the native engine. Batch 1, one
 * random standard-normal input [1, 3, H, W] (seeded, shared by every configuration), `warmup` untimed
 * rounds then `iters` timed rounds, each round running every configuration once in a rotating order
 * (round-robin, so background load falls on all alike), each run timed alone (performance.now around one
 * awaited `session.run`), so the JSON keeps every raw timing and the spread (median, p10, p90,
 * mean ± std of images/s). Configurations: no pruning; pruning at base keep 0.9…0.5; ToMe around MHSA
 * and around MHSA+MLP at merge ratio 0.7…0.4 (reported unavailable, with the engine's reason, when the
 * session rejects the `tome` option); on request (`--keep dynamic[:τ[:minKeep]]` or `--configs dynamic-0.5`)
 * SViT's dynamic per-image keep at threshold τ; with `--superpatch <policy>[:τ]` every non-ToMe configuration also runs
 * with STEP superpatches (label `superpatch-τ+<label>`), with `--early-exit <heads>[:τ[:m]]` also with STEP early exits
 * (label `exit-τ+<label>`; the kept column then shows the exit rate per exit block). Speedup = median images/s over the unpruned median. Every
 * pruned configuration also reports its kept patches per stage (mean, min, max over the images of its runs).
 *
 * Defaults are a CPU run that ends in a few minutes (preset small at its 512² input, 3 + 10 runs);
 * `--paper` is the paper's 1024², 20 + 200. The JSON says which protocol ran. `--against onnxruntime`
 * runs ./benchOrt.ts instead: the exported model in ONNX Runtime beside ours, round-robin. `--device cuda`
 * runs ./benchCuda.ts: the CUDA engine, CUDA-event timing, `--batch 1,8`.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomicSync } from '../../io/atomicFile.js';
import { Command, Option } from 'commander';
import { info, setThreads } from '../../runtime.js';
import { patchGrid, type ModelConfig } from '../../model/config.js';
import {
  UsageError, defaultSessionFactory, parseIntOption, fixedOrDash, printTable, println, processIo, randomNormal, resolveModel,
  type CommandContext, type Io, type ModelChoice, type Session, type SessionFactory, type SessionOptions,
} from '../common.js';
import { createProgress, progressMode } from '../progress.js';
import { exitSessionOption, isDynamic, parseExitSpec, parseKeepSpec, parseSuperpatchSpec, superpatchSessionOption, type ExitSpec, type KeepSpec, type SuperpatchSpec } from '../keep.js';
import { loadExitHeads } from '../../model/earlyExit.js';

const loadExitBlocks = (ex: ExitSpec): number[] => loadExitHeads(ex.file).config.blocks;
import { KeptTokenStats, formatKept, type StageKept } from '../../engine/keptStats.js';
// ../plot.js (vega, sharp) is imported only when a plot is drawn: ./benchCuda.ts reuses this file on GPU machines
// whose trimmed node_modules has no vega.
import type { PlotPoint } from '../plot.js';

export type BenchMethod = 'unpruned' | 'pruning' | 'tome-mhsa' | 'tome-mhsa+mlp' | 'dynamic';

export interface BenchConfig {
  /** 'unpruned', 'prune-0.7', 'tome-mhsa-0.5', 'tome-mhsa+mlp-0.4', 'dynamic-0.5': the keys of the --accuracy file. */
  label: string;
  method: BenchMethod;
  /** Base keep ratio (pruning), merge ratio (ToMe) or threshold τ (dynamic); null for the unpruned model. */
  ratio: number | null;
  /** method 'dynamic': the floor of kept patches per stage (default 1). */
  minKeep?: number;
  /** With STEP superpatches at this merge threshold (the policy is the run's --superpatch file). */
  superpatch?: number;
  /** With STEP early exits at this threshold (the heads are the run's --early-exit file). */
  exit?: number;
}

export const KEEP_RATIOS = [0.9, 0.8, 0.7, 0.6, 0.5] as const;
export const MERGE_RATIOS = [0.7, 0.6, 0.5, 0.4] as const;

export const BENCH_CONFIGS: readonly BenchConfig[] = [
  { label: 'unpruned', method: 'unpruned', ratio: null },
  ...KEEP_RATIOS.map((r): BenchConfig => ({ label: `prune-${r}`, method: 'pruning', ratio: r })),
  ...MERGE_RATIOS.map((r): BenchConfig => ({ label: `tome-mhsa-${r}`, method: 'tome-mhsa', ratio: r })),
  ...MERGE_RATIOS.map((r): BenchConfig => ({ label: `tome-mhsa+mlp-${r}`, method: 'tome-mhsa+mlp', ratio: r })),
];

const METHOD_NAMES: Record<BenchMethod, string> = { unpruned: 'no pruning', pruning: 'pruning', 'tome-mhsa': 'ToMe (MHSA)', 'tome-mhsa+mlp': 'ToMe (MHSA+MLP)', dynamic: 'dynamic keep' };

/** The configuration of one keep spec: 'prune-<ρ>' (a listed ratio or any other), 'dynamic-<τ>[-min<m>]', or 'unpruned'. */
export function keepConfig(k: KeepSpec): BenchConfig {
  if (k === null) return BENCH_CONFIGS[0]!;
  if (isDynamic(k)) return { label: `dynamic-${k.threshold}${k.minKeep > 1 ? `-min${k.minKeep}` : ''}`, method: 'dynamic', ratio: k.threshold, ...(k.minKeep > 1 ? { minKeep: k.minKeep } : {}) };
  return BENCH_CONFIGS.find((c) => c.method === 'pruning' && c.ratio === k) ?? { label: `prune-${k}`, method: 'pruning', ratio: k };
}

/** A 'dynamic', 'dynamic-<τ>' or 'dynamic-<τ>-min<m>' label as its configuration; undefined for other names. */
function dynamicLabel(name: string): BenchConfig | undefined {
  const m = /^dynamic(?:-([\d.]+))?(?:-min(\d+))?$/.exec(name);
  if (!m) return undefined;
  const k = parseKeepSpec(`dynamic:${m[1] ?? '0.5'}${m[2] === undefined ? '' : `:${m[2]}`}`, '--configs');
  return keepConfig(k);
}

/** `--configs` groups besides single labels. */
const GROUPS: Record<string, (c: BenchConfig) => boolean> = {
  all: () => true,
  prune: (c) => c.method === 'pruning',
  tome: (c) => c.method.startsWith('tome'),
  'tome-mhsa': (c) => c.method === 'tome-mhsa',
  'tome-mhsa+mlp': (c) => c.method === 'tome-mhsa+mlp',
};

/**
 * Selects configurations by label or group ('all', 'prune', 'tome', 'tome-mhsa', 'tome-mhsa+mlp'), in the
 * canonical order; 'unpruned' is always included (it is the speedup reference).
 * @throws UsageError for an unknown name
 */
export function selectConfigs(names: string[] | undefined, keeps: readonly KeepSpec[] = []): BenchConfig[] {
  const extra = keeps.map(keepConfig);
  if ((names === undefined || names.length === 0) && extra.length === 0) return [...BENCH_CONFIGS];
  const chosen = new Set<string>(['unpruned']);
  for (const raw of names ?? []) {
    const name = raw.trim();
    if (name === '') continue;
    const group = GROUPS[name];
    const byLabel = BENCH_CONFIGS.find((c) => c.label === name);
    const dyn = dynamicLabel(name);
    if (group) BENCH_CONFIGS.filter(group).forEach((c) => chosen.add(c.label));
    else if (byLabel) chosen.add(byLabel.label);
    else if (dyn) extra.push(dyn);
    else throw new UsageError(`--configs: unknown configuration '${name}'; expected ${Object.keys(GROUPS).join(', ')}, dynamic[-<threshold>][-min<n>] or one of ${BENCH_CONFIGS.map((c) => c.label).join(', ')}`);
  }
  const listed = BENCH_CONFIGS.filter((c) => chosen.has(c.label) || extra.some((e) => e.label === c.label));
  const others = extra.filter((e, i) => !BENCH_CONFIGS.some((c) => c.label === e.label) && extra.findIndex((f) => f.label === e.label) === i);
  return [...listed, ...others];
}

export interface ThroughputStats {
  /** Images/s of each timed run (batch 1: 1000 / ms). */
  median: number;
  p10: number;
  p90: number;
  mean: number;
  std: number;
  /** Milliseconds per image. */
  medianMs: number;
  meanMs: number;
}

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Spread of per-run throughput; std is the sample standard deviation (n − 1; 0 for one run). */
export function throughputStats(timingsMs: number[], batch = 1): ThroughputStats {
  const ips = timingsMs.map((ms) => (1000 * batch) / ms).sort((a, b) => a - b);
  const ms = [...timingsMs].sort((a, b) => a - b);
  const mean = ips.reduce((s, v) => s + v, 0) / ips.length;
  const std = ips.length > 1 ? Math.sqrt(ips.reduce((s, v) => s + (v - mean) ** 2, 0) / (ips.length - 1)) : 0;
  return { median: quantile(ips, 0.5), p10: quantile(ips, 0.1), p90: quantile(ips, 0.9), mean, std, medianMs: quantile(ms, 0.5), meanMs: ms.reduce((s, v) => s + v, 0) / ms.length };
}

/** Raw per-run milliseconds of one runner of timeRoundRobin. */
export interface RunTimings {
  warmupMs: number[];
  timingsMs: number[];
}

export interface RoundRobinOptions {
  /** Untimed rounds first. */
  warmup: number;
  /** Timed rounds. */
  iters: number;
  /** After each run: the runner's index and the round (0-based, warm-up rounds first). */
  onRun?: (index: number, round: number) => void;
  /** After each round (0-based, warm-up rounds first). */
  onRound?: (round: number) => void;
  /**
   * Untimed pause before each run (default 0), so that every run starts on quiet cores: ONNX Runtime's
   * intra-op threads spin for a few to ~20 ms after a run returns, and the run after it was ~7% slower
   * (measured on the 2-core dev VM: 264 ms right after an ORT run, 250 ms after a 20 ms pause, 247 ms after 200 ms).
   */
  settleMs?: number;
}

/** ONNX Runtime side by side: the pause its spinning threads need (RoundRobinOptions.settleMs). */
export const ORT_SETTLE_MS = 30;

/**
 * The harness's timing loop (SPEC §6), shared by `reg4pru bench`, `bench --against onnxruntime` and
 * bench/model/engine.bench.ts: `warmup` untimed rounds, then `iters` timed rounds; each round runs every runner
 * once, the starting runner rotating from round to round (round r starts at runner r mod n), so background load
 * on a shared machine falls on all of them alike; each run is timed alone (performance.now around one awaited
 * call), after an optional untimed settle pause. Returns every runner's raw timings in the runners' order.
 */
export async function timeRoundRobin(runners: ReadonlyArray<() => Promise<unknown>>, opts: RoundRobinOptions): Promise<RunTimings[]> {
  const out: RunTimings[] = runners.map(() => ({ warmupMs: [], timingsMs: [] }));
  for (let round = 0; round < opts.warmup + opts.iters; round++) {
    for (let k = 0; k < runners.length; k++) {
      const i = (round + k) % runners.length;
      if (opts.settleMs) await new Promise((resolve) => setTimeout(resolve, opts.settleMs));
      const t0 = performance.now();
      await runners[i]!();
      (round < opts.warmup ? out[i]!.warmupMs : out[i]!.timingsMs).push(performance.now() - t0);
      opts.onRun?.(i, round);
    }
    opts.onRound?.(round);
  }
  return out;
}

export interface BenchResult extends BenchConfig {
  status: 'ok' | 'unavailable';
  /** Why the configuration did not run (the engine's message). */
  reason?: string;
  warmupMs: number[];
  timingsMs: number[];
  stats?: ThroughputStats;
  /** Median images/s over the unpruned median. */
  speedup?: number;
  /** Pruned configurations: kept patches per stage over the images of every run (mean, min, max). */
  kept?: StageKept[];
  ap?: number;
  dice?: number;
}

export interface AccuracyEntry {
  ap: number;
  dice?: number;
}
/** The `--accuracy` file: `{ "<config label>": { "ap": number, "dice"?: number } }` (written by `reg4pru eval`). */
export type AccuracyFile = Record<string, AccuracyEntry>;

/** Reads and checks an --accuracy file. @throws UsageError naming the file and the bad entry */
export function readAccuracy(file: string): AccuracyFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--accuracy: cannot read '${file}': ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`--accuracy: expected a JSON object { "<config label>": { "ap": number, "dice"?: number } } in '${file}'`);
  const out: AccuracyFile = {};
  for (const [label, v] of Object.entries(raw)) {
    const e = v as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.ap !== 'number' || !Number.isFinite(e.ap) || (e.dice !== undefined && (typeof e.dice !== 'number' || !Number.isFinite(e.dice))))
      throw new UsageError(`--accuracy: entry '${label}' in '${file}' must be { "ap": number, "dice"?: number }`);
    out[label] = e.dice === undefined ? { ap: e.ap } : { ap: e.ap, dice: e.dice as number };
  }
  return out;
}

export interface BenchOptions extends ModelChoice {
  warmup?: number;
  iters?: number;
  /** SPEC §6 as in the paper: 1024², 20 warm-up + 200 timed (explicit flags still win). */
  paper?: boolean;
  configs?: string[];
  /** --keep: keep specs (ratios, 'dynamic[:τ[:minKeep]]') to time beside unpruned (with --configs: added to them). */
  keep?: Array<KeepSpec | string>;
  /** --superpatch: a policy file (reg4pru train-policy) and threshold: every non-ToMe configuration also with superpatches. */
  superpatch?: SuperpatchSpec | string;
  /** --early-exit: exit heads, threshold and floor: every non-ToMe configuration also with early exits. */
  earlyExit?: ExitSpec | string;
  threads?: number;
  /** Output folder for throughput.json (+ ap_vs_throughput.svg/.png). */
  out?: string;
  accuracy?: string;
  quiet?: boolean;
  /** 'fp32' (default) or 'bf16' (BF16 GEMM operands, FP32 sums; AVX-512 BF16 CPUs). */
  precision?: 'fp32' | 'bf16';
  /** SPEC §3 rounding of the pruned configurations' kept counts: prefix + k a multiple of this (1 = off). */
  roundKeep?: number;
  /** 'onnxruntime': side by side with ONNX Runtime on the exported model (./benchOrt.ts). */
  against?: 'onnxruntime';
  /** 'cuda': the CUDA engine (./benchCuda.ts). Default 'cpu'. */
  device?: 'cpu' | 'cuda';
  /** Batch sizes (--device cuda only; the CPU protocol is batch 1). */
  batch?: number[];
  /** --device cuda: capture the forward as CUDA graphs (default true; --no-cuda-graphs). */
  cudaGraphs?: boolean;
}

export interface BenchReport {
  tool: 'reg4pru bench';
  date: string;
  protocol: { batch: 1; image: [number, number]; warmup: number; iters: number; input: string; precision: 'fp32' | 'bf16'; device: 'cpu'; paper: boolean; note: string; roundKeep: number; superpatch?: SuperpatchSpec; earlyExit?: ExitSpec };
  model: { source: string; config: ModelConfig };
  machine: Record<string, unknown>;
  results: BenchResult[];
  files: { json: string; svg?: string; png?: string };
}

export const BENCH_DEFAULTS = { preset: 'small' as const, warmup: 3, iters: 10 };
export const PAPER_PROTOCOL = { image: 1024, warmup: 20, iters: 200 };

/** The session options of one benchmark configuration (shared by the CPU, ONNX Runtime and CUDA harnesses). */
export function sessionOptions(c: BenchConfig, precision: 'fp32' | 'bf16', roundKeep: number, device: 'cpu' | 'cuda' = 'cpu'): SessionOptions {
  if (c.method === 'unpruned') return { keep: null, device, precision };
  if (c.method === 'pruning') return roundKeep > 1 ? { keep: c.ratio, device, precision, roundKeep } : { keep: c.ratio, device, precision };
  if (c.method === 'dynamic') return { keep: 'dynamic', threshold: c.ratio!, minKeep: c.minKeep ?? 1, device, precision };
  return { keep: null, device, precision, tome: { mode: c.method === 'tome-mhsa' ? 'mhsa' : 'mhsa+mlp', mergeRatio: c.ratio! } };
}

/** `--batch 1,8`: positive integers. */
function parseBatchList(v: string): number[] {
  const parse = parseIntOption('--batch', 1, 4096);
  return v.split(',').map((x) => parse(x.trim()));
}

/** The configurations with superpatches at threshold tau added after each non-ToMe one. */
export function withSuperpatch(configs: readonly BenchConfig[], tau: number): BenchConfig[] {
  return withVariant(configs, `superpatch-${tau}`, { superpatch: tau });
}
/** The configurations with early exits at threshold tau added after each non-ToMe one. */
export function withExit(configs: readonly BenchConfig[], tau: number): BenchConfig[] {
  return withVariant(configs, `exit-${tau}`, { exit: tau });
}
function withVariant(configs: readonly BenchConfig[], prefix: string, extra: Partial<BenchConfig>): BenchConfig[] {
  return configs.flatMap((c) => (c.method.startsWith('tome') ? [c] : [c, { ...c, ...extra, label: `${prefix}${c.method === 'unpruned' && c.superpatch === undefined ? '' : `+${c.label}`}` }]));
}

/** sessionOptions plus the STEP variants of a configuration (superpatches, early exits; device 'cpu'). */
function variantSessionOptions(c: BenchConfig, precision: 'fp32' | 'bf16', roundKeep: number, sp: SuperpatchSpec | undefined, ex: ExitSpec | undefined): SessionOptions {
  const o = sessionOptions(c, precision, roundKeep);
  if ((c.superpatch === undefined || sp === undefined) && (c.exit === undefined || ex === undefined)) return o;
  const { roundKeep: _r, ...rest } = o;
  return {
    ...rest,
    ...(c.superpatch !== undefined && sp ? { superpatch: superpatchSessionOption({ file: sp.file, threshold: c.superpatch }) } : {}),
    ...(c.exit !== undefined && ex ? { earlyExit: exitSessionOption({ ...ex, threshold: c.exit }) } : {}),
  };
}

function machineInfo(threads: number | undefined): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    reg4pru: info(),
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    threadsRequested: threads ?? null,
  };
}

/** Runs the protocol, writes the JSON (and plot), prints the table; returns the report. */
export async function runBench(opts: BenchOptions, io: Io = processIo(), createSession: SessionFactory = defaultSessionFactory): Promise<BenchReport> {
  const paper = opts.paper === true;
  const usePreset = opts.checkpoint === undefined ? (opts.preset ?? BENCH_DEFAULTS.preset) : undefined;
  const model = await resolveModel({ ...opts, preset: usePreset, image: opts.image ?? (paper && usePreset ? PAPER_PROTOCOL.image : undefined) });
  const warmup = opts.warmup ?? (paper ? PAPER_PROTOCOL.warmup : BENCH_DEFAULTS.warmup);
  const iters = opts.iters ?? (paper ? PAPER_PROTOCOL.iters : BENCH_DEFAULTS.iters);
  if (iters < 1) throw new UsageError(`--iters: expected at least 1, received ${iters}`);
  const sp = typeof opts.superpatch === 'string' ? parseSuperpatchSpec(opts.superpatch) : opts.superpatch;
  const selected = selectConfigs(opts.configs, (opts.keep ?? []).map((k) => (typeof k === 'string' ? parseKeepSpec(k) : k)));
  const ex = typeof opts.earlyExit === 'string' ? parseExitSpec(opts.earlyExit) : opts.earlyExit;
  const withSp = sp ? withSuperpatch(selected, sp.threshold) : selected;
  const configs = ex ? withExit(withSp, ex.threshold) : withSp;
  const accuracy = opts.accuracy === undefined ? undefined : readAccuracy(opts.accuracy);
  const outDir = path.resolve(opts.out ?? 'reg4pru-bench');
  const precision = opts.precision ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'bf16') throw new UsageError(`--precision: expected 'fp32' or 'bf16', received '${String(precision)}'`);
  if (opts.threads !== undefined) setThreads(opts.threads);

  const progress = createProgress(io.err, progressMode(io.err, opts.quiet === true), configs.length * (warmup + iters), 'bench', warmup + iters);
  const results: BenchResult[] = [];
  let config: ModelConfig | undefined;
  let input: { data: Float32Array; shape: [number, number, number, number] } | undefined;
  // Every configuration's session is created first, then they are timed round-robin (one run of each per
  // round, the order rotating each round), so background load on a shared machine falls on all of them
  // alike instead of on whichever ran while it lasted.
  const live: Array<{ c: BenchConfig; session: Session; kept: KeptTokenStats; calls: number }> = [];
  try {
    for (const c of configs) {
      try {
        const session = await createSession(model.source, variantSessionOptions(c, precision, opts.roundKeep ?? 1, sp, ex));
        live.push({ c, session, kept: new KeptTokenStats(patchGrid(session.config).Np, session.config.stageBlocks), calls: 0 });
      } catch (e) {
        if (!c.method.startsWith('tome')) throw e;
        const reason = (e as Error).message;
        progress.note(`${c.label}: unavailable (${reason})`);
        progress.tick(warmup + iters, `${c.label} unavailable`);
        results.push({ ...c, status: 'unavailable', reason, warmupMs: [], timingsMs: [] });
      }
    }
    config = live[0]?.session.config;
    if (config === undefined) throw new UsageError('no configuration could run');
    if (opts.checkpoint !== undefined && opts.image !== undefined && (config.image[0] !== opts.image || config.image[1] !== opts.image))
      throw new UsageError(`--image ${opts.image}: the checkpoint's model input is ${config.image[0]}x${config.image[1]} (use --image with --preset only)`);
    const [H, W] = config.image;
    input = { data: randomNormal(3 * H * W, opts.seed ?? 0), shape: [1, 3, H, W] };
    const x0 = input;
    const exitBlocks = ex ? loadExitBlocks(ex) : [];
    // kept token counts from the timed rounds only (each runner runs once per round: its call count is the round + 1)
    const runner = (x: (typeof live)[number]) => async () => {
      const r = await x.session.run(x0);
      if (++x.calls > warmup) {
        x.kept.add(r.kept);
        x.kept.addMerged(r.merged);
        x.kept.addHalted(r.halted, exitBlocks);
      }
    };
    const timed = await timeRoundRobin(live.map(runner), { warmup, iters, onRun: (i) => progress.tick(1, live[i]!.c.label) });
    live.forEach((x, i) => {
      const kept = x.kept.summary();
      results.push({ ...x.c, status: 'ok', ...timed[i]!, stats: throughputStats(timed[i]!.timingsMs), ...(kept.length ? { kept } : {}) });
    });
    results.sort((p, q) => configs.indexOf(configs.find((c) => c.label === p.label)!) - configs.indexOf(configs.find((c) => c.label === q.label)!));
  } finally {
    progress.stop();
    for (const x of live) x.session.dispose();
  }

  const base = results.find((r) => r.label === 'unpruned')?.stats?.median;
  for (const r of results) {
    if (r.stats && base) r.speedup = r.stats.median / base;
    const acc = accuracy?.[r.label];
    if (acc) Object.assign(r, acc);
  }
  if (accuracy) {
    const unknown = Object.keys(accuracy).filter((k) => !results.some((r) => r.label === k));
    if (unknown.length) println(io.err, `warning: --accuracy entries without a measured configuration: ${unknown.join(', ')}`);
  }

  const [H, W] = config!.image;
  const note = paper ? 'paper protocol (SPEC §6)' : `CPU run: ${H}x${W}, ${warmup} warm-up + ${iters} timed (the paper uses 1024x1024, 20 + 200; --paper)`;
  mkdirSync(outDir, { recursive: true });
  const report: BenchReport = {
    tool: 'reg4pru bench',
    date: new Date().toISOString(),
    protocol: { batch: 1, image: [H, W], warmup, iters, input: `standard normal [1,3,${H},${W}], seed ${opts.seed ?? 0}`, precision, device: 'cpu', paper, note, roundKeep: opts.roundKeep ?? 1, ...(sp ? { superpatch: sp } : {}), ...(ex ? { earlyExit: ex } : {}) },
    model: { source: model.label, config: config! },
    machine: machineInfo(opts.threads),
    results,
    files: { json: path.join(outDir, 'throughput.json') },
  };
  if (accuracy) {
    const points: PlotPoint[] = results
      .filter((r) => r.stats && r.ap !== undefined)
      .map((r) => ({ label: r.label, method: METHOD_NAMES[r.method], imagesPerSecond: r.stats!.median, p10: r.stats!.p10, p90: r.stats!.p90, ap: r.ap! }));
    if (points.length === 0) println(io.err, 'warning: no measured configuration has an --accuracy entry: no plot written');
    else Object.assign(report.files, await (await import('../plot.js')).writeApThroughputPlot(points, path.join(outDir, 'ap_vs_throughput'), `AP vs throughput (${H}x${W}, CPU ${precision})`));
  }
  writeFileAtomicSync(report.files.json, JSON.stringify(report, null, 2) + '\n');
  printBenchTable(report, io);
  return report;
}

const f = (v: number | undefined, d = 2): string => fixedOrDash(v, d);

export function printBenchTable(report: BenchReport, io: Io): void {
  const p = report.protocol;
  const hasAp = report.results.some((r) => r.ap !== undefined);
  println(io.out, `\nreg4pru bench: ${report.model.source}; ${p.image[0]}x${p.image[1]}, ${p.precision}, batch 1, ${p.warmup} warm-up + ${p.iters} timed, threads ${String((report.machine.reg4pru as { cpu?: { threads?: number } }).cpu?.threads ?? '?')}`);
  const header = ['config', 'method', 'img/s median', 'p10', 'p90', 'mean ± std', 'ms/img', 'speedup', 'kept per stage', ...(hasAp ? ['AP'] : [])];
  const rows = report.results.map((r) =>
    r.stats
      ? [r.label, METHOD_NAMES[r.method] + (r.superpatch !== undefined ? ' + superpatch' : '') + (r.exit !== undefined ? ' + exits' : ''), f(r.stats.median), f(r.stats.p10), f(r.stats.p90), `${f(r.stats.mean)} ± ${f(r.stats.std)}`, f(r.stats.medianMs, 1), r.speedup === undefined ? '-' : `${r.speedup.toFixed(2)}x`, formatKept(r.kept ?? []), ...(hasAp ? [f(r.ap, 4)] : [])]
      : [r.label, METHOD_NAMES[r.method], 'unavailable', '', '', '', '', '', '', ...(hasAp ? [''] : [])],
  );
  printTable(io.out, header, rows);
  const missing = report.results.filter((r) => r.status === 'unavailable');
  if (missing.length) println(io.out, `unavailable: ${missing.map((r) => r.label).join(', ')}: ${[...new Set(missing.map((r) => r.reason))].join('; ')}`);
  println(io.out, `note: ${p.note}`);
  println(io.out, `wrote ${[report.files.json, report.files.svg, report.files.png].filter(Boolean).join(', ')}`);
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('bench')
    .description('throughput of the pruned / ToMe / unpruned model (SPEC §6): batch 1, random input, images/s with spread')
    .option('--checkpoint <file>', 'safetensors checkpoint (SPEC §8)')
    .addOption(new Option('--preset <name>', `random seeded weights of a preset (default ${BENCH_DEFAULTS.preset} when no --checkpoint)`).choices(['tiny', 'small']))
    .option('--model-config <file>', 'JSON of ModelConfig fields overriding the preset (e.g. {"D":64,"L":4})')
    .option('--image <px>', 'square input size (preset only; default: the preset\'s, 1024 with --paper)', parseIntOption('--image', 1))
    .option('--warmup <n>', `untimed runs per configuration (default ${BENCH_DEFAULTS.warmup}; ${PAPER_PROTOCOL.warmup} with --paper)`, parseIntOption('--warmup', 0))
    .option('--iters <n>', `timed runs per configuration (default ${BENCH_DEFAULTS.iters}; ${PAPER_PROTOCOL.iters} with --paper)`, parseIntOption('--iters', 1))
    .option('--paper', 'the paper protocol: 1024x1024, 20 warm-up + 200 timed')
    .option('--configs <list>', 'comma-separated labels or groups (all, prune, tome, tome-mhsa, tome-mhsa+mlp, dynamic-<threshold>); unpruned always runs', (v: string) => v.split(','))
    .option('--keep <list>', "comma-separated keep ratios or 'dynamic[:threshold[:minKeep]]' (SViT's per-image keep) to time beside unpruned (added to --configs)", (v: string) => v.split(',').map((k) => parseKeepSpec(k)))
    .option('--threads <n>', 'CPU threads of the native kernels', parseIntOption('--threads', 1, 256))
    .option('--seed <n>', 'seed of the random weights and input', parseIntOption('--seed', 0))
    .option('--out <dir>', 'output folder for throughput.json and the plot', 'reg4pru-bench')
    .option('--accuracy <file>', 'AP per configuration, { "<label>": { "ap": number, "dice"?: number } }: also plot AP vs throughput')
    .option('--precision <p>', "GEMM precision: fp32 (default) or bf16 (BF16 operands, FP32 sums; CPUs with AVX-512 BF16, or --device cuda)")
    .addOption(new Option('--device <d>', 'cpu (default) or cuda: the CUDA engine with CUDA-event timing (fails without a device)').choices(['cpu', 'cuda']))
    .option('--batch <list>', 'comma-separated batch sizes (--device cuda; default 1)', parseBatchList)
    .option('--no-cuda-graphs', '--device cuda: time plain kernel launches instead of replayed CUDA graphs')
    .option('--round-keep <m>', 'round each pruned stage\'s kept count so that prefix + k is a multiple of m (SPEC §3; 8 suits tensor cores)', parseIntOption('--round-keep', 1, 1024))
    .option('--superpatch <policy[:t]>', 'also run every non-ToMe configuration with STEP superpatches (a reg4pru train-policy file, merge threshold t, default 0.5)')
    .option('--early-exit <heads[:t[:m]]>', 'also run every non-ToMe configuration with STEP early exits (heads file, confidence threshold t (0.9), floor m (1))')
    .option('-q, --quiet', 'no progress output')
    .addOption(new Option('--against <runtime>', `side by side with ONNX Runtime on the exported unpruned model (ours: --configs, default unpruned,prune-0.7), round-robin`).choices(['onnxruntime']))
    .action(async (o: BenchOptions) => {
      if (o.device === 'cuda') {
        const { runBenchCuda } = await import('./benchCuda.js');
        await runBenchCuda(o, ctx.io, ctx.createSession);
        return;
      }
      if (o.batch !== undefined) throw new UsageError('--batch applies to --device cuda (the CPU protocol is batch 1)');
      if (o.cudaGraphs === false) throw new UsageError('--no-cuda-graphs applies to --device cuda');
      if (o.against === 'onnxruntime') {
        const { runBenchAgainstOrt } = await import('./benchOrt.js');
        await runBenchAgainstOrt(o, ctx.io, ctx.createSession);
        return;
      }
      await runBench(o, ctx.io, ctx.createSession);
    });
}
