/**
 * Model checkpoints (SPEC §8): save/load round trip and every load/save validation (missing, unexpected
 * and wrong-shaped tensors listed by name; missing / non-JSON / invalid config).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, modelConfig, randomWeights, readSafetensors, saveCheckpoint, weightShapes, writeSafetensors, type ModelConfig } from '../../src/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'r4p-ckpt-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const cfg: ModelConfig = modelConfig('tiny', { D: 16, H: 2, L: 3, patch: 8, image: [32, 24], Q: 3, Bq: 2, R: 2, stageBlocks: [1, 2] });

/** Writes raw tensors (from weights, with edits) plus a config string, bypassing saveCheckpoint's checks. */
function writeRaw(name: string, edit: (t: Record<string, { data: Float32Array; shape: number[] }>) => void, config: string | null = JSON.stringify(cfg)): string {
  const w = randomWeights(cfg, 1);
  const t: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const [n, s] of weightShapes(cfg)) t[n] = { data: w[n]!, shape: s };
  edit(t);
  const p = path.join(dir, name);
  writeSafetensors(p, t, config === null ? {} : { 'reg4pru.config': config });
  return p;
}

describe('saveCheckpoint / loadCheckpoint', () => {
  it('round trips config, weights (bit exact) and extra metadata', () => {
    const p = path.join(dir, 'rt.safetensors');
    const w = randomWeights(cfg, 42, { init: 'test' });
    saveCheckpoint(p, cfg, w, { step: '100' });
    const c = loadCheckpoint(p);
    expect(c.config).toEqual(cfg);
    expect(c.metadata.step).toBe('100');
    expect(c.metadata.format).toBe('pt');
    expect(JSON.parse(c.metadata['reg4pru.config']!)).toEqual(cfg);
    expect(Object.keys(c.weights).sort()).toEqual(Object.keys(w).sort());
    for (const [n, a] of Object.entries(w)) expect(Buffer.from(c.weights[n]!.buffer, c.weights[n]!.byteOffset, c.weights[n]!.byteLength).equals(Buffer.from(a.buffer))).toBe(true);
    // Stored shapes are the SPEC §8 shapes.
    const raw = readSafetensors(p);
    for (const [n, s] of weightShapes(cfg)) expect(raw.tensors[n]!.shape).toEqual(s);
  });

  it('round trips a config without registers (no reg_token tensor)', () => {
    const c0 = modelConfig(cfg, { R: 0 });
    const p = path.join(dir, 'r0.safetensors');
    saveCheckpoint(p, c0, randomWeights(c0, 3));
    const c = loadCheckpoint(p);
    expect(c.config.R).toBe(0);
    expect(c.weights.reg_token).toBeUndefined();
  });

  it('lists missing tensors by name', () => {
    const p = writeRaw('missing.safetensors', (t) => { delete t['blocks.1.ls2.gamma']; delete t['selectors.0.fc1.bias']; });
    expect(() => loadCheckpoint(p)).toThrow(RangeError);
    expect(() => loadCheckpoint(p)).toThrow(/missing tensors: blocks\.1\.ls2\.gamma, selectors\.0\.fc1\.bias/);
    expect(() => loadCheckpoint(p)).toThrow(p);
  });

  it('summarises a long list of missing tensors (a config with L = 1000)', () => {
    const big = modelConfig(cfg, { L: 1000, stageBlocks: [250, 500, 750] });
    const p = writeRaw('long.safetensors', () => {}, JSON.stringify(big));
    let msg = '';
    try { loadCheckpoint(p); } catch (e) { msg = (e as Error).message; }
    const missing = weightShapes(big).length - weightShapes(cfg).length;
    expect(missing).toBeGreaterThan(10_000);
    expect(msg).toMatch(/missing tensors: blocks\.3\.\S+, /);
    expect(msg).toMatch(new RegExp(`and \\d+ more \\(${missing} in all\\)`));
    expect(msg.length).toBeLessThan(1500);
  });

  it('lists unexpected tensors by name', () => {
    const p = writeRaw('extra.safetensors', (t) => { t['blocks.3.norm1.weight'] = { data: new Float32Array(16), shape: [16] }; t['foo'] = { data: new Float32Array(1), shape: [1] }; });
    expect(() => loadCheckpoint(p)).toThrow(/unexpected tensors: blocks\.3\.norm1\.weight, foo/);
  });

  it('reports wrong shapes as expected vs received (same element count too)', () => {
    const p = writeRaw('shape.safetensors', (t) => {
      t['pos_embed'] = { data: new Float32Array(12 * 16), shape: [12, 16] };
      t['blocks.0.attn.qkv.bias'] = { data: new Float32Array(47), shape: [47] };
    });
    expect(() => loadCheckpoint(p)).toThrow(/'pos_embed' expected \[1,12,16\], received \[12,16\]/);
    expect(() => loadCheckpoint(p)).toThrow(/'blocks\.0\.attn\.qkv\.bias' expected \[48\], received \[47\]/);
  });

  it('rejects a missing, non-JSON or invalid config', () => {
    const none = writeRaw('nocfg.safetensors', () => {}, null);
    expect(() => loadCheckpoint(none)).toThrow(/no "reg4pru\.config" entry/);
    const bad = writeRaw('badjson.safetensors', () => {}, '{D: 16');
    expect(() => loadCheckpoint(bad)).toThrow(/"reg4pru\.config" is not valid JSON/);
    const inv = writeRaw('invalid.safetensors', () => {}, JSON.stringify({ ...cfg, H: 3 }));
    expect(() => loadCheckpoint(inv)).toThrow(RangeError);
    expect(() => loadCheckpoint(inv)).toThrow(/invalid "reg4pru\.config": .*D % H === 0/);
    const typ = writeRaw('typ.safetensors', () => {}, JSON.stringify({ ...cfg, D: '16' }));
    expect(() => loadCheckpoint(typ)).toThrow(TypeError);
    expect(() => loadCheckpoint(typ)).toThrow(typ);
  });

  it('refuses to save weights that do not match the config, and leaves no file', () => {
    const p = path.join(dir, 'nosave.safetensors');
    const w = randomWeights(cfg, 1);
    delete w['norm.bias'];
    w['class_head.bias'] = new Float32Array(5);
    w['extra'] = new Float32Array(1);
    expect(() => saveCheckpoint(p, cfg, w)).toThrow(/missing 'norm\.bias' \[16\].*'class_head\.bias' expected 2 elements.*unexpected 'extra'/);
    expect(() => saveCheckpoint(p, { ...cfg, Bq: 9 }, randomWeights(cfg, 1))).toThrow(/Bq <= L/);
    expect(fs.existsSync(p)).toBe(false);
  });

  it('reads corrupted checkpoints with the safetensors errors', () => {
    const p = path.join(dir, 'trunc.safetensors');
    saveCheckpoint(p, cfg, randomWeights(cfg, 1));
    fs.truncateSync(p, fs.statSync(p).size - 100);
    expect(() => loadCheckpoint(p)).toThrow(/readSafetensors: .*trunc\.safetensors: tensor '.*'.*out of range/);
  });
});
