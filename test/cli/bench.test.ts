/**
 * `reg4pru bench` (SPEC §6): configuration selection, spread statistics, the --accuracy format, the JSON
 * report (every requested configuration, raw timings, protocol, machine), the AP-vs-throughput plot
 * (SVG + PNG), usage errors (exit code 2), and one short run on the real engine with a tiny model.
 * No timing is asserted beyond "finite and positive".
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { BENCH_CONFIGS, readAccuracy, runBench, selectConfigs, throughputStats, timeRoundRobin, type BenchReport } from '../../src/cli/commands/bench.js';
import { modelConfig } from '../../src/index.js';
import { UsageError } from '../../src/cli/common.js';
import { main } from '../../src/cli/program.js';
import { captureIo, fakeFactory } from './helpers.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'r4p-bench-'));
const tinyModel = (dir: string) => {
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify({ D: 32, H: 2, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2] }));
  return file;
};

describe('bench: configurations and statistics', () => {
  it('has the SPEC §6 grid and selects by label or group, unpruned always first', () => {
    expect(BENCH_CONFIGS.map((c) => c.label)).toEqual([
      'unpruned', 'prune-0.9', 'prune-0.8', 'prune-0.7', 'prune-0.6', 'prune-0.5',
      'tome-mhsa-0.7', 'tome-mhsa-0.6', 'tome-mhsa-0.5', 'tome-mhsa-0.4',
      'tome-mhsa+mlp-0.7', 'tome-mhsa+mlp-0.6', 'tome-mhsa+mlp-0.5', 'tome-mhsa+mlp-0.4',
    ]);
    expect(selectConfigs(['prune-0.5', 'tome-mhsa']).map((c) => c.label)).toEqual(['unpruned', 'prune-0.5', 'tome-mhsa-0.7', 'tome-mhsa-0.6', 'tome-mhsa-0.5', 'tome-mhsa-0.4']);
    expect(selectConfigs(['prune']).length).toBe(6);
    expect(() => selectConfigs(['prune-0.55'])).toThrow(/--configs: unknown configuration 'prune-0.55'/);
  });

  it('computes images/s spread from per-run milliseconds', () => {
    const s = throughputStats([10, 20, 40, 50, 100]); // 100, 50, 25, 20, 10 images/s
    expect(s.median).toBeCloseTo(25);
    expect(s.mean).toBeCloseTo(41);
    expect(s.std).toBeCloseTo(Math.sqrt((59 ** 2 + 9 ** 2 + 16 ** 2 + 21 ** 2 + 31 ** 2) / 4));
    expect(s.p10).toBeCloseTo(14);
    expect(s.p90).toBeCloseTo(80);
    expect(s.medianMs).toBe(40);
    expect(throughputStats([5]).std).toBe(0);
  });

  it('reads and checks the --accuracy file', () => {
    const dir = tmp();
    const good = path.join(dir, 'a.json');
    writeFileSync(good, JSON.stringify({ unpruned: { ap: 0.8, dice: 0.7 }, 'prune-0.7': { ap: 0.79 } }));
    expect(readAccuracy(good)).toEqual({ unpruned: { ap: 0.8, dice: 0.7 }, 'prune-0.7': { ap: 0.79 } });
    const bad = path.join(dir, 'b.json');
    writeFileSync(bad, JSON.stringify({ unpruned: { dice: 0.7 } }));
    expect(() => readAccuracy(bad)).toThrow(UsageError);
    expect(() => readAccuracy(bad)).toThrow(/entry 'unpruned'/);
    expect(() => readAccuracy(path.join(dir, 'missing.json'))).toThrow(/--accuracy: cannot read/);
  });
});

describe('timeRoundRobin: the harness loop', () => {
  it('runs warm-up then timed rounds, each round every runner once starting one further on, each run timed alone', async () => {
    const log: string[] = [];
    const runner = (name: string, ms: number) => async () => {
      log.push(name);
      await new Promise((r) => setTimeout(r, ms));
    };
    const ticks: Array<[number, number]> = [], rounds: number[] = [];
    const t = await timeRoundRobin([runner('a', 0), runner('b', 60), runner('c', 0)], {
      warmup: 1, iters: 3, onRun: (i, round) => ticks.push([i, round]), onRound: (round) => rounds.push(round),
    });
    expect(log.join('')).toBe('abc' + 'bca' + 'cab' + 'abc');
    expect(ticks.slice(0, 4)).toEqual([[0, 0], [1, 0], [2, 0], [1, 1]]);
    expect(rounds).toEqual([0, 1, 2, 3]);
    expect(t.map((x) => [x.warmupMs.length, x.timingsMs.length])).toEqual([[1, 3], [1, 3], [1, 3]]);
    // each sample is that runner's own run: b sleeps 60 ms, a and c return at once (medians: robust to a stall)
    const median = (v: number[]) => [...v].sort((x, y) => x - y)[1]!;
    expect(Math.min(...t[1]!.timingsMs)).toBeGreaterThanOrEqual(55);
    expect(median(t[0]!.timingsMs)).toBeLessThan(55);
    expect(median(t[2]!.timingsMs)).toBeLessThan(55);
  });

  it('settleMs pauses before every run, outside the timed interval', async () => {
    const starts: number[] = [];
    const runner = async () => { starts.push(performance.now()); };
    const t0 = performance.now();
    const t = await timeRoundRobin([runner, runner], { warmup: 0, iters: 3, settleMs: 40 });
    expect(starts).toHaveLength(6);
    expect(starts[0]! - t0).toBeGreaterThanOrEqual(35);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(35);
    for (const x of t) for (const ms of x.timingsMs) expect(ms).toBeLessThan(30);
  });
});

describe('bench/model/engine.bench.ts on the harness loop', () => {
  it('times every configuration (and ONNX Runtime when it loads) in one round-robin, ratios from that run', async () => {
    const { run } = await import('../../bench/model/engine.bench.js');
    const config = modelConfig('tiny', { D: 32, H: 2, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2], image: [64, 64] });
    const rows = await run({ quick: true, config, iters: 2, warmup: 1, peak: 100 });
    const ort = rows.find((r) => r.impl.startsWith('onnxruntime'));
    const ours = rows.filter((r) => r !== ort);
    expect(ours[0]!.impl).toMatch(/^unpruned \[/);
    expect(ours.some((r) => /^keep 0\.7 \[/.test(r.impl))).toBe(true);
    for (const r of rows) {
      expect(r.timing.iterations).toBe(2);
      expect(r.timing.medianMs).toBeGreaterThan(0);
      expect(r.shape).toBe('D=32 L=4 64x64 B=1 Np=16');
    }
    expect(ours[0]!.speedup).toBe(1);
    // the ORT ratio in each note is ORT's median over the row's, both from this run
    if (ort) for (const r of ours) expect(r.note).toContain(`${(ort.timing.medianMs / r.timing.medianMs).toFixed(2)}x vs ORT`);
    else for (const r of ours) expect(r.note).not.toContain('vs ORT');
  });
});

describe('bench: report and plot (stand-in session)', () => {
  it('times the configurations round-robin (each round runs every one, in a rotating order)', async () => {
    const dir = tmp();
    const order: Array<number | 'dynamic' | null> = [];
    const inner = fakeFactory();
    const factory: Parameters<typeof runBench>[2] = async (source, opts) => {
      const s = await inner(source, opts);
      return { ...s, run: (images) => { order.push(opts.keep ?? null); return s.run(images); } } as typeof s;
    };
    await runBench({ preset: 'tiny', modelConfig: tinyModel(dir), image: 32, warmup: 1, iters: 2, configs: ['unpruned', 'prune-0.7', 'prune-0.5'], out: dir, quiet: true }, captureIo(), factory);
    expect(order).toEqual([null, 0.7, 0.5, 0.7, 0.5, null, 0.5, null, 0.7]);
  });

  it('writes every configuration with raw timings, ToMe unavailable with the reason, and the plot', async () => {
    const dir = tmp();
    const acc = path.join(dir, 'acc.json');
    writeFileSync(acc, JSON.stringify({ unpruned: { ap: 0.81 }, 'prune-0.7': { ap: 0.8 }, 'prune-0.5': { ap: 0.77, dice: 0.7 }, other: { ap: 0.1 } }));
    const io = captureIo();
    const calls: Array<{ keep: number | null; batches: number[] }> = [];
    const report = await runBench({ preset: 'tiny', modelConfig: tinyModel(dir), image: 32, warmup: 1, iters: 3, out: dir, accuracy: acc, quiet: true }, io, fakeFactory(calls));
    const json = JSON.parse(readFileSync(path.join(dir, 'throughput.json'), 'utf8')) as BenchReport;
    expect(json.results.map((r) => r.label)).toEqual(BENCH_CONFIGS.map((c) => c.label));
    expect(json.protocol).toMatchObject({ batch: 1, image: [32, 32], warmup: 1, iters: 3, paper: false, device: 'cpu' });
    expect(json.model.config).toMatchObject({ D: 32, L: 4, image: [32, 32] });
    expect(json.machine).toHaveProperty('reg4pru.cpu.threads');
    expect(calls.map((c) => c.keep)).toEqual([null, 0.9, 0.8, 0.7, 0.6, 0.5]);
    for (const r of json.results) {
      if (r.method.startsWith('tome')) {
        expect(r.status).toBe('unavailable');
        expect(r.reason).toMatch(/ToMe is not supported/);
        continue;
      }
      expect(r.status).toBe('ok');
      expect(r.warmupMs).toHaveLength(1);
      expect(r.timingsMs).toHaveLength(3);
      expect(r.timingsMs.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
      expect(r.stats!.p10).toBeLessThanOrEqual(r.stats!.median);
      expect(r.stats!.median).toBeLessThanOrEqual(r.stats!.p90);
      expect(r.speedup).toBeGreaterThan(0);
    }
    expect(json.results[0]!.speedup).toBe(1);
    expect(json.results.find((r) => r.label === 'prune-0.5')).toMatchObject({ ap: 0.77, dice: 0.7 });
    const { out, err } = io.text();
    expect(out).toMatch(/prune-0\.7 +pruning/);
    expect(out).toMatch(/unavailable: tome-mhsa-0\.7.*ToMe is not supported/);
    expect(err).toMatch(/without a measured configuration: other/);
    // Plot: SVG text + PNG that sharp decodes.
    expect(report.files.svg).toBeDefined();
    const svg = readFileSync(report.files.svg!, 'utf8');
    expect(svg).toContain('<svg');
    expect(svg).toContain('prune-0.5');
    const meta = await sharp(report.files.png!).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(100);
  });

  it('usage errors exit with code 2 and a message naming the option', async () => {
    const dir = tmp();
    for (const [args, msg] of [
      [['bench', '--iters', '0'], /--iters: expected an integer in \[1/],
      [['bench', '--configs', 'nope'], /unknown configuration 'nope'/],
      [['bench', '--preset', 'huge'], /preset/],
      [['bench', '--checkpoint', path.join(dir, 'none.safetensors')], /--checkpoint: no such file/],
      [['bench', '--preset', 'tiny', '--image', '30', '--out', dir, '-q'], /invalid model configuration.*multiples of patch/],
      [['bench', '--round-keep', '0'], /--round-keep: expected an integer in \[1, 1024\]/],
    ] as const) {
      const io = captureIo();
      expect(await main(['node', 'reg4pru', ...args], io, fakeFactory())).toBe(2);
      expect(io.text().err).toMatch(msg);
    }
  });

  it('prints plain progress lines when stderr is not a TTY', async () => {
    const dir = tmp();
    const io = captureIo();
    const code = await main(['node', 'reg4pru', 'bench', '--preset', 'tiny', '--model-config', tinyModel(dir), '--image', '32', '--warmup', '0', '--iters', '1', '--configs', 'prune-0.5', '--out', dir], io, fakeFactory());
    expect(code).toBe(0);
    expect(io.text().err).toMatch(/bench: 2\/2/);
  });

  it('--round-keep m reaches every pruned session (not the unpruned or ToMe ones) and the JSON protocol', async () => {
    const dir = tmp();
    const seen: Array<{ keep: number | 'dynamic' | null | undefined; roundKeep?: number }> = [];
    const base = fakeFactory();
    const factory: Parameters<typeof main>[2] = async (source, opts) => {
      seen.push({ keep: opts.keep, roundKeep: opts.roundKeep });
      return base(source, opts);
    };
    const code = await main(['node', 'reg4pru', 'bench', '--preset', 'tiny', '--model-config', tinyModel(dir), '--image', '32', '--warmup', '0', '--iters', '1',
      '--configs', 'prune-0.7,prune-0.5', '--round-keep', '8', '--out', dir, '-q'], captureIo(), factory);
    expect(code).toBe(0);
    expect(seen).toEqual([{ keep: null, roundKeep: undefined }, { keep: 0.7, roundKeep: 8 }, { keep: 0.5, roundKeep: 8 }]);
    const report = JSON.parse(readFileSync(path.join(dir, 'throughput.json'), 'utf8')) as BenchReport;
    expect(report.protocol.roundKeep).toBe(8);
  });
});
