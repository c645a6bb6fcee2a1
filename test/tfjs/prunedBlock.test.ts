/**
 * tfops.prunedBlock through TF.js (SPEC §5) on the cpu and wasm backends: forward equals the typed-array op
 * and the float64 composed reference (gather -> block -> scatter), with idx and with idx = null; backprop
 * through it throws the documented error (inference only); no leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { PRUNED_BLOCK_WEIGHT_NAMES, prunedBlock, type PrunedBlockWeightName, type PrunedBlockWeights } from '../../src/index.js';
import { tfops } from '../../src/tfjs/index.js';
import { PRUNED_BLOCK_NO_GRAD } from '../../src/tfjs/gradients/PrunedBlock_grad.js';
import { expectClose, randIndices, randn, rng } from '../reference/helpers.js';
import { prunedBlockRef, randomBlockWeights } from '../reference/prunedBlock.js';
import { BACKENDS, expectNoLeak, useBackend } from './helpers.js';

function tfWeights(w: PrunedBlockWeights): Record<PrunedBlockWeightName, tf.Tensor> {
  const out = {} as Record<PrunedBlockWeightName, tf.Tensor>;
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) out[name] = tf.tensor(w[name].data, [...w[name].shape], 'float32');
  return out;
}

describe.each(BACKENDS)('tfops.prunedBlock [%s]', (backend) => {
  beforeAll(() => useBackend(backend));

  const cases = [
    { B: 1, N: 1, K: 1, D: 4, H: 1, F: 8 },
    { B: 2, N: 7, K: 4, D: 8, H: 2, F: 16 },
    { B: 1, N: 9, K: 0, D: 12, H: 3, F: 20 }, // K = 0 here means idx = null (all tokens)
  ];
  for (const { B, N, K, D, H, F } of cases)
    it(`B=${B} N=${N} ${K ? `K=${K}` : 'idx=null'} D=${D} H=${H} F=${F}`, () => {
      const r = rng(N * 11 + D);
      const xd = randn(B * N * D, r);
      const idxd = K ? randIndices(B, N, K, r) : null;
      const w = randomBlockWeights(D, F, N + D);
      const typed = prunedBlock({ data: xd, shape: [B, N, D] }, idxd && { data: idxd, shape: [B, K] }, w, { heads: H });
      const ref = prunedBlockRef(xd, idxd, B, N, K || N, D, H, w);
      tf.tidy(() => {
        const y = tfops.prunedBlock(tf.tensor3d(xd, [B, N, D]), idxd && tf.tensor2d(idxd, [B, K], 'int32'), tfWeights(w), { heads: H });
        expect(y.shape).toEqual([B, N, D]);
        expectClose(y.dataSync(), typed.data, 0, 0, 'vs typed op');
        expectClose(y.dataSync(), ref, 1e-4, 1e-3, 'vs reference');
      });
    });

  it('backprop through it throws the documented error; no leaks in inference', () => {
    const B = 1, N = 5, D = 4, F = 8;
    const w = tfWeights(randomBlockWeights(D, F, 1));
    const x = tf.tensor3d(randn(B * N * D, rng(2)), [B, N, D]);
    const idx = tf.tensor2d([[0, 3]], [1, 2], 'int32');
    expect(() => tf.grad((t: tf.Tensor) => tf.sum(tfops.prunedBlock(t as tf.Tensor3D, idx, w, { heads: 2 })))(x)).toThrow(PRUNED_BLOCK_NO_GRAD);
    expect(() => tf.grad((t: tf.Tensor) => tf.sum(tfops.prunedBlock(x, idx, { ...w, 'mlp.fc1.weight': t }, { heads: 2 })))(w['mlp.fc1.weight'])).toThrow(/inference only/);
    expectNoLeak(() => {
      tf.tidy(() => {
        tfops.prunedBlock(x, idx, w, { heads: 2 });
      });
    });
    tf.dispose([x, idx, ...Object.values(w)]);
  });
});
