// The CPU kernel variants (ref / avx2 / avx512): run-time dispatch, forcing, errors, and the avx512 kernels
// against the avx2 ones. The avx512 GEMM and attention core reduce every output in the same FMA order as
// avx2 (same chains, same epilogue operations), so the whole ops must agree bit for bit; each is also
// checked against the float64 references in its own test file (the variant grid runs every variant).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InferenceSession, gelu, geluBackward, info, modelConfig, policyAttention, policyAttentionBackward, prunedBlock, randomWeights, setKernel, getKernel, tomeBlock } from '../../src/index.js';
import { prunedBlockRef, randomBlockWeights } from '../reference/prunedBlock.js';
import { cpuVariants, randIndices, randn, randu, rng, untestedVariants, withKernel } from '../reference/helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const has512 = cpuVariants().includes('avx512');

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Loads the package in a child process with REG4PRU_KERNEL set; returns its exit status and output. */
function loadWithEnv(kernel: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', "import('./src/index.ts').then((m) => console.log('kernel=' + m.getKernel()))"], {
    cwd: root,
    env: { ...process.env, REG4PRU_KERNEL: kernel },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('kernel variants: dispatch', () => {
  it('info() lists the runnable variants and auto picks the widest', () => {
    const c = info().cpu;
    expect(c.variants[0]).toBe('ref');
    expect(c.variants).toEqual(['ref', 'avx2', 'avx512'].filter((v) => c.variants.includes(v as 'ref')));
    expect(setKernel('auto')).toBe(c.variants[c.variants.length - 1]);
    expect(c.simd.startsWith('avx512')).toBe(has512);
    expect(c.bf16).toBe(c.simd === 'avx512+bf16');
    expect(c.avx512Ops).toEqual(expect.arrayContaining(['gemm', 'prunedBlock']));
    // Say which variants this machine could not test (CI logs show it).
    const missing = untestedVariants();
    if (missing.length > 0) console.log(`[reg4pru] CPU kernel variants NOT tested on this machine (CPU lacks them): ${missing.join(', ')}`);
  });

  it('setKernel forces each runnable variant and rejects unknown or missing ones', () => {
    try {
      for (const v of cpuVariants()) {
        expect(setKernel(v)).toBe(v);
        expect(getKernel()).toBe(v);
      }
      expect(() => setKernel('sse' as 'ref')).toThrow(/expected kernel to be 'auto', 'ref', 'avx2' or 'avx512', received 'sse'/);
      for (const v of untestedVariants()) expect(() => setKernel(v as 'ref')).toThrow(new RegExp(`cannot run the '${v}' kernels`));
    } finally {
      setKernel('auto');
    }
  });

  it('REG4PRU_KERNEL: an unknown value makes loading throw a clear error; a runnable one is used', () => {
    const bad = loadWithEnv('avx1024');
    expect(bad.status).not.toBe(0);
    expect(bad.out).toMatch(/REG4PRU_KERNEL: expected 'auto', 'ref', 'avx2' or 'avx512', received 'avx1024'/);
    const top = cpuVariants()[cpuVariants().length - 1]!;
    const ok = loadWithEnv(top);
    expect(ok.out).toContain(`kernel=${top}`);
    expect(ok.status).toBe(0);
    for (const v of untestedVariants()) {
      const missing = loadWithEnv(v);
      expect(missing.status).not.toBe(0);
      expect(missing.out).toMatch(new RegExp(`REG4PRU_KERNEL: this CPU cannot run the '${v}' kernels`));
    }
  });
});

describe.skipIf(!has512)('avx512 ops give the avx2 bits', () => {
  const both = <T extends Float32Array>(threads: number, fn: () => T): [T, T] => [withKernel('avx2', threads, fn), withKernel('avx512', threads, fn)];

  it('policyAttention forward: B > 1, odd N, Dh not a multiple of 16, with and without the 1-2 thread split', () => {
    for (const [B, H, N, Dh] of [[2, 3, 37, 24], [1, 2, 131, 64], [1, 1, 1, 8], [2, 1, 200, 40]] as const) {
      const r = rng(N * 7 + Dh);
      const q = randn(B * H * N * Dh, r), k = randn(B * H * N * Dh, r), v = randn(B * H * N * Dh, r), pol = randu(B * N, r);
      const t = (d: Float32Array) => ({ data: d, shape: [B, H, N, Dh] });
      for (const threads of [1, 2]) {
        const [a, b] = both(threads, () => policyAttention(t(q), t(k), t(v), { data: pol, shape: [B, N] }).data);
        expect(sameBits(a, b), `B=${B} H=${H} N=${N} Dh=${Dh} threads=${threads}`).toBe(true);
      }
    }
  });

  it('policyAttention backward (every gradient)', () => {
    for (const [B, H, N, Dh] of [[2, 3, 37, 24], [1, 2, 131, 64], [1, 1, 1, 8], [1, 1, 100, 40]] as const) {
      const r = rng(N * 5 + Dh);
      const n = B * H * N * Dh;
      const q = randn(n, r), k = randn(n, r), v = randn(n, r), dout = randn(n, r), pol = randu(B * N, r);
      const t = (d: Float32Array) => ({ data: d, shape: [B, H, N, Dh] });
      for (const threads of [1, 2]) {
        const run = (variant: 'avx2' | 'avx512') =>
          withKernel(variant, threads, () => {
            const g = policyAttentionBackward(t(q), t(k), t(v), { data: pol, shape: [B, N] }, t(dout));
            return [g.dq.data, g.dk.data, g.dv.data, g.dpolicy.data];
          });
        const a = run('avx2'), b = run('avx512');
        a.forEach((x, i) => expect(sameBits(x, b[i]!), `grad ${i} B=${B} N=${N} Dh=${Dh} threads=${threads}`).toBe(true));
      }
    }
  });

  it('prunedBlock: K = 1, K = N (idx null), tails, B > 1', () => {
    for (const [B, N, K, D, H, F, nullIdx] of [[2, 19, 7, 24, 3, 40, false], [1, 33, 1, 32, 2, 64, false], [2, 45, 45, 48, 3, 96, true], [1, 300, 211, 64, 2, 256, false]] as const) {
      const r = rng(N + K * 3 + D);
      const x = randn(B * N * D, r);
      const idx = nullIdx ? null : { data: randIndices(B, N, K, r), shape: [B, K] };
      const w = randomBlockWeights(D, F, D + F);
      for (const threads of [1, 2]) {
        const [a, b] = both(threads, () => prunedBlock({ data: x, shape: [B, N, D] }, idx, w, { heads: H }).data);
        expect(sameBits(a, b), `B=${B} N=${N} K=${K} D=${D} threads=${threads}`).toBe(true);
      }
    }
  });

  it('gelu and geluBackward (tails, large and extreme values)', () => {
    for (const n of [1, 15, 17, 1000, 70001]) {
      const x = randn(n, rng(n), 4);
      if (n > 20) x.set([0, -0, 30, -30, 1e-30, -9, 9, Number.NaN], 3);
      const dy = randn(n, rng(n + 1));
      for (const threads of [1, 2]) {
        const [a, b] = both(threads, () => gelu({ data: x, shape: [n] }).data);
        expect(sameBits(a, b), `gelu n=${n}`).toBe(true);
        const [c, d] = both(threads, () => geluBackward({ data: dy, shape: [n] }, { data: x, shape: [n] }).data);
        expect(sameBits(c, d), `geluBackward n=${n}`).toBe(true);
      }
    }
  });

  it('the inference engine (weights pre-packed per kernel), unpruned and pruned, B = 2', async () => {
    const cfg = modelConfig('tiny', { D: 48, H: 3, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2], image: [64, 96] });
    const weights = randomWeights(cfg, 4);
    const img = randn(2 * 3 * 64 * 96, rng(8));
    for (const keep of [null, 0.6]) {
      const s = await InferenceSession.create({ config: cfg, weights }, { keep });
      try {
        const out: Float32Array[] = [];
        for (const v of ['avx2', 'avx512', 'avx2'] as const) {
          setKernel(v); // the session repacks its block weights when the kernel changes
          try {
            out.push((await s.run({ data: img, shape: [2, 3, 64, 96] })).semantic.data);
          } finally {
            setKernel('auto');
          }
        }
        expect(sameBits(out[0]!, out[1]!), `keep=${keep}`).toBe(true);
        expect(sameBits(out[0]!, out[2]!), `keep=${keep} after repacking`).toBe(true);
      } finally {
        s.dispose();
      }
    }
  });

  it('the engine head on odd shapes: D not a multiple of 16, Q > 16, a x3 resize whose width leaves a scalar tail', async () => {
    // D = 44 (16-, 8- and 4-channel pieces in the depthwise+LN and mask-logit kernels), Q = 18 (two query blocks), patch 12 on 36 x 60: the
    // 12 x 20 mask map resized x3 to 60 columns (60 = 7 * 8 + 4: the AVX2 tail handled as there)
    const cfg = modelConfig('tiny', { D: 44, H: 2, L: 3, Q: 18, Bq: 1, R: 0, patch: 12, stageBlocks: [1], image: [36, 60], classes: 2 });
    const weights = randomWeights(cfg, 6);
    const img = randn(2 * 3 * 36 * 60, rng(9));
    const s = await InferenceSession.create({ config: cfg, weights });
    try {
      const out: { semantic: Float32Array; maskLogits: Float32Array; classLogits: Float32Array }[] = [];
      for (const v of ['avx2', 'avx512'] as const) {
        setKernel(v);
        try {
          const r = await s.run({ data: img, shape: [2, 3, 36, 60] });
          out.push({ semantic: r.semantic.data, maskLogits: r.maskLogits.data, classLogits: r.classLogits.data });
        } finally {
          setKernel('auto');
        }
      }
      for (const k of ['maskLogits', 'classLogits', 'semantic'] as const) expect(sameBits(out[0]![k], out[1]![k]), k).toBe(true);
      expect(out[0]!.maskLogits.some((v) => v !== 0)).toBe(true);
    } finally {
      s.dispose();
    }
  });

  it('tomeBlock (1-D and 2-D splits, both modes)', () => {
    const B = 2, P0 = 5, gh = 6, gw = 7, T = P0 + gh * gw, D = 32, H = 2, F = 64;
    const x = randn(B * T * D, rng(77));
    const w = randomBlockWeights(D, F, 9);
    for (const mode of ['mhsa', 'mhsa+mlp'] as const) {
      for (const grid of [undefined, [gh, gw] as [number, number]]) {
        const [a, b] = both(2, () => tomeBlock({ data: x, shape: [B, T, D] }, w, { heads: H, protectedTokens: P0, mode, mergeRatio: 0.6, grid }).data);
        expect(sameBits(a, b), `${mode} grid=${grid}`).toBe(true);
      }
    }
  });
});

describe.skipIf(has512)('avx512 variant', () => {
  it('is not tested here: the CPU has no AVX-512 F/BW/DQ/VL', () => {
    expect(untestedVariants()).toContain('avx512');
  });
});

describe('prunedBlock precision bf16 (BF16 GEMM + BF16 attention operands, FP32 sums)', () => {
  const hasBf16 = has512 && info().cpu.bf16;
  it.skipIf(!hasBf16)('stays within BF16 rounding of the float64 reference, and is not the FP32 result', () => {
    for (const [B, N, K, D, H, F, nullIdx] of [[2, 19, 7, 24, 3, 40, false], [1, 130, 97, 64, 2, 256, false], [1, 65, 65, 48, 3, 96, true], [1, 300, 211, 128, 2, 256, false], [1, 1130, 1090, 32, 1, 64, false], [1, 1070, 1060, 32, 1, 64, false]] as const) {
      // the last case: K > 1024 keys, three softmax chunks of the attention core (512 keys each), the last partial
      const r = rng(N * 3 + K + D);
      const x = randn(B * N * D, r);
      const idxData = nullIdx ? null : randIndices(B, N, K, r);
      const idx = idxData === null ? null : { data: idxData, shape: [B, K] };
      const w = randomBlockWeights(D, F, D + F + 1);
      const want = prunedBlockRef(x, idxData, B, N, K, D, H, w);
      const [y16a, y16b] = [1, 2].map((t) => withKernel('avx512', t, () => prunedBlock({ data: x, shape: [B, N, D] }, idx, w, { heads: H, precision: 'bf16' }).data));
      const y32 = withKernel('avx512', 2, () => prunedBlock({ data: x, shape: [B, N, D] }, idx, w, { heads: H }).data);
      expect(sameBits(y16a!, y16b!), 'threads bit-identical').toBe(true);
      let err16 = 0, err32 = 0, scale = 0;
      for (let i = 0; i < want.length; i++) {
        err16 = Math.max(err16, Math.abs(y16a![i]! - want[i]!));
        err32 = Math.max(err32, Math.abs(y32[i]! - want[i]!));
        scale = Math.max(scale, Math.abs(want[i]! - x[i]!)); // the block's update (x is carried by the residual)
      }
      const tag = `B=${B} N=${N} K=${K} D=${D}`;
      if (process.env.R4P_DEBUG) console.log(tag, err16, err32, scale);
      expect(err16, tag).toBeGreaterThan(err32); // it really rounded to BF16
      expect(err16, tag).toBeLessThan(2e-2 * Math.max(1, scale)); // ~2^-8 relative on the block's update
    }
  });
  it.skipIf(!hasBf16)('under a forced avx2 kernel names what is missing', () => {
    const D = 8, F = 16, w = randomBlockWeights(D, F, 1);
    withKernel('avx2', 1, () => expect(() => prunedBlock({ data: new Float32Array(2 * D), shape: [1, 2, D] }, null, w, { heads: 2, precision: 'bf16' })).toThrow(/BF16 precision needs the 'avx512' kernels/));
  });
  it('rejects an unknown precision', () => {
    const D = 8, F = 16, w = randomBlockWeights(D, F, 1);
    expect(() => prunedBlock({ data: new Float32Array(2 * D), shape: [1, 2, D] }, null, w, { heads: 2, precision: 'fp8' as 'bf16' })).toThrow(/expected opts.precision to be 'fp32' or 'bf16'/);
  });
});
