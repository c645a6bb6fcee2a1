/** Markdown pieces of the study report (./report.ts, ./othersReport.ts): percentages over seeds, numbers, tables. */
import type { MeanStd } from './aggregate.js';
import type { SourceName } from './runs.js';

/** A fraction as "mean ± std" in %, with n when fewer seeds than planned are in. */
export const pct = (m: MeanStd, seeds: number) => (m.n === 0 ? 'pending' : `${(100 * m.mean).toFixed(1)} ± ${(100 * m.std).toFixed(1)}${m.n < seeds ? ` (n=${m.n})` : ''}`);
export const num = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));
export const table = (header: string[], rows: string[][]) => [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export const SOURCE_TITLE: Record<SourceName, string> = {
  synthetic: 'synthetic test split (first generator)',
  second: 'FIVES-layout folder of the second generator (test split, read by the FIVES loader)',
};
