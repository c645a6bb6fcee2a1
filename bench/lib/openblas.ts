/**
 * OpenBLAS as the CPU GEMM baseline (the library a user would pick instead): bench/native/openblas_sgemm.c
 * compiled once per machine against the system's OpenBLAS (Debian: `apt-get install libopenblas-dev`),
 * run as a child process per round so our kernel and OpenBLAS alternate (round-robin) in one run.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { info } from '../../src/index.js';

const source = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../native/openblas_sgemm.c');
let built: { exe?: string; why?: string } | undefined;

/** Path of the compiled harness, or the reason it is unavailable (no compiler / no OpenBLAS). */
export function openblasHarness(): { exe?: string; why?: string } {
  if (built) return built;
  const dir = path.join(os.tmpdir(), 'reg4pru-bench');
  mkdirSync(dir, { recursive: true });
  const exe = path.join(dir, 'openblas_sgemm');
  const cc = spawnSync('cc', ['-O2', source, '-I/usr/include/x86_64-linux-gnu', '-lopenblas', '-o', exe], { encoding: 'utf8' });
  built = cc.status === 0 && existsSync(exe) ? { exe } : { why: `OpenBLAS harness did not build (apt-get install libopenblas-dev): ${(cc.stderr || cc.error?.message || '').split('\n')[0]}` };
  return built;
}

/**
 * OpenBLAS's environment: Debian's DYNAMIC_ARCH build (0.3.21) does not know Zen 5 and falls back to its
 * Haswell (AVX2) kernels (and this workplace's machines export OPENBLAS_CORETYPE=Haswell); on an AVX-512
 * CPU we ask for its SkylakeX kernels, its fastest here, so the baseline is the strongest it can be.
 * REG4PRU_OPENBLAS_CORETYPE overrides the choice; the core used is printed with the results.
 */
function blasEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  if (process.env.REG4PRU_OPENBLAS_CORETYPE) env.OPENBLAS_CORETYPE = process.env.REG4PRU_OPENBLAS_CORETYPE;
  else if (info().cpu.variants.includes('avx512')) env.OPENBLAS_CORETYPE = 'SkylakeX';
  return env;
}

/** One round: `reps` timed cblas_sgemm calls C = A B^T after `warmup`, on `threads` threads; ms per call. */
export function openblasRound(M: number, N: number, K: number, warmup: number, reps: number, threads: number): number[] {
  const h = openblasHarness();
  if (!h.exe) throw new Error(h.why);
  const r = spawnSync(h.exe, [M, N, K, warmup, reps].map(String), { encoding: 'utf8', env: blasEnv(threads) });
  if (r.status !== 0) throw new Error(`openblas_sgemm failed: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.startsWith('ms ')).map((l) => Number(l.slice(3)));
}

/** The OpenBLAS build configuration line (kernel target, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ... SkylakeX"). */
export function openblasConfig(): string {
  const h = openblasHarness();
  if (!h.exe) return 'unavailable';
  const r = spawnSync(h.exe, ['8', '8', '8', '0', '1'], { encoding: 'utf8', env: blasEnv(1) });
  return (r.stderr.split('\n').find((l) => l.startsWith('config ')) ?? 'config ?').slice(7);
}
