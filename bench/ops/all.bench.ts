/**
 * `npm run bench:ops`: every op at the paper's shapes (N=4101, K=2872, D=384, H=6, Dh=64) and a small
 * shape, ours vs a straightforward TS / TF.js composition measured in the same run, GFLOP/s or GB/s,
 * and the share of this machine's peak (measured first, in this run, as the best large GEMM).
 * `--quick` shortens every loop (the figures are then noisier).
 */
import { info } from '../../src/index.js';
import { environment, printTable, writeJson, type BenchRow } from '../lib/report.js';
import * as gatherScatter from './gatherScatter.bench.js';
import * as gumbelTopK from './gumbelTopK.bench.js';

const quick = process.argv.includes('--quick');
const suites: Array<[string, (o: { quick: boolean }) => Promise<BenchRow[]>]> = [
  ['gatherTokens / scatterTokens', gatherScatter.run],
  ['gumbelTopK / gumbelSoftmaxST', gumbelTopK.run],
];

console.log('reg4pru bench:ops', JSON.stringify(environment()));
console.log(`cuda: ${info().cuda.compiled ? 'compiled' : 'not compiled'}, ${info().cuda.devices.length} device(s)${info().cuda.error ? ` (${info().cuda.error})` : ''}; this benchmark runs the CPU kernels`);
const all: BenchRow[] = [];
for (const [title, run] of suites) {
  const rows = await run({ quick });
  printTable(title, rows);
  all.push(...rows);
}
console.log(`\njson: ${writeJson('ops', all, { quick })}`);
