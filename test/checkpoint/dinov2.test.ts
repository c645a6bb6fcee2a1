/**
 * timm DINOv2 import (SPEC §8): name mapping, bit-exact copies, prefix position rows folded into the
 * tokens, position-embedding interpolation against a direct 2D transcription of PyTorch's bicubic /
 * bilinear formulas, the PI-resize property <x14, W14> = <resize(x14), W16>, validation errors, and the
 * round trip through safetensors + saveCheckpoint/loadCheckpoint.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importDinov2, resamplePatchEmbed, resamplePosEmbed, resizeMatrix, type ResizeMode, type TimmStateDict } from '../../src/checkpoint/dinov2.js';
import { loadCheckpoint, saveCheckpoint } from '../../src/checkpoint/checkpoint.js';
import { writeSafetensors } from '../../src/checkpoint/safetensors.js';
import { modelConfig, weightShapes, type ModelConfig } from '../../src/model/config.js';
import { randomWeights } from '../../src/model/weights.js';
import { expectClose, randn, rng } from '../reference/helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r4p-dino-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const D = 24, L = 2;
const cfgOf = (image: [number, number], R: number): ModelConfig =>
  modelConfig('tiny', { D, H: 2, L, patch: 16, image, R, Q: 3, Bq: 1, stageBlocks: [1] });

/** A fake timm state dict: patch 14, grid g x g; `reg` registers with no_embed_class (reg variant). */
function fakeTimm(g: number, reg: number, seed = 1): TimmStateDict {
  const r = rng(seed);
  const t: TimmStateDict = {};
  const put = (name: string, shape: number[]) => {
    t[name] = { data: randn(shape.reduce((a, b) => a * b, 1), r), shape };
  };
  put('cls_token', [1, 1, D]);
  if (reg > 0) put('reg_token', [1, reg, D]);
  put('pos_embed', [1, (reg > 0 ? 0 : 1) + g * g, D]);
  put('mask_token', [1, D]);
  put('patch_embed.proj.weight', [D, 3, 14, 14]);
  put('patch_embed.proj.bias', [D]);
  for (let i = 0; i < L; i++) {
    const b = `blocks.${i}.`;
    for (const [n, s] of [['norm1.weight', [D]], ['norm1.bias', [D]], ['attn.qkv.weight', [3 * D, D]], ['attn.qkv.bias', [3 * D]],
      ['attn.proj.weight', [D, D]], ['attn.proj.bias', [D]], ['ls1.gamma', [D]], ['norm2.weight', [D]], ['norm2.bias', [D]],
      ['mlp.fc1.weight', [4 * D, D]], ['mlp.fc1.bias', [4 * D]], ['mlp.fc2.weight', [D, 4 * D]], ['mlp.fc2.bias', [D]], ['ls2.gamma', [D]]] as Array<[string, number[]]>)
      put(b + n, s);
  }
  put('norm.weight', [D]);
  put('norm.bias', [D]);
  put('head.weight', [5, D]);
  put('head.bias', [5]);
  return t;
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

// ---- independent references: direct 2D evaluation of PyTorch's formulas (no matrices)
function keys(x: number, a: number): number {
  x = Math.abs(x);
  return x < 1 ? (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1 : x < 2 ? a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a : 0;
}
/** Taps (index, weight) of output i along one axis. */
function taps(inN: number, outN: number, i: number, m: ResizeMode): Array<[number, number]> {
  const s = inN / outN;
  if (m.antialias) {
    const support = (m.mode === 'bicubic' ? 2 : 1) * Math.max(s, 1);
    const c = s * (i + 0.5);
    const f = (x: number) => (m.mode === 'bicubic' ? keys(x, -0.5) : Math.max(0, 1 - Math.abs(x)));
    const out: Array<[number, number]> = [];
    for (let j = Math.max(0, Math.trunc(c - support + 0.5)); j < Math.min(inN, Math.trunc(c + support + 0.5)); j++) out.push([j, f((j + 0.5 - c) / Math.max(s, 1))]);
    const tot = out.reduce((a, [, w]) => a + w, 0);
    return out.map(([j, w]) => [j, w / tot]);
  }
  const clamp = (j: number) => Math.min(Math.max(j, 0), inN - 1);
  if (m.mode === 'bicubic') {
    const x = s * (i + 0.5) - 0.5, f = Math.floor(x), t = x - f;
    return [-1, 0, 1, 2].map((k) => [clamp(f + k), keys(t - k, -0.75)]);
  }
  const x = Math.max(s * (i + 0.5) - 0.5, 0), f = Math.floor(x), t = x - f;
  return [[clamp(f), 1 - t], [clamp(f + 1), t]];
}
/** Planes [C, h, w] -> [C, H, W] by the 2D tensor-product taps. */
function resize2d(x: ArrayLike<number>, C: number, h: number, w: number, H: number, W: number, m: ResizeMode): Float64Array {
  const out = new Float64Array(C * H * W);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xo = 0; xo < W; xo++) {
    let s = 0;
    for (const [a, wa] of taps(h, H, y, m)) for (const [b, wb] of taps(w, W, xo, m)) s += wa * wb * x[c * h * w + a * w + b]!;
    out[c * H * W + y * W + xo] = s;
  }
  return out;
}

const MODES: ResizeMode[] = [
  { mode: 'bicubic', antialias: true }, { mode: 'bicubic', antialias: false },
  { mode: 'bilinear', antialias: true }, { mode: 'bilinear', antialias: false },
];

describe('resizeMatrix', () => {
  it('bilinear 2 -> 4 matches the hand-computed PyTorch result', () => {
    const M = resizeMatrix(2, 4, { mode: 'bilinear', antialias: false });
    const y = [0, 1, 2, 3].map((i) => M[i * 2]! * 0 + M[i * 2 + 1]! * 1);
    expect(y).toEqual([0, 0.25, 0.75, 1]);
  });
  it('is the identity for equal sizes and its rows sum to 1', () => {
    for (const m of MODES) {
      const I = resizeMatrix(5, 5, m);
      for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++) expect(I[i * 5 + j]).toBe(i === j ? 1 : 0);
      for (const [a, b] of [[14, 16], [37, 32], [4, 6], [4, 5], [6, 3]] as Array<[number, number]>) {
        const M = resizeMatrix(a, b, m);
        for (let i = 0; i < b; i++) {
          let s = 0;
          for (let j = 0; j < a; j++) s += M[i * a + j]!;
          expect(Math.abs(s - 1)).toBeLessThan(1e-12);
        }
      }
    }
  });
});

describe('resamplePosEmbed', () => {
  it('equals the direct 2D bicubic/bilinear evaluation (up, down, non-square)', () => {
    const r = rng(3);
    const Dd = 3;
    for (const m of MODES) {
      for (const [g, G] of [[[4, 4], [6, 5]], [[5, 5], [3, 4]], [[37, 37], [32, 32]]] as Array<[[number, number], [number, number]]>) {
        const pos = randn(g[0] * g[1] * Dd, r);
        const got = resamplePosEmbed(pos, g, Dd, G, m);
        // Reference on channel planes.
        const planes = new Float64Array(Dd * g[0] * g[1]);
        for (let n = 0; n < g[0] * g[1]; n++) for (let d = 0; d < Dd; d++) planes[d * g[0] * g[1] + n] = pos[n * Dd + d]!;
        const ref = resize2d(planes, Dd, g[0], g[1], G[0], G[1], m);
        const want = new Float64Array(G[0] * G[1] * Dd);
        for (let n = 0; n < G[0] * G[1]; n++) for (let d = 0; d < Dd; d++) want[n * Dd + d] = ref[d * G[0] * G[1] + n]!;
        expectClose(got, want, 1e-6, 1e-5, `${m.mode} aa=${m.antialias} ${g}->${G}`);
      }
    }
  });
  it('is the identity (bit exact) when the grid is unchanged', () => {
    const pos = randn(16 * 5, rng(4));
    expect(bits(resamplePosEmbed(pos, [4, 4], 5, [4, 4])).equals(bits(pos))).toBe(true);
  });
});

describe('resamplePatchEmbed (PI-resize)', () => {
  it('<x14, W14> = <resize(x14), W16> for every output channel (both bases)', () => {
    const r = rng(5);
    const O = 4;
    const w14 = randn(O * 3 * 14 * 14, r);
    for (const m of [{ mode: 'bilinear', antialias: false }, { mode: 'bicubic', antialias: true }] as ResizeMode[]) {
      const w16 = resamplePatchEmbed(w14, [O, 3, 14, 14], [16, 16], m);
      expect(w16.length).toBe(O * 3 * 16 * 16);
      for (let trial = 0; trial < 3; trial++) {
        // Smooth random image: low-frequency cosines per channel (plus white noise on one trial: the
        // identity holds for any x when upsampling).
        const x14 = new Float64Array(3 * 14 * 14);
        for (let c = 0; c < 3; c++) {
          const [fa, fb, ph] = [r() * 2, r() * 2, r() * 6];
          for (let i = 0; i < 14; i++) for (let j = 0; j < 14; j++) x14[c * 196 + i * 14 + j] = Math.cos(fa * i / 5 + fb * j / 5 + ph) + (trial === 2 ? r() - 0.5 : 0);
        }
        const x16 = resize2d(x14, 3, 14, 14, 16, 16, m);
        for (let o = 0; o < O; o++) {
          let a = 0, b = 0, norm = 0;
          for (let k = 0; k < 3 * 196; k++) { a += x14[k]! * w14[o * 588 + k]!; norm += Math.abs(x14[k]! * w14[o * 588 + k]!); }
          for (let k = 0; k < 3 * 256; k++) b += x16[k]! * w16[o * 768 + k]!;
          expect(Math.abs(a - b)).toBeLessThan(1e-5 * norm + 1e-6);
        }
      }
    }
  });
  it('is a copy when the patch size is unchanged', () => {
    const w = randn(2 * 3 * 16 * 16, rng(6));
    expect(bits(resamplePatchEmbed(w, [2, 3, 16, 16], [16, 16])).equals(bits(w))).toBe(true);
  });
});

describe('importDinov2', () => {
  it('maps names, copies blocks bit-exact, folds the cls position, initialises the rest (no-reg variant)', () => {
    const cfg = cfgOf([64, 64], 4); // grid 4x4 = the checkpoint grid
    const sd = fakeTimm(4, 0);
    const { weights, report } = importDinov2(sd, cfg, { seed: 7 });
    const shapes = weightShapes(cfg);
    expect(Object.keys(weights)).toEqual(shapes.map(([n]) => n));
    for (const [n, s] of shapes) expect(weights[n]!.length).toBe(s.reduce((a, b) => a * b, 1));
    for (let i = 0; i < L; i++) for (const p of ['attn.qkv.weight', 'mlp.fc2.bias', 'ls1.gamma', 'ls2.gamma', 'norm1.weight'])
      expect(bits(weights[`blocks.${i}.${p}`]!).equals(bits(sd[`blocks.${i}.${p}`]!.data))).toBe(true);
    expect(bits(weights['norm.bias']!).equals(bits(sd['norm.bias']!.data))).toBe(true);
    expect(bits(weights['patch_embed.proj.bias']!).equals(bits(sd['patch_embed.proj.bias']!.data))).toBe(true);
    // Unchanged grid: the 16 patch rows are copied; row 0 is folded into cls_token.
    expect(bits(weights['pos_embed']!).equals(bits(sd['pos_embed']!.data.subarray(D)))).toBe(true);
    const cls = sd['cls_token']!.data, pos = sd['pos_embed']!.data;
    for (let d = 0; d < D; d++) expect(weights['cls_token']![d]).toBe(Math.fround(cls[d]! + pos[d]!));
    const rnd = randomWeights(cfg, 7);
    for (const n of ['reg_token', 'q.weight', 'class_head.weight', 'mask_head.2.weight', 'upscale.1.conv2.weight', 'selectors.0.fc1.weight'])
      expect(bits(weights[n]!).equals(bits(rnd[n]!))).toBe(true);
    expect(report.resampled.sort()).toEqual(['cls_token', 'patch_embed.proj.weight', 'pos_embed']);
    expect(report.initialised).toContain('reg_token');
    expect(report.initialised).toContain('q.weight');
    expect(report.initialised).not.toContain('blocks.0.ls1.gamma');
    expect(report.imported).toContain('blocks.1.mlp.fc1.weight');
    expect(report.ignored.sort()).toEqual(['head.bias', 'head.weight', 'mask_token']);
    expect(report.warnings).toEqual([]);
    expect(report.imported.length + report.resampled.length + report.initialised.length).toBe(shapes.length);
    // 'drop' discards the cls position.
    const dropped = importDinov2(sd, cfg, { seed: 7, prefixPos: 'drop' });
    expect(bits(dropped.weights['cls_token']!).equals(bits(cls))).toBe(true);
    expect(dropped.report.imported).toContain('cls_token');
  });

  it('reg4 variant on a new grid (6x5): registers copied, pos_embed interpolated, patch embed PI-resized', () => {
    const cfg = cfgOf([96, 80], 4);
    const sd = fakeTimm(4, 4);
    const { weights, report } = importDinov2(sd, cfg, { seed: 1 });
    expect(bits(weights['reg_token']!).equals(bits(sd['reg_token']!.data))).toBe(true);
    expect(bits(weights['cls_token']!).equals(bits(sd['cls_token']!.data))).toBe(true);
    expect(weights['pos_embed']!.length).toBe(30 * D);
    expect(bits(weights['pos_embed']!).equals(bits(resamplePosEmbed(sd['pos_embed']!.data, [4, 4], D, [6, 5])))).toBe(true);
    expect(bits(weights['patch_embed.proj.weight']!).equals(bits(resamplePatchEmbed(sd['patch_embed.proj.weight']!.data, [D, 3, 14, 14], [16, 16])))).toBe(true);
    expect(report.resampled.sort()).toEqual(['patch_embed.proj.weight', 'pos_embed']);
    expect(report.imported).toContain('reg_token');
    // Bilinear options are honoured.
    const bl: ResizeMode = { mode: 'bilinear', antialias: false };
    const w2 = importDinov2(sd, cfg, { seed: 1, posResize: bl, patchResize: bl }).weights;
    expect(bits(w2['pos_embed']!).equals(bits(resamplePosEmbed(sd['pos_embed']!.data, [4, 4], D, [6, 5], bl)))).toBe(true);
  });

  it('lists missing tensors, wrong shapes, size mismatches; warns about unknown tensors', () => {
    const cfg = cfgOf([64, 64], 0);
    const sd = fakeTimm(4, 0);
    delete sd['blocks.1.ls2.gamma'];
    sd['blocks.0.attn.qkv.weight'] = { data: new Float32Array(2 * D * D), shape: [2 * D, D] };
    expect(() => importDinov2(sd, cfg, { seed: 0 })).toThrow(RangeError);
    expect(() => importDinov2(sd, cfg, { seed: 0 })).toThrow(/missing 'blocks\.1\.ls2\.gamma'/);
    expect(() => importDinov2(sd, cfg, { seed: 0 })).toThrow(/'blocks\.0\.attn\.qkv\.weight' expected \[72,24\], received \[48,24\]/);
    // Unknown tensors: ignored with a warning.
    const ok = fakeTimm(4, 0);
    ok['foo.bar'] = { data: new Float32Array(3), shape: [3] };
    ok['blocks.0.extra'] = { data: new Float32Array(1), shape: [1] };
    const { report } = importDinov2(ok, cfg, { seed: 0 });
    expect(report.warnings).toHaveLength(2);
    expect(report.warnings.join()).toMatch(/'foo\.bar' \[3\]/);
    expect(report.ignored).toContain('blocks.0.extra');
    // D, L, R, pos_embed layout.
    expect(() => importDinov2(fakeTimm(4, 0), modelConfig('tiny', { D: 16, H: 2, L, patch: 16, image: [64, 64], R: 0, Q: 3, Bq: 1, stageBlocks: [1] }), { seed: 0 }))
      .toThrow(/D: checkpoint 24, config 16/);
    expect(() => importDinov2(fakeTimm(4, 0), modelConfig(cfg, { L: 3, stageBlocks: [1] }), { seed: 0 })).toThrow(/L: checkpoint 2 blocks, config 3/);
    expect(() => importDinov2(fakeTimm(4, 4), cfgOf([64, 64], 2), { seed: 0 })).toThrow(/R: checkpoint has 4 register tokens, config R=2/);
    expect(() => importDinov2(fakeTimm(4, 4), cfg, { seed: 0 })).toThrow(/R: checkpoint has 4 register tokens, config R=0/);
    const bad = fakeTimm(4, 0);
    bad['pos_embed'] = { data: new Float32Array(19 * D), shape: [1, 19, D] };
    expect(() => importDinov2(bad, cfg, { seed: 0 })).toThrow(/'pos_embed' \[1,19,24\]: no prefix count/);
    expect(importDinov2(bad, cfg, { seed: 0, sourceGrid: [6, 3] }).weights['pos_embed']!.length).toBe(16 * D);
    const mlp = fakeTimm(4, 0);
    expect(() => importDinov2(mlp, modelConfig(cfg, { mlpRatio: 2 }), { seed: 0 })).toThrow(/MLP width: checkpoint 96, config 48/);
  });

  it('rejects malformed inputs with TypeError/RangeError naming the argument', () => {
    const cfg = cfgOf([64, 64], 0);
    const sd = fakeTimm(4, 0);
    expect(() => importDinov2(sd, cfg, { seed: 1.5 })).toThrow(/opts\.seed/);
    expect(() => importDinov2(null as unknown as TimmStateDict, cfg, { seed: 0 })).toThrow(TypeError);
    expect(() => importDinov2({ a: { data: [1], shape: [1] } } as unknown as TimmStateDict, cfg, { seed: 0 })).toThrow(/state\['a'\]\.data/);
    expect(() => importDinov2({ a: { data: new Float32Array(2), shape: [3] } }, cfg, { seed: 0 })).toThrow(/state\['a'\]: shape \[3\] has 3 elements, data has 2/);
    expect(() => importDinov2(sd, cfg, { seed: 0, posResize: { mode: 'nearest', antialias: false } as unknown as ResizeMode })).toThrow(/opts\.posResize/);
    expect(() => importDinov2(sd, cfg, { seed: 0, prefixPos: 'x' as 'fold' })).toThrow(/opts\.prefixPos/);
  });

  it('imports from a .safetensors path and round trips through saveCheckpoint/loadCheckpoint', () => {
    const cfg = cfgOf([96, 80], 4);
    const src = path.join(dir, 'timm.safetensors');
    const sd = fakeTimm(4, 4, 9);
    writeSafetensors(src, sd);
    const fromFile = importDinov2(src, cfg, { seed: 2 });
    const fromMem = importDinov2(sd, cfg, { seed: 2 });
    for (const [n, a] of Object.entries(fromMem.weights)) expect(bits(fromFile.weights[n]!).equals(bits(a))).toBe(true);
    const ck = path.join(dir, 'ck.safetensors');
    saveCheckpoint(ck, cfg, fromFile.weights);
    const back = loadCheckpoint(ck);
    expect(back.config).toEqual(cfg);
    for (const [n, a] of Object.entries(fromFile.weights)) expect(bits(back.weights[n]!).equals(bits(a))).toBe(true);
  });
});
