import { describe, expect, it } from 'vitest';
import { policyAttention, policyAttentionBackward } from '../../src/index.js';
import { cpuVariants, expectClose, finiteDiff, randn, rng, threadCounts, withKernel } from '../reference/helpers.js';
import { policyAttentionBwdRef, policyAttentionRef, type AttnShape } from '../reference/policyAttention.js';

type PolicyKind = 'binary' | 'zeros' | 'ones' | 'soft';

function setup(s: AttnShape, kind: PolicyKind, seed: number) {
  const r = rng(seed);
  const n = s.B * s.H * s.N * s.Dh;
  const p = new Float32Array(s.B * s.N);
  for (let t = 0; t < p.length; t++) p[t] = kind === 'zeros' ? 0 : kind === 'ones' ? 1 : kind === 'binary' ? (r() < 0.5 ? 0 : 1) : 0.1 + 0.9 * r();
  return { q: randn(n, r), k: randn(n, r), v: randn(n, r), p, w: randn(n, r) };
}

describe('reference backward vs central differences (float64)', () => {
  // eps = 0.3 makes the path through the row max large enough to be checked; 1e-6 is the SPEC value
  for (const eps of [1e-6, 0.3])
    for (const kind of ['binary', 'soft'] as const)
      it(`eps=${eps} policy=${kind}`, () => {
        const s = { B: 2, H: 2, N: 6, Dh: 3 };
        const { q, k, v, p, w } = setup(s, kind, 100 + (eps > 0.1 ? 1 : 0));
        const X = { q: Float64Array.from(q), k: Float64Array.from(k), v: Float64Array.from(v), p: Float64Array.from(p) };
        const loss = () => {
          const o = policyAttentionRef(X.q, X.k, X.v, X.p, s, eps);
          let l = 0;
          for (let t = 0; t < o.length; t++) l += w[t]! * o[t]!;
          return l;
        };
        const g = policyAttentionBwdRef(X.q, X.k, X.v, X.p, w, s, eps);
        expectClose(g.dq, finiteDiff(() => loss(), X.q, 1e-5, undefined, true), 1e-7, 1e-6, 'dq');
        expectClose(g.dk, finiteDiff(() => loss(), X.k, 1e-5, undefined, true), 1e-7, 1e-6, 'dk');
        expectClose(g.dv, finiteDiff(() => loss(), X.v, 1e-5, undefined, true), 1e-7, 1e-6, 'dv');
        expectClose(g.dpolicy, finiteDiff(() => loss(), X.p, 1e-5, undefined, true), 1e-7, 1e-6, 'dpolicy');
      });
});

const CASES: AttnShape[] = [
  { B: 1, H: 1, N: 1, Dh: 8 },
  { B: 1, H: 2, N: 7, Dh: 5 },
  { B: 2, H: 3, N: 33, Dh: 24 },
  { B: 1, H: 2, N: 100, Dh: 64 },
  { B: 1, H: 1, N: 257, Dh: 40 },
];

describe('native backward vs reference backward', () => {
  for (const s of CASES)
    for (const kind of ['binary', 'zeros', 'ones', 'soft'] as const)
      it(`B=${s.B} H=${s.H} N=${s.N} Dh=${s.Dh} policy=${kind}`, () => {
        const eps = kind === 'soft' ? 0.05 : 1e-6;
        const { q, k, v, p, w } = setup(s, kind, s.N * 13 + s.Dh);
        const want = policyAttentionBwdRef(q, k, v, p, w, s, eps);
        const T = (d: Float32Array) => ({ data: d, shape: [s.B, s.H, s.N, s.Dh] });
        for (const variant of cpuVariants()) {
          const runs = threadCounts().map((threads) =>
            withKernel(variant, threads, () => policyAttentionBackward(T(q), T(k), T(v), { data: p, shape: [s.B, s.N] }, T(w), { eps })),
          );
          for (const g of runs) {
            expectClose(g.dq.data, want.dq, 1e-4, 1e-3, `${variant} dq`);
            expectClose(g.dk.data, want.dk, 1e-4, 1e-3, `${variant} dk`);
            expectClose(g.dv.data, want.dv, 1e-4, 1e-3, `${variant} dv`);
            expectClose(g.dpolicy.data, want.dpolicy, 1e-4, 1e-3, `${variant} dpolicy`);
          }
          for (const key of ['dq', 'dk', 'dv', 'dpolicy'] as const)
            expect(Buffer.from(runs[1]![key].data.buffer).equals(Buffer.from(runs[0]![key].data.buffer)), `${variant} ${key} thread-count independent`).toBe(true);
        }
      });
});

describe('native float32 backward vs direct finite differences (sampled)', () => {
  it('q, k, v, policy', () => {
    const s = { B: 1, H: 2, N: 20, Dh: 8 };
    const eps = 0.3;
    const { q, k, v, p, w } = setup(s, 'soft', 7);
    const T = (d: Float32Array) => ({ data: d, shape: [s.B, s.H, s.N, s.Dh] });
    const P = { data: p, shape: [s.B, s.N] };
    const r = rng(8);
    for (const variant of cpuVariants()) {
      withKernel(variant, 2, () => {
        const g = policyAttentionBackward(T(q), T(k), T(v), P, T(w), { eps });
        const loss = () => {
          const o = policyAttention(T(q), T(k), T(v), P, { eps }).data;
          let l = 0;
          for (let t = 0; t < o.length; t++) l += w[t]! * o[t]!;
          return l;
        };
        for (const [name, x, gx] of [['q', q, g.dq.data], ['k', k, g.dk.data], ['v', v, g.dv.data], ['policy', p, g.dpolicy.data]] as const) {
          for (let c = 0; c < 6; c++) {
            const t = Math.floor(r() * x.length);
            const x0 = x[t]!, h = 1e-2;
            const f = (d: number) => { x[t] = x0 + d; const l = loss(); x[t] = x0; return l; };
            const fd = (8 * (f(h) - f(-h)) - (f(2 * h) - f(-2 * h))) / (12 * h);
            expect(Math.abs(gx[t]! - fd), `${variant} d${name}[${t}]: ${gx[t]} vs fd ${fd}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
          }
        }
      });
    }
  });
});
