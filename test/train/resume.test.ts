/**
 * Resumable training (src/train/resume.ts, train({ stopAfter, resume })): a run cut into three pieces, one of
 * them in the middle of an epoch and one while a gradient accumulation spans an epoch end, ends with the same
 * online and EMA weights (bit for bit) and the same per-step losses as the uncut run; the metrics log continues;
 * a finished run resumes to a no-op; a folder without a resume state is a clear error.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelConfig } from '../../src/index.js';
import { train, useNativeBackend, type TrainRunOptions } from '../../src/tfjs/index.js';
import { main } from '../../src/cli/program.js';
import { loadCheckpoint } from '../../src/index.js';
import { captureIo } from '../cli/helpers.js';
import { writeFileSync } from 'node:fs';

// L = 8: the random schedule draws l in 2..4, n in l..6, so the replayed route stream matters
const CFG = modelConfig('tiny', { D: 16, H: 2, L: 8, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, stageBlocks: [1, 3] });

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});

// 6 samples, batch 2 -> 3 micro-batches per epoch; accum 2 -> step 2 takes the last micro-batch of epoch 0 and
// the first of epoch 1 (the accumulator is carried over an epoch end); 2 epochs -> 3 steps.
const RUN: TrainRunOptions = {
  config: CFG, data: 'synthetic', samples: 6, routing: 'random', policy: 'ratio', epochs: 2, batch: 2, accum: 2,
  lr: 1e-3, warmup: [1, 1], seed: 4, ema: 0.9,
};

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
function expectSameWeights(got: Record<string, Float32Array>, want: Record<string, Float32Array>, what: string): void {
  expect(Object.keys(got).sort(), what).toEqual(Object.keys(want).sort());
  for (const n of Object.keys(want)) expect(bits(got[n]!).equals(bits(want[n]!)), `${what} ${n}`).toBe(true);
}

describe('train: stopAfter / resume', () => {
  it('three pieces (mid-epoch cut, accumulation over an epoch end) equal the uncut run', async () => {
    const uncut = await train(RUN);
    expect(uncut.steps).toBe(3);
    const wantW = uncut.model.exportWeights(), wantE = uncut.emaWeights, wantLosses = uncut.losses;
    uncut.model.dispose();

    const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-resume-'));
    const a = await train({ ...RUN, out: dir, stopAfter: 1 });
    expect(a.steps).toBe(1);
    expect(a.microBatches).toBe(2);
    a.model.dispose();
    const b = await train({ resume: dir, stopAfter: 2 });
    expect(b.steps).toBe(2);
    b.model.dispose();
    const c = await train({ resume: dir });
    expect(c.steps).toBe(3);
    expect(c.losses).toEqual(wantLosses);
    expectSameWeights(c.model.exportWeights(), wantW, 'online');
    expectSameWeights(c.emaWeights, wantE, 'ema');
    c.model.dispose();

    const lines = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step?: number; loss?: number });
    expect(lines.map((l) => l.type)).toEqual(['start', 'step', 'resume', 'step', 'resume', 'step']);
    expect(lines.filter((l) => l.type === 'step').map((l) => l.loss)).toEqual(wantLosses);

    // a finished run resumes to a no-op with the same weights
    const d = await train({ resume: dir });
    expect(d.steps).toBe(3);
    expectSameWeights(d.model.exportWeights(), wantW, 'finished');
    d.model.dispose();
  }, 120_000);

  it('errors: no resume state; stopAfter without out', async () => {
    const empty = mkdtempSync(path.join(os.tmpdir(), 'r4p-resume-empty-'));
    await expect(train({ resume: empty })).rejects.toThrow(/--resume: no resume.safetensors in/);
    await expect(train({ ...RUN, stopAfter: 1 })).rejects.toThrow(/train: expected out .* with stopAfter/);
    await expect(train({ ...RUN, out: empty, stopAfter: 0 })).rejects.toThrow(/stopAfter/);
  });

  it('reg4pru train --stop-after / --resume (CLI): same checkpoint as the uncut CLI run; run options refused', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-resume-cli-'));
    const cfg = path.join(dir, 'model.json');
    writeFileSync(cfg, JSON.stringify({ D: 16, H: 2, L: 8, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, stageBlocks: [1, 3] }));
    const args = (out: string) => ['node', 'reg4pru', 'train', '--data', 'synthetic', '--model-config', cfg, '--epochs', '2', '--batch', '2', '--samples', '4', '--seed', '5', '--warmup', '1,1', '--out', out, '-q'];
    expect(await main(args(path.join(dir, 'uncut')), captureIo())).toBe(0);
    const cut = path.join(dir, 'cut');
    const io1 = captureIo();
    expect(await main([...args(cut), '--stop-after', '3'], io1)).toBe(0);
    const io2 = captureIo();
    expect(await main(['node', 'reg4pru', 'train', '--resume', cut, '-q'], io2)).toBe(0);
    expect(io2.text().out).toMatch(/reg4pru train --resume: at step 4/);
    const a = loadCheckpoint(path.join(dir, 'uncut', 'ema.safetensors')).weights, b = loadCheckpoint(path.join(cut, 'ema.safetensors')).weights;
    expectSameWeights(b, a, 'cli ema');
    const io3 = captureIo();
    expect(await main(['node', 'reg4pru', 'train', '--resume', cut, '--lr', '0.1'], io3)).toBe(2);
    expect(io3.text().err).toMatch(/--resume: the run's options come from .*; remove --lr/);
    expect(await main(['node', 'reg4pru', 'train', '--resume', path.join(dir, 'nope')], captureIo())).toBe(2);
    expect(await main(['node', 'reg4pru', 'train', '--out', dir], captureIo())).toBe(2);
  }, 120_000);
});
