/**
 * Kept patch tokens per pruning stage over many images (what `reg4pru bench`, `eval` and `infer` report beside
 * img/s and AP): each run's `kept` [S,B] (InferenceResult) is added; the summary gives per stage the mean, min and
 * max over every image seen, also as a share of the Np patches. Fixed keep ratios give min = max = the stage's count;
 * keep 'dynamic' varies per image.
 */
import type { I32Tensor } from '../validate.js';

export interface StageKept {
  /** Pruning stage s and the block it starts at. */
  stage: number;
  block: number;
  /** Kept patches over the images: mean, min, max, and the mean as a fraction of Np. */
  mean: number;
  min: number;
  max: number;
  meanFraction: number;
  images: number;
}

export class KeptTokenStats {
  readonly #sum: number[] = [];
  readonly #min: number[] = [];
  readonly #max: number[] = [];
  #images = 0;

  /** @param Np patches per image; @param stageBlocks the config's pruning stage blocks */
  constructor(readonly Np: number, readonly stageBlocks: readonly number[]) {}

  /** Adds one run's kept counts [S,B] (ignored when absent: an unpruned run). */
  add(kept: I32Tensor | undefined): void {
    if (kept === undefined) return;
    const [S, B] = kept.shape as [number, number];
    for (let s = 0; s < S; s++)
      for (let b = 0; b < B; b++) {
        const v = kept.data[s * B + b]!;
        this.#sum[s] = (this.#sum[s] ?? 0) + v;
        this.#min[s] = Math.min(this.#min[s] ?? Infinity, v);
        this.#max[s] = Math.max(this.#max[s] ?? -Infinity, v);
      }
    this.#images += B;
  }

  /** Per stage: mean / min / max over the images added (empty when none were pruned). */
  summary(): StageKept[] {
    return this.#sum.map((sum, s) => {
      const mean = sum / this.#images;
      return { stage: s, block: this.stageBlocks[s] ?? -1, mean, min: this.#min[s]!, max: this.#max[s]!, meanFraction: mean / this.Np, images: this.#images };
    });
  }
}

/**
 * One line for a table: per stage the mean share of Np, with the [min–max] counts when images differ.
 * @example formatKept(stats) // '70.0% / 49.0% / 34.3%' or '61.2% [580–702] / ...'
 */
export function formatKept(stats: readonly StageKept[]): string {
  if (stats.length === 0) return '-';
  return stats.map((k) => `${(100 * k.meanFraction).toFixed(1)}%${k.min === k.max ? '' : ` [${k.min}–${k.max}]`}`).join(' / ');
}
