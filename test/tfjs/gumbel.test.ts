/**
 * tfops.gumbelTopK and tfops.gumbelSoftmaxST through TF.js (SPEC §3, §4, §5) on the cpu and wasm backends:
 * the same indices / hard decisions as the typed-array ops and the float64 references for the same seed
 * (number and bigint seeds, every active-mask dtype); gumbelTopK's gradient is zeros (documented choice,
 * as tf.argMax); gumbelSoftmaxST's straight-through gradient equals the reference surrogate
 * (soft score) and its finite differences; no leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { gumbelSoftmaxST, gumbelTopK } from '../../src/index.js';
import { tfops } from '../../src/tfjs/index.js';
import { gumbelSoftmaxSTBwdRef, gumbelSoftmaxSTRef, gumbelSoftOnly, gumbelTopKRef } from '../reference/gumbel.js';
import { expectClose, finiteDiff, randn, rng } from '../reference/helpers.js';
import { BACKENDS, expectNoLeak, useBackend } from './helpers.js';

describe.each(BACKENDS)('tfops.gumbelTopK [%s]', (backend) => {
  beforeAll(() => useBackend(backend));

  const cases = [
    { B: 1, N: 1, k: 1, noise: true },
    { B: 2, N: 11, k: 4, noise: true },
    { B: 3, N: 9, k: 9, noise: false },
  ];
  for (const { B, N, k, noise } of cases)
    for (const seed of [5, 2n ** 60n + 3n])
      it(`B=${B} N=${N} k=${k} noise=${noise} seed=${seed}`, () => {
        const ld = randn(B * N, rng(N + k));
        tf.tidy(() => {
          const out = tfops.gumbelTopK(tf.tensor2d(ld, [B, N]), k, { seed, noise });
          expect(out.dtype).toBe('int32');
          expect(out.shape).toEqual([B, k]);
          const got = out.dataSync();
          expect(Array.from(got)).toEqual(Array.from(gumbelTopK({ data: ld, shape: [B, N] }, k, { seed, noise }).data));
          expect(Array.from(got)).toEqual(Array.from(gumbelTopKRef(ld, B, N, k, seed, noise)));
        });
      });

  it('active mask as bool, int32 or float32 gives the same selection as the typed op', () => {
    const B = 2, N = 10, k = 3;
    const r = rng(9);
    const ld = randn(B * N, r);
    const m = Uint8Array.from({ length: B * N }, (_, i) => (i % 3 === 0 || i % 5 === 1 ? 1 : 0));
    const want = Array.from(gumbelTopK({ data: ld, shape: [B, N] }, k, { seed: 1, active: { data: m, shape: [B, N] } }).data);
    expect(want).toEqual(Array.from(gumbelTopKRef(ld, B, N, k, 1, true, m)));
    tf.tidy(() => {
      const logits = tf.tensor2d(ld, [B, N]);
      for (const active of [tf.tensor2d(m, [B, N], 'bool'), tf.tensor2d(Int32Array.from(m, (x) => x * 7), [B, N], 'int32'), tf.tensor2d(Float32Array.from(m), [B, N])])
        expect(Array.from(tfops.gumbelTopK(logits, k, { seed: 1, active }).dataSync()), active.dtype).toEqual(want);
    });
  });

  it('gradient through the selection is zeros (as tf.argMax); the gathered values still get theirs', () => {
    const B = 1, N = 6, D = 2, k = 3;
    tf.tidy(() => {
      const logits = tf.tensor2d(randn(B * N, rng(2)), [B, N]);
      const x = tf.tensor3d(randn(B * N * D, rng(3)), [B, N, D]);
      const f = (l: tf.Tensor, t: tf.Tensor) => tf.sum(tfops.gatherTokens(t as tf.Tensor3D, tfops.gumbelTopK(l as tf.Tensor2D, k, { seed: 4 })));
      const [dl, dx] = tf.grads(f)([logits, x]) as [tf.Tensor, tf.Tensor];
      expectClose(dl.dataSync(), new Float32Array(B * N), 0, 0, 'd logits');
      const sel = tfops.gumbelTopK(logits, k, { seed: 4 }).dataSync();
      const want = new Float32Array(B * N * D);
      for (const n of sel) want.fill(1, n * D, n * D + D);
      expectClose(dx.dataSync(), want, 0, 0, 'd x');
      // with an active mask on the path too
      const active = tf.ones([B, N]);
      const da = tf.grad((a: tf.Tensor) => tf.sum(tf.cast(tfops.gumbelTopK(logits, k, { active: a as tf.Tensor2D }), 'float32')))(active);
      expectClose(da.dataSync(), new Float32Array(B * N), 0, 0, 'd active');
    });
  });
});

describe.each(BACKENDS)('tfops.gumbelSoftmaxST [%s]', (backend) => {
  beforeAll(() => useBackend(backend));

  const cases = [
    { B: 1, N: 1, tau: 1, seed: 0 },
    { B: 2, N: 9, tau: 0.5, seed: 17 },
    { B: 3, N: 7, tau: 2, seed: 2n ** 63n + 11n },
  ];
  for (const { B, N, tau, seed } of cases)
    it(`forward and straight-through gradient B=${B} N=${N} tau=${tau} seed=${seed}`, () => {
      const r = rng(N * 3 + B);
      const ld = randn(B * N * 2, r), wd = randn(B * N, r);
      const typed = gumbelSoftmaxST({ data: ld, shape: [B, N, 2] }, { tau, seed });
      const ref = gumbelSoftmaxSTRef(ld, B, N, tau, seed);
      tf.tidy(() => {
        const logits = tf.tensor3d(ld, [B, N, 2]);
        const hard = tfops.gumbelSoftmaxST(logits, { tau, seed });
        expect(hard.shape).toEqual([B, N]);
        expect(hard.dtype).toBe('float32');
        expectClose(hard.dataSync(), typed.hard.data, 0, 0, 'hard vs typed op');
        expectClose(hard.dataSync(), ref.hard, 0, 0, 'hard vs reference');
        const w = tf.tensor2d(wd, [B, N]);
        const f = (l: tf.Tensor) => tf.sum(tf.mul(tfops.gumbelSoftmaxST(l as tf.Tensor3D, { tau, seed }), w));
        const dl = tf.grad(f)(logits);
        expect(dl.shape).toEqual([B, N, 2]);
        expectClose(dl.dataSync(), gumbelSoftmaxSTBwdRef(wd, ref.soft, tau), 1e-6, 1e-4, 'dlogits vs reference surrogate');
        if (typeof seed === 'number') {
          // the surrogate the SPEC defines: d/dlogits of sum(w * soft) with the noise held fixed (float64)
          const L = Float64Array.from(ld);
          const fd = finiteDiff((x) => gumbelSoftOnly(x, B, N, tau, seed).reduce((a, s, i) => a + wd[i]! * s, 0), L, 1e-5, undefined, true);
          expectClose(dl.dataSync(), fd, 1e-6, 1e-4, 'dlogits vs finite differences of soft');
        }
      });
    });

  it('no leaks over repeated forward/backward; the soft output is not left behind', () => {
    const logits = tf.variable(tf.tensor3d(randn(2 * 5 * 2, rng(5)), [2, 5, 2]), true, `gst-${backend}`);
    expectNoLeak(() => {
      tfops.gumbelSoftmaxST(logits, { seed: 1 }).dispose();
      const { value, grads } = tf.variableGrads(() => tf.sum(tfops.gumbelSoftmaxST(logits, { seed: 2, tau: 0.7 })));
      expect(grads[logits.name]!.shape).toEqual([2, 5, 2]);
      value.dispose();
      tf.dispose(grads);
    });
    logits.dispose();
  });
});
