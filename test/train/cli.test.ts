/**
 * `reg4pru train` and `reg4pru eval` in-process: train writes metrics.jsonl + checkpoints, eval reads the
 * checkpoint and prints Dice/AP for the final block and per block, and writes JSON; usage errors exit 2.
 */
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { captureIo } from '../cli/helpers.js';

describe('reg4pru train / eval', () => {
  it('train writes JSONL + checkpoint; eval prints Dice/AP per block and writes JSON', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-cli-train-'));
    const cfg = path.join(dir, 'model.json');
    writeFileSync(cfg, JSON.stringify({ D: 32, H: 2, L: 6, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, stageBlocks: [1, 3] }));
    const out = path.join(dir, 'run');
    const io = captureIo();
    const code = await main(['node', 'reg4pru', 'train', '--data', 'synthetic', '--preset', 'tiny', '--model-config', cfg, '--routing', 'random', '--policy', 'ratio',
      '--keep', '0.7', '--epochs', '2', '--batch', '2', '--samples', '4', '--seed', '3', '--out', out, '--warmup', '1,1'], io);
    expect(io.text().err).not.toMatch(/error/);
    expect(code).toBe(0);
    expect(io.text().out).toMatch(/reg4pru train: 4 steps/);
    expect(io.text().err).toMatch(/train: 4\/4.*loss/);
    const lines = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBe(5);
    expect(existsSync(path.join(out, 'checkpoint.safetensors'))).toBe(true);
    const io2 = captureIo();
    const code2 = await main(['node', 'reg4pru', 'eval', '--checkpoint', path.join(out, 'ema.safetensors'), '--data', 'synthetic', '--samples', '3', '--keep', '0.7', '--per-block'], io2);
    expect(io2.text().err).toBe('eval: 3/3\n');
    expect(code2).toBe(0);
    const text = io2.text().out;
    expect(text).toMatch(/block\s+Dice\s+AP/);
    expect(text).toMatch(/^3\s+\d\.\d{4}\s+\d\.\d{4}$/m);
    expect(text).toMatch(/^5 \(final\)\s+\d\.\d{4}\s+\d\.\d{4}$/m);
    const json = JSON.parse(readFileSync(path.join(out, 'eval-keep0.7.json'), 'utf8'));
    expect(json.perBlock.length).toBe(3);
    expect(json.final.block).toBe(5);
    const io3 = captureIo();
    expect(await main(['node', 'reg4pru', 'eval', '--checkpoint', path.join(out, 'checkpoint.safetensors'), '--data', 'synthetic', '--samples', '2', '--keep', 'none'], io3)).toBe(0);
    expect(io3.text().out).toMatch(/unpruned/);
    expect(await main(['node', 'reg4pru', 'train', '--data', path.join(dir, 'nope'), '--out', out], captureIo())).toBe(2);
    expect(await main(['node', 'reg4pru', 'train', '--data', 'synthetic', '--warmup', '5'], captureIo())).toBe(2);
  }, 60_000);
});
