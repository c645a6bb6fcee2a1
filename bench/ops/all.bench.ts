/**
 * `npm run bench:ops`: every op at the paper's shapes (N=4101, K=2872, D=384, H=6, Dh=64) and a small
 * shape, ours vs a straightforward TS / TF.js composition measured in the same run, GFLOP/s or GB/s,
 * and the share of this machine's peak, measured first in this same run (the larger of an FMA
 * throughput probe and the best large GEMM; see gemm.bench.ts).
 * `--quick` shortens every loop and the slow baselines (the figures are then noisier).
 */
import { info } from '../../src/index.js';
import { environment, gflops, printTable, writeJson, type BenchRow } from '../lib/report.js';
import * as gatherScatter from './gatherScatter.bench.js';
import * as gemm from './gemm.bench.js';
import * as gumbelTopK from './gumbelTopK.bench.js';
import * as policyAttention from './policyAttention.bench.js';
import * as prunedBlock from './prunedBlock.bench.js';
import * as pointwise from './pointwise.bench.js';

const quick = process.argv.includes('--quick');
const suites: Array<[string, (o: { quick: boolean }) => Promise<BenchRow[]>]> = [
  ['GEMM', gemm.run],
  ['prunedBlock (fused gather-attention-scatter block)', prunedBlock.run],
  ['policyAttention', policyAttention.run],
  ['gatherTokens / scatterTokens', gatherScatter.run],
  ['gumbelTopK / gumbelSoftmaxST', gumbelTopK.run],
  ['layerNorm / gelu (fused TF.js training ops)', pointwise.run],
];

const env = environment();
console.log('reg4pru bench:ops', JSON.stringify(env));
const ci = info().cuda;
console.log(`cuda: ${ci.compiled ? 'compiled' : 'not compiled'}, ${ci.devices.length} device(s)${ci.error ? ` (${ci.error})` : ''}; this benchmark runs the CPU kernels`);
const peak = await gemm.measurePeakDetail(quick);
console.log(`machine peak (this run, ${peak.threads} threads): ${peak.peak.toFixed(1)} GFLOP/s ` +
  `(FMA probe ${peak.fmaProbe?.toFixed(1) ?? 'n/a'}, best large GEMM ${peak.bestGemm.toFixed(1)})`);
const all: BenchRow[] = [];
for (const [title, run] of suites) {
  const rows = await run({ quick });
  for (const r of rows) {
    const g = gflops(r);
    if (r.peakShare === undefined && g !== undefined) r.peakShare = g / peak.peak;
  }
  printTable(title, rows);
  all.push(...rows);
}
console.log(`\njson: ${writeJson('ops', all, { quick, peak })}`);
