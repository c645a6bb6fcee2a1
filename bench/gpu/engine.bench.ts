/**
 * The whole forward on the GPU (InferenceSession device 'cuda') beside PyTorch (issue 11 items 3-4): preset small
 * with random weights at the paper's 1024x1024 (Np = 4096), FP32 and BF16, batch 1 and 8, unpruned and at keep
 * 0.7, CUDA graphs on. Our side is `reg4pru bench --device cuda` itself (src/cli/commands/benchCuda.ts, in
 * process): CUDA-event time of each forward, round-robin, median; TFLOP/s from the useful FLOPs
 * (src/engine/flops.ts) and the share of the BF16 datasheet peak. PyTorch's side is bench/gpu/torch_eomt.py (the
 * same forward, BF16, SDPA, eager and torch.compile, device-resident input, CUDA events) when an interpreter
 * imports torch (bench/lib/python.ts); both print `THROUGHPUT ...` lines, and a last table puts them side by side
 * (ours BF16 over PyTorch's best of eager / compile).
 *
 * In `npm run bench:gpu` (run({quick})): our rows only, silenced tables, shorter loops with --quick.
 * Alone (scripts/gpu-check.sh runs it so): prints everything as it goes:
 *   npx tsx bench/gpu/engine.bench.ts [--quick] [--batch 1,8] [--warmup N] [--iters N] [--no-torch]
 *                                     [--no-compile] [--torch-budget-s S] [--precision fp32,bf16[,bf16-wgmma]]
 * bf16-wgmma: BF16 again with the wgmma GEMM (REG4PRU_CUDA_GEMM=wgmma; sm_90 only, else the same kernels).
 * --torch-budget-s: PyTorch starts no new measurement (compile included) once S seconds have passed since this
 * script started (our side's time counts).
 * Without a usable device it prints "no CUDA device: <reason>" and exits 0.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runBenchCuda, type CudaBenchReport } from '../../src/cli/commands/benchCuda.js';
import { defaultSessionFactory, printTable, processIo, type Io } from '../../src/cli/common.js';
import { cudaAvailable, modelConfig } from '../../src/index.js';
import { withEnv } from '../../test/reference/helpers.js';
import { torchPython } from '../lib/python.js';
import type { BenchRow } from '../lib/report.js';
import { summarize } from '../lib/timer.js';

const silent = (): Io => {
  const w = () => new Writable({ write(_c, _e, cb) { cb(); } });
  return { out: w(), err: w() };
};

/** 'bf16-wgmma': BF16 with the Linear layers on the wgmma GEMM (REG4PRU_CUDA_GEMM=wgmma, sm_90 devices). */
type Precision = 'fp32' | 'bf16' | 'bf16-wgmma';
interface Opts { quick: boolean; batch: number[]; warmup: number; iters: number; precisions: Precision[]; io: Io }
/** A report and the GEMM its BF16 forwards used. */
type Report = CudaBenchReport & { gemm: 'default' | 'wgmma' };

async function ours(o: Opts): Promise<Report[]> {
  const reports: Report[] = [];
  for (const p of o.precisions) {
    const wgmma = p === 'bf16-wgmma';
    const bench = () => runBenchCuda({ preset: 'small', image: 1024, batch: o.batch, configs: ['unpruned', 'prune-0.7'],
      precision: wgmma ? 'bf16' : p, warmup: o.warmup, iters: o.iters, quiet: true, out: `.bench-out/engine-cuda-${p}` }, o.io,
      defaultSessionFactory);
    // REG4PRU_CUDA_GEMM is read by the addon at each GEMM call, i.e. when a forward is captured into its CUDA graph
    const r = await (wgmma ? withEnv('REG4PRU_CUDA_GEMM', 'wgmma', bench) : bench());
    reports.push(Object.assign(r, { gemm: wgmma ? ('wgmma' as const) : ('default' as const) }));
  }
  return reports;
}

function rowsOf(reports: Report[]): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const report of reports)
    for (const r of report.results) {
      const impl = `cuda ${report.protocol.precision}${report.gemm === 'wgmma' ? ' wgmma' : ''} ${r.label}`, shape = `small 1024x1024 B=${r.batch}`;
      if (!r.stats) {
        rows.push({ op: 'engine.forward', shape, impl, timing: { medianMs: NaN, p10Ms: NaN, p90Ms: NaN, iterations: 0 }, note: `unavailable: ${r.reason ?? ''}` });
        continue;
      }
      rows.push({
        op: 'engine.forward', shape, impl, timing: summarize(r.deviceMs), flops: r.tflops! * r.stats.medianMs * 1e9,
        note: `${r.stats.median.toFixed(1)} img/s (CUDA events); ${r.tflops!.toFixed(1)} TFLOP/s` +
          (r.peakShare === undefined ? '' : ` = ${(100 * r.peakShare).toFixed(1)}% of BF16 datasheet`) +
          `; graph ${r.graph}; wall ${r.wallStats!.median.toFixed(1)} img/s incl. upload + download` +
          (r.speedup !== undefined && r.label !== 'unpruned' ? `; ${r.speedup.toFixed(2)}x unpruned` : ''),
      });
    }
  return rows;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  return rowsOf(await ours({ quick: opts.quick, batch: [1, 8], warmup: opts.quick ? 3 : 5, iters: opts.quick ? 5 : 20, precisions: ['fp32', 'bf16'], io: silent() }));
}

/** `THROUGHPUT k=v ...` lines of a text, as objects. */
export function parseThroughput(text: string): Array<Record<string, string>> {
  return text.split('\n').filter((l) => l.startsWith('THROUGHPUT ')).map((l) =>
    Object.fromEntries(l.slice('THROUGHPUT '.length).trim().split(/\s+/).map((kv) => kv.split('=', 2) as [string, string])));
}

/**
 * Runs torch_eomt.py on the same config. Its output is echoed as it comes (a bench step killed at its time limit
 * still leaves the figures measured so far in the log); returns its THROUGHPUT lines (or why none).
 */
async function torchAnchor(batch: number[], o: { warmup: number; iters: number; budgetS: number; compile: boolean }): Promise<Array<Record<string, string>> | string> {
  const py = torchPython();
  if (Array.isArray(py)) return `PyTorch not measured: no python3 imports torch (${py.join('; ')})`;
  const cfg = path.join(os.tmpdir(), `reg4pru-torch-eomt-${process.pid}.json`);
  writeFileSync(cfg, JSON.stringify(modelConfig('small', { image: [1024, 1024] })));
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'torch_eomt.py');
  const args = [script, '--config', cfg, '--batch', batch.join(','), '--keep', '0.7', '--precision', 'bf16', '--warmup', String(o.warmup),
    '--iters', String(o.iters), '--budget-s', String(o.budgetS), ...(o.compile ? [] : ['--no-compile'])];
  console.log(`\n$ ${py} ${args.join(' ')}`);
  const child = spawn(py, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '', lastErr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { text += d; process.stdout.write(d); });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { lastErr = d; process.stdout.write(d); });
  const status = await new Promise<number | string>((resolve) => {
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  if (status !== 0) return `PyTorch anchor failed (exit ${status}): ${lastErr.trim().split('\n').pop() ?? ''}`;
  return parseThroughput(text);
}

function sideBySide(reports: Report[], torch: Array<Record<string, string>>): void {
  const get = (impl: string, label: string, B: number) => torch.find((t) => t.impl === impl && t.config === label && t.batch === String(B));
  const rows: string[][] = [];
  const bf16 = reports.find((r) => r.protocol.precision === 'bf16' && r.gemm === 'default'), fp32 = reports.find((r) => r.protocol.precision === 'fp32');
  for (const r of bf16?.results ?? fp32?.results ?? []) {
    if (!r.stats && !fp32) continue;
    const f32 = fp32?.results.find((x) => x.label === r.label && x.batch === r.batch)?.stats?.median;
    const ours16 = bf16 ? r.stats?.median : undefined;
    const eager = Number(get('torch-eager', r.label, r.batch)?.img_s ?? NaN), comp = Number(get('torch-compile', r.label, r.batch)?.img_s ?? NaN);
    const best = Math.max(Number.isFinite(eager) ? eager : 0, Number.isFinite(comp) ? comp : 0);
    const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) || v === 0 ? '-' : v.toFixed(1));
    rows.push([r.label, String(r.batch), fmt(f32), fmt(ours16), fmt(eager), fmt(comp), ours16 && best ? `${(ours16 / best).toFixed(2)}x` : '-']);
  }
  console.log('\nside by side (img/s, 1024x1024, CUDA events; ours: forward after upload; PyTorch: forward on a device tensor):');
  printTable(process.stdout, ['config', 'B', 'ours FP32', 'ours BF16', 'torch eager BF16', 'torch compile BF16', 'ours BF16 / best torch'], rows);
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = performance.now();
  const avail = cudaAvailable();
  if (!avail.ok) {
    console.log(`no CUDA device: ${avail.reason}`);
    process.exit(0);
  }
  const quick = process.argv.includes('--quick');
  const batch = (arg('batch') ?? '1,8').split(',').map(Number);
  const warmup = Number(arg('warmup') ?? (quick ? 5 : 10)), iters = Number(arg('iters') ?? (quick ? 20 : 50));
  const precisions = (arg('precision') ?? 'fp32,bf16').split(',') as Precision[];
  const reports = await ours({ quick, batch, warmup, iters, precisions, io: processIo() });
  for (const rep of reports) console.log(`wrote ${rep.files.json}`);
  // one JSON line per measurement, ours now and PyTorch's at the end (the GPU run brings back few files: this log
  // carries them; ours first, so that a PyTorch side cut short by the step's time limit cannot lose them)
  for (const rep of reports)
    for (const r of rep.results)
      if (r.stats) console.log(`RESULT ${JSON.stringify({ impl: 'reg4pru', precision: rep.protocol.precision, gemm: rep.gemm, label: r.label, batch: r.batch, imgPerS: r.stats.median, p10: r.stats.p10, p90: r.stats.p90, ms: r.stats.medianMs, wallImgPerS: r.wallStats?.median, tflops: r.tflops, peakShare: r.peakShare, graph: r.graph, graphNote: r.graphNote })}`);
  let torch: Array<Record<string, string>> = [];
  if (!process.argv.includes('--no-torch')) {
    // --torch-budget-s counts from this script's start: what our side took is not given to PyTorch again
    const budgetS = Math.max(0, Number(arg('torch-budget-s') ?? 600) - (performance.now() - t0) / 1e3);
    const t = await torchAnchor(batch, { warmup, iters, budgetS: Math.round(budgetS), compile: !process.argv.includes('--no-compile') });
    if (typeof t === 'string') console.log(t);
    else torch = t;
  }
  sideBySide(reports, torch);
  for (const t of torch) console.log(`RESULT ${JSON.stringify(t)}`);
}
