/**
 * ONNX export of the unpruned forward (src/export/, docs/onnx.md).
 * - Structure, without ONNX Runtime: the bytes decode as a ModelProto (IR 8, opset 17, default domain
 *   only), input/outputs with the symbolic batch dim, weights stored exactly, missing weights listed.
 * - Numerics, in onnxruntime-node: the exported model against our engine (InferenceSession, unpruned) on
 *   the same weights, for the tiny preset at 64x64 (B = 2), a non-square 2-class model without
 *   registers whose queries enter at block 0 (per-block outputs, also against the float64 reference),
 *   and a checkpoint exported at another input size. Tolerance: |ort - engine| <= 1e-4 + 1e-4·|engine|
 *   elementwise (measured max abs difference ~2e-5 on mask logits of magnitude 14; see docs/onnx.md).
 *   Skipped, with the reason printed, when onnxruntime-node cannot be loaded.
 * - Files: atomic write (replaces, leaves no temporary file, names the path when it cannot write).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { InferenceSession, eomtToOnnx, exportOnnx, modelConfig, randomWeights, saveCheckpoint, withInputSize, type ModelConfig } from '../../src/index.js';
import { writeFileAtomic } from '../../src/export/exportOnnx.js';
import { createOrtSession, loadOnnxRuntime } from '../../src/export/onnxRuntime.js';
import { eomtForwardRef } from '../reference/eomtForward.js';
import { allclose, randn, rng } from '../reference/helpers.js';

const { onnx } = onnxProto;
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'r4p-onnx-'));
const ATOL = 1e-4, RTOL = 1e-4;

const TINY64 = modelConfig('tiny', { image: [64, 64] });
// non-square, C = 2, no registers, Bq = L (queries from block 0, decode points 0 … L-1), patch 8
const ODD: ModelConfig = modelConfig('tiny', { D: 24, H: 3, L: 3, patch: 8, image: [40, 56], R: 0, Q: 3, Bq: 3, classes: 2, stageBlocks: [1], selectorWidth: 6 });

const STANDARD_OPS = new Set([
  'Conv', 'ConvTranspose', 'Reshape', 'Transpose', 'Add', 'Mul', 'Div', 'Erf', 'MatMul', 'Softmax', 'Sigmoid', 'LayerNormalization',
  'Shape', 'Concat', 'Expand', 'Slice', 'Resize', 'Identity',
]);

describe('eomtToOnnx: model structure', () => {
  it('is a valid ModelProto with opset 17, a symbolic batch and the documented outputs', () => {
    const weights = randomWeights(TINY64, 3);
    const m = eomtToOnnx(TINY64, weights);
    const model = onnx.ModelProto.decode(m.bytes);
    expect(Number(model.irVersion)).toBe(8);
    expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 17]]);
    const g = model.graph as Onnx.GraphProto;
    expect(g.node.every((n) => !n.domain)).toBe(true);
    for (const n of g.node) expect(STANDARD_OPS.has(n.opType!), n.opType!).toBe(true);
    const dims = (v: Onnx.IValueInfoProto) => v.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(g.input.map((v) => [v.name, dims(v)])).toEqual([['images', ['B', 3, 64, 64]]]);
    expect(g.output.map((v) => [v.name, dims(v)])).toEqual([
      ['semantic', ['B', 1, 64, 64]], ['class_logits', ['B', 16, 2]], ['mask_logits', ['B', 16, 16, 16]],
    ]);
    // one LayerNormalization per norm (2 per block + final + 2 LayerNorm2d), erf GELU per MLP and in the head
    const count = (op: string) => g.node.filter((n) => n.opType === op).length;
    expect(count('LayerNormalization')).toBe(2 * 12 + 1 + 2);
    expect(count('Erf')).toBe(12 + 2 + 2);
    expect(count('Softmax')).toBe(12 + 1);
    // weights stored bit-exactly (pos_embed as is; a Linear transposed)
    const init = new Map(g.initializer.map((t) => [t.name!, t]));
    const f32 = (name: string) => {
      const raw = init.get(name)!.rawData!;
      return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    };
    expect(f32('pos_embed')).toEqual(weights['pos_embed']);
    const fc2 = f32('blocks.5.mlp.fc2.weight_t'), W = weights['blocks.5.mlp.fc2.weight']!; // [F,D] vs W [D,F]
    expect(fc2[7 * 192 + 3]).toBe(W[3 * 768 + 7]);
    expect(m.outputs.map((o) => o.name)).toEqual(['semantic', 'class_logits', 'mask_logits']);
  });

  it('lists every missing or wrong-sized weight', () => {
    const weights = randomWeights(ODD, 0);
    delete weights['q.weight'];
    weights['norm.bias'] = new Float32Array(3);
    expect(() => eomtToOnnx(ODD, weights)).toThrow(RangeError);
    expect(() => eomtToOnnx(ODD, weights)).toThrow(/missing 'q.weight' \[3,24\].*'norm.bias' expected 24 values/);
  });

  it('per-block export adds one semantic map per decode point before the last block', () => {
    const m = eomtToOnnx(ODD, randomWeights(ODD, 0), { perBlock: true });
    expect(m.outputs.map((o) => o.name)).toEqual(['semantic_block0', 'semantic_block1', 'semantic', 'class_logits', 'mask_logits']);
  });
});

describe('exportOnnx: files', () => {
  it('writes atomically, replaces an existing file and leaves no temporary file', () => {
    const dir = tmp();
    const file = path.join(dir, 'm.onnx');
    writeFileSync(file, 'old');
    const r = exportOnnx({ config: ODD, seed: 1 }, file);
    expect(r.file).toBe(file);
    expect(readFileSync(file).length).toBe(r.bytes);
    expect(onnx.ModelProto.decode(readFileSync(file)).graph!.name).toBe('eomt');
    expect(readdirSync(dir)).toEqual(['m.onnx']);
  });

  it('names the path when it cannot write, and cleans up', () => {
    const dir = tmp();
    expect(() => writeFileAtomic(path.join(dir, 'missing', 'm.onnx'), new Uint8Array(4))).toThrow(/cannot write '.*missing\/m\.onnx'/);
    expect(() => exportOnnx({ config: ODD }, path.join(dir, 'no', 'm.onnx'))).toThrow(/exportOnnx: cannot write/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects a bad input size and a missing checkpoint', () => {
    const dir = tmp();
    expect(() => exportOnnx({ config: ODD }, path.join(dir, 'a.onnx'), { image: 50 })).toThrow(/multiples of the patch size 8/);
    expect(() => exportOnnx(path.join(dir, 'none.safetensors'), path.join(dir, 'a.onnx'))).toThrow(/none\.safetensors/);
    expect(existsSync(path.join(dir, 'a.onnx'))).toBe(false);
  });

  it('withInputSize resamples pos_embed to the new grid and shares the other weights', () => {
    const w = randomWeights(ODD, 2);
    const r = withInputSize(ODD, w, [64, 64]);
    expect(r.config.image).toEqual([64, 64]);
    expect(r.weights['pos_embed']!.length).toBe(8 * 8 * 24);
    expect(r.weights['blocks.0.attn.qkv.weight']).toBe(w['blocks.0.attn.qkv.weight']);
    expect(withInputSize(ODD, w, [40, 56]).weights).toBe(w);
  });
});

const ortLoad = await loadOnnxRuntime();
const ort = 'ort' in ortLoad ? ortLoad.ort : null;
if (!ort) console.warn(`[onnxExport.test] skipping the ONNX Runtime comparisons: ${'reason' in ortLoad ? ortLoad.reason : ''}`);

/** Runs the exported bytes in ORT and the engine (unpruned) on the same weights and images. */
async function both(cfg: ModelConfig, weights: Record<string, Float32Array>, bytes: Uint8Array | string, B: number, seed: number, perBlock = false) {
  const [Hi, Wi] = cfg.image;
  const images = randn(B * 3 * Hi * Wi, rng(seed));
  const s = await createOrtSession(ort!, bytes, 2);
  const o = await s.run({ images: new ort!.Tensor('float32', images, [B, 3, Hi, Wi]) });
  await s.release();
  const engine = await InferenceSession.create({ config: cfg, weights }, { keep: null });
  const e = await engine.run({ data: images, shape: [B, 3, Hi, Wi] }, { perBlock });
  engine.dispose();
  const get = (name: string) => o[name]!.data as Float32Array;
  return { images, o, e, get };
}

function expectNear(got: Float32Array, want: ArrayLike<number>, what: string): number {
  const r = allclose(got, want, ATOL, RTOL);
  expect(r.ok, `${what}: ${r.message}`).toBe(true);
  return r.maxAbs;
}

describe.skipIf(!ort)('exported model in onnxruntime-node vs the engine (unpruned)', () => {
  it('tiny preset at 64x64, B = 2: semantic, class and mask logits', async () => {
    const weights = randomWeights(TINY64, 5, { init: 'test' });
    const { o, e, get } = await both(TINY64, weights, eomtToOnnx(TINY64, weights).bytes, 2, 50);
    expect(o.semantic!.dims).toEqual([2, 1, 64, 64]);
    const d = [expectNear(get('semantic'), e.semantic.data, 'semantic'), expectNear(get('class_logits'), e.classLogits.data, 'class_logits'),
      expectNear(get('mask_logits'), e.maskLogits.data, 'mask_logits')];
    console.log(`[onnxExport.test] tiny 64x64 B=2: max |ort - engine| semantic ${d[0]!.toExponential(2)}, class ${d[1]!.toExponential(2)}, mask ${d[2]!.toExponential(2)}`);
  });

  it('non-square, C = 2, R = 0, queries from block 0: every per-block map, also against the float64 reference', async () => {
    const weights = randomWeights(ODD, 6, { init: 'test' });
    const { images, o, e, get } = await both(ODD, weights, eomtToOnnx(ODD, weights, { perBlock: true }).bytes, 1, 60, true);
    expect(Object.keys(o).sort()).toEqual(['class_logits', 'mask_logits', 'semantic', 'semantic_block0', 'semantic_block1']);
    for (const pb of e.perBlock!) expectNear(get(pb.block === ODD.L - 1 ? 'semantic' : `semantic_block${pb.block}`), pb.semantic.data, `block ${pb.block}`);
    expectNear(get('class_logits'), e.classLogits.data, 'class_logits');
    expectNear(get('mask_logits'), e.maskLogits.data, 'mask_logits');
    const ref = eomtForwardRef(ODD, weights, images, 1, { keep: null, perBlock: false });
    expectNear(get('semantic'), ref.semantic, 'semantic vs float64 reference');
    expectNear(get('mask_logits'), ref.maskLogits, 'mask logits vs float64 reference');
  });

  it('a checkpoint exported at another input size matches the engine on the resized model', async () => {
    const dir = tmp();
    const ckpt = path.join(dir, 'm.safetensors');
    const weights = randomWeights(ODD, 7, { init: 'test' });
    saveCheckpoint(ckpt, ODD, weights);
    const r = exportOnnx(ckpt, path.join(dir, 'm.onnx'), { image: 48 });
    expect(r.resized).toBe(true);
    const resized = withInputSize(ODD, weights, [48, 48]);
    const { o, e, get } = await both(resized.config, resized.weights, r.file, 1, 70);
    expect(o.semantic!.dims).toEqual([1, 2, 48, 48]);
    expectNear(get('semantic'), e.semantic.data, 'semantic');
    expectNear(get('mask_logits'), e.maskLogits.data, 'mask_logits');
  });
});
