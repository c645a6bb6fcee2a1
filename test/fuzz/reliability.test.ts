/**
 * The reliability bugs an independent probe found (issue 16 item 8), one test each; every test failed
 * before its fix: SharedArrayBuffer-backed arrays, async ops that threw synchronously, opts = null, a
 * huge N, matmul errors named after the internal gemm, two lnEps rules, inputs read twice, idx changed
 * while prunedBlockAsync runs, a dangling symlink in `infer`'s folder, and stack traces on the CLI.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  PRUNED_BLOCK_WEIGHT_NAMES, cuda, gatherTokens, gatherTokensBackward, gelu, geluBackward, gumbelSoftmaxST, gumbelSoftmaxSTBackward, gumbelTopK, layerNorm,
  layerNormBackward, matmul, modelConfig, policyAttention, policyAttentionAsync, policyAttentionBackward, policyAttentionBackwardAsync, prunedBlock,
  prunedBlockAsync, scatterTokens, scatterTokensBackward, softmaxRows, tomeBlock, tomeBlockAsync, type PrunedBlockWeights,
} from '../../src/index.js';
import { vitBlock, vitBlockBackward } from '../../src/ops/vitBlock.js';
import { UPSCALE_WEIGHT_NAMES, upscaleBlock, upscaleBlockBackward, type UpscaleBlockWeights } from '../../src/ops/upscaleBlock.js';
import { native } from '../../src/native.js';
import { main } from '../../src/cli/program.js';
import { captureIo, fakeFactory } from '../cli/helpers.js';
import { randn, randu, rng } from '../reference/helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-reliab-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const t = (data: Float32Array, shape: number[]) => ({ data, shape });
const shared = <T extends Float32Array | Int32Array>(a: T): T => {
  const Ctor = a.constructor as new (b: SharedArrayBuffer) => T;
  const c = new Ctor(new SharedArrayBuffer(a.byteLength));
  c.set(a as never);
  return c;
};

const D = 8, H = 2, F = 16;
function blockWeights(seed: number): PrunedBlockWeights {
  const r = rng(seed);
  const size: Record<string, number[]> = {
    'attn.qkv.weight': [3 * D, D], 'attn.qkv.bias': [3 * D], 'attn.proj.weight': [D, D], 'mlp.fc1.weight': [F, D], 'mlp.fc1.bias': [F], 'mlp.fc2.weight': [D, F],
  };
  const w = {} as Record<string, { data: Float32Array; shape: number[] }>;
  for (const n of PRUNED_BLOCK_WEIGHT_NAMES) {
    const s = size[n] ?? [D];
    w[n] = t(randn(s.reduce((a, b) => a * b, 1), r), s);
  }
  return w as unknown as PrunedBlockWeights;
}

describe('SharedArrayBuffer-backed typed arrays', () => {
  it('are a TypeError naming the op and the argument, in TS and at the binding', () => {
    const x = randn(2 * 5 * 3, rng(1)), idx = new Int32Array([0, 2, 1, 4]);
    expect(() => gatherTokens(t(shared(x), [2, 5, 3]), { data: idx, shape: [2, 2] })).toThrow(/^gatherTokens: expected x to be backed by an ArrayBuffer, received Float32Array\(30\) on a SharedArrayBuffer$/);
    expect(() => gatherTokens(t(x, [2, 5, 3]), { data: shared(idx), shape: [2, 2] })).toThrow(TypeError);
    expect(() => gatherTokens(t(x, [2, 5, 3]), { data: idx, shape: [2, 2] }, shared(new Float32Array(12)))).toThrow(/gatherTokens: expected out to be backed by an ArrayBuffer/);
    const w = blockWeights(2);
    const ws = { ...w, 'ls1.gamma': t(shared(w['ls1.gamma'].data), [D]) } as PrunedBlockWeights;
    expect(() => prunedBlock(t(randn(4 * D, rng(3)), [1, 4, D]), null, ws, { heads: H })).toThrow(/^prunedBlock: expected weights\['ls1\.gamma'\] to be backed by an ArrayBuffer/);
    // the binding, called directly
    const call = () => native().gatherTokens(shared(x), idx, new Float32Array(12), 2, 5, 2, 3);
    expect(call).toThrow(TypeError);
    expect(call).toThrow(/^gatherTokens: expected x to be a Float32Array backed by an ArrayBuffer, received Float32Array on a SharedArrayBuffer$/);
    expect(() => native().gelu(new Float32Array(4), shared(new Float32Array(4)), 4)).toThrow(/^gelu: expected .* on a SharedArrayBuffer$/);
  });
});

describe('async ops report bad input as a rejected Promise', () => {
  it('prunedBlockAsync rejects (never throws synchronously), like policyAttentionAsync', async () => {
    let p: Promise<unknown> | undefined;
    expect(() => { p = prunedBlockAsync(t(new Float32Array(3), [1, 3]), null, blockWeights(1), { heads: H }); }).not.toThrow();
    await expect(p).rejects.toThrow(/^prunedBlockAsync: expected x to be float32 \[B,N,D\]/);
    let q: Promise<unknown> | undefined;
    expect(() => { q = prunedBlockAsync(t(new Float32Array(4 * D), [1, 4, D]), null, blockWeights(1), null as never); }).not.toThrow();
    await expect(q).rejects.toThrow(TypeError);
  });
});

describe('opts = null', () => {
  it('means "no options" in policyAttention and its backward and async forms', async () => {
    const r = rng(5), n = 1 * 2 * 3 * 4;
    const q = t(randn(n, r), [1, 2, 3, 4]), k = t(randn(n, r), [1, 2, 3, 4]), v = t(randn(n, r), [1, 2, 3, 4]), pol = t(new Float32Array([1, 0, 1]), [1, 3]);
    const ref = policyAttention(q, k, v, pol);
    expect(policyAttention(q, k, v, pol, null as never).data).toEqual(ref.data);
    expect((await policyAttentionAsync(q, k, v, pol, null as never)).data).toEqual(ref.data);
    const dout = t(randn(n, r), [1, 2, 3, 4]);
    expect(policyAttentionBackward(q, k, v, pol, dout, null as never).dq.data).toEqual(policyAttentionBackward(q, k, v, pol, dout).dq.data);
    expect((await policyAttentionBackwardAsync(q, k, v, pol, dout, null as never)).dv.data).toEqual(policyAttentionBackward(q, k, v, pol, dout).dv.data);
    expect(() => policyAttention(q, k, v, pol, 7 as never)).toThrow(/^policyAttention: expected opts to be an object, received number 7$/);
  });
});

describe('sizes', () => {
  it('gatherTokensBackward with N = 2^31 or 2^53 is a RangeError naming N; a huge output names the op', () => {
    const dout = t(new Float32Array(2), [1, 1, 2]), idx = { data: new Int32Array([0]), shape: [1, 1] };
    for (const N of [2 ** 31, 2 ** 53]) expect(() => gatherTokensBackward(dout, idx, N)).toThrow(/^gatherTokensBackward: expected N to be an integer in \[1, 2147483647\]/);
    const big = t(new Float32Array(4096), [1, 1, 4096]);
    expect(() => gatherTokensBackward(big, idx, 2 ** 31 - 1)).toThrow(/^gatherTokensBackward: cannot allocate out of \d+ float32 elements/);
  });
});

describe('matmul', () => {
  it('errors raised in C++ name matmul, not the internal gemm', () => {
    const a = t(new Float32Array(8), [2, 4]), b = t(new Float32Array(12), [4, 3]);
    const out = new Float32Array(6);
    // out overlapping opts.bias is caught by the binding (TS checks out against a and b only)
    const viaMatmul = () => matmul(a, b, { out, bias: out.subarray(0, 3) });
    expect(viaMatmul).toThrow(RangeError);
    expect(viaMatmul).toThrow(/^matmul: expected C and opts\.bias not to share memory/);
    // the binding itself still calls itself gemm
    expect(() => native().gemm(a.data, b.data, out, 2, 3, 4, 4, 3, 3, false, false, { bias: out.subarray(0, 3) })).toThrow(/^gemm: expected C and opts\.bias/);
  });
});

describe('one lnEps rule', () => {
  it('prunedBlock rejects an lnEps that is 0 in float32, as layerNorm does', () => {
    const x = t(randn(4 * D, rng(9)), [1, 4, D]);
    expect(() => prunedBlock(x, null, blockWeights(3), { heads: H, lnEps: 1e-50 })).toThrow(/^prunedBlock: expected lnEps to be a finite number > 0 \(as float32\), received 1e-50$/);
    expect(() => layerNorm(t(new Float32Array(4), [1, 4]), t(new Float32Array(4), [4]), t(new Float32Array(4), [4]), { eps: 1e-50 })).toThrow(/^layerNorm: expected eps to be a finite number > 0 \(as float32\)/);
    const w = blockWeights(3), wn: Record<string, Float32Array> = {};
    for (const n of PRUNED_BLOCK_WEIGHT_NAMES) wn[n] = w[n].data;
    expect(() => native().prunedBlock(x.data, null, new Float32Array(4 * D), 1, 4, 4, D, H, wn, 1e-50)).toThrow(/^prunedBlock: expected lnEps to be a finite number > 0 \(as float32\)/);
  });
  it('cuda.prunedBlock and its binding apply the same rule (checked before the DeviceTensors, so without a device too)', () => {
    const rule = /^cudaPrunedBlock: expected (opts\.)?lnEps to be a finite number > 0 \(as float32\), received /;
    for (const bad of [1e-50, 0, -1, Infinity, NaN, 1e39]) {
      expect(() => cuda.prunedBlock(null as never, null, {} as never, { heads: H, lnEps: bad })).toThrow(rule);
      expect(() => native().cudaPrunedBlock(null as never, null, {}, H, bad, false)).toThrow(rule);
    }
    expect(() => native().cudaPrunedBlock(null as never, null, {}, H, 1e-6, false)).toThrow(/^cudaPrunedBlock: expected x to be a DeviceTensor/);
  });
});

describe('inputs are read once', () => {
  it('gelu: a data getter that changes between reads cannot desynchronise length and shape', () => {
    let reads = 0;
    const x = { get data() { reads++; return reads === 1 ? new Float32Array([1, 2]) : new Float32Array([1, 2, 3, 4]); }, shape: [2] };
    const y = gelu(x as never);
    expect(reads).toBe(1);
    expect(y.data.length).toBe(2);
    expect(y.shape).toEqual([2]);
  });

  // Every tensor input of every op as a pair of getters: the first read of `data` / `shape` gives the valid
  // value, any later read a longer array and another shape. An op that reads an input twice either fails
  // (validated one array, handed the kernel another) or returns a result whose length and shape disagree.
  type Tensor = { data: Float32Array | Int32Array | Uint8Array; shape: number[] };
  const reads: Array<{ name: string; data: number; shape: number; }> = [];
  function once<T extends Tensor>(name: string, t: T): T {
    const c = { name, data: 0, shape: 0 };
    reads.push(c);
    const Ctor = t.data.constructor as new (n: number) => T['data'];
    const other = new Ctor(t.data.length + 3);
    return { get data() { return ++c.data === 1 ? t.data : other; }, get shape() { return ++c.shape === 1 ? t.shape : [...t.shape, 1]; } } as T;
  }
  const f32 = (shape: number[], seed: number): { data: Float32Array; shape: number[] } => t(randn(shape.reduce((a, b) => a * b, 1), rng(seed)), shape);
  const i32 = (data: number[], shape: number[]) => ({ data: Int32Array.from(data), shape });
  const onceWeights = (seed: number): PrunedBlockWeights => {
    const w = blockWeights(seed) as unknown as Record<string, Tensor>;
    const o: Record<string, Tensor> = {};
    for (const n of PRUNED_BLOCK_WEIGHT_NAMES) o[n] = once(`weights['${n}']`, w[n]!);
    return o as unknown as PrunedBlockWeights;
  };
  // scale block: x [1,2,3,C=2] -> [1,4,6,O=3]
  const upShapes: Record<string, number[]> = { 'conv1.weight': [2, 3, 2, 2], 'conv1.bias': [3], 'conv2.weight': [3, 1, 3, 3], 'norm.weight': [3], 'norm.bias': [3] };
  const upWeights = (seed: number, wrap: boolean): UpscaleBlockWeights => {
    const o: Record<string, Tensor> = {};
    for (const [i, n] of UPSCALE_WEIGHT_NAMES.entries()) o[n] = wrap ? once(`weights['${n}']`, f32(upShapes[n]!, seed + i)) : f32(upShapes[n]!, seed + i);
    return o as unknown as UpscaleBlockWeights;
  };
  const attn = () => ({ q: once('q', f32([1, 2, 3, 4], 21)), k: once('k', f32([1, 2, 3, 4], 22)), v: once('v', f32([1, 2, 3, 4], 23)), p: once('policy', t(new Float32Array([1, 0, 1]), [1, 3])) });
  const outputs = (r: unknown): Array<{ data: ArrayLike<number>; shape: readonly number[] }> => {
    if (r !== null && typeof r === 'object' && 'data' in r && 'shape' in r) return [r as { data: ArrayLike<number>; shape: readonly number[] }];
    return Object.values(r as object).flatMap((v) => (v === null ? [] : outputs(v)));
  };
  const cases: Record<string, () => unknown> = {
    gatherTokens: () => gatherTokens(once('x', f32([2, 5, 3], 1)), once('idx', i32([0, 4, 1, 1], [2, 2]))),
    gatherTokensBackward: () => gatherTokensBackward(once('dout', f32([2, 2, 3], 2)), once('idx', i32([0, 4, 1, 1], [2, 2])), 5),
    scatterTokens: () => scatterTokens(once('base', f32([2, 5, 3], 3)), once('idx', i32([0, 4, 1, 2], [2, 2])), once('src', f32([2, 2, 3], 4))),
    scatterTokensBackward: () => scatterTokensBackward(once('dout', f32([2, 5, 3], 5)), once('idx', i32([0, 4, 1, 2], [2, 2]))),
    gumbelTopK: () => gumbelTopK(once('logits', f32([2, 5], 6)), 2, { active: once('active', { data: new Uint8Array(10).fill(1), shape: [2, 5] }) }),
    gumbelSoftmaxST: () => gumbelSoftmaxST(once('logits', f32([2, 5, 2], 7))),
    gumbelSoftmaxSTBackward: () => gumbelSoftmaxSTBackward(once('dhard', f32([2, 5], 8)), once('soft', t(randu(10, rng(9)), [2, 5]))),
    layerNorm: () => layerNorm(once('x', f32([3, 4], 10)), once('w', f32([4], 11)), once('b', f32([4], 12))),
    layerNormBackward: () => layerNormBackward(once('dy', f32([3, 4], 13)), once('x', f32([3, 4], 14)), once('w', f32([4], 15)), once('mean', f32([3], 16)), once('rstd', t(randu(3, rng(17), 0.5, 2), [3]))),
    gelu: () => gelu(once('x', f32([2, 3], 18))),
    geluBackward: () => geluBackward(once('dy', f32([2, 3], 19)), once('x', f32([2, 3], 20))),
    matmul: () => matmul(once('a', f32([2, 3], 24)), once('b', f32([3, 4], 25)), { residual: once('opts.residual', f32([2, 4], 26)) }),
    softmaxRows: () => softmaxRows(once('x', f32([2, 3], 27))),
    policyAttention: () => { const { q, k, v, p } = attn(); return policyAttention(q, k, v, p); },
    policyAttentionBackward: () => { const { q, k, v, p } = attn(); return policyAttentionBackward(q, k, v, p, once('dout', f32([1, 2, 3, 4], 28))); },
    policyAttentionAsync: () => { const { q, k, v, p } = attn(); return policyAttentionAsync(q, k, v, p); },
    policyAttentionBackwardAsync: () => { const { q, k, v, p } = attn(); return policyAttentionBackwardAsync(q, k, v, p, once('dout', f32([1, 2, 3, 4], 29))); },
    prunedBlock: () => prunedBlock(once('x', f32([1, 4, D], 30)), once('idx', i32([3, 1], [1, 2])), onceWeights(31), { heads: H }),
    prunedBlockAsync: () => prunedBlockAsync(once('x', f32([1, 4, D], 32)), once('idx', i32([3, 1], [1, 2])), onceWeights(33), { heads: H }),
    tomeBlock: () => tomeBlock(once('x', f32([1, 5, D], 34)), onceWeights(35), { heads: H, protectedTokens: 1, mode: 'mhsa', ratio: 0.5 }),
    tomeBlockAsync: () => tomeBlockAsync(once('x', f32([1, 5, D], 36)), onceWeights(37), { heads: H, protectedTokens: 1, mode: 'mhsa+mlp', ratio: 0.5 }),
    vitBlock: () => vitBlock(once('x', f32([1, 4, D], 38)), once('policy', t(new Float32Array([1, 0, 1, 1]), [1, 4])), onceWeights(39), { heads: H }),
    vitBlockBackward: () => {
      const x = f32([1, 4, D], 40), pol = t(new Float32Array([1, 0.5, 1, 0]), [1, 4]), w = blockWeights(41);
      const { saved } = vitBlock(x, pol, w, { heads: H });
      return vitBlockBackward(once('dy', f32([1, 4, D], 42)), once('x', x), once('policy', pol), onceWeights(41), once('saved', { data: saved.data, shape: [...saved.shape] }), { heads: H });
    },
    upscaleBlock: () => upscaleBlock(once('x', f32([1, 2, 3, 2], 43)), upWeights(44, true)),
    upscaleBlockBackward: () => {
      const x = f32([1, 2, 3, 2], 50);
      const { saved } = upscaleBlock(x, upWeights(51, false));
      return upscaleBlockBackward(once('dy', f32([1, 4, 6, 3], 56)), once('x', x), upWeights(51, true), once('saved', { data: saved.data, shape: [...saved.shape] }));
    },
  };
  for (const [op, call] of Object.entries(cases)) {
    it(`${op} reads each input's data and shape once`, async () => {
      reads.length = 0;
      const r = await call();
      expect(reads.length).toBeGreaterThan(0);
      for (const c of reads) expect({ input: c.name, data: c.data, shape: c.shape }).toEqual({ input: c.name, data: 1, shape: 1 });
      for (const o of outputs(r)) expect(o.data.length).toBe(o.shape.reduce((a, b) => a * b, 1));
    });
  }
});

describe('prunedBlockAsync and a changed idx', () => {
  it('copies idx at the call: later writes do not reach the kernel (no crash, the result of the indices given)', async () => {
    const N = 64, K = 32, x = t(randn(N * D, rng(11)), [1, N, D]), w = blockWeights(4);
    const keep = Int32Array.from({ length: K }, (_, i) => 2 * i);
    const want = prunedBlock(x, { data: keep, shape: [1, K] }, w, { heads: H });
    for (let rep = 0; rep < 20; rep++) {
      const idx = Int32Array.from(keep);
      const p = prunedBlockAsync(x, { data: idx, shape: [1, K] }, w, { heads: H });
      idx.fill(2 ** 30); // far out of range: read by the worker, this would crash the process
      const got = await p;
      expect(Buffer.from(got.data.buffer).equals(Buffer.from(want.data.buffer))).toBe(true);
    }
  });
});

describe('reg4pru infer: a dangling symlink', () => {
  it('is reported as a failed entry and the run goes on', async () => {
    const inDir = path.join(dir, 'in'), outDir = path.join(dir, 'out');
    mkdirSync(inDir);
    symlinkSync(path.join(dir, 'nowhere.png'), path.join(inDir, 'broken.png'));
    const io = captureIo();
    const cfg = path.join(dir, 'm.json');
    (await import('node:fs')).writeFileSync(cfg, JSON.stringify({ D: 16, H: 2, L: 4, Q: 2, Bq: 1, R: 0, stageBlocks: [1], image: [32, 32], patch: 8 }));
    const code = await main(['node', 'reg4pru', 'infer', '--preset', 'tiny', '--model-config', cfg, '--input', inDir, '--output', outDir, '-q'], io, fakeFactory());
    expect(io.text().err).not.toMatch(/ENOENT.*\n\s+at /);
    expect(code).toBe(0);
    const summary = JSON.parse(readFileSync(path.join(outDir, 'summary.json'), 'utf8')) as { failed: number; items?: unknown };
    expect(JSON.stringify(summary)).toMatch(/broken\.png/);
    expect(JSON.stringify(summary)).toMatch(/dangling symbolic link/);
  });
});

describe('CLI errors', () => {
  it('print one line without the stack; --verbose adds it', async () => {
    const bad = path.join(dir, 'bad.safetensors');
    (await import('node:fs')).writeFileSync(bad, 'not a safetensors file at all');
    const args = ['node', 'reg4pru', 'eval', '--checkpoint', bad, '--data', 'synthetic', '--samples', '1', '-q'];
    const io = captureIo();
    const prevDebug = process.env.DEBUG;
    delete process.env.DEBUG;
    try {
      expect(await main(args, io)).toBe(1);
      const err = io.text().err;
      expect(err.trim().split('\n')).toHaveLength(1);
      expect(err).toMatch(/^error: \w*Error: /);
      expect(err).not.toMatch(/\n\s+at /);
      const io2 = captureIo();
      expect(await main([...args, '--verbose'], io2)).toBe(1);
      expect(io2.text().err).toMatch(/\n\s+at /);
    } finally {
      if (prevDebug !== undefined) process.env.DEBUG = prevDebug;
    }
  });
});

void modelConfig;
