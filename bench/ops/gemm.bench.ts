/**
 * GEMM (the Linear layers of SPEC §2/§5 prunedBlock): GFLOP/s of our packed AVX2/FMA kernel at 1024^3,
 * at the prunedBlock shapes (M = K_tokens = 2872 rows, D = 384: qkv [1152,384], proj [384,384],
 * fc1 [1536,384], fc2 [384,1536]; weights [out,in], so B is read transposed like a Linear) and one
 * small M, with all threads and with 1 thread; baseline tf.matMul on the tfjs cpu backend in the same
 * run, and a plain TS triple loop at 256^3.
 *
 * Also exports `measurePeak()`, the machine's single-precision peak estimate that every benchmark reports
 * shares of: the larger of a register-only FMA throughput probe (all pool threads) and the best of our
 * GEMM over two large sizes (the GEMM can read higher when other processes share the cores during the
 * short probe).
 */
import * as tf from '@tensorflow/tfjs';
import { getThreads, info, matmul, setThreads } from '../../src/index.js';
import { native } from '../../src/native.js';
import { randn, rng } from '../../test/reference/helpers.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { summarize, timeSync } from '../lib/timer.js';
import { openblasConfig, openblasHarness, openblasRound } from '../lib/openblas.js';

export interface PeakDetail {
  /** Register-only FMA loop with the widest registers the CPU has, all pool threads (undefined without AVX2). */
  fmaProbe?: number;
  /** Register width of that probe: 512 (AVX-512) or 256 (AVX2). */
  probeBits?: 256 | 512;
  /** Best GFLOP/s of our GEMM at 1024^3 and 2872x1536x384, all threads. */
  bestGemm: number;
  /** max of the two: the figure `peakShare` divides by. */
  peak: number;
  threads: number;
}

let cached: PeakDetail | undefined;

function gemmGflops(M: number, N: number, K: number, quick: boolean): number {
  const r = rng(M + N + K);
  const a = { data: randn(M * K, r), shape: [M, K] }, b = { data: randn(N * K, r), shape: [N, K] };
  const out = new Float32Array(M * N);
  const t = timeSync(() => matmul(a, b, { transB: true, out }), { warmup: 1, budgetMs: quick ? 300 : 1500, maxIterations: 50 });
  return (2 * M * N * K) / (t.p10Ms * 1e6); // p10: the least-disturbed runs
}

/** Measures (once per process) the peak estimate and its two components. */
export async function measurePeakDetail(quick = false): Promise<PeakDetail> {
  if (cached) return cached;
  const threads = getThreads();
  const variants = info().cpu.variants;
  const probeBits = variants.includes('avx512') ? 512 : variants.includes('avx2') ? 256 : undefined;
  let fmaProbe: number | undefined;
  if (probeBits !== undefined) {
    fmaProbe = 0;
    for (let i = 0; i < 3; i++) fmaProbe = Math.max(fmaProbe, native().gemmPeakProbe(threads, quick ? 5e6 : 2e7, probeBits));
  }
  const bestGemm = Math.max(gemmGflops(1024, 1024, 1024, quick), gemmGflops(2872, 1536, 384, quick));
  cached = { fmaProbe, probeBits, bestGemm, peak: Math.max(fmaProbe ?? 0, bestGemm), threads };
  return cached;
}

/** The machine's measured single-precision peak GFLOP/s estimate (see measurePeakDetail). */
export async function measurePeak(): Promise<number> {
  return (await measurePeakDetail()).peak;
}

function naiveTs(a: Float32Array, b: Float32Array, c: Float32Array, n: number): void {
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k]! * b[j * n + k]!;
      c[i * n + j] = s;
    }
}

/**
 * Our GEMM against OpenBLAS's SGEMM, round-robin in one run: each round times a few calls of ours, then a
 * few of OpenBLAS (a child process; only its sgemm calls are timed), so background load falls on both.
 */
function vsOpenblas(quick: boolean, peak: PeakDetail): BenchRow[] {
  const h = openblasHarness();
  if (!h.exe) {
    console.log(`[gemm] OpenBLAS comparison skipped: ${h.why}`);
    return [];
  }
  const rows: BenchRow[] = [];
  const threads = getThreads();
  const config = openblasConfig();
  const shapes: Array<[string, number, number, number]> = [
    ['1024^3', 1024, 1024, 1024],
    ['2048^3', 2048, 2048, 2048],
    ['fc1 (1029 tokens)', 1029, 1536, 384],
    ['fc2 (1029 tokens)', 1029, 384, 1536],
  ];
  for (const [name, M, N, K] of quick ? shapes.slice(0, 1) : shapes) {
    const r = rng(M + 3 * N + K);
    const a = { data: randn(M * K, r), shape: [M, K] }, b = { data: randn(N * K, r), shape: [N, K] };
    const out = new Float32Array(M * N);
    const reps = M >= 2048 ? 3 : 8, rounds = quick ? 2 : 5;
    const ours: number[] = [], blas: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // One untimed call per round on each side. OpenBLAS gets its warmup in its fresh process; ours is owed
      // one too: the harness's spawn forks this process, which write-protects all its pages, so the first
      // call after it takes a copy-on-write fault on every page of its scratch and output (measured: about
      // 5x slower at 1029x1536x384), a cost of the benchmark, not of the kernel.
      matmul(a, b, { transB: true, out });
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        matmul(a, b, { transB: true, out });
        ours.push(performance.now() - t0);
      }
      blas.push(...openblasRound(M, N, K, round === 0 ? 2 : 1, reps, threads));
    }
    const flops = 2 * M * N * K, tOurs = summarize(ours), tBlas = summarize(blas);
    const shape = `${name} M=${M} N=${N} K=${K} (A B^T)`;
    const share = (t: { medianMs: number }) => flops / (t.medianMs * 1e6) / peak.peak;
    rows.push({ op: 'gemm vs OpenBLAS', shape, impl: `reg4pru ${threads}T`, timing: tOurs, flops, speedup: tBlas.medianMs / tOurs.medianMs, peakShare: share(tOurs), note: 'speedup = OpenBLAS / ours, round-robin' });
    rows.push({ op: 'gemm vs OpenBLAS', shape, impl: `OpenBLAS ${threads}T`, timing: tBlas, flops, peakShare: share(tBlas), note: config });
  }
  return rows;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  await tf.setBackend('cpu');
  const peak = await measurePeakDetail(opts.quick);
  const rows: BenchRow[] = [...vsOpenblas(opts.quick, peak)];
  const budget = opts.quick ? 500 : 2500;
  const nThreads = getThreads();
  const shapes: Array<[string, number, number, number]> = [
    ['1024^3', 1024, 1024, 1024],
    ['qkv', 2872, 1152, 384],
    ['proj', 2872, 384, 384],
    ['fc1', 2872, 1536, 384],
    ['fc2', 2872, 384, 1536],
    ['small M (qkv, 64 tokens)', 64, 1152, 384],
  ];
  for (const [name, M, N, K] of shapes) {
    const r = rng(M * 7 + N + K);
    const a = { data: randn(M * K, r), shape: [M, K] }, b = { data: randn(N * K, r, 0.05), shape: [N, K] };
    const out = new Float32Array(M * N);
    const flops = 2 * M * N * K;
    const shape = `${name} M=${M} N=${N} K=${K}`;
    const timeOurs = (threads: number) => {
      const prev = getThreads();
      setThreads(threads);
      try {
        return timeSync(() => matmul(a, b, { transB: true, out }), { budgetMs: budget, maxIterations: 200 });
      } finally {
        setThreads(prev);
      }
    };
    const ours = timeOurs(nThreads);
    const ours1 = nThreads > 1 ? timeOurs(1) : undefined;
    const aT = tf.tensor2d(a.data, [M, K]), bT = tf.tensor2d(b.data, [N, K]);
    // tfjs's pure-JS matMul runs at well under 1 GFLOP/s (seconds per call here): few runs.
    const tfOpts = { warmup: opts.quick ? 0 : 1, minIterations: 1, maxIterations: opts.quick ? 1 : 3, budgetMs: budget };
    const tfjs = timeSync(() => tf.tidy(() => tf.matMul(aT, bT, false, true).dataSync()), tfOpts);
    tf.dispose([aT, bT]);
    const share = (t: { medianMs: number }) => flops / (t.medianMs * 1e6) / peak.peak;
    rows.push({ op: 'gemm', shape, impl: `reg4pru ${nThreads}T`, timing: ours, flops, speedup: tfjs.medianMs / ours.medianMs, peakShare: share(ours), note: 'vs tfjs cpu' });
    if (ours1) rows.push({ op: 'gemm', shape, impl: 'reg4pru 1T', timing: ours1, flops, speedup: tfjs.medianMs / ours1.medianMs, peakShare: share(ours1), note: 'vs tfjs cpu' });
    rows.push({ op: 'gemm', shape, impl: 'tfjs cpu matMul', timing: tfjs, flops, peakShare: share(tfjs) });
  }
  {
    // plain TS triple loop (B transposed so the inner loop is contiguous) at 256^3
    const n = 256, r = rng(256);
    const a = randn(n * n, r), b = randn(n * n, r), c = new Float32Array(n * n);
    const flops = 2 * n * n * n;
    const plain = timeSync(() => naiveTs(a, b, c, n), { warmup: 1, budgetMs: budget, maxIterations: 20 });
    const ours = timeSync(() => matmul({ data: a, shape: [n, n] }, { data: b, shape: [n, n] }, { transB: true, out: c }), { budgetMs: budget, maxIterations: 500 });
    const shape = `256^3`;
    rows.push({ op: 'gemm', shape, impl: `reg4pru ${nThreads}T`, timing: ours, flops, speedup: plain.medianMs / ours.medianMs, peakShare: flops / (ours.medianMs * 1e6) / peak.peak, note: 'vs plain TS' });
    rows.push({ op: 'gemm', shape, impl: 'plain TS loop', timing: plain, flops, peakShare: flops / (plain.medianMs * 1e6) / peak.peak });
  }
  const probe = peak.fmaProbe === undefined ? 'n/a' : peak.fmaProbe.toFixed(1);
  rows.push({
    op: 'peak', shape: `${peak.threads} threads`, impl: 'estimate', timing: { medianMs: 0, p10Ms: 0, p90Ms: 0, iterations: 0 },
    note: `peak ${peak.peak.toFixed(1)} GFLOP/s = max(${peak.probeBits ?? ''}-bit FMA probe ${probe}, best GEMM ${peak.bestGemm.toFixed(1)})`,
  });
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  printTable('gemm', rows);
  console.log(`json: ${writeJson('gemm', rows)}`);
}
