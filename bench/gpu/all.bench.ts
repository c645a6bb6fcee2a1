/**
 * `npm run bench:gpu`: every bench/gpu/*.bench.ts (each exports `run({quick})`), CUDA-event timing on
 * the first device, GB/s against the device-to-device copy bandwidth measured in the same run (and
 * TFLOP/s against BF16 peak in the files that report FLOPs). Without a usable device it prints
 * "no CUDA device: <reason>" and exits 0, so CI can call it anywhere.
 * `--quick` shortens every loop; `--skip a,b` leaves out a.bench.ts and b.bench.ts.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cudaAvailable, info } from '../../src/index.js';
import { environment, printTable, writeJson, type BenchRow } from '../lib/report.js';
import { copyBandwidth, deviceSummary } from './lib.js';

const quick = process.argv.includes('--quick');
const avail = cudaAvailable();
if (!avail.ok) {
  console.log(`no CUDA device: ${avail.reason}`);
  process.exit(0);
}

const here = path.dirname(fileURLToPath(import.meta.url));
// --skip engine,tokenOps: leave those files out (scripts/gpu-check.sh runs engine.bench.ts alone, beside PyTorch)
const skipAt = process.argv.indexOf('--skip');
const skip = new Set(skipAt >= 0 ? (process.argv[skipAt + 1] ?? '').split(',') : []);
const files = readdirSync(here).filter((f) => f.endsWith('.bench.ts') && f !== 'all.bench.ts' && !skip.has(f.replace('.bench.ts', ''))).sort();
const dev = deviceSummary();
const c = info().cuda;
console.log('reg4pru bench:gpu', JSON.stringify({ ...environment(), device: dev, cudaRuntime: c.runtimeVersion, driver: c.driverVersion, archs: c.archs }));
const copy = copyBandwidth(quick);
console.log(`device copy bandwidth (this run, ${copy.bytes / 2 ** 20} MiB D2D, read + write): ${copy.gbps.toFixed(0)} GB/s`);
const all: BenchRow[] = [];
for (const f of files) {
  const mod = (await import(pathToFileURL(path.join(here, f)).href)) as { run?: (o: { quick: boolean }) => Promise<BenchRow[]> };
  if (typeof mod.run !== 'function') {
    console.log(`${f}: no run() export, skipped`);
    continue;
  }
  const rows = await mod.run({ quick });
  printTable(`${f.replace('.bench.ts', '')} (${dev?.name ?? 'GPU'})`, rows);
  all.push(...rows);
}
console.log(`\nwrote ${writeJson('gpu-all', all, { device: dev, copyGBps: copy.gbps })}`);
