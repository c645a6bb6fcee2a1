/**
 * The superpatch policy (src/model/superpatch.ts): patch means and merge labels against literal loops, the TF.js CNN
 * against the float64 oracle (test/reference/superpatchPolicy.ts) on odd and even grids, the file round trip, and
 * `reg4pru train-policy` on synthetic data (the loss falls, the held-out accuracy beats the untrained network's).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSuperpatchPolicy, mergeLabels, patchMeans, randomPolicyWeights, saveSuperpatchPolicy, windowGrid } from '../../src/model/superpatch.js';
import { policyLogits } from '../../src/model/tfjs/superpatchPolicy.js';
import { useNativeBackend } from '../../src/tfjs/index.js';
import { main } from '../../src/cli/program.js';
import { captureIo } from '../cli/helpers.js';
import { patchMeansRef, policyLogitsRef } from '../reference/superpatchPolicy.js';
import { expectClose, randn, rng } from '../reference/helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});

describe('superpatch policy pieces', () => {
  it('patch means and merge labels (uniform windows, odd grids leave the last row and column out)', () => {
    const H = 24, W = 40, p = 4; // 6 x 10 patches, 3 x 5 windows
    const img = randn(3 * H * W, rng(1));
    expectClose(patchMeans(img, H, W, p), patchMeansRef(img, H, W, p), 1e-6, 1e-5, 'patch means');
    expect(windowGrid(20, 36, 4)).toEqual({ gh: 5, gw: 9, wh: 2, ww: 4 });
    const mask = new Uint8Array(H * W);
    // window (1, 2) covers rows 8..15, cols 16..23: make it all vessel; one pixel of window (0, 0) vessel
    for (let y = 8; y < 16; y++) for (let x = 16; x < 24; x++) mask[y * W + x] = 1;
    mask[3 * W + 5] = 1;
    const l = mergeLabels(mask, H, W, p);
    expect(l.length).toBe(15);
    expect(l[0]).toBe(0); // mixed
    expect(l[1 * 5 + 2]).toBe(1); // all vessel
    expect(l[1 * 5 + 1]).toBe(1); // all background
    expect(Array.from(l).filter((v) => v === 0).length).toBe(1);
    expect(() => windowGrid(30, 40, 4)).toThrow(/multiple of the patch/);
  });

  for (const [gh, gw, c] of [[6, 10, 8], [7, 5, 4], [2, 2, 16]] as const) {
    it(`TF.js CNN = float64 oracle on a ${gh}x${gw} patch grid, width ${c}`, () => {
      const w = randomPolicyWeights({ patch: 16, width: c }, gh * 100 + gw);
      // non-zero biases so that every term is exercised
      for (const k of ['conv1.bias', 'conv2.bias', 'conv3.bias']) w[k] = w[k]!.map((_, i) => 0.1 * Math.sin(i + 1));
      const B = 2, u = randn(B * 3 * gh * gw, rng(gh + gw));
      const vars: Record<string, tf.Tensor> = {};
      const shapes: Record<string, number[]> = { 'conv1.weight': [c, 3, 3, 3], 'conv1.bias': [c], 'conv2.weight': [c, c, 2, 2], 'conv2.bias': [c], 'conv3.weight': [1, c, 1, 1], 'conv3.bias': [1] };
      for (const [k, s] of Object.entries(shapes)) vars[k] = tf.tensor(w[k]!, s);
      const got = policyLogits(vars, tf.tensor4d(u, [B, 3, gh, gw]));
      const wh = Math.floor(gh / 2), ww = Math.floor(gw / 2);
      expect(got.shape).toEqual([B, wh, ww]);
      const want = new Float64Array(B * wh * ww);
      for (let b = 0; b < B; b++) want.set(policyLogitsRef(u.subarray(b * 3 * gh * gw, (b + 1) * 3 * gh * gw), gh, gw, w, c), b * wh * ww);
      expectClose(got.dataSync(), want, 1e-5, 1e-4, 'logits');
      tf.dispose([got, ...Object.values(vars)]);
    });
  }

  it('save / load round trip; a file without the config metadata is a clear error', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-sp-'));
    const cfg = { patch: 8, width: 4 };
    const w = randomPolicyWeights(cfg, 3);
    saveSuperpatchPolicy(path.join(dir, 'p.safetensors'), cfg, w);
    const back = loadSuperpatchPolicy(path.join(dir, 'p.safetensors'));
    expect(back.config).toEqual(cfg);
    for (const k of Object.keys(w)) expect(back.weights[k]).toEqual(w[k]);
    expect(() => saveSuperpatchPolicy(path.join(dir, 'q.safetensors'), cfg, { ...w, 'conv2.weight': new Float32Array(3) })).toThrow(/conv2\.weight/);
    expect(() => saveSuperpatchPolicy(path.join(dir, 'q.safetensors'), { patch: 0, width: 4 }, w)).toThrow(/config\.patch/);
  });
});

describe('reg4pru train-policy', () => {
  it('learns the uniform windows of synthetic masks: the loss falls and the held-out accuracy beats the untrained net', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-sp-train-'));
    const out = path.join(dir, 'policy.safetensors');
    const io = captureIo();
    const code = await main(['node', 'reg4pru', 'train-policy', '--image', '64', '--patch', '8', '--width', '8', '--steps', '60', '--batch', '8',
      '--samples', '16', '--seed', '1', '--out', out, '-q'], io);
    expect(code, io.text().err).toBe(0);
    const text = io.text().out;
    expect(text).toMatch(/train-policy: 60 steps/);
    const { config, weights } = loadSuperpatchPolicy(out);
    expect(config).toEqual({ patch: 8, width: 8 });
    expect(weights['conv1.weight']!.length).toBe(8 * 27);
    const acc = (name: string) => Number(new RegExp(`^${name}\\s+(\\d\\.\\d+)`, 'm').exec(text)![1]);
    expect(acc('trained')).toBeGreaterThan(acc('initial'));
    const uniform = Number(/\((\d+\.\d)% uniform\)/.exec(text)![1]) / 100;
    expect(acc('trained')).toBeGreaterThanOrEqual(Math.max(uniform, 1 - uniform) - 1e-9); // at least the majority rule
    expect(await main(['node', 'reg4pru', 'train-policy', '--image', '60', '--patch', '8', '--out', out], captureIo())).toBe(2);
  }, 120_000);
});
