/**
 * Training with the cpu backend's Float32Array pool (src/bufferPool.ts) gives the same run as without it: the
 * per-step losses and the final online and EMA weights are bit-identical with the pool off, on with every output
 * pooled (minFloats 1) and NaN-poisoned when taken (an element a kernel fails to write would show), and on.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelConfig } from '../../src/index.js';
import { bufferPoolStats, resetBufferPoolStats, setBufferPool, train, useNativeBackend, type BufferPoolOptions, type TrainRunOptions } from '../../src/tfjs/index.js';

const CFG = modelConfig('tiny', { D: 16, H: 2, L: 4, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, stageBlocks: [1, 2] });
const RUN: TrainRunOptions = {
  config: CFG, data: 'synthetic', samples: 6, routing: 'random', policy: 'ratio', epochs: 1, batch: 2,
  lr: 1e-3, warmup: [1, 1], seed: 7, ema: 0.9,
};

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function run(pool: false | BufferPoolOptions) {
  setBufferPool(pool !== false, pool === false ? {} : pool);
  resetBufferPoolStats();
  try {
    const r = await train(RUN);
    const out = { losses: r.losses, weights: r.model.exportWeights(), ema: r.emaWeights, hits: bufferPoolStats().hits };
    r.model.dispose();
    return out;
  } finally {
    setBufferPool(true);
  }
}

describe('train with the buffer pool', () => {
  it('losses and weights are bit-identical with the pool off, poisoned, and on', async () => {
    const off = await run(false);
    expect(off.hits).toBe(0);
    expect(off.losses.length).toBe(3);
    expect(off.losses.every(Number.isFinite)).toBe(true);
    for (const pool of [{ minFloats: 1, poison: true }, { minFloats: 1 }]) {
      const on = await run(pool);
      expect(on.hits, JSON.stringify(pool)).toBeGreaterThan(100);
      expect(on.losses, JSON.stringify(pool)).toEqual(off.losses);
      for (const [what, got, want] of [['online', on.weights, off.weights], ['ema', on.ema, off.ema]] as const) {
        expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
        for (const n of Object.keys(want)) expect(bits(got[n]!).equals(bits(want[n]!)), `${JSON.stringify(pool)} ${what} ${n}`).toBe(true);
      }
    }
  });
});
