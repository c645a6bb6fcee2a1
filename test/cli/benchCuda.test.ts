/**
 * `reg4pru bench --device cuda` (src/cli/commands/benchCuda.ts) without a GPU: the no-device path (a clear
 * "no CUDA device: <reason>" and exit code 1, never a CPU run), flag errors (exit code 2), and the protocol on
 * stand-in CUDA sessions that report a device time (batches, round-robin, device vs wall statistics, speedup,
 * FLOP rate, graph state, THROUGHPUT lines, the JSON). The real engine on a device: test/gpu/engine.test.ts.
 * No timing is asserted.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBenchCuda, throughputLine, type CudaBenchReport } from '../../src/cli/commands/benchCuda.js';
import { CommandError, type SessionFactory } from '../../src/cli/common.js';
import { main } from '../../src/cli/program.js';
import { cudaAvailable, type CudaRunInfo } from '../../src/index.js';
import { captureIo, fakeFactory } from './helpers.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'r4p-bench-cuda-'));
const tinyModel = (dir: string) => {
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify({ D: 32, H: 2, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2] }));
  return file;
};
const noDevice = () => ({ ok: false, reason: 'test: no device here' });
const aDevice = () => ({ ok: true, reason: '' });

/** The CLI's stand-in session plus a CUDA-like `lastRun`: device ms = 2 per image (keep k: 2k), graph states. */
type Seen = { device?: string; cudaGraphs?: boolean; keep: number | 'dynamic' | null | undefined };
function fakeCudaFactory(seen: Seen[]): SessionFactory {
  const base = fakeFactory();
  return async (source, opts) => {
    seen.push({ device: opts.device, cudaGraphs: opts.cudaGraphs, keep: opts.keep });
    const s = await base(source, opts);
    let runs = 0, B = 0;
    return {
      config: s.config,
      keep: s.keep,
      dispose: () => s.dispose(),
      async run(images, o) {
        const r = await s.run(images, o);
        runs++;
        B = r.semantic.shape[0];
        return r;
      },
      get lastRun(): CudaRunInfo | null {
        if (runs === 0) return null;
        return { deviceMs: 2 * B * (typeof opts.keep === 'number' ? opts.keep : 1), graph: opts.cudaGraphs === false ? 'off' : runs === 1 ? 'eager' : runs === 2 ? 'captured' : 'replayed', graphNote: '' };
      },
    };
  };
}

describe('bench --device cuda', () => {
  it('without a device: "no CUDA device: <reason>", exit code 1, nothing run', async () => {
    const seen: Seen[] = [];
    const io = captureIo();
    await expect(runBenchCuda({ preset: 'tiny', quiet: true, out: tmp() }, io, fakeCudaFactory(seen), noDevice))
      .rejects.toThrow(new CommandError('bench --device cuda: no CUDA device: test: no device here'));
    expect(seen).toEqual([]);
  });

  it.skipIf(cudaAvailable().ok)('through the CLI on this machine (no usable device): exit code 1 and the reason on one line', async () => {
    const dir = tmp();
    const io = captureIo();
    const code = await main(['node', 'reg4pru', 'bench', '--device', 'cuda', '--preset', 'tiny', '--model-config', tinyModel(dir), '-q', '--out', dir], io);
    expect(code).toBe(1);
    const err = io.text().err;
    expect(err).toMatch(/^error: bench --device cuda: no CUDA device: \S/m);
    expect(err).toContain(cudaAvailable().reason);
    expect(err.trim().split('\n')).toHaveLength(1);
  });

  it('flag errors exit with code 2', async () => {
    for (const [args, msg] of [
      [['bench', '--batch', '1,8'], /--batch applies to --device cuda/],
      [['bench', '--no-cuda-graphs'], /--no-cuda-graphs applies to --device cuda/],
      [['bench', '--device', 'tpu'], /--device.*(cpu|cuda)/],
      [['bench', '--device', 'cuda', '--batch', '0'], /--batch: expected an integer in \[1, 4096\]/],
      [['bench', '--device', 'cuda', '--threads', '2'], /--threads applies to the CPU harness/],
      [['bench', '--device', 'cuda', '--superpatch', 'p.json'], /--superpatch applies to the CPU harness/],
      [['bench', '--device', 'cuda', '--early-exit', 'h.json'], /--early-exit applies to the CPU harness/],
    ] as const) {
      const io = captureIo();
      expect(await main(['node', 'reg4pru', ...args], io, fakeFactory())).toBe(2);
      expect(io.text().err).toMatch(msg);
    }
  });

  it('times each configuration and batch size on device time, round-robin, and reports it', async () => {
    const dir = tmp();
    const seen: Seen[] = [];
    const io = captureIo();
    const report = await runBenchCuda({ preset: 'tiny', modelConfig: tinyModel(dir), image: 32, warmup: 2, iters: 3, batch: [1, 4],
      configs: ['prune-0.5', 'tome-mhsa-0.5'], precision: 'bf16', out: dir, quiet: true }, io, fakeCudaFactory(seen), aDevice);
    // sessions per batch size: unpruned + prune-0.5 (ToMe rejected by the stand-in), all device 'cuda', graphs on
    expect(seen.map((s) => s.keep)).toEqual([null, 0.5, null, null, 0.5, null]);
    expect(seen.every((s) => s.device === 'cuda' && s.cudaGraphs === true)).toBe(true);
    expect(report.protocol).toMatchObject({ device: 'cuda', batches: [1, 4], image: [32, 32], warmup: 2, iters: 3, precision: 'bf16', cudaGraphs: true });
    const ok = report.results.filter((r) => r.status === 'ok');
    expect(ok.map((r) => `${r.label}@${r.batch}`)).toEqual(['unpruned@1', 'prune-0.5@1', 'unpruned@4', 'prune-0.5@4']);
    for (const r of ok) {
      expect(r.warmupDeviceMs).toHaveLength(2);
      expect(r.deviceMs).toEqual([1, 1, 1].map(() => 2 * r.batch * (r.ratio ?? 1)));
      expect(r.wallMs).toHaveLength(3);
      expect(r.stats!.median).toBeCloseTo((1000 * r.batch) / (2 * r.batch * (r.ratio ?? 1)));  // img/s from device ms
      expect(r.graph).toBe('replayed');
      expect(r.tflops).toBeGreaterThan(0);
    }
    expect(ok.find((r) => r.label === 'prune-0.5' && r.batch === 4)!.speedup).toBeCloseTo(2);
    expect(report.results.filter((r) => r.status === 'unavailable').map((r) => r.label)).toEqual(['tome-mhsa-0.5', 'tome-mhsa-0.5']);
    const json = JSON.parse(readFileSync(path.join(dir, 'throughput-cuda.json'), 'utf8')) as CudaBenchReport;
    expect(json.results).toHaveLength(6);
    const out = io.text().out;
    expect(out).toContain(throughputLine('reg4pru', { label: 'prune-0.5', batch: 4, precision: 'bf16', imgPerS: 1000, ms: 4 }));
    expect(out).toMatch(/unavailable: tome-mhsa-0\.5/);
  });

  it('--no-cuda-graphs reaches the sessions', async () => {
    const dir = tmp();
    const seen: Seen[] = [];
    const report = await runBenchCuda({ preset: 'tiny', modelConfig: tinyModel(dir), image: 32, warmup: 0, iters: 1, configs: ['unpruned'],
      cudaGraphs: false, out: dir, quiet: true }, captureIo(), fakeCudaFactory(seen), aDevice);
    expect(seen).toEqual([{ device: 'cuda', cudaGraphs: false, keep: null }]);
    expect(report.results[0]!.graph).toBe('off');
  });

  it('a session without device timing is an error, not a silent wall-clock figure', async () => {
    const dir = tmp();
    await expect(runBenchCuda({ preset: 'tiny', modelConfig: tinyModel(dir), image: 32, warmup: 0, iters: 1, configs: ['unpruned'], out: dir, quiet: true },
      captureIo(), fakeFactory(), aDevice)).rejects.toThrow(/no device timing/);
  });
});
