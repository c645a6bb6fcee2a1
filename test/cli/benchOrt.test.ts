/**
 * `reg4pru bench --against onnxruntime` (src/cli/commands/benchOrt.ts): one short run on a tiny model,
 * the export on the fly, ORT and our engine (unpruned, keep 0.7) round-robin, the report (rows, ratios,
 * the ORT-vs-engine difference) and the printed table; flag combinations it rejects. No timing is
 * asserted beyond "finite and positive". The run needs onnxruntime-node (skipped with the reason if not).
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { info } from '../../src/index.js';
import { main } from '../../src/cli/program.js';
import type { OrtBenchReport } from '../../src/cli/commands/benchOrt.js';
import { loadOnnxRuntime } from '../../src/export/onnxRuntime.js';
import { captureIo } from './helpers.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'r4p-bench-ort-'));
const loaded = await loadOnnxRuntime();
if (!('ort' in loaded)) console.warn(`[benchOrt.test] skipping the ONNX Runtime run: ${loaded.reason}`);

describe('bench --against onnxruntime', () => {
  it('rejects --paper and --accuracy, and --image with a checkpoint (exit 2, one line)', async () => {
    for (const extra of [['--paper'], ['--accuracy', 'a.json'], ['--checkpoint', 'x.safetensors', '--image', '64']]) {
      const io = captureIo();
      const code = await main(['node', 'reg4pru', 'bench', '--against', 'onnxruntime', '-q', ...extra], io);
      expect(code, io.text().err).toBe(2);
      expect(io.text().err.trim().split('\n')).toHaveLength(1);
    }
    const io = captureIo();
    expect(await main(['node', 'reg4pru', 'bench', '--against', 'tensorrt'], io)).toBe(2);
    expect(io.text().err).toMatch(/Allowed choices are onnxruntime/);
  });

  it.skipIf(!('ort' in loaded))('times ORT, unpruned and keep 0.7 round-robin and reports ratios vs ORT', async () => {
    const dir = tmp();
    const cfg = path.join(dir, 'model.json');
    writeFileSync(cfg, JSON.stringify({ D: 32, H: 2, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2] }));
    const out = path.join(dir, 'out');
    const io = captureIo();
    const before = readdirSync(os.tmpdir()).filter((f) => f.startsWith('reg4pru-ort-')).length;
    const code = await main(['node', 'reg4pru', 'bench', '--against', 'onnxruntime', '--preset', 'tiny', '--model-config', cfg, '--image', '64',
      '--warmup', '1', '--iters', '2', '--threads', '1', '--out', out, '-q'], io);
    expect(code, io.text().err).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, 'throughput-vs-onnxruntime.json'), 'utf8')) as OrtBenchReport;
    // FP32 rows, and the same in BF16 where the CPU has AVX-512 BF16
    const bf16 = info().cpu.bf16 ? ['unpruned bf16', 'prune-0.7 bf16'] : [];
    expect(report.rows.map((r) => r.label)).toEqual(['onnxruntime', 'unpruned', 'prune-0.7', ...bf16]);
    expect(report.protocol).toMatchObject({ batch: 1, image: [64, 64], warmup: 1, iters: 2, threads: 1, order: 'round-robin' });
    expect(report.onnxruntime.intraOpNumThreads).toBe(1);
    expect(report.onnxruntime.maxAbsDiffSemantic).toBeLessThan(1e-4);
    for (const r of report.rows) {
      expect(r.timingsMs).toHaveLength(2);
      expect(r.stats!.medianMs).toBeGreaterThan(0);
      expect(Number.isFinite(r.speedupVsOrt)).toBe(true);
    }
    expect(report.rows[0]!.speedupVsOrt).toBe(1);
    const text = io.text().out;
    expect(text).toMatch(/onnxruntime-node .*intraOpNumThreads 1/);
    expect(text).toMatch(/^prune-0\.7\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+x$/m);
    // the temporary export is removed
    expect(readdirSync(os.tmpdir()).filter((f) => f.startsWith('reg4pru-ort-')).length).toBe(before);
  });
});
