/**
 * tfops.policyAttention through TF.js (SPEC §4, §5) on the cpu and wasm backends: forward equals the
 * typed-array op and the float64 reference; tf.grads with respect to q, k, v and policy equals the float64
 * reference backward and sampled float32 finite differences of the TF.js forward; tf.variableGrads inside a
 * small training-like step; no leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { policyAttention } from '../../src/index.js';
import { tfops } from '../../src/tfjs/index.js';
import { expectClose, randn, rng } from '../reference/helpers.js';
import { policyAttentionBwdRef, policyAttentionRef, type AttnShape } from '../reference/policyAttention.js';
import { BACKENDS, expectNoLeak, pick, samplePositions, tfFiniteDiff, useBackend } from './helpers.js';

const CASES: Array<AttnShape & { policy: 'binary' | 'soft'; eps: number }> = [
  { B: 1, H: 1, N: 1, Dh: 1, policy: 'binary', eps: 1e-6 },
  { B: 2, H: 2, N: 5, Dh: 3, policy: 'binary', eps: 1e-6 },
  { B: 1, H: 3, N: 9, Dh: 8, policy: 'soft', eps: 0.3 }, // eps large enough to exercise the max path
];

function setup(s: AttnShape, kind: 'binary' | 'soft', seed: number) {
  const r = rng(seed);
  const n = s.B * s.H * s.N * s.Dh;
  const p = Float32Array.from({ length: s.B * s.N }, () => (kind === 'binary' ? (r() < 0.5 ? 0 : 1) : 0.1 + 0.9 * r()));
  return { q: randn(n, r), k: randn(n, r), v: randn(n, r), p, w: randn(n, r) };
}

describe.each(BACKENDS)('tfops.policyAttention [%s]', (backend) => {
  beforeAll(() => useBackend(backend));

  for (const c of CASES) {
    const { B, H, N, Dh, eps } = c;
    const shape: [number, number, number, number] = [B, H, N, Dh];
    it(`forward and gradients B=${B} H=${H} N=${N} Dh=${Dh} policy=${c.policy}`, () => {
      const d = setup(c, c.policy, N * 7 + Dh);
      tf.tidy(() => {
        const q = tf.tensor4d(d.q, shape), k = tf.tensor4d(d.k, shape), v = tf.tensor4d(d.v, shape);
        const p = tf.tensor2d(d.p, [B, N]), w = tf.tensor4d(d.w, shape);
        const out = tfops.policyAttention(q, k, v, p, { eps });
        expect(out.shape).toEqual(shape);
        const T = (x: Float32Array) => ({ data: x, shape });
        expectClose(out.dataSync(), policyAttention(T(d.q), T(d.k), T(d.v), { data: d.p, shape: [B, N] }, { eps }).data, 0, 0, 'vs typed op');
        expectClose(out.dataSync(), policyAttentionRef(d.q, d.k, d.v, d.p, c, eps), 1e-5, 1e-4, 'vs reference');

        const loss = (a: tf.Tensor, b: tf.Tensor, cc: tf.Tensor, pp: tf.Tensor) =>
          tf.sum(tf.mul(tfops.policyAttention(a as tf.Tensor4D, b as tf.Tensor4D, cc as tf.Tensor4D, pp as tf.Tensor2D, { eps }), w));
        const [dq, dk, dv, dp] = tf.grads(loss)([q, k, v, p]) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        expect(dp.shape).toEqual([B, N]);
        const want = policyAttentionBwdRef(d.q, d.k, d.v, d.p, d.w, c, eps);
        expectClose(dq.dataSync(), want.dq, 1e-4, 1e-3, 'dq vs reference');
        expectClose(dk.dataSync(), want.dk, 1e-4, 1e-3, 'dk vs reference');
        expectClose(dv.dataSync(), want.dv, 1e-4, 1e-3, 'dv vs reference');
        expectClose(dp.dataSync(), want.dpolicy, 1e-4, 1e-3, 'dpolicy vs reference');

        // sampled float32 central differences of the TF.js forward itself; only for the smooth case (soft
        // policy, eps 0.3): with a binary policy and eps 1e-6 the loss is too curved in policy for h = 1e-2
        if (c.policy !== 'soft') return;
        const pos = samplePositions(B * H * N * Dh, 8), posP = samplePositions(B * N, 6);
        const fd = (which: number, x: tf.Tensor, at: number[]) =>
          pick(tfFiniteDiff((t) => loss(...([q, k, v, p].map((o, i) => (i === which ? t : o)) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])), x, at), at);
        expectClose(pick(dq.dataSync(), pos), fd(0, q, pos), 3e-3, 3e-3, 'dq vs finite differences');
        expectClose(pick(dk.dataSync(), pos), fd(1, k, pos), 3e-3, 3e-3, 'dk vs finite differences');
        expectClose(pick(dv.dataSync(), pos), fd(2, v, pos), 3e-3, 3e-3, 'dv vs finite differences');
        expectClose(pick(dp.dataSync(), posP), fd(3, p, posP), 3e-3, 3e-3, 'dpolicy vs finite differences');
      });
    });
  }

  it('tf.variableGrads in an SGD step, tf.tidy, no leaks', () => {
    const s = { B: 1, H: 2, N: 6, Dh: 4 };
    const shape: [number, number, number, number] = [s.B, s.H, s.N, s.Dh];
    const d = setup(s, 'soft', 3);
    const q = tf.variable(tf.tensor4d(d.q, shape), true, `pa-q-${backend}`);
    const p = tf.variable(tf.tensor2d(d.p, [s.B, s.N]), true, `pa-p-${backend}`);
    const k = tf.tensor4d(d.k, shape), v = tf.tensor4d(d.v, shape);
    const opt = tf.train.sgd(0.1);
    const f = () => tf.mean<tf.Scalar>(tf.square(tfops.policyAttention(q, k, v, p)));
    const first = tf.tidy(() => f().dataSync()[0]!);
    expectNoLeak(() => {
      const { value, grads } = tf.variableGrads(f);
      expect(Object.keys(grads).sort()).toEqual([p.name, q.name].sort());
      expect(grads[p.name]!.shape).toEqual([s.B, s.N]);
      opt.applyGradients(grads);
      value.dispose();
      tf.dispose(grads);
    });
    // four SGD steps on a convex-ish loss: it decreases
    expect(tf.tidy(() => f().dataSync()[0]!)).toBeLessThan(first);
    opt.dispose();
    tf.dispose([q, p, k, v]);
  });
});
