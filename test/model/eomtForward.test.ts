/**
 * Sanity of the float64 inference-forward oracle (test/reference/eomtForward.ts, docs/inference-forward.md):
 * output shapes, decode points, keep=1 == unpruned, stale (reactivated) rows under pruning, the semantic
 * map's bounds, and hand-computed values of the pieces (bilinear resize, ConvTranspose2d, depthwise conv,
 * LayerNorm2d, patch embedding, keep counts, top-k ties).
 */
import { describe, expect, it } from 'vitest';
import { modelConfig, patchGrid, randomWeights, type ModelConfig } from '../../src/index.js';
import {
  bilinearResizeRef,
  convTranspose2x2Ref,
  depthwise3x3Ref,
  eomtForwardRef,
  keepCount,
  layerNorm2dRef,
  patchEmbedRef,
  topKActiveRef,
} from '../reference/eomtForward.js';
import { expectClose, randn, rng } from '../reference/helpers.js';

const cfg: ModelConfig = modelConfig('tiny', { D: 16, H: 2, L: 6, patch: 8, image: [64, 48], Q: 3, Bq: 2, R: 2, stageBlocks: [1, 3] });
const B = 2;
const w = randomWeights(cfg, 11, { init: 'test' });
const images = randn(B * 3 * 64 * 48, rng(5));

describe('eomtForwardRef', () => {
  const full = eomtForwardRef(cfg, w, images, B, { keep: null, perBlock: true, trace: true });

  it('returns the documented shapes and decode points', () => {
    const { gh, gw } = patchGrid(cfg);
    expect(full.semantic.length).toBe(B * 1 * 64 * 48);
    expect(full.classLogits.length).toBe(B * 3 * 2);
    expect(full.maskLogits.length).toBe(B * 3 * 4 * gh * 4 * gw);
    expect(full.perBlock!.map((p) => p.block)).toEqual([3, 4, 5]); // L-Bq-1 .. L-1
    expect(Array.from(full.perBlock![2]!.semantic)).toEqual(Array.from(full.semantic));
    expect(full.keptPerStage).toEqual([]);
    for (const v of full.semantic) expect(Number.isFinite(v)).toBe(true);
  });

  it('perBlock off gives the same final outputs', () => {
    const r = eomtForwardRef(cfg, w, images, B, { keep: null, perBlock: false });
    expect(r.perBlock).toBeUndefined();
    expect(Array.from(r.semantic)).toEqual(Array.from(full.semantic));
    expect(Array.from(r.maskLogits)).toEqual(Array.from(full.maskLogits));
    expect(Array.from(r.classLogits)).toEqual(Array.from(full.classLogits));
  });

  it('batch rows are independent', () => {
    const one = eomtForwardRef(cfg, w, images.subarray(3 * 64 * 48), 1, { keep: 0.6, perBlock: false });
    const two = eomtForwardRef(cfg, w, images, B, { keep: 0.6, perBlock: false });
    expect(Array.from(one.semantic)).toEqual(Array.from(two.semantic.subarray(64 * 48)));
    expect(Array.from(one.keptPerStage[1]!)).toEqual(Array.from(two.keptPerStage[1]!.subarray(one.keptPerStage[1]!.length)));
  });

  it('keep = 1 equals the unpruned forward exactly, with every patch kept', () => {
    const r = eomtForwardRef(cfg, w, images, B, { keep: 1, perBlock: true });
    expect(Array.from(r.semantic)).toEqual(Array.from(full.semantic));
    for (let t = 0; t < 3; t++) expect(Array.from(r.perBlock![t]!.semantic)).toEqual(Array.from(full.perBlock![t]!.semantic));
    const Np = patchGrid(cfg).Np;
    for (const k of r.keptPerStage) expect(Array.from(k)).toEqual(Array.from({ length: B * Np }, (_, i) => i % Np));
  });

  it('keep < 1: nested ascending selections, pruned rows stay stale, kept rows change, output differs', () => {
    const { Np } = patchGrid(cfg);
    const D = cfg.D;
    const r = eomtForwardRef(cfg, w, images, B, { keep: 0.5, perBlock: false, trace: true });
    const [k0, k1] = [keepCount(0.5, 0, Np), keepCount(0.5, 1, Np)];
    expect([k0, k1]).toEqual([24, 12]);
    expect(r.keptPerStage.map((k) => k.length)).toEqual([B * k0, B * k1]);
    const tr = r.patchTrace!;
    for (let b = 0; b < B; b++) {
      const s0 = Array.from(r.keptPerStage[0]!.subarray(b * k0, (b + 1) * k0));
      const s1 = Array.from(r.keptPerStage[1]!.subarray(b * k1, (b + 1) * k1));
      expect(s0).toEqual([...s0].sort((x, y) => x - y));
      expect(s1).toEqual([...s1].sort((x, y) => x - y));
      for (const n of s1) expect(s0).toContain(n); // nested
      const row = (i: number, n: number) => Array.from(tr[i]!.subarray((b * Np + n) * D, (b * Np + n + 1) * D));
      for (let n = 0; n < Np; n++) {
        // A patch pruned at stage s (block stageBlocks[s]) keeps the value it had after block stageBlocks[s]-1.
        const lastActive = s1.includes(n) ? 5 : s0.includes(n) ? 2 : 0;
        for (let i = lastActive + 1; i < 6; i++) expect(row(i, n)).toEqual(row(lastActive, n));
        for (let i = 1; i <= lastActive; i++) expect(row(i, n)).not.toEqual(row(i - 1, n));
      }
    }
    // Before the first stage the trace matches the unpruned forward exactly.
    expect(Array.from(tr[0]!)).toEqual(Array.from(full.patchTrace![0]!));
    let diff = 0;
    for (let t = 0; t < r.semantic.length; t++) diff = Math.max(diff, Math.abs(r.semantic[t]! - full.semantic[t]!));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('semantic map lies in [0, sum_q p_q(vessel)] (each query adds sigmoid(mask) * class prob)', () => {
    const Q = cfg.Q, HW = 64 * 48;
    for (let b = 0; b < B; b++) {
      let bound = 0;
      for (let q = 0; q < Q; q++) {
        const l0 = full.classLogits[(b * Q + q) * 2]!, l1 = full.classLogits[(b * Q + q) * 2 + 1]!;
        bound += 1 / (1 + Math.exp(l1 - l0));
      }
      let lo = Infinity, hi = -Infinity;
      for (let t = 0; t < HW; t++) {
        lo = Math.min(lo, full.semantic[b * HW + t]!);
        hi = Math.max(hi, full.semantic[b * HW + t]!);
      }
      expect(lo).toBeGreaterThan(0);
      expect(hi).toBeLessThan(bound);
      expect(hi - lo).toBeGreaterThan(1e-3); // not constant: masks carry spatial signal
    }
  });

  it('timm init keeps activations O(1) through 12 blocks', () => {
    const c12 = modelConfig(cfg, { L: 12, Bq: 4, stageBlocks: [3, 6, 9], image: [32, 32] });
    const r = eomtForwardRef(c12, randomWeights(c12, 3), randn(3 * 32 * 32, rng(1)), 1, { keep: 0.7, perBlock: false, trace: true });
    for (const t of r.patchTrace!) {
      let mx = 0;
      for (const v of t) mx = Math.max(mx, Math.abs(v));
      expect(mx).toBeLessThan(5);
      expect(mx).toBeGreaterThan(0.05);
    }
  });

  it('rejects bad keep and image sizes', () => {
    expect(() => eomtForwardRef(cfg, w, images, B, { keep: 0, perBlock: false })).toThrow(/keep/);
    expect(() => eomtForwardRef(cfg, w, images, B, { keep: 1.2, perBlock: false })).toThrow(/keep/);
    expect(() => eomtForwardRef(cfg, w, images, 3, { keep: null, perBlock: false })).toThrow(/images length/);
  });
});

describe('forward pieces vs hand values', () => {
  it('bilinear resize, half-pixel centres (PyTorch align_corners=False)', () => {
    // F.interpolate([[0,1],[2,3]], size=(4,4), mode='bilinear', align_corners=False)
    expectClose(bilinearResizeRef([0, 1, 2, 3], 2, 2, 4, 4), [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3], 1e-15, 0);
    // Downsampling 4 -> 2 averages neighbour pairs (src = 0.5, 2.5).
    expectClose(bilinearResizeRef([1, 3, 5, 9], 1, 4, 1, 2), [2, 7], 1e-15, 0);
    // Same size is the identity; 1x1 input broadcasts.
    expectClose(bilinearResizeRef([1, 2, 3, 4, 5, 6], 2, 3, 2, 3), [1, 2, 3, 4, 5, 6], 0, 0);
    expectClose(bilinearResizeRef([7], 1, 1, 2, 3), [7, 7, 7, 7, 7, 7], 0, 0);
    // 3 -> 5 along x: src = (d+.5)*.6-.5 = -.2->0, .4, 1, 1.6, 2.2->2.
    expectClose(bilinearResizeRef([0, 10, 20], 1, 3, 1, 5), [0, 4, 10, 16, 20], 1e-13, 0);
  });

  it('ConvTranspose2d 2x2 stride 2 with weight [in, out, 2, 2]', () => {
    // C=1 -> O=2, input 1x2 [1, 2].
    const wt = [1, 2, 3, 4, /* o=1 */ 0, -1, 1, 0];
    const out = convTranspose2x2Ref([1, 2], 1, 2, 1, 2, wt, [0.5, 0]);
    expect(Array.from(out)).toEqual([1.5, 2.5, 2.5, 4.5, 3.5, 4.5, 6.5, 8.5, /* o=1 */ 0, -1, 0, -2, 1, 0, 2, 0]);
    // C=2 -> O=1: the first weight axis is the input channel.
    const out2 = convTranspose2x2Ref([1, 10], 2, 1, 1, 1, [1, 0, 0, 0, /* c=1 */ 0, 0, 0, 1], [0]);
    expect(Array.from(out2)).toEqual([1, 0, 0, 10]);
  });

  it('depthwise 3x3, zero padding 1, no bias', () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, /* c=1 */ 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const wt = [1, 1, 1, 1, 1, 1, 1, 1, 1, /* c=1: only the right neighbour */ 0, 0, 0, 0, 0, 1, 0, 0, 0];
    expect(Array.from(depthwise3x3Ref(x, 2, 3, 3, wt))).toEqual([12, 21, 16, 27, 45, 33, 24, 39, 28, /* c=1 */ 2, 3, 0, 5, 6, 0, 8, 9, 0]);
  });

  it('LayerNorm2d normalises each pixel over channels', () => {
    // C=2, 1x2 pixels: (1,3) and (5,5).
    const out = layerNorm2dRef([1, 5, 3, 5], 2, 1, 2, [2, 1], [0, 0.5]);
    const r = 1 / Math.sqrt(1 + 1e-6);
    expectClose(out, [-2 * r, 0, 0.5 + r, 0.5], 1e-15, 0);
  });

  it('patch embedding: conv p x p stride p, row n = gy*gw + gx, plus pos_embed', () => {
    const c = modelConfig(cfg, { image: [16, 24] });
    const ww = randomWeights(c, 1);
    const D = c.D, p = c.patch;
    const Wp = new Float32Array(D * 3 * p * p);
    Wp[0 * 3 * p * p + 2 * p * p + 1 * p + 3] = 1; // d=0 reads channel 2, pixel (1, 3) of the patch
    Wp[1 * 3 * p * p] = -2; // d=1 reads channel 0, pixel (0, 0)
    const img = Float32Array.from({ length: 3 * 16 * 24 }, (_, i) => i);
    const bias = new Float32Array(D).fill(0.25);
    const tok = patchEmbedRef(img, 0, c, { ...ww, 'patch_embed.proj.weight': Wp, 'patch_embed.proj.bias': bias });
    const pos = ww['pos_embed']!;
    for (let gy = 0; gy < 2; gy++) {
      for (let gx = 0; gx < 3; gx++) {
        const n = gy * 3 + gx;
        expect(tok[n * D]).toBeCloseTo(0.25 + img[(2 * 16 + gy * p + 1) * 24 + gx * p + 3]! + pos[n * D]!, 12);
        expect(tok[n * D + 1]).toBeCloseTo(0.25 - 2 * img[(gy * p) * 24 + gx * p]! + pos[n * D + 1]!, 12);
        expect(tok[n * D + 2]).toBeCloseTo(0.25 + pos[n * D + 2]!, 12);
      }
    }
  });

  it('keep counts and top-k ties', () => {
    expect(keepCount(0.7, 0, 1024)).toBe(717);
    expect(keepCount(0.7, 1, 1024)).toBe(502);
    expect(keepCount(0.7, 2, 1024)).toBe(351);
    expect(keepCount(0.5, 0, 5)).toBe(3); // 2.5 rounds half up
    expect(keepCount(0.01, 2, 10)).toBe(1); // at least one
    expect(Array.from(topKActiveRef([0.5, 0.5, 0.5, 0.5], [1, 1, 1, 1], 2))).toEqual([0, 1]);
    expect(Array.from(topKActiveRef([0.5, 0.9, 0.5, 0.5, 0.9], [1, 0, 1, 1, 1], 2))).toEqual([0, 4]);
    expect(Array.from(topKActiveRef([0.1, 0.3, 0.2], [1, 1, 1], 3))).toEqual([0, 1, 2]);
  });
});
