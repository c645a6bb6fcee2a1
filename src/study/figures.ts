/**
 * The study's figures as vega-lite specs (rendered to SVG + PNG by `writeVegaLite`, src/cli/plot.ts):
 *  - AP vs throughput (paper Fig. 1) is `apThroughputSpec` of src/cli/plot.ts (reg4pru bench's plot) with the
 *    AP spread over seeds and the points of one arm joined in keep-ratio order;
 *  - depth-wise AP (paper Fig. 5): AP at each decode point per arm, mean ± std over seeds;
 *  - training curves: loss per optimiser step (moving average), one line per run, coloured by arm;
 *  - token change: the mean relative change of the patch tokens across each block.
 * Pure functions of the aggregated numbers (./report.ts builds them from the run files).
 */
import type { TopLevelSpec } from 'vega-lite';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export interface DepthPoint {
  series: string;
  block: number;
  ap: number;
  apStd: number;
}

export function depthFigure(points: DepthPoint[], title: string): TopLevelSpec {
  const x = { field: 'block', type: 'ordinal', title: 'decode block i' } as const;
  const y = { field: 'ap', type: 'quantitative', title: 'AP', scale: { zero: false } } as const;
  const color = { field: 'series', type: 'nominal', title: 'model', legend: { labelLimit: 320 } } as const;
  return {
    $schema: SCHEMA, title, width: 420, height: 320,
    data: { values: points.map((p) => ({ ...p, lo: p.ap - p.apStd, hi: p.ap + p.apStd })) },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { x, y, color } },
      { mark: { type: 'rule', opacity: 0.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
    ],
  };
}

export interface LossPoint {
  series: string;
  run: string;
  step: number;
  loss: number;
}

export interface TokenPoint {
  series: string;
  block: number;
  relChange: number;
}

/** One line per `detail` value (or per series), coloured by series. */
function lineChart(values: object[], title: string, x: object, y: object, colorTitle: string, detail?: string): TopLevelSpec {
  return {
    $schema: SCHEMA, title, width: 520, height: 320,
    data: { values: values.map((p) => ({ ...p })) },
    mark: detail ? { type: 'line', opacity: 0.7, strokeWidth: 1.2 } : { type: 'line', point: true },
    encoding: {
      x, y,
      color: { field: 'series', type: 'nominal', title: colorTitle, legend: { labelLimit: 320 } },
      ...(detail ? { detail: { field: detail, type: 'nominal' } } : {}),
    },
  } as TopLevelSpec;
}

export function curvesFigure(points: LossPoint[], title: string): TopLevelSpec {
  return lineChart(points, title, { field: 'step', type: 'quantitative', title: 'optimiser step' }, { field: 'loss', type: 'quantitative', title: 'training loss (moving average)', scale: { zero: false } }, 'arm', 'run');
}

export function tokenFigure(points: TokenPoint[], title: string): TopLevelSpec {
  return lineChart(points, title, { field: 'block', type: 'ordinal', title: 'block i' }, { field: 'relChange', type: 'quantitative', title: 'mean ‖x_i − x_(i−1)‖ / ‖x_(i−1)‖ (patch tokens)' }, 'model');
}

/** Moving average over `w` points (shorter at the start). */
export function movingAverage(v: number[], w: number): number[] {
  const out: number[] = [];
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    s += v[i]!;
    if (i >= w) s -= v[i - w]!;
    out.push(s / Math.min(i + 1, w));
  }
  return out;
}
