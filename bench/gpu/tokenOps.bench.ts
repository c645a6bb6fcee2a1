/**
 * GPU token ops at the paper's shape (N = 4101 tokens, K = 0.7 N = 2871, D = 384; batch 1 and 8), FP32
 * and BF16: gatherTokens, scatterTokens (out of place and in place), their gradients, gumbelTopK and
 * gumbelSoftmaxST. CUDA-event timing, GB/s over the fewest bytes each op must move (each input row
 * read once, each output row written once, indices included), as a share of the device-to-device copy
 * bandwidth measured in the same run. Two timings per op: back-to-back calls (what a pipeline sees)
 * and with L2 flushed before each call (inputs from DRAM; at batch 1 the 6 MB working set would
 * otherwise sit in the 50 MB L2).
 * Baseline (`speedup`): the CPU op on this machine, same shape, measured in the same run.
 *   npx tsx bench/gpu/tokenOps.bench.ts      (or npm run bench:gpu for every GPU benchmark)
 */
import { cuda, cudaAvailable, gatherTokens, gumbelTopK, scatterTokens, type DeviceTensor } from '../../src/index.js';
import { randIndices, randn, rng } from '../../test/reference/helpers.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeSync } from '../lib/timer.js';
import { copyBandwidth, deviceSummary, gpuTime } from './lib.js';

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const copy = copyBandwidth(opts.quick);
  rows.push({ op: 'device copy (D2D)', shape: `${copy.bytes / 2 ** 20} MiB`, impl: 'cudaMemcpyAsync', timing: copy.timing, bytes: 2 * copy.bytes, peakShare: 1, note: 'GB/s ceiling' });
  const share = (r: BenchRow) => {
    if (r.bytes !== undefined) r.peakShare = r.bytes / (r.timing.medianMs * 1e6) / copy.gbps;
    return r;
  };
  const N = 4101, K = 2871, D = 384;
  for (const B of [1, 8]) {
    const r = rng(B);
    const x = randn(B * N * D, r), src = randn(B * K * D, r), logits = randn(B * N, r);
    const idx = randIndices(B, N, K, r, true);
    const shape = `B=${B} N=${N} K=${K} D=${D}`;
    const xt = { data: x, shape: [B, N, D] }, it = { data: idx, shape: [B, K] }, st = { data: src, shape: [B, K, D] };
    const cpuGather = timeSync(() => gatherTokens(xt, it), { budgetMs: opts.quick ? 300 : 1500 });
    const cpuScatter = timeSync(() => scatterTokens(xt, it, st), { budgetMs: opts.quick ? 300 : 1500 });
    const cpuTopK = timeSync(() => gumbelTopK({ data: logits, shape: [B, N] }, K, { seed: 1 }), { budgetMs: opts.quick ? 300 : 1500 });
    const owned: DeviceTensor[] = [];
    const own = <T extends DeviceTensor>(t: T) => (owned.push(t), t);
    try {
      const I = own(cuda.upload(it));
      for (const dt of ['float32', 'bfloat16'] as const) {
        const es = dt === 'float32' ? 4 : 2;
        const X = own(cuda.upload(xt, { dtype: dt })), S = own(cuda.upload(st, { dtype: dt }));
        const Dout = own(cuda.upload(st, { dtype: dt })), DoutN = own(cuda.upload(xt, { dtype: dt }));
        const base = own(cuda.upload(xt, { dtype: dt }));
        const idxBytes = B * K * 4;
        const cases: Array<[string, () => void, number, number | undefined]> = [
          ['gatherTokens', () => cuda.gatherTokens(X, I).free(), 2 * B * K * D * es + idxBytes, cpuGather.medianMs],
          ['scatterTokens', () => cuda.scatterTokens(X, I, S).free(), 2 * B * N * D * es + idxBytes, cpuScatter.medianMs],
          ['scatterTokens in place', () => { cuda.scatterTokens(base, I, S, { inPlace: true }); }, 2 * B * K * D * es + idxBytes, undefined],
          ['gatherTokensBackward', () => cuda.gatherTokensBackward(Dout, I, N).free(), (B * K * D + B * N * D) * es + idxBytes, undefined],
          ['scatterTokensBackward', () => {
            const g = cuda.scatterTokensBackward(DoutN, I);
            g.dbase?.free();
            g.dsrc?.free();
          }, (2 * B * N * D + B * K * D) * es + idxBytes, undefined],
        ];
        for (const [op, fn, bytes, cpuMs] of cases)
          for (const flushL2 of [false, true]) {
            const timing = gpuTime(fn, { quick: opts.quick, flushL2 });
            rows.push(share({
              op, shape, impl: `cuda ${dt}${flushL2 ? ' (L2 flushed)' : ''}`, timing, bytes,
              speedup: cpuMs === undefined || dt !== 'float32' ? undefined : cpuMs / timing.medianMs,
              note: cpuMs === undefined || dt !== 'float32' ? '' : `vs CPU op ${cpuMs.toFixed(3)} ms`,
            }));
          }
        const L = own(cuda.upload({ data: logits, shape: [B, N] }, { dtype: dt }));
        const t = gpuTime(() => cuda.gumbelTopK(L, K, { seed: 1 }).free(), { quick: opts.quick });
        rows.push({ op: 'gumbelTopK', shape: `B=${B} N=${N} k=${K}`, impl: `cuda ${dt}`, timing: t, speedup: dt === 'float32' ? cpuTopK.medianMs / t.medianMs : undefined, note: dt === 'float32' ? `vs CPU op ${cpuTopK.medianMs.toFixed(3)} ms` : '' });
        const L2 = own(cuda.upload({ data: randn(B * N * 2, r), shape: [B, N, 2] }, { dtype: dt }));
        const g = gpuTime(() => {
          const o = cuda.gumbelSoftmaxST(L2, { seed: 2 });
          o.hard.free();
          o.soft.free();
        }, { quick: opts.quick });
        rows.push(share({ op: 'gumbelSoftmaxST', shape: `B=${B} N=${N}`, impl: `cuda ${dt}`, timing: g, bytes: 4 * B * N * es }));
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
    printTable(`GPU token ops (${deviceSummary()?.name ?? 'unknown device'}; % peak = share of measured D2D copy GB/s)`, rows);
    writeJson('gpu-tokenOps', rows, { device: deviceSummary() });
  }
}
