/**
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
  /** Legend group: 'no pruning', 'pruning', 'ToMe (MHSA)', 'ToMe (MHSA+MLP)'. */
  method: string;
  imagesPerSecond: number;
  p10: number;
  p90: number;
  ap: number;
}

export function apThroughputSpec(points: PlotPoint[], title: string): TopLevelSpec {
  const x = { field: 'imagesPerSecond', type: 'quantitative', title: 'throughput (images/s)', scale: { zero: false } } as const;
  const y = { field: 'ap', type: 'quantitative', title: 'AP', scale: { zero: false } } as const;
  const color = { field: 'method', type: 'nominal', title: 'method' } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 480,
    height: 320,
    data: { values: points.map((p) => ({ ...p })) },
    layer: [
      { mark: { type: 'line', opacity: 0.5 }, encoding: { x, y, color, order: { field: 'imagesPerSecond', type: 'quantitative' } } },
      { mark: { type: 'rule', opacity: 0.6 }, encoding: { x: { field: 'p10', type: 'quantitative' }, x2: { field: 'p90' }, y, color } },
      {
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          x, y, color,
          tooltip: [{ field: 'label', type: 'nominal' }, { field: 'imagesPerSecond', type: 'quantitative', format: '.2f' }, { field: 'ap', type: 'quantitative', format: '.4f' }],
        },
      },
      { mark: { type: 'text', dx: 6, dy: -6, align: 'left', fontSize: 9 }, encoding: { x, y, text: { field: 'label', type: 'nominal' } } },
    ],
  };
}

/** Renders the spec to SVG (headless vega View) and PNG (sharp); writes `<stem>.svg` and `<stem>.png`. */
export async function writeApThroughputPlot(points: PlotPoint[], stem: string, title: string): Promise<{ svg: string; png: string }> {
  const compiled = vl.compile(apThroughputSpec(points, title)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const svgPath = `${stem}.svg`, pngPath = `${stem}.png`;
  writeFileSync(svgPath, svg);
  await sharp(Buffer.from(svg), { density: 144 }).png().toFile(pngPath);
  return { svg: svgPath, png: pngPath };
}
