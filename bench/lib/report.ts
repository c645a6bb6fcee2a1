/**
 * Benchmark rows: printed as an aligned table and written as JSON (STYLE §9). Every row carries
 * what ran (threads, kernel variant, device) so figures can be compared honestly.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { info } from '../../src/index.js';
import type { Timing } from './timer.js';

export interface BenchRow {
  op: string;
  shape: string;
  impl: string;
  timing: Timing;
  /** Useful floating-point operations per call (for GFLOP/s), or bytes moved (for GB/s). */
  flops?: number;
  bytes?: number;
  /** Ratio against the baseline row of the same op+shape (baseline median / this median). */
  speedup?: number;
  /** Share of the machine's measured peak GFLOP/s. */
  peakShare?: number;
  note?: string;
}

export function gflops(row: BenchRow): number | undefined {
  return row.flops === undefined ? undefined : row.flops / (row.timing.medianMs * 1e6);
}
export function gbps(row: BenchRow): number | undefined {
  return row.bytes === undefined ? undefined : row.bytes / (row.timing.medianMs * 1e6);
}

export function environment(): Record<string, unknown> {
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    /* not a git checkout */
  }
  const i = info();
  return {
    commit,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    threads: i.cpu.threads,
    kernel: i.cpu.kernel,
    simd: i.cpu.simd,
    device: 'cpu',
    node: process.version,
    date: new Date().toISOString(),
  };
}

function fmt(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

export function printTable(title: string, rows: BenchRow[]): void {
  const header = ['op', 'shape', 'impl', 'median ms', 'p10', 'p90', 'GFLOP/s', 'GB/s', 'speedup', '% peak', 'note'];
  const body = rows.map((r) => [
    r.op, r.shape, r.impl, fmt(r.timing.medianMs, 3), fmt(r.timing.p10Ms, 3), fmt(r.timing.p90Ms, 3),
    fmt(gflops(r), 1), fmt(gbps(r), 1), r.speedup === undefined ? '-' : `${r.speedup.toFixed(1)}x`,
    r.peakShare === undefined ? '-' : `${(100 * r.peakShare).toFixed(0)}%`, r.note ?? '',
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (cells: string[]) => cells.map((s, c) => s.padEnd(widths[c]!)).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

/** Writes `{environment, rows}` to .bench-out/<name>.json and returns the path. */
export function writeJson(name: string, rows: BenchRow[], extra: Record<string, unknown> = {}): string {
  const dir = path.resolve('.bench-out');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  const data = { environment: environment(), ...extra, rows: rows.map((r) => ({ ...r, gflops: gflops(r), gbps: gbps(r) })) };
  writeFileSync(file, JSON.stringify(data, null, 2));
  return file;
}
