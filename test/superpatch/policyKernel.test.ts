/**
 * The native superpatch policy kernel (ops.h superpatch_policy_fwd_ref, the one the engine runs before merging windows)
 * through `superpatchPolicy`: against the float64 oracle (test/reference/superpatchPolicy.ts: patch means + the three
 * convolutions, plain loops) on even, odd and minimal grids, the same bits under every CPU variant and thread count,
 * the engine's merged windows equal to sigmoid(logit) >= τ of the op, and argument errors naming the argument
 * (the TS wrapper and the binding).
 */
import { describe, expect, it } from 'vitest';
import { InferenceSession, modelConfig, randomWeights, superpatchPolicy } from '../../src/index.js';
import { native } from '../../src/native.js';
import { randomPolicyWeights } from '../../src/model/superpatch.js';
import { patchMeansRef, policyLogitsRef } from '../reference/superpatchPolicy.js';
import { cpuVariants, expectClose, randn, rng, withKernel } from '../reference/helpers.js';

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Random policy weights with non-zero biases, so that every term is exercised. */
function weightsFor(patch: number, width: number, seed: number): Record<string, Float32Array> {
  const w = randomPolicyWeights({ patch, width }, seed);
  for (const k of ['conv1.bias', 'conv2.bias', 'conv3.bias']) w[k] = w[k]!.map((_, i) => 0.1 * Math.sin(i + seed));
  return w;
}

function reference(images: Float32Array, B: number, H: number, W: number, p: number, w: Record<string, Float32Array>, c: number): Float64Array {
  const gh = H / p, gw = W / p, n = Math.floor(gh / 2) * Math.floor(gw / 2), out = new Float64Array(B * n);
  for (let b = 0; b < B; b++) {
    const u = patchMeansRef(images.subarray(b * 3 * H * W, (b + 1) * 3 * H * W), H, W, p);
    out.set(policyLogitsRef(u, gh, gw, w, c), b * n);
  }
  return out;
}

describe('superpatchPolicy (native kernel)', () => {
  // [B, H, W, patch, width]: an even grid, an odd grid (last patch row / column outside every window), one window
  const cases = [[2, 48, 80, 8, 8], [3, 28, 20, 4, 5], [1, 32, 32, 16, 16]] as const;
  for (const [B, H, W, p, c] of cases) {
    it(`B ${B}, ${H}x${W}, patch ${p}, width ${c}: equals the float64 oracle; the same bits on every variant and thread count`, () => {
      const images = randn(B * 3 * H * W, rng(H + W + c), 1.5);
      const w = weightsFor(p, c, B + c);
      const got = superpatchPolicy({ data: images, shape: [B, 3, H, W] }, { config: { patch: p, width: c }, weights: w });
      const wh = Math.floor(H / p / 2), ww = Math.floor(W / p / 2);
      expect(got.shape).toEqual([B, wh, ww]);
      expectClose(got.data, reference(images, B, H, W, p, w, c), 1e-5, 1e-5, 'logits');
      for (const v of cpuVariants())
        for (const t of [1, 2]) {
          const again = withKernel(v, t, () => superpatchPolicy({ data: images, shape: [B, 3, H, W] }, { config: { patch: p, width: c }, weights: w }).data);
          expect(bits(again).equals(bits(got.data)), `${v} x${t}`).toBe(true);
        }
      // out: written in place and returned
      const out = new Float32Array(B * wh * ww);
      expect(superpatchPolicy({ data: images, shape: [B, 3, H, W] }, { config: { patch: p, width: c }, weights: w }, out).data).toBe(out);
      expect(bits(out).equals(bits(got.data))).toBe(true);
    });
  }

  it("the engine's merged windows are sigmoid(logit) >= τ of this op", async () => {
    const config = modelConfig('tiny', { D: 16, H: 2, L: 4, Q: 2, Bq: 1, R: 1, patch: 8, image: [32, 48], stageBlocks: [1, 2] });
    const B = 2, [H, W] = config.image;
    const images = randn(B * 3 * H * W, rng(7));
    const policy = { config: { patch: 8, width: 6 }, weights: weightsFor(8, 6, 11) };
    const logits = superpatchPolicy({ data: images, shape: [B, 3, H, W] }, policy).data;
    const probs = [...logits].map((l) => 1 / (1 + Math.exp(-l)));
    const tau = [...probs].sort((a, b) => a - b)[Math.floor(probs.length / 2)]!; // about half the windows merge
    const session = await InferenceSession.create({ config, weights: randomWeights(config, 3) }, { keep: null, superpatch: { policy, threshold: tau } });
    try {
      const r = await session.run({ data: images, shape: [B, 3, H, W] });
      expect(r.merged!.shape).toEqual([B, 2, 3]);
      expect(Array.from(r.merged!.data)).toEqual(probs.map((q) => (q >= tau ? 1 : 0)));
    } finally {
      session.dispose();
    }
  });

  it('argument errors name the argument (TS wrapper and binding)', () => {
    const w = weightsFor(4, 3, 1);
    const policy = { config: { patch: 4, width: 3 }, weights: w };
    const img = (B: number, C: number, H: number, W: number) => ({ data: new Float32Array(B * C * H * W), shape: [B, C, H, W] });
    expect(() => superpatchPolicy(img(1, 1, 8, 8), policy)).toThrow(/images/);
    expect(() => superpatchPolicy(img(1, 3, 10, 8), policy)).toThrow(/multiples of the patch 4/);
    expect(() => superpatchPolicy(img(1, 3, 4, 8), policy)).toThrow(/2x2 patch grid/);
    expect(() => superpatchPolicy(img(1, 3, 8, 8), { config: { patch: 4, width: 0 }, weights: w })).toThrow(/config.width/);
    expect(() => superpatchPolicy(img(1, 3, 8, 8), { config: { patch: 4, width: 3 }, weights: undefined as never })).toThrow(/policy.weights/);
    expect(() => superpatchPolicy(img(1, 3, 8, 8), null as never)).toThrow(/policy/);
    expect(() => superpatchPolicy(img(1, 3, 8, 8), { ...policy, weights: { ...w, 'conv2.weight': new Float32Array(5) } })).toThrow(/conv2\.weight/);
    expect(() => superpatchPolicy(img(1, 3, 8, 8), { ...policy, weights: { ...w, 'conv3.bias': undefined as never } })).toThrow(/conv3\.bias/);
    expect(() => superpatchPolicy(img(1, 3, 8, 8), policy, new Float32Array(2))).toThrow(/out/);
    // the binding checks again
    const n = native();
    const args = (logits: Float32Array, H: number) =>
      [new Float32Array(3 * H * 8), logits, 1, H, 8, 4, 3, w['conv1.weight']!, w['conv1.bias']!, w['conv2.weight']!, w['conv2.bias']!, w['conv3.weight']!, w['conv3.bias']!] as const;
    expect(() => n.superpatchPolicy(...args(new Float32Array(2), 8))).toThrow(RangeError);
    expect(() => n.superpatchPolicy(...args(new Float32Array(2), 8))).toThrow(/logits/);
    expect(() => n.superpatchPolicy(...args(new Float32Array(1), 6))).toThrow(/multiples of the patch/);
    expect(() => n.superpatchPolicy(...args(new Float32Array(1), 4))).toThrow(/2x2 patch grid/);
    const bad = [...args(new Float32Array(1), 8)] as unknown[];
    bad[9] = new Float32Array(3);
    expect(() => (n.superpatchPolicy as (...a: unknown[]) => unknown)(...bad)).toThrow(/conv2w/);
    expect(() => (n.superpatchPolicy as (...a: unknown[]) => unknown)(...bad.slice(0, 12))).toThrow(/superpatchPolicy/);
  });
});
