/**
 * The GPU cases of the CUDA policyAttention tests (shared by policyAttention.test.ts, default kernel choice,
 * and policyAttentionSimt.test.ts, REG4PRU_CUDA_ATTN=simt). Tolerances: attnHelpers.ts.
 */
import { expect, it } from 'vitest';
import { cuda, policyAttention, policyAttentionBackward, type F32Tensor } from '../../src/index.js';
import { native } from '../../src/native.js';
import { policyAttentionRef } from '../reference/policyAttention.js';
import { expectClose, randn, rng } from '../reference/helpers.js';
import { bf16Round, expectRelNorm, take } from './attnHelpers.js';
import { describeGpu } from './gpu.js';

interface Case {
  name: string;
  B: number;
  H: number;
  N: number;
  Dh: number;
}

export const ATTN_CASES: Case[] = [
  { name: 'tiny B=N=1', B: 1, H: 1, N: 1, Dh: 64 },
  { name: 'tails B=2 H=3 N=37', B: 2, H: 3, N: 37, Dh: 64 },
  { name: 'Dh=32 N=130', B: 1, H: 2, N: 130, Dh: 32 },
  { name: 'Dh=128 N=77', B: 1, H: 1, N: 77, Dh: 128 },
  { name: 'Dh=48 (SIMT)', B: 2, H: 2, N: 65, Dh: 48 },
  { name: 'Dh=17 (SIMT)', B: 1, H: 1, N: 50, Dh: 17 },
  { name: 'Dh=256 (SIMT)', B: 1, H: 1, N: 40, Dh: 256 },
  { name: 'realistic H=6 N=1029', B: 1, H: 6, N: 1029, Dh: 64 },
];

export function attnInputs(c: Case, seed: number) {
  const r = rng(seed);
  const n = c.B * c.H * c.N * c.Dh;
  const T = (d: Float32Array): F32Tensor => ({ data: d, shape: [c.B, c.H, c.N, c.Dh] });
  const pol = new Float32Array(c.B * c.N);
  for (let i = 0; i < pol.length; i++) {
    const u = r();
    pol[i] = u < 0.3 ? 0 : u < 0.4 ? 0.5 : 1; // mostly hard, some soft values
  }
  return { q: T(randn(n, r)), k: T(randn(n, r)), v: T(randn(n, r)), dout: T(randn(n, r)), policy: { data: pol, shape: [c.B, c.N] } };
}

export const bf = (t: F32Tensor): F32Tensor => ({ data: bf16Round(t.data), shape: t.shape });

export function runAttnSuite(label: string): void {
  describeGpu(`cuda policyAttention ${label}`, () => {
    for (const c of ATTN_CASES) {
      it(`float32 forward matches the CPU op and the float64 reference: ${c.name}`, () => {
        const x = attnInputs(c, c.N * 7 + c.Dh);
        const want = policyAttention(x.q, x.k, x.v, x.policy);
        const rowMaxW = new Float32Array(c.B * c.H * c.N), rowDenW = new Float32Array(c.B * c.H * c.N);
        native().policyAttention(x.q.data, x.k.data, x.v.data, x.policy.data, new Float32Array(want.data.length), c.B, c.H, c.N, c.Dh, 1e-6, rowMaxW, rowDenW);
        const up = [x.q, x.k, x.v, x.policy].map((t) => cuda.upload(t));
        const rowMax = cuda.zeros([c.B, c.H, c.N]), rowDen = cuda.zeros([c.B, c.H, c.N]);
        try {
          const got = take(cuda.policyAttention(up[0]!, up[1]!, up[2]!, up[3]!, { rowMax, rowDen }));
          expectClose(got, want.data, 2e-5, 1e-4, 'out vs CPU');
          if (c.N * c.H <= 256) {
            const ref = policyAttentionRef(x.q.data, x.k.data, x.v.data, x.policy.data, c, 1e-6);
            expectClose(got, ref, 2e-5, 1e-4, 'out vs float64 reference');
          }
          expectClose(take(rowMax), rowMaxW, 2e-5, 1e-5, 'rowMax');
          expectClose(take(rowDen), rowDenW, 2e-5, 1e-4, 'rowDen');
        } finally {
          for (const t of up) t.free();
        }
      });

      it(`bfloat16 forward (tensor cores where Dh allows) within rel-L2 1e-2: ${c.name}`, () => {
        const x = attnInputs(c, c.N * 11 + c.Dh);
        const [q, k, v] = [bf(x.q), bf(x.k), bf(x.v)];
        const want = policyAttention(q, k, v, x.policy);
        const up = [q, k, v].map((t) => cuda.upload(t, { dtype: 'bfloat16' }));
        const pol = cuda.upload(x.policy);
        try {
          expectRelNorm(take(cuda.policyAttention(up[0]!, up[1]!, up[2]!, pol, { outDtype: 'float32' })), want.data, 1e-2, 'out f32');
          const o16 = cuda.policyAttention(up[0]!, up[1]!, up[2]!, pol);
          expect(o16.dtype).toBe('bfloat16');
          expectRelNorm(take(o16), want.data, 1.5e-2, 'out bf16');
        } finally {
          for (const t of [...up, pol]) t.free();
        }
      });

      it(`backward matches the CPU op (float32 rel-L2 1e-4, bfloat16 3e-2): ${c.name}`, () => {
        const x = attnInputs(c, c.N * 13 + c.Dh);
        for (const dtype of ['float32', 'bfloat16'] as const) {
          const r = dtype === 'bfloat16' ? bf : (t: F32Tensor) => t;
          const [q, k, v, dout] = [r(x.q), r(x.k), r(x.v), r(x.dout)];
          const want = policyAttentionBackward(q, k, v, x.policy, dout);
          const up = [q, k, v, dout].map((t) => cuda.upload(t, { dtype }));
          const pol = cuda.upload(x.policy);
          try {
            const g = cuda.policyAttentionBackward(up[0]!, up[1]!, up[2]!, pol, up[3]!);
            const tol = dtype === 'float32' ? 1e-4 : 3e-2;
            expectRelNorm(take(g.dq), want.dq.data, tol, `${dtype} dq`);
            expectRelNorm(take(g.dk), want.dk.data, tol, `${dtype} dk`);
            expectRelNorm(take(g.dv), want.dv.data, tol, `${dtype} dv`);
            expectRelNorm(take(g.dpolicy), want.dpolicy.data, tol, `${dtype} dpolicy`);
          } finally {
            for (const t of [...up, pol]) t.free();
          }
        }
      });
    }

    it('backward is deterministic (bit-identical over two runs)', () => {
      const c = ATTN_CASES[2]!;
      const x = attnInputs(c, 99);
      const up = [x.q, x.k, x.v, x.dout].map((t) => cuda.upload(t, { dtype: 'bfloat16' }));
      const pol = cuda.upload(x.policy);
      try {
        const run = () => {
          const g = cuda.policyAttentionBackward(up[0]!, up[1]!, up[2]!, pol, up[3]!);
          return [take(g.dq), take(g.dk), take(g.dv), take(g.dpolicy)];
        };
        const a = run(), b = run();
        for (let i = 0; i < 4; i++) expect(Buffer.from(a[i]!.buffer).equals(Buffer.from(b[i]!.buffer))).toBe(true);
      } finally {
        for (const t of [...up, pol]) t.free();
      }
    });

    it("device: 'cuda' on the host op gives the CPU result (forward, backward, async)", async () => {
      const c = ATTN_CASES[1]!;
      const x = attnInputs(c, 5);
      const want = policyAttention(x.q, x.k, x.v, x.policy);
      expectClose(policyAttention(x.q, x.k, x.v, x.policy, { device: 'cuda' }).data, want.data, 2e-5, 1e-4, 'sync');
      const { policyAttentionAsync } = await import('../../src/ops/policyAttention.js');
      expectClose((await policyAttentionAsync(x.q, x.k, x.v, x.policy, { device: 'cuda' })).data, want.data, 2e-5, 1e-4, 'async');
      const gw = policyAttentionBackward(x.q, x.k, x.v, x.policy, x.dout);
      const gg = policyAttentionBackward(x.q, x.k, x.v, x.policy, x.dout, { device: 'cuda' });
      expectRelNorm(gg.dq.data, gw.dq.data, 1e-4, 'dq');
      expectRelNorm(gg.dpolicy.data, gw.dpolicy.data, 1e-4, 'dpolicy');
    });

    it('rejects mismatched dtypes and shapes on the device path', () => {
      const c = ATTN_CASES[1]!;
      const x = attnInputs(c, 3);
      const q = cuda.upload(x.q), k16 = cuda.upload(x.k, { dtype: 'bfloat16' }), v = cuda.upload(x.v), pol = cuda.upload(x.policy);
      const short = cuda.upload({ data: x.policy.data.subarray(0, c.N), shape: [1, c.N] });
      try {
        expect(() => cuda.policyAttention(q, k16, v, pol)).toThrow(TypeError);
        expect(() => cuda.policyAttention(q, k16, v, pol)).toThrow(/expected k to be float32/);
        expect(() => cuda.policyAttention(q, q, v, short)).toThrow(RangeError);
        expect(() => cuda.policyAttention(q, q, v, short)).toThrow(/policy/);
        expect(() => cuda.policyAttention(q, q, v, pol, { rowMax: q })).toThrow(/rowMax/);
      } finally {
        for (const t of [q, k16, v, pol, short]) t.free();
      }
    });
  });
}

