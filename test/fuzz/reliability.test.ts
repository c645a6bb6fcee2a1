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
  PRUNED_BLOCK_WEIGHT_NAMES, gatherTokens, gatherTokensBackward, gelu, layerNorm, matmul, modelConfig, policyAttention, policyAttentionAsync,
  policyAttentionBackward, policyAttentionBackwardAsync, prunedBlock, prunedBlockAsync, type PrunedBlockWeights,
} from '../../src/index.js';
import { native } from '../../src/native.js';
import { main } from '../../src/cli/program.js';
import { captureIo, fakeFactory } from '../cli/helpers.js';
import { randn, rng } from '../reference/helpers.js';

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
