/**
 * Plots rendered headless from vega-lite specs ({@link writeVegaLite}; the study's figures use it too).
 * AP versus throughput (paper Fig. 1): x = images/s (median, with the p10–p90 spread as a horizontal
 * rule), y = AP, one point per configuration, coloured by method, points of one method joined in order
 * of throughput. A vega-lite spec compiled to vega and rendered headless (no browser, no canvas) to
 * SVG; the PNG is sharp's rasterisation of that SVG (librsvg).
 */
import { writeFileSync } from 'node:fs';
import sharp from 'sharp';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

export interface PlotPoint {
  label: string;
  /** Legend group: 'no pruning', 'pruning', 'ToMe (MHSA)', 'ToMe (MHSA+MLP)' (the study: one per arm). */
  method: string;
  imagesPerSecond: number;
  p10: number;
  p90: number;
  ap: number;
  /** Spread of the AP (e.g. std over seeds): drawn as a vertical rule ap ± apStd when given. */
  apStd?: number;
  /** Points of one method are joined in this order (default: by throughput). */
  order?: number;
}

export interface ApThroughputOptions {
  /** Write each point's label beside it (default true). */
  labels?: boolean;
  /** x-axis title (default 'throughput (images/s)'). */
  xTitle?: string;
}

export function apThroughputSpec(points: PlotPoint[], title: string, opts: ApThroughputOptions = {}): TopLevelSpec {
  const x = { field: 'imagesPerSecond', type: 'quantitative', title: opts.xTitle ?? 'throughput (images/s)', scale: { zero: false } } as const;
  const y = { field: 'ap', type: 'quantitative', title: 'AP', scale: { zero: false } } as const;
  const color = { field: 'method', type: 'nominal', title: 'method', legend: { labelLimit: 320 } } as const;
  const spread = points.some((p) => p.apStd !== undefined);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 480,
    height: 320,
    data: { values: points.map((p) => ({ ...p, order: p.order ?? p.imagesPerSecond, lo: p.ap - (p.apStd ?? 0), hi: p.ap + (p.apStd ?? 0) })) },
    layer: [
      { mark: { type: 'line', opacity: 0.5 }, encoding: { x, y, color, order: { field: 'order', type: 'quantitative' } } },
      { mark: { type: 'rule', opacity: 0.6 }, encoding: { x: { field: 'p10', type: 'quantitative' }, x2: { field: 'p90' }, y, color } },
      ...(spread ? [{ mark: { type: 'rule' as const, opacity: 0.4 }, encoding: { x, y: { field: 'lo', type: 'quantitative' as const }, y2: { field: 'hi' }, color } }] : []),
      {
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          x, y, color,
          tooltip: [{ field: 'label', type: 'nominal' }, { field: 'imagesPerSecond', type: 'quantitative', format: '.2f' }, { field: 'ap', type: 'quantitative', format: '.4f' }],
        },
      },
      ...(opts.labels === false ? [] : [{ mark: { type: 'text' as const, dx: 6, dy: -6, align: 'left' as const, fontSize: 9 }, encoding: { x, y, text: { field: 'label', type: 'nominal' as const } } }]),
    ],
  };
}

/** Renders the spec to SVG (headless vega View) and PNG (sharp); writes `<stem>.svg` and `<stem>.png`. */
export async function writeApThroughputPlot(points: PlotPoint[], stem: string, title: string): Promise<{ svg: string; png: string }> {
  return writeVegaLite(apThroughputSpec(points, title), stem);
}

/** Renders any vega-lite spec to `<stem>.svg` (headless vega View) and `<stem>.png` (sharp, 144 dpi). */
export async function writeVegaLite(spec: TopLevelSpec, stem: string): Promise<{ svg: string; png: string }> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const svgPath = `${stem}.svg`, pngPath = `${stem}.png`;
  writeFileSync(svgPath, svg);
  await sharp(Buffer.from(svg), { density: 144 }).png().toFile(pngPath);
  return { svg: svgPath, png: pngPath };
}
