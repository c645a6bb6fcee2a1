/**
 * InferenceSession validation, in TS and at the native boundary (STYLE §6): each branch gives the
 * right error class and a message naming the argument; dispose then run is a clear Error; no bad
 * input crashes the process.
 */
import { describe, expect, it } from 'vitest';
import { InferenceSession, cudaAvailable, modelConfig, randomWeights, type ModelConfig } from '../../src/index.js';
import { native } from '../../src/native.js';

const CFG: ModelConfig = modelConfig('tiny', {
  D: 16, H: 2, L: 4, patch: 8, image: [16, 24], R: 1, Q: 2, Bq: 2, classes: 1, stageBlocks: [1], selectorWidth: 4,
});
const W = randomWeights(CFG, 1, { init: 'test' });
const IMG = new Float32Array(3 * 16 * 24).fill(0.1);
const Native = native().InferenceSession;

function without(name: string): Record<string, Float32Array> {
  const w = { ...W };
  delete w[name];
  return w;
}

describe('InferenceSession.create errors', () => {
  it.each([
    [{ keep: 0 }, RangeError, /options\.keep/],
    [{ keep: 1.5 }, RangeError, /options\.keep/],
    [{ keep: Number.NaN }, RangeError, /options\.keep/],
    [{ keep: '0.7' }, RangeError, /options\.keep to be a number in \(0, 1\], 'dynamic' or null, received string '0\.7'/],
    [{ keep: true }, TypeError, /options\.keep/],
    [{ keep: 'dynamic', threshold: 1.5 }, RangeError, /options\.threshold in \[0, 1\], received 1\.5/],
    [{ keep: 'dynamic', threshold: '0.5' }, TypeError, /options\.threshold/],
    [{ keep: 'dynamic', minKeep: 0 }, RangeError, /options\.minKeep to be an integer >= 1, received 0/],
    [{ keep: 'dynamic', minKeep: 2.5 }, RangeError, /options\.minKeep/],
    [{ keep: 0.7, threshold: 0.5 }, RangeError, /apply to keep 'dynamic' only/],
    [{ keep: 'dynamic', roundKeep: 8 }, RangeError, /roundKeep applies to fixed keep ratios/],
    [{ keep: 'dynamic', tome: { mode: 'mhsa', mergeRatio: 0.5 } }, RangeError, /cannot be combined/],
    [{ device: 'tpu' }, RangeError, /options\.device/],
    [{ tome: { mode: 'x', mergeRatio: 0.5 } }, RangeError, /options\.tome\.mode/],
    [{ tome: { mode: 'mhsa', mergeRatio: 1 } }, RangeError, /options\.tome\.mergeRatio/],
    [{ tome: { mode: 'mhsa', ratio: 0.5 } }, TypeError, /options\.tome\.mergeRatio/],
    [{ tome: { mode: 'mhsa', mergeRatio: 0.5 }, keep: 0.7 }, RangeError, /cannot be combined/],
  ] as const)('options %j', async (opts, cls, re) => {
    // deliberately invalid options: the public type does not allow them
    const p = InferenceSession.create({ config: CFG, weights: W }, opts as unknown as Parameters<typeof InferenceSession.create>[1]);
    await expect(p).rejects.toThrow(cls);
    await expect(p).rejects.toThrow(re);
  });

  it.skipIf(cudaAvailable().ok)("device 'cuda' without a usable device is a clear Error naming why, never a CPU fallback", async () => {
    const why = cudaAvailable().reason;
    const p = InferenceSession.create({ config: CFG, weights: W }, { device: 'cuda' });
    await expect(p).rejects.toThrow(/InferenceSession\(cuda\): CUDA is not available: /);
    await expect(p).rejects.toThrow(why.split(':')[0]!);
  });


  it('missing, mistyped, mis-sized and non-finite weights name the tensor', async () => {
    await expect(InferenceSession.create({ config: CFG, weights: without('blocks.1.mlp.fc1.weight') })).rejects.toThrow(/weights\['blocks\.1\.mlp\.fc1\.weight'\].*missing/);
    await expect(InferenceSession.create({ config: CFG, weights: { ...W, 'norm.bias': new Float64Array(16) as unknown as Float32Array } })).rejects.toThrow(TypeError);
    await expect(InferenceSession.create({ config: CFG, weights: { ...W, 'pos_embed': new Float32Array(5) } })).rejects.toThrow(/weights\['pos_embed'\] to have 96 elements/);
    const bad = new Float32Array(W['q.weight']!);
    bad[3] = Number.NaN;
    await expect(InferenceSession.create({ config: CFG, weights: { ...W, 'q.weight': bad } })).rejects.toThrow(/weights\['q\.weight'\] to be finite/);
  });

  it('bad configs are rejected in TS and again in C++', async () => {
    await expect(InferenceSession.create({ config: { ...CFG, D: 15 } })).rejects.toThrow(RangeError);
    await expect(InferenceSession.create(42 as unknown as string)).rejects.toThrow(/source/);
    await expect(InferenceSession.create('/nonexistent/model.safetensors')).rejects.toThrow();
    expect(() => new Native('{"D": 16,', W, { keep: null })).toThrow(/configJson: invalid JSON/);
    expect(() => new Native('[]', W, { keep: null })).toThrow(/JSON object/);
    expect(() => new Native(JSON.stringify({ ...CFG, H: 3 }), W, { keep: null })).toThrow(/D % H/);
    expect(() => new Native(JSON.stringify({ ...CFG, image: [16, 20] }), W, { keep: null })).toThrow(/config\.image/);
    expect(() => new Native(JSON.stringify({ ...CFG, stageBlocks: [2, 1] }), W, { keep: null })).toThrow(/stageBlocks ascending/);
    expect(() => new Native(JSON.stringify({ ...CFG, L: 'four' }), W, { keep: null })).toThrow(/config\.L/);
    expect(() => new Native(JSON.stringify(CFG), null as unknown as Record<string, Float32Array>, { keep: null })).toThrow(/weights/);
    expect(() => new Native(JSON.stringify(CFG), W, { keep: 2 })).toThrow(/options\.keep/);
    // keep 'dynamic' at the binding: the same rules as in TS
    const bad = (o: object) => () => new Native(JSON.stringify(CFG), W, o as { keep: null });
    expect(bad({ keep: 'dynamik' })).toThrow(/options\.keep to be a number in \(0, 1\], 'dynamic' or null, received 'dynamik'/);
    expect(bad({ keep: 'dynamic', threshold: -0.1 })).toThrow(/options\.threshold in \[0, 1\]/);
    expect(bad({ keep: 'dynamic', threshold: 'x' })).toThrow(TypeError);
    expect(bad({ keep: 'dynamic', minKeep: 0 })).toThrow(/options\.minKeep to be an integer >= 1/);
    expect(bad({ keep: 0.7, minKeep: 3 })).toThrow(/apply to keep 'dynamic' only/);
    expect(bad({ keep: 'dynamic', roundKeep: 8 })).toThrow(/roundKeep applies to fixed keep ratios/);
    expect(bad({ keep: 'dynamic', tome: { mode: 'mhsa', mergeRatio: 0.5 } })).toThrow(/cannot be combined/);
  });
});

describe('InferenceSession.run errors', () => {
  it('images of the wrong kind, shape or values name the argument', async () => {
    const s = await InferenceSession.create({ config: CFG, weights: W });
    await expect(s.run(new Float32Array(7))).rejects.toThrow(/images to have B\*3\*16\*24/);
    await expect(s.run({ data: IMG, shape: [1, 3, 24, 16] })).rejects.toThrow(/images\.shape \[B,3,16,24\]/);
    await expect(s.run({ data: IMG, shape: [2, 3, 16, 24] })).rejects.toThrow(/images\.data to have/);
    await expect(s.run([1, 2, 3] as unknown as Float32Array)).rejects.toThrow(TypeError);
    await expect(s.run(IMG, { perBlock: 1 as unknown as boolean })).rejects.toThrow(/perBlock/);
    const nan = new Float32Array(IMG);
    nan[10] = Number.NaN;
    await expect(s.run(nan)).rejects.toThrow(RangeError);
    await expect(s.run(nan)).rejects.toThrow(/images to be finite/);
    // still usable after rejected calls
    await expect(s.run(IMG)).resolves.toBeDefined();
    s.dispose();
  });

  it('dispose then run is a clear Error; dispose is idempotent', async () => {
    const s = await InferenceSession.create({ config: CFG, weights: W });
    const pending = s.run(IMG);
    s.dispose();
    s.dispose();
    await expect(pending).rejects.toThrow(/disposed/);
    await expect(s.run(IMG)).rejects.toThrow(/InferenceSession\.run: the session was disposed/);
  });

  it('the native session rejects a second concurrent run and settles the first', async () => {
    const s = new Native(JSON.stringify(CFG), W, { keep: 0.5 });
    const first = s.run(IMG, 1, false);
    expect(() => s.run(IMG, 1, false)).toThrow(/already in progress/);
    const r = await first;
    expect(r.semantic.length).toBe(16 * 24);
    s.dispose();
    expect(() => s.run(IMG, 1, false)).toThrow(/disposed/);
  });

  it('native argument checks name the argument', () => {
    const s = new Native(JSON.stringify(CFG), W, { keep: null });
    expect(() => s.run(new Float64Array(IMG) as unknown as Float32Array, 1, false)).toThrow(/images/);
    expect(() => s.run(IMG, 0, false)).toThrow(/B/);
    expect(() => s.run(IMG, 2, false)).toThrow(/images to have 2304 elements/);
    expect(() => s.run(IMG, 1, 'yes' as unknown as boolean)).toThrow(/perBlock/);
    s.dispose();
  });

  it('dispose while a native run is in flight frees the engine after it settles', async () => {
    const s = new Native(JSON.stringify(CFG), W, { keep: null });
    const p = s.run(IMG, 1, true);
    s.dispose();
    const r = await p;
    expect(r.perBlock!.length).toBe(3);
    expect(() => s.run(IMG, 1, false)).toThrow(/disposed/);
  });
});
