/**
 * `reg4pru eval --configs` evaluates several configurations (unpruned, pruning, ToMe) of one checkpoint and
 * writes the `{ "<label>": { ap, dice } }` map that `reg4pru bench --accuracy` reads: Fig. 1 from two commands.
 */
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { evaluate, modelConfig, randomWeights, saveCheckpoint } from '../../src/index.js';
import { captureIo } from './helpers.js';

describe('reg4pru eval --configs', () => {
  it('writes the accuracy map bench --accuracy reads, each entry equal to a single-configuration eval', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-evalcfg-'));
    const config = modelConfig('tiny', { D: 32, H: 2, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2], image: [64, 64] });
    const ckpt = path.join(dir, 'm.safetensors');
    saveCheckpoint(ckpt, config, randomWeights(config, 5));
    const acc = path.join(dir, 'acc.json');
    const io = captureIo();
    const code = await main(['node', 'reg4pru', 'eval', '--checkpoint', ckpt, '--data', 'synthetic', '--samples', '2', '--configs', 'prune-0.7,tome-mhsa-0.5', '--accuracy-out', acc, '-q'], io);
    expect(code, io.text().err).toBe(0);
    const map = JSON.parse(readFileSync(acc, 'utf8')) as Record<string, { ap: number; dice: number }>;
    expect(Object.keys(map).sort()).toEqual(['prune-0.7', 'tome-mhsa-0.5', 'unpruned']);
    for (const v of Object.values(map)) {
      expect(v.ap).toBeGreaterThanOrEqual(0);
      expect(v.ap).toBeLessThanOrEqual(1);
      expect(v.dice).toBeGreaterThanOrEqual(0);
    }
    // the same numbers as evaluating each configuration alone
    const one = await evaluate(ckpt, { data: 'synthetic', samples: 2, keep: 0.7 });
    expect(map['prune-0.7']).toEqual({ ap: one.final.ap, dice: one.final.dice, kept: one.kept });
    expect(one.kept!.map((k) => [k.block, k.min, k.max])).toEqual([[1, 11, 11], [2, 8, 8]]); // pruned rows carry their kept patches
    const tome = await evaluate(ckpt, { data: 'synthetic', samples: 2, keep: null, tome: { mode: 'mhsa', mergeRatio: 0.5 } });
    expect(map['tome-mhsa-0.5']).toEqual({ ap: tome.final.ap, dice: tome.final.dice });
    expect(io.text().out).toMatch(/tome-mhsa-0\.5/);

    // and bench reads it: AP lands on the rows, the plot is written
    const out = path.join(dir, 'bench');
    const io2 = captureIo();
    expect(await main(['node', 'reg4pru', 'bench', '--checkpoint', ckpt, '--configs', 'prune-0.7,tome-mhsa-0.5', '--warmup', '0', '--iters', '1', '--accuracy', acc, '--out', out, '-q'], io2), io2.text().err).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, 'throughput.json'), 'utf8')) as { results: Array<{ label: string; ap?: number }> };
    expect(report.results.find((r) => r.label === 'prune-0.7')!.ap).toBe(map['prune-0.7']!.ap);
    expect(existsSync(path.join(out, 'ap_vs_throughput.svg'))).toBe(true);
  });

  it('an unknown configuration is one clear line and exit 2', async () => {
    const io = captureIo();
    expect(await main(['node', 'reg4pru', 'eval', '--checkpoint', __filename, '--data', 'synthetic', '--configs', 'prune-0.33'], io)).toBe(2);
    expect(io.text().err).toMatch(/--configs: unknown configuration 'prune-0\.33'/);
  });
});
