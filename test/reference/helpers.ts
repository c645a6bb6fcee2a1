/**
 * Shared test helpers: a seeded RNG, allclose with a readable report (llm.c's validate_result), and
 * central finite differences in float64.
 */
import { getThreads, setKernel, setThreads, info } from '../../src/index.js';

/** mulberry32: small, seeded, deterministic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box-Muller) scaled by `scale`. */
export function randn(n: number, r: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12), v = r();
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** Uniform in [lo, hi). */
export function randu(n: number, r: () => number, lo = 0, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

/** K distinct indices in [0, N) per batch row (random order unless sorted). */
export function randIndices(B: number, N: number, K: number, r: () => number, sorted = false): Int32Array {
  const out = new Int32Array(B * K);
  const perm = new Int32Array(N);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < N; i++) perm[i] = i;
    for (let i = 0; i < K; i++) {
      const j = i + Math.floor(r() * (N - i));
      const t = perm[i]!; perm[i] = perm[j]!; perm[j] = t;
    }
    const row = perm.slice(0, K);
    if (sorted) row.sort();
    out.set(row, b * K);
  }
  return out;
}

export interface CloseReport {
  ok: boolean;
  maxAbs: number;
  maxRel: number;
  bad: number;
  message: string;
}

/** |got - want| <= atol + rtol*|want| elementwise; the message lists the first mismatches. */
export function allclose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-5, rtol = 1e-4): CloseReport {
  if (got.length !== want.length) return { ok: false, maxAbs: Infinity, maxRel: Infinity, bad: -1, message: `length ${got.length} != ${want.length}` };
  let maxAbs = 0, maxRel = 0, bad = 0;
  const first: string[] = [];
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!, w = want[i]!;
    const d = Math.abs(g - w);
    if (!(d <= atol + rtol * Math.abs(w))) {
      bad++;
      if (first.length < 5) first.push(`[${i}] got ${g} want ${w}`);
    }
    if (d > maxAbs || Number.isNaN(d)) maxAbs = Number.isNaN(d) ? NaN : d;
    if (Math.abs(w) > 1e-12) maxRel = Math.max(maxRel, d / Math.abs(w));
  }
  return { ok: bad === 0, maxAbs, maxRel, bad, message: `${bad} of ${got.length} mismatched (max abs ${maxAbs}); ${first.join('; ')}` };
}

/** Throws (for vitest) with the report when not close. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = ''): void {
  const r = allclose(got, want, atol, rtol);
  if (!r.ok) throw new Error(`${what ? what + ': ' : ''}${r.message}`);
}

/**
 * Central finite differences of a scalar f at x (float64), for the listed element positions
 * (all when `positions` is omitted). 4-point stencil when `fourPoint`.
 */
export function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, h = 1e-5, positions?: number[], fourPoint = false): Float64Array {
  const g = new Float64Array(x.length);
  const pos = positions ?? Array.from({ length: x.length }, (_, i) => i);
  for (const i of pos) {
    const x0 = x[i]!;
    x[i] = x0 + h; const fp = f(x);
    x[i] = x0 - h; const fm = f(x);
    if (fourPoint) {
      x[i] = x0 + 2 * h; const fp2 = f(x);
      x[i] = x0 - 2 * h; const fm2 = f(x);
      g[i] = (8 * (fp - fm) - (fp2 - fm2)) / (12 * h);
    } else {
      g[i] = (fp - fm) / (2 * h);
    }
    x[i] = x0;
  }
  return g;
}

/** Every CPU kernel variant this machine can run, for the "run every path" grid. */
export function cpuVariants(): Array<'ref' | 'avx2' | 'avx512'> {
  return info().cpu.variants;
}

const ALL_VARIANTS = ['ref', 'avx2', 'avx512'] as const;
/** The variants this CPU cannot run (their tests skip; CI prints this list). */
export function untestedVariants(): string[] {
  const have = cpuVariants();
  return ALL_VARIANTS.filter((v) => !have.includes(v));
}

/** Runs fn under a forced kernel variant and thread count, restoring both afterwards. */
export function withKernel<T>(variant: 'ref' | 'avx2' | 'avx512' | 'auto', threads: number, fn: () => T): T {
  const prevThreads = getThreads();
  setKernel(variant);
  setThreads(threads);
  try {
    return fn();
  } finally {
    setKernel('auto');
    setThreads(prevThreads);
  }
}

/** withKernel for an async fn (the variant and thread count stay forced until it settles). */
export async function withKernelAsync<T>(variant: 'ref' | 'avx2' | 'avx512', threads: number, fn: () => Promise<T>): Promise<T> {
  const pt = getThreads();
  setKernel(variant);
  setThreads(threads);
  try {
    return await fn();
  } finally {
    setKernel('auto');
    setThreads(pt);
  }
}

/** The thread counts to test: 1 and the machine's count (at least 2, so the split is exercised). */
export function threadCounts(): number[] {
  return [1, Math.max(2, getThreads())];
}

/**
 * fn() with the environment variable `name` set to `value`, restored afterwards (unset if it was); when fn returns
 * a Promise, restored once it settles. For the kernel choices the addon reads at each call (REG4PRU_CUDA_GEMM,
 * REG4PRU_CUDA_GEMM_TILE, REG4PRU_CUDA_ATTN_ROWS), so one run tests or times them all.
 */
export function withEnv<T>(name: string, value: string, fn: () => T): T {
  const was = process.env[name];
  const restore = () => {
    if (was === undefined) delete process.env[name];
    else process.env[name] = was;
  };
  process.env[name] = value;
  let r: T;
  try {
    r = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (r instanceof Promise) return r.finally(restore) as T;
  restore();
  return r;
}
