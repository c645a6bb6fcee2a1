/**
 * tfops.gatherTokens / tfops.scatterTokens through TF.js (SPEC §5) on the cpu and wasm backends: forward
 * equals the typed-array ops and the float64 references; tf.grads equals the reference backward (scatter-add
 * into x; dbase = dy with rows idx zeroed, dsrc = dy gathered) and sampled float32 finite differences;
 * idx gets a zero gradient; tf.tidy, tf.variableGrads, no leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { gatherTokens, scatterTokens } from '../../src/index.js';
import { tfops } from '../../src/tfjs/index.js';
import { gatherBwdRef, gatherRef, scatterRef } from '../reference/gatherScatter.js';
import { expectClose, randIndices, randn, rng } from '../reference/helpers.js';
import { BACKENDS, expectNoLeak, pick, samplePositions, tfFiniteDiff, useBackend } from './helpers.js';

const CASES = [
  { B: 1, N: 1, K: 1, D: 1 },
  { B: 2, N: 7, K: 3, D: 5 },
  { B: 3, N: 13, K: 13, D: 9 }, // K = N
];

describe.each(BACKENDS)('tfops gather/scatter [%s]', (backend) => {
  beforeAll(() => useBackend(backend));

  for (const c of CASES) {
    const { B, N, K, D } = c;
    it(`forward B=${B} N=${N} K=${K} D=${D}`, () => {
      const r = rng(N * 17 + K);
      const xd = randn(B * N * D, r), sd = randn(B * K * D, r);
      const idxd = randIndices(B, N, K, r);
      tf.tidy(() => {
        const x = tf.tensor3d(xd, [B, N, D]), idx = tf.tensor2d(idxd, [B, K], 'int32'), src = tf.tensor3d(sd, [B, K, D]);
        const g = tfops.gatherTokens(x, idx);
        expect(g.shape).toEqual([B, K, D]);
        expect(g.dtype).toBe('float32');
        const gd = g.dataSync();
        expectClose(gd, gatherTokens({ data: xd, shape: [B, N, D] }, { data: idxd, shape: [B, K] }).data, 0, 0, 'gather vs typed op');
        expectClose(gd, gatherRef(xd, idxd, B, N, K, D), 0, 0, 'gather vs reference');
        const s = tfops.scatterTokens(x, idx, src);
        expect(s.shape).toEqual([B, N, D]);
        const sdata = s.dataSync();
        expectClose(sdata, scatterTokens({ data: xd, shape: [B, N, D] }, { data: idxd, shape: [B, K] }, { data: sd, shape: [B, K, D] }).data, 0, 0, 'scatter vs typed op');
        expectClose(sdata, scatterRef(xd, idxd, sd, B, N, K, D), 0, 0, 'scatter vs reference');
        // the input is not modified (TF.js tensors are immutable; the kernel writes a fresh array)
        expectClose(x.dataSync(), xd, 0, 0, 'x unchanged');
      });
    });

    it(`gradients B=${B} N=${N} K=${K} D=${D}`, () => {
      const r = rng(N * 29 + K);
      const xd = randn(B * N * D, r), sd = randn(B * K * D, r), wg = randn(B * K * D, r), ws = randn(B * N * D, r);
      const idxd = randIndices(B, N, K, r);
      // gather with repeated indices too: the gradient must sum them
      const dupd = Int32Array.from({ length: B * K }, (_, i) => (i * 5) % Math.min(N, 2));
      tf.tidy(() => {
        const x = tf.tensor3d(xd, [B, N, D]), src = tf.tensor3d(sd, [B, K, D]);
        const wG = tf.tensor3d(wg, [B, K, D]), wS = tf.tensor3d(ws, [B, N, D]);
        for (const ids of [idxd, dupd]) {
          const idx = tf.tensor2d(ids, [B, K], 'int32');
          const fG = (t: tf.Tensor) => tf.sum(tf.mul(tfops.gatherTokens(t as tf.Tensor3D, idx), wG));
          const dx = tf.grad(fG)(x);
          expect(dx.shape).toEqual([B, N, D]);
          expectClose(dx.dataSync(), gatherBwdRef(wg, ids, B, N, K, D), 1e-5, 1e-5, 'gather dx vs reference');
          const pos = samplePositions(B * N * D, 12);
          expectClose(pick(dx.dataSync(), pos), pick(tfFiniteDiff(fG, x, pos), pos), 2e-3, 2e-3, 'gather dx vs finite differences');
        }
        const idx = tf.tensor2d(idxd, [B, K], 'int32');
        const fS = (b: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(tfops.scatterTokens(b as tf.Tensor3D, idx, s as tf.Tensor3D), wS));
        const [dbase, dsrc] = tf.grads(fS)([x, src]);
        expectClose(dbase!.dataSync(), scatterRef(ws, idxd, new Float64Array(B * K * D), B, N, K, D), 0, 0, 'dbase');
        expectClose(dsrc!.dataSync(), gatherRef(ws, idxd, B, N, K, D), 0, 0, 'dsrc');
        const posB = samplePositions(B * N * D, 10), posS = samplePositions(B * K * D, 10);
        expectClose(pick(dbase!.dataSync(), posB), pick(tfFiniteDiff((b) => fS(b, src), x, posB), posB), 2e-3, 2e-3, 'dbase vs finite differences');
        expectClose(pick(dsrc!.dataSync(), posS), pick(tfFiniteDiff((s) => fS(x, s), src, posS), posS), 2e-3, 2e-3, 'dsrc vs finite differences');
      });
    });
  }

  it(backend === 'cpu' ? 'cpu: reads the backend arrays in place (no readSync)' : 'generic path: readSync each input, write the output', () => {
    const be = tf.backend();
    tf.tidy(() => {
      const x = tf.tensor3d([1, 2, 3, 4, 5, 6], [1, 3, 2]), idx = tf.tensor2d([[2, 0]], [1, 2], 'int32');
      const read = vi.spyOn(be, 'readSync'), write = vi.spyOn(be, 'write');
      const y = tfops.gatherTokens(x, idx);
      expect(read).toHaveBeenCalledTimes(backend === 'cpu' ? 0 : 2);
      expect(write).toHaveBeenCalledTimes(1);
      read.mockRestore();
      write.mockRestore();
      expect(Array.from(y.dataSync())).toEqual([5, 6, 1, 2]);
    });
  });

  it('integer idx gets a zero float32 gradient; the same tensor as base and src accumulates', () => {
    tf.tidy(() => {
      const x = tf.tensor3d(randn(2 * 4 * 3, rng(1)), [2, 4, 3]);
      const idx = tf.tensor2d([[1, 3], [0, 2]], [2, 2], 'int32');
      const dIdx = tf.grad((i: tf.Tensor) => tf.sum(tfops.gatherTokens(x, tf.cast(i, 'int32') as tf.Tensor2D)))(tf.cast(idx, 'float32'));
      expect(dIdx.dtype).toBe('float32');
      expectClose(dIdx.dataSync(), new Float32Array(4), 0, 0, 'd idx');
      // y = scatter(x, idx, gather(x, idx)) == x, so dy/dx = 1 everywhere (both paths summed)
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tfops.scatterTokens(t as tf.Tensor3D, idx, tfops.gatherTokens(t as tf.Tensor3D, idx))))(x);
      expectClose(dx.dataSync(), new Float32Array(24).fill(1), 0, 0, 'dx through both paths');
    });
  });

  it('tf.variableGrads, tf.tidy and no leaks over repeated forward/backward', () => {
    const B = 2, N = 6, K = 3, D = 4;
    const r = rng(7);
    const v = tf.variable(tf.tensor3d(randn(B * N * D, r), [B, N, D]), true, `gs-${backend}`);
    const idx = tf.tensor2d(randIndices(B, N, K, r), [B, K], 'int32');
    const src = tf.tensor3d(randn(B * K * D, r), [B, K, D]);
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tfops.scatterTokens(v, idx, tf.mul(tfops.gatherTokens(v, idx), src)))));
      const g = grads[v.name]!;
      expect(g.shape).toEqual([B, N, D]);
      value.dispose();
      tf.dispose(grads);
      tf.tidy(() => {
        tfops.gatherTokens(v, idx); // intermediate, freed by the tidy
      });
    };
    expectNoLeak(step);
    tf.dispose([v, idx, src]);
  });
});
