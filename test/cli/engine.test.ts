/**
 * End to end on the native engine (src/engine/session.ts): `reg4pru bench` with a tiny model and a
 * short protocol, `reg4pru infer` from a saved checkpoint. Sizes are tiny (D 32, L 4, 32–64 px) so the
 * file runs in seconds; numbers are checked for shape and sanity, never for speed.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { saveCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { runBench, type BenchReport } from '../../src/cli/commands/bench.js';
import { runInfer } from '../../src/cli/commands/infer.js';
import { main } from '../../src/cli/program.js';
import { modelConfig } from '../../src/model/config.js';
import { randomWeights } from '../../src/model/weights.js';
import { captureIo } from './helpers.js';
import { defaultSessionFactory, type Session, type SessionFactory } from '../../src/cli/common.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'r4p-cli-e2e-'));
const TINY = { D: 32, H: 2, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2] };

describe('CLI on the native engine', () => {
  it('bench: every requested configuration with sane numbers; ToMe rows ok or unavailable with a reason', async () => {
    const dir = tmp();
    const cfg = path.join(dir, 'model.json');
    writeFileSync(cfg, JSON.stringify(TINY));
    const io = captureIo();
    const code = await main(['node', 'reg4pru', 'bench', '--preset', 'tiny', '--model-config', cfg, '--image', '64', '--warmup', '1', '--iters', '2',
      '--configs', 'prune-0.9,prune-0.5,tome-mhsa-0.5,tome-mhsa+mlp-0.4', '--threads', '1', '--out', dir, '-q'], io);
    expect(code, io.text().err).toBe(0);
    const json = JSON.parse(readFileSync(path.join(dir, 'throughput.json'), 'utf8')) as BenchReport;
    expect(json.results.map((r) => r.label)).toEqual(['unpruned', 'prune-0.9', 'prune-0.5', 'tome-mhsa-0.5', 'tome-mhsa+mlp-0.4']);
    expect(json.protocol.image).toEqual([64, 64]);
    expect(json.machine).toMatchObject({ threadsRequested: 1, reg4pru: { cpu: { threads: 1 } } });
    for (const r of json.results) {
      if (r.status === 'unavailable') {
        expect(r.method).toMatch(/^tome/);
        expect(r.reason).toBeTruthy();
        continue;
      }
      expect(r.timingsMs).toHaveLength(2);
      expect(r.stats!.median).toBeGreaterThan(0);
      expect(Number.isFinite(r.stats!.median)).toBe(true);
      expect(r.speedup).toBeGreaterThan(0);
    }
    expect(io.text().out).toMatch(/prune-0\.5 +pruning +\d/);
  });

  it('bench times each configuration\'s own runs: nested timings bound every reported ms, the sum fits the wall clock, stats follow', async () => {
    const dir = tmp();
    const cfg = path.join(dir, 'model.json');
    writeFileSync(cfg, JSON.stringify(TINY));
    // The real native sessions, wrapped: each run's duration measured inside the harness's timed span,
    // with a per-configuration pause so that a timing booked to the wrong configuration is too short.
    const pauseMs: Record<string, number> = { unpruned: 0, 'prune-0.9': 12, 'prune-0.5': 24 };
    const inner: Record<string, number[]> = {};
    const order: string[] = [];
    const factory: SessionFactory = async (source, opts) => {
      const s = await defaultSessionFactory(source, opts);
      const label = opts.keep == null ? 'unpruned' : `prune-${opts.keep}`;
      inner[label] = [];
      const wrapped: Session = {
        config: s.config, keep: s.keep, dispose: () => s.dispose(),
        run: async (x, o) => {
          const t0 = performance.now();
          const out = await s.run(x, o);
          await new Promise((r) => setTimeout(r, pauseMs[label]));
          inner[label]!.push(performance.now() - t0);
          order.push(label);
          return out;
        },
      };
      return wrapped;
    };
    const io = captureIo();
    const t0 = performance.now();
    const json = await runBench({ preset: 'tiny', modelConfig: cfg, image: 32, warmup: 1, iters: 3, configs: ['prune-0.9', 'prune-0.5'], threads: 1, out: dir, quiet: true }, io, factory);
    const wall = performance.now() - t0;
    const labels = ['unpruned', 'prune-0.9', 'prune-0.5'];
    expect(json.results.map((r) => r.label)).toEqual(labels);
    // round-robin: every round runs each configuration once
    for (let round = 0; round < 4; round++) expect([...order.slice(3 * round, 3 * round + 3)].sort()).toEqual([...labels].sort());
    let sum = 0;
    for (const r of json.results) {
      const mine = inner[r.label]!;
      expect(mine).toHaveLength(4);
      const all = [...r.warmupMs, ...r.timingsMs];
      expect([r.warmupMs.length, r.timingsMs.length]).toEqual([1, 3]);
      // the harness's span encloses the run it books: never shorter than what the run itself measured
      all.forEach((ms, k) => expect(ms, `${r.label} run ${k}`).toBeGreaterThanOrEqual(mine[k]!));
      sum += all.reduce((a, b) => a + b, 0);
      // stats come from the raw timings (batch 1: img/s = 1000 / ms), speedup from the unpruned median
      const ms = [...r.timingsMs].sort((a, b) => a - b);
      expect(r.stats!.medianMs).toBeCloseTo(ms[1]!, 9);
      expect(r.stats!.median).toBeCloseTo(1000 / ms[1]!, 9);
      expect(r.stats!.p10).toBeLessThanOrEqual(r.stats!.median);
      expect(r.stats!.p90).toBeGreaterThanOrEqual(r.stats!.median);
      expect(r.speedup).toBeCloseTo(r.stats!.median / json.results[0]!.stats!.median, 12);
      // the table prints the same median and ms/img
      expect(io.text().out).toContain(`${r.label} `);
      expect(io.text().out).toMatch(new RegExp(`${r.label.replace('.', '\\.')} .*${r.stats!.median.toFixed(2)}.* ${r.stats!.medianMs.toFixed(1)} `));
    }
    // disjoint sequential spans: together no longer than the whole call (every bound here is exact:
    // nested or disjoint spans of one clock, no tolerance for load)
    expect(sum).toBeLessThanOrEqual(wall);
  });

  it('bench --checkpoint rejects a different --image', async () => {
    const dir = tmp();
    const config = modelConfig('tiny', { ...TINY, image: [32, 32] });
    const ckpt = path.join(dir, 'm.safetensors');
    saveCheckpoint(ckpt, config, randomWeights(config, 1));
    const io = captureIo();
    expect(await main(['node', 'reg4pru', 'bench', '--checkpoint', ckpt, '--image', '64', '--iters', '1', '--warmup', '0', '--out', dir, '-q'], io)).toBe(2);
    expect(io.text().err).toMatch(/--image 64: the checkpoint's model input is 32x32/);
  });

  it('infer from a checkpoint: outputs for good inputs, bad ones reported, pruned and unpruned', async () => {
    const dir = tmp();
    const config = modelConfig('tiny', { ...TINY, image: [32, 32] });
    const ckpt = path.join(dir, 'm.safetensors');
    saveCheckpoint(ckpt, config, randomWeights(config, 3));
    const input = path.join(dir, 'in');
    mkdirSync(input);
    const rgb = (w: number, h: number) => Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 53) % 256));
    await sharp(rgb(24, 20), { raw: { width: 24, height: 20, channels: 3 } }).png().toFile(path.join(input, 'a.png'));
    await sharp(rgb(40, 70), { raw: { width: 40, height: 70, channels: 3 } }).jpeg().toFile(path.join(input, 'b.jpeg'));
    await sharp(rgb(32, 32), { raw: { width: 32, height: 32, channels: 3 } }).tiff().toFile(path.join(input, 'c.tif'));
    writeFileSync(path.join(input, 'd.png'), Buffer.from('garbage'));
    writeFileSync(path.join(input, 'e.png'), Buffer.alloc(0));
    for (const keep of [0.6, null]) {
      const out = path.join(dir, `out-${keep}`);
      const s = await runInfer({ checkpoint: ckpt, input, output: out, keep, batch: 3, quiet: true }, captureIo());
      expect(s).toMatchObject({ processed: 3, skipped: 0, failed: 2, keep });
      expect(s.items.find((i) => i.file === 'b.jpeg')).toMatchObject({ mode: 'tile', tiles: 6 });
      for (const [name, w, h] of [['a', 24, 20], ['b', 40, 70], ['c', 32, 32]] as const) {
        const prob = await sharp(path.join(out, `${name}_prob.png`)).metadata();
        expect([prob.width, prob.height, prob.channels]).toEqual([w, h, 1]);
        const mask = await sharp(path.join(out, `${name}_mask.png`)).extractChannel(0).raw().toBuffer();
        expect(mask.every((v) => v === 0 || v === 255)).toBe(true);
      }
    }
  });
});
