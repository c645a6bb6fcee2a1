/**
 * `--keep dynamic[:τ[:minKeep]]` on the command line (src/cli/keep.ts): parsing, `bench` (a dynamic row with its kept
 * patches per stage beside img/s), `train` (threshold + batch-mean ratio loss, recorded in the run's files) and
 * `eval` (kept per stage beside Dice/AP; the accuracy map of `--configs dynamic-…`), `infer` (kept in the summary).
 * Tiny models: seconds, never timing asserts.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { UsageError } from '../../src/cli/common.js';
import { keepConfig, selectConfigs, type BenchReport } from '../../src/cli/commands/bench.js';
import { keepSessionOptions, keepTag, keepText, parseKeepSpec } from '../../src/cli/keep.js';
import { captureIo } from './helpers.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'r4p-cli-dyn-'));

describe('--keep parsing', () => {
  it('ratios, none and dynamic[:τ[:minKeep]]; bad forms are usage errors naming the flag', () => {
    expect(parseKeepSpec('0.7')).toBe(0.7);
    expect(parseKeepSpec('none')).toBeNull();
    expect(parseKeepSpec('dynamic')).toEqual({ mode: 'dynamic', threshold: 0.5, minKeep: 1 });
    expect(parseKeepSpec('dynamic:0.3')).toEqual({ mode: 'dynamic', threshold: 0.3, minKeep: 1 });
    expect(parseKeepSpec('Dynamic:0.6:16')).toEqual({ mode: 'dynamic', threshold: 0.6, minKeep: 16 });
    for (const bad of ['dynamic:1.5', 'dynamic:x', 'dynamic:0.5:0', 'dynamic:0.5:2.5', 'dynamic:0.5:1:2', 'dyn', '0', '1.2', 'half'])
      expect(() => parseKeepSpec(bad), bad).toThrow(UsageError);
    expect(() => parseKeepSpec('dynamic:2')).toThrow(/--keep/);
    const d = parseKeepSpec('dynamic:0.4:8');
    expect(keepSessionOptions(d)).toEqual({ keep: 'dynamic', threshold: 0.4, minKeep: 8 });
    expect(keepSessionOptions(0.7)).toEqual({ keep: 0.7 });
    expect([keepText(d), keepTag(d), keepTag(0.7), keepTag(null)]).toEqual(['dynamic τ=0.4 min 8', 'dynamic0.4-min8', 'keep0.7', 'unpruned']);
  });

  it('bench configurations: --keep adds rows to unpruned, dynamic labels select them too', () => {
    expect(selectConfigs(undefined, [parseKeepSpec('dynamic:0.4'), 0.7]).map((c) => c.label)).toEqual(['unpruned', 'prune-0.7', 'dynamic-0.4']);
    expect(selectConfigs(['dynamic', 'dynamic-0.3-min4']).map((c) => c.label)).toEqual(['unpruned', 'dynamic-0.5', 'dynamic-0.3-min4']);
    expect(keepConfig(parseKeepSpec('dynamic:0.3:4'))).toEqual({ label: 'dynamic-0.3-min4', method: 'dynamic', ratio: 0.3, minKeep: 4 });
    expect(keepConfig(0.65)).toEqual({ label: 'prune-0.65', method: 'pruning', ratio: 0.65 });
    expect(() => selectConfigs(['dynamic-2'])).toThrow(UsageError);
  });
});

describe('--keep dynamic on the native engine', () => {
  it('bench: a dynamic row with img/s and the kept patches per stage (mean, min, max)', async () => {
    const dir = tmp();
    const cfg = path.join(dir, 'model.json');
    writeFileSync(cfg, JSON.stringify({ D: 32, H: 2, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2] }));
    const io = captureIo();
    const code = await main(['node', 'reg4pru', 'bench', '--preset', 'tiny', '--model-config', cfg, '--image', '64', '--warmup', '0', '--iters', '2',
      '--keep', 'dynamic:0.5,0.7', '--threads', '1', '--out', dir, '-q'], io);
    expect(code, io.text().err).toBe(0);
    const json = JSON.parse(readFileSync(path.join(dir, 'throughput.json'), 'utf8')) as BenchReport;
    expect(json.results.map((r) => r.label)).toEqual(['unpruned', 'prune-0.7', 'dynamic-0.5']);
    const dyn = json.results[2]!;
    expect(dyn.method).toBe('dynamic');
    expect(dyn.stats!.median).toBeGreaterThan(0);
    expect(dyn.kept!.map((k) => k.block)).toEqual([1, 2]);
    for (const k of dyn.kept!) {
      expect(k.images).toBe(2);
      expect(k.min).toBeGreaterThanOrEqual(1);
      expect(k.max).toBeLessThanOrEqual(16);
      expect(k.mean).toBeGreaterThanOrEqual(k.min);
    }
    expect(json.results[1]!.kept!.map((k) => [k.min, k.max])).toEqual([[11, 11], [8, 8]]); // 0.7 x 16, 0.49 x 16
    expect(json.results[0]!.kept).toBeUndefined();
    expect(io.text().out).toMatch(/kept per stage/);
    expect(io.text().out).toMatch(/dynamic-0\.5 +dynamic keep +\d/);
  });

  it('train --keep dynamic:τ --keep-mean ρ, then eval and infer --keep dynamic report the kept patches per stage', async () => {
    const dir = tmp();
    const cfg = path.join(dir, 'model.json');
    writeFileSync(cfg, JSON.stringify({ D: 32, H: 2, L: 6, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, stageBlocks: [1, 3] }));
    const out = path.join(dir, 'run');
    const io = captureIo();
    const code = await main(['node', 'reg4pru', 'train', '--data', 'synthetic', '--preset', 'tiny', '--model-config', cfg, '--keep', 'dynamic:0.4', '--keep-mean', '0.6',
      '--epochs', '1', '--batch', '2', '--samples', '4', '--seed', '3', '--out', out, '--warmup', '1,1', '-q'], io);
    expect(code, io.text().err).toBe(0);
    const start = JSON.parse(readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').split('\n')[0]!);
    expect(start).toMatchObject({ type: 'start', keep: 0.6, dynamic: { threshold: 0.4 } });
    // usage errors: the floor is an inference option; --keep-mean needs dynamic; training thresholds are in (0, 1)
    for (const bad of [['--keep', 'dynamic:0.4:8'], ['--keep', '0.7', '--keep-mean', '0.5'], ['--keep', 'dynamic:0'], ['--keep', 'none']]) {
      const e = captureIo();
      expect(await main(['node', 'reg4pru', 'train', '--data', 'synthetic', '--preset', 'tiny', '--model-config', cfg, ...bad, '--out', path.join(dir, 'x')], e), bad.join(' ')).toBe(2);
      expect(e.text().err).toMatch(/--keep/);
    }

    const io2 = captureIo();
    const ckpt = path.join(out, 'ema.safetensors');
    expect(await main(['node', 'reg4pru', 'eval', '--checkpoint', ckpt, '--data', 'synthetic', '--samples', '3', '--keep', 'dynamic:0.4:2', '-q'], io2)).toBe(0);
    expect(io2.text().out).toMatch(/dynamic τ=0\.4 min 2/);
    expect(io2.text().out).toMatch(/stage\s+block\s+mean\s+min\s+max/);
    const json = JSON.parse(readFileSync(path.join(out, 'eval-dynamic0.4-min2.json'), 'utf8'));
    expect(json.keep).toBe('dynamic');
    expect(json.dynamic).toEqual({ threshold: 0.4, minKeep: 2 });
    expect(json.kept.map((k: { images: number }) => k.images)).toEqual([3, 3]);
    for (const k of json.kept) expect(k.min).toBeGreaterThanOrEqual(2);

    const io3 = captureIo();
    const acc = path.join(dir, 'acc.json');
    expect(await main(['node', 'reg4pru', 'eval', '--checkpoint', ckpt, '--data', 'synthetic', '--samples', '2', '--configs', 'dynamic-0.4', '--accuracy-out', acc, '-q'], io3)).toBe(0);
    const map = JSON.parse(readFileSync(acc, 'utf8'));
    expect(Object.keys(map)).toEqual(['unpruned', 'dynamic-0.4']);
    expect(map['dynamic-0.4'].kept).toHaveLength(2);

    const input = path.join(dir, 'in');
    mkdirSync(input);
    await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 90, g: 20, b: 10 } } }).png().toFile(path.join(input, 'a.png'));
    const io4 = captureIo();
    expect(await main(['node', 'reg4pru', 'infer', '--checkpoint', ckpt, '--input', input, '--output', path.join(dir, 'o'), '--keep', 'dynamic', '-q'], io4)).toBe(0);
    const summary = JSON.parse(readFileSync(path.join(dir, 'o', 'summary.json'), 'utf8'));
    expect(summary.keep).toEqual({ mode: 'dynamic', threshold: 0.5, minKeep: 1 });
    expect(summary.kept).toHaveLength(2);
    expect(io4.text().out).toMatch(/kept patches per stage/);
  }, 120_000);
});
