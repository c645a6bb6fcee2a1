/**
 * randomWeights: determinism, shapes, and the documented init choices (timm and test schemes).
 */
import { describe, expect, it } from 'vitest';
import { modelConfig, randomWeights, weightShapes, type ModelConfig } from '../../src/index.js';

const cfg: ModelConfig = modelConfig('tiny', { D: 32, H: 2, L: 4, patch: 8, image: [32, 32], Q: 3, Bq: 2, R: 2, stageBlocks: [1, 3] });
const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('randomWeights', () => {
  it('gives every SPEC §8 tensor with the right length', () => {
    const w = randomWeights(cfg, 0);
    const shapes = weightShapes(cfg);
    expect(Object.keys(w)).toEqual(shapes.map(([n]) => n));
    for (const [n, s] of shapes) expect(w[n]!.length).toBe(s.reduce((a, b) => a * b, 1));
  });

  it('is deterministic: same seed same bytes, other seed other values', () => {
    for (const init of ['timm', 'test'] as const) {
      const a = randomWeights(cfg, 7, { init }), b = randomWeights(cfg, 7, { init }), c = randomWeights(cfg, 8, { init });
      for (const n of Object.keys(a)) expect(bytes(a[n]!).equals(bytes(b[n]!))).toBe(true);
      expect(bytes(a['blocks.0.attn.qkv.weight']!).equals(bytes(c['blocks.0.attn.qkv.weight']!))).toBe(false);
    }
  });

  it('draws each tensor from its own stream (independent of L and the stage count)', () => {
    const a = randomWeights(cfg, 5), b = randomWeights(modelConfig(cfg, { L: 6, stageBlocks: [2] }), 5);
    for (const n of ['blocks.0.mlp.fc1.weight', 'blocks.3.attn.proj.weight', 'pos_embed', 'selectors.0.fc1.weight']) expect(bytes(a[n]!).equals(bytes(b[n]!))).toBe(true);
  });

  it('timm scheme: trunc-normal 0.02 weights, zero biases, unit norms, LayerScale 0.1, selector gamma 1', () => {
    const w = randomWeights(modelConfig('small', { D: 96, H: 2 }), 1);
    const qkv = w['blocks.5.attn.qkv.weight']!;
    let s2 = 0, mx = 0;
    for (const v of qkv) { s2 += v * v; mx = Math.max(mx, Math.abs(v)); }
    const std = Math.sqrt(s2 / qkv.length);
    expect(std).toBeGreaterThan(0.016); // trunc at 2 std: std ~ 0.0176
    expect(std).toBeLessThan(0.019);
    expect(mx).toBeLessThanOrEqual(0.04 + 1e-7);
    for (const n of ['blocks.0.attn.qkv.bias', 'blocks.11.mlp.fc2.bias', 'norm.bias', 'class_head.bias', 'upscale.1.conv1.bias', 'selectors.2.fc2.bias']) expect(w[n]!.every((v) => v === 0)).toBe(true);
    for (const n of ['blocks.3.norm1.weight', 'norm.weight', 'upscale.0.norm.weight', 'selectors.0.norm.weight', 'selectors.1.ls.gamma']) expect(w[n]!.every((v) => v === 1)).toBe(true);
    for (const n of ['blocks.0.ls1.gamma', 'blocks.11.ls2.gamma']) expect(w[n]!.every((v) => v === Math.fround(0.1))).toBe(true);
    for (const n of ['cls_token', 'pos_embed', 'q.weight', 'patch_embed.proj.weight', 'upscale.0.conv2.weight', 'mask_head.2.weight']) {
      expect(w[n]!.some((v) => v !== 0)).toBe(true);
      expect(w[n]!.every((v) => Math.abs(v) <= 0.04 + 1e-7)).toBe(true);
    }
  });

  it('test scheme: every tensor non-trivial, weights ~ 1/sqrt(fan_in)', () => {
    const w = randomWeights(cfg, 1, { init: 'test' });
    for (const [n, a] of Object.entries(w)) expect(new Set(a).size, n).toBeGreaterThan(1);
    const fc2 = w['blocks.0.mlp.fc2.weight']!; // fan-in 4D = 128
    const std = Math.sqrt(fc2.reduce((s, v) => s + v * v, 0) / fc2.length);
    expect(std * Math.sqrt(128)).toBeGreaterThan(0.8);
    expect(std * Math.sqrt(128)).toBeLessThan(1);
    expect(w['blocks.1.ls1.gamma']!.every((v) => v >= 0.1 && v <= 0.5)).toBe(true);
  });

  it('validates its arguments', () => {
    expect(() => randomWeights(cfg, 1.5)).toThrow(/seed/);
    expect(() => randomWeights(cfg, 1, { init: 'xavier' as 'timm' })).toThrow(/init/);
    expect(() => randomWeights({ ...cfg, D: 33 }, 1)).toThrow(/D % H/);
  });
});
