/**
 * `reg4pru train --init FILE` (issue 16 item 5): from our checkpoint and from a timm DINOv2 state dict.
 * With --lr 0 one optimiser step leaves the weights where they started, so the written checkpoint must
 * be exactly the initial weights: importDinov2's result for a timm file, the file's own for ours, and
 * not the seeded random weights the run would otherwise start from.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { importDinov2, loadCheckpoint, modelConfig, randomWeights, saveCheckpoint, writeSafetensors, type ModelConfig } from '../../src/index.js';
import { captureIo } from '../cli/helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-init-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const D = 32, L = 6;
const fields = { D, H: 2, L, patch: 8, image: [32, 32] as [number, number], R: 2, Q: 3, Bq: 1, stageBlocks: [1, 3] };
const cfg: ModelConfig = modelConfig('tiny', fields);
const cfgFile = path.join(dir, 'model.json');
writeFileSync(cfgFile, JSON.stringify(fields));

/** A timm DINOv2-style state dict (patch 14, 5x5 grid, cls position row, no registers). */
function writeTimm(file: string): void {
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  const t: Record<string, { data: Float32Array; shape: number[] }> = {};
  const put = (name: string, shape: number[]) => {
    t[name] = { data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rnd), shape };
  };
  put('cls_token', [1, 1, D]);
  put('pos_embed', [1, 1 + 25, D]);
  put('patch_embed.proj.weight', [D, 3, 14, 14]);
  put('patch_embed.proj.bias', [D]);
  for (let i = 0; i < L; i++) {
    for (const [n, sh] of [['norm1.weight', [D]], ['norm1.bias', [D]], ['attn.qkv.weight', [3 * D, D]], ['attn.qkv.bias', [3 * D]],
      ['attn.proj.weight', [D, D]], ['attn.proj.bias', [D]], ['ls1.gamma', [D]], ['norm2.weight', [D]], ['norm2.bias', [D]],
      ['mlp.fc1.weight', [4 * D, D]], ['mlp.fc1.bias', [4 * D]], ['mlp.fc2.weight', [D, 4 * D]], ['mlp.fc2.bias', [D]], ['ls2.gamma', [D]]] as Array<[string, number[]]>)
      put(`blocks.${i}.${n}`, sh);
  }
  put('norm.weight', [D]);
  put('norm.bias', [D]);
  writeSafetensors(file, t);
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const args = (out: string, ...more: string[]) => ['node', 'reg4pru', 'train', '--data', 'synthetic', '--samples', '2', '--batch', '2', '--epochs', '1',
  '--max-steps', '1', '--lr', '0', '--warmup', '1,1', '--seed', '5', '-q', '--out', out, ...more];

function expectWeights(file: string, want: Record<string, Float32Array>): void {
  const got = loadCheckpoint(file).weights;
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  const differ = Object.keys(want).filter((n) => !bits(got[n]!).equals(bits(want[n]!)));
  expect(differ).toEqual([]);
}

describe('reg4pru train --init', () => {
  it('starts from a timm DINOv2 state dict (imported into the --model-config model)', async () => {
    const timm = path.join(dir, 'dinov2.safetensors');
    writeTimm(timm);
    const out = path.join(dir, 'run-timm');
    const io = captureIo();
    const code = await main(args(out, '--model-config', cfgFile, '--init', timm), io);
    expect(io.text().err).toBe('');
    expect(code).toBe(0);
    expect(io.text().out).toMatch(/init: .*dinov2\.safetensors \(timm DINOv2 state dict: \d+ tensors copied, 3 resampled/);
    const want = importDinov2(timm, cfg, { seed: 5 }).weights;
    expectWeights(path.join(out, 'checkpoint.safetensors'), want);
    // Control: the same run without --init starts elsewhere.
    const out0 = path.join(dir, 'run-random');
    expect(await main(args(out0, '--model-config', cfgFile), captureIo())).toBe(0);
    const w0 = loadCheckpoint(path.join(out0, 'checkpoint.safetensors')).weights;
    expect(bits(w0['blocks.0.attn.qkv.weight']!).equals(bits(want['blocks.0.attn.qkv.weight']!))).toBe(false);
  }, 60_000);

  it('starts from our checkpoint, taking its config when no model flag is given', async () => {
    const ours = path.join(dir, 'ours.safetensors');
    const w = randomWeights(cfg, 99);
    saveCheckpoint(ours, cfg, w);
    const out = path.join(dir, 'run-ours');
    const io = captureIo();
    expect(await main(args(out, '--init', ours), io)).toBe(0);
    expect(io.text().out).toMatch(/\(reg4pru checkpoint\)/);
    expect(loadCheckpoint(path.join(out, 'checkpoint.safetensors')).config).toEqual(cfg);
    expectWeights(path.join(out, 'checkpoint.safetensors'), w);
  }, 60_000);

  it('rejects a missing file and a checkpoint whose model differs from the explicit one (exit 2)', async () => {
    const io = captureIo();
    expect(await main(args(path.join(dir, 'x'), '--init', path.join(dir, 'nope.safetensors')), io)).toBe(2);
    expect(io.text().err).toMatch(/--init: no such file/);
    const ours = path.join(dir, 'ours.safetensors');
    const io2 = captureIo();
    expect(await main(args(path.join(dir, 'y'), '--init', ours, '--preset', 'tiny'), io2)).toBe(2);
    expect(io2.text().err).toMatch(/--init: .*differs from the requested one: 'patch_embed.proj.weight' \[192,3,16,16\] vs checkpoint \[32,3,8,8\]/);
    const timm = path.join(dir, 'dinov2.safetensors');
    const io3 = captureIo();
    expect(await main(args(path.join(dir, 'z'), '--init', timm, '--preset', 'tiny'), io3)).toBe(2); // D 32 vs 192
    expect(io3.text().err).toMatch(/--init: importDinov2: .*D/);
  }, 60_000);
});
