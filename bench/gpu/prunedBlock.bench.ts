/**
 * GPU prunedBlock (SPEC §5) at the paper's shape: N = 4101 tokens, K = 0.7 N = 2871 kept, D = 384, H = 6,
 * F = 4D = 1536, batch 1 and 8. BF16 weights + BF16 x (tensor cores) and FP32 (SIMT). CUDA-event timing
 * (bench/gpu/lib.ts), back-to-back calls. Each call checks idx on the device and waits for that check (one
 * stream sync per call), which this timing includes: it is what a caller gets.
 * Rows: the fused op; the unfused composition on the GPU (cuda.gatherTokens -> cuda.prunedBlock(idx = null)
 * -> cuda.scatterTokens, what the fusion saves); the full block over all N tokens (idx = null, what pruning
 * saves). FLOPs per call (useful): GEMMs 2 B K D (3D + D + 2F) + attention 4 B K^2 D.
 * % peak = share of the BF16 GEMM ceiling measured in the same run (attnLib.ts; datasheet share in the note).
 * Baseline (`speedup`): the CPU op (AVX2, all threads) at batch 1, same shape, one run in the same process.
 *   npx tsx bench/gpu/prunedBlock.bench.ts [--quick]      (or npm run bench:gpu)
 */
import { cuda, cudaAvailable, prunedBlock, type DeviceTensor } from '../../src/index.js';
import { randomBlockWeights } from '../../test/reference/prunedBlock.js';
import { randIndices, randn, rng, withEnv } from '../../test/reference/helpers.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeSync } from '../lib/timer.js';
import { gemmPeak, peakNote } from './attnLib.js';
import { deviceSummary, gpuTime } from './lib.js';

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const peak = gemmPeak(opts.quick);
  const N = 4101, K = 2871, D = 384, H = 6, F = 4 * D;
  const w = randomBlockWeights(D, F, 7);
  const flopsFor = (B: number, k: number) => 2 * B * k * D * (3 * D + D + 2 * F) + 4 * B * k * k * D;
  for (const B of opts.quick ? [1] : [1, 8]) {
    const r = rng(B);
    const x = randn(B * N * D, r);
    const idx = randIndices(B, N, K, r);
    const X = { data: x, shape: [B, N, D] }, I = { data: idx, shape: [B, K] };
    const shape = `B=${B} N=${N} K=${K} D=${D} H=${H}`;
    let cpuMs: number | undefined;
    if (B === 1) cpuMs = timeSync(() => prunedBlock(X, I, w, { heads: H }), { warmup: 0, maxIterations: 1, minIterations: 1 }).medianMs;
    const owned: DeviceTensor[] = [];
    try {
      const Id = cuda.upload(I);
      owned.push(Id);
      for (const dtype of ['bfloat16', 'float32'] as const) {
        const Xd = cuda.upload(X, { dtype });
        owned.push(Xd);
        const wd = cuda.uploadBlockWeights(w, { dtype });
        try {
          const add = (impl: string, fn: () => void, flops: number, note = '') => {
            const timing = gpuTime(fn, opts);
            const tf = flops / (timing.medianMs * 1e9);
            const cpu = cpuMs !== undefined && dtype === 'float32' && impl === 'fused';
            rows.push({
              op: 'prunedBlock', shape, impl: `cuda ${dtype} ${impl}`, timing, flops, peakShare: tf / peak.tflops,
              speedup: cpu ? cpuMs! / timing.medianMs : undefined,
              note: peakNote(tf, peak.tflops) + (cpu ? `; CPU op ${cpuMs!.toFixed(0)} ms` : '') + note,
            });
          };
          add('fused', () => cuda.prunedBlock(Xd, Id, wd, { heads: H }).free(), flopsFor(B, K));
          if (dtype === 'bfloat16') {
            // The same with 128 query rows per attention CTA (REG4PRU_CUDA_ATTN_ROWS, read at each call), beside the
            // default 64 in the same run: which one becomes the default is this row's question.
            withEnv('REG4PRU_CUDA_ATTN_ROWS', '128', () =>
              add('fused, attention 128 rows/CTA', () => cuda.prunedBlock(Xd, Id, wd, { heads: H }).free(), flopsFor(B, K)));
            // The Linear layers on the wgmma GEMM (REG4PRU_CUDA_GEMM=wgmma; taken on sm_90 devices only).
            withEnv('REG4PRU_CUDA_GEMM', 'wgmma', () =>
              add('fused, wgmma GEMMs', () => cuda.prunedBlock(Xd, Id, wd, { heads: H }).free(), flopsFor(B, K)));
          }
          add('unfused (gather, block, scatter)', () => {
            const g = cuda.gatherTokens(Xd, Id);
            const y = cuda.prunedBlock(g, null, wd, { heads: H, inPlace: true });
            cuda.scatterTokens(Xd, Id, y).free();
            g.free();
          }, flopsFor(B, K));
          add('all N tokens (idx = null)', () => cuda.prunedBlock(Xd, null, wd, { heads: H }).free(), flopsFor(B, N), '; FLOPs of the full block');
        } finally {
          cuda.freeBlockWeights(wd);
        }
      }
      cuda.synchronize();
    } finally {
      for (const t of owned) t.free();
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const a = cudaAvailable();
  if (!a.ok) {
    console.log(`no CUDA device: ${a.reason}`);
  } else {
    const rows = await run({ quick: process.argv.includes('--quick') });
    printTable(`GPU prunedBlock (${deviceSummary()?.name ?? 'unknown device'}; % peak = share of our measured BF16 GEMM)`, rows);
    writeJson('gpu-prunedBlock', rows, { device: deviceSummary() });
  }
}
