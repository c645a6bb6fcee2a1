/**
 * bench/gpu/torch_eomt.py (the PyTorch anchor of the GPU throughput comparison) on the CPU at a tiny size, when a
 * python3 imports torch (bench/lib/python.ts; skipped with the reason otherwise): it runs the unpruned and the
 * pruned forward for each batch size and prints one THROUGHPUT line each, in the format of `reg4pru bench
 * --device cuda` (throughputLine), which bench/gpu/engine.bench.ts parses. No timing is asserted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { throughputLine } from '../../src/cli/commands/benchCuda.js';
import { parseThroughput } from '../../bench/gpu/engine.bench.js';
import { torchPython } from '../../bench/lib/python.js';

const py = torchPython();
const script = path.resolve(__dirname, '../../bench/gpu/torch_eomt.py');
if (Array.isArray(py)) console.warn(`[torchEomt.test] skipped: no python3 imports torch (${py.join('; ')})`);

describe.skipIf(Array.isArray(py))('torch_eomt.py (PyTorch anchor) on the CPU, tiny model', () => {
  it('prints a THROUGHPUT line per configuration and batch size', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-torch-eomt-'));
    const cfg = path.join(dir, 'model.json');
    // 2 stages (one before the queries), 6x4 patches, non-square image
    writeFileSync(cfg, JSON.stringify({ D: 32, H: 2, L: 4, patch: 8, image: [48, 32], R: 1, Q: 4, Bq: 2, classes: 2, stageBlocks: [1, 3], selectorWidth: 8, mlpRatio: 2 }));
    const r = spawnSync(py as string, [script, '--config', cfg, '--device', 'cpu', '--precision', 'fp32', '--batch', '1,2', '--keep', '0.5',
      '--warmup', '0', '--iters', '1', '--no-compile'], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
    expect(r.stderr).not.toMatch(/Traceback/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^torch_eomt: torch \S+, cpu, fp32/m);
    const lines = parseThroughput(r.stdout);
    expect(lines.map((l) => `${l.impl} ${l.config} ${l.batch}`)).toEqual([
      'torch-eager unpruned 1', 'torch-eager prune-0.5 1', 'torch-eager unpruned 2', 'torch-eager prune-0.5 2']);
    for (const l of lines) {
      expect(Number(l.img_s)).toBeGreaterThan(0);
      expect(Number(l.ms)).toBeGreaterThan(0);
      // the same format as ours
      const ours = throughputLine(l.impl!, { label: l.config!, batch: Number(l.batch), precision: l.precision!, imgPerS: Number(l.img_s), ms: Number(l.ms) });
      expect(parseThroughput(ours)[0]).toEqual(l);
    }
  });
});
