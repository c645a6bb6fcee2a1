/**
 * Benchmark of the SPEC §6 ToMe baseline block (tomeBlock) at T = 1029 (1024 patches + 5 protected) and the
 * paper's T = 4101 (4096 + 5), D = 384, H = 6, Dh = 64, F = 1536, kept ratio r in {0.7, 0.5}, both modes.
 * Baseline in the same run: the same block without merging (prunedBlock with idx = null, the "no pruning"
 * configuration of SPEC §6), so `speedup` is what merging buys on this machine.
 * Useful FLOPs (merged token counts Tm = T - m): matching 2 Tu D Dh + 2 |A| |B| Dh, attention part
 * 2 Tm D 3D + 2 Tm D D + 4 Tm^2 D, MLP 4 R D F with R = T ('mhsa') or Tm ('mhsa+mlp').
 * Run alone: `npx tsx bench/ops/tomeBlock.bench.ts [--quick]`.
 */
import { getThreads, info, prunedBlock, setThreads, tomeBlock, tomeMergeCount, type PrunedBlockWeights, type TomeMode } from '../../src/index.js';
import { randn, rng } from '../../test/reference/helpers.js';
import { randomBlockWeights } from '../../test/reference/prunedBlock.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeSync } from '../lib/timer.js';

const D = 384, H = 6, F = 1536, P0 = 5;
const TOKENS = [1029, 4101];
const RATIOS = [0.7, 0.5];
const MODES: TomeMode[] = ['mhsa', 'mhsa+mlp'];

function blockFlops(attnRows: number, mlpRows: number): number {
  return 2 * attnRows * D * 3 * D + 2 * attnRows * D * D + 4 * attnRows * attnRows * D + 4 * mlpRows * D * F;
}

export async function run(opts: { quick: boolean }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const threads = Math.max(2, getThreads());
  const prevThreads = getThreads();
  const kernel = info().cpu.kernel;
  const timing = { warmup: 2, maxIterations: opts.quick ? 5 : 20, budgetMs: opts.quick ? 2000 : 8000 };
  setThreads(threads);
  try {
    for (const T of TOKENS) {
      const x = randn(T * D, rng(T));
      const w: PrunedBlockWeights = randomBlockWeights(D, F, 7);
      const out = new Float32Array(T * D);
      const shape = `B=1 T=${T} P0=${P0} D=${D} H=${H} F=${F}`;
      const base = timeSync(() => prunedBlock({ data: x, shape: [1, T, D] }, null, w, { heads: H, out }), timing);
      rows.push({ op: 'tomeBlock', shape, impl: `prunedBlock idx=null (no merging) ${kernel} ${threads}t`, timing: base, flops: blockFlops(T, T) });
      for (const ratio of RATIOS) {
        const Tu = T - P0, m = tomeMergeCount(Tu, ratio), Tm = T - m, Dh = D / H;
        const matchFlops = 2 * Tu * D * Dh + 2 * Math.ceil(Tu / 2) * Math.floor(Tu / 2) * Dh;
        for (const mode of MODES) {
          const t = timeSync(() => tomeBlock({ data: x, shape: [1, T, D] }, w, { heads: H, protectedTokens: P0, mode, ratio, out }), timing);
          rows.push({
            op: 'tomeBlock', shape: `${shape} r=${ratio}`, impl: `reg4pru ${kernel} ${threads}t ${mode}`, timing: t,
            flops: matchFlops + blockFlops(Tm, mode === 'mhsa' ? T : Tm), speedup: base.medianMs / t.medianMs,
            note: `Tm=${Tm}; baseline = unmerged block`,
          });
        }
      }
    }
  } finally {
    setThreads(prevThreads);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await run({ quick: process.argv.includes('--quick') });
  printTable('tomeBlock', rows);
  writeJson('tomeBlock', rows);
}
