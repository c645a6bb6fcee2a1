/**
 * Kept patch tokens per pruning stage over many images (what `reg4pru bench`, `eval` and `infer` report beside
 * img/s and AP): each run's `kept` [S,B] (InferenceResult) is added; the summary gives per stage the mean, min and
 * max over every image seen, also as a share of the Np patches. Fixed keep ratios give min = max = the stage's count;
 * keep 'dynamic' varies per image. With superpatches, the tokens after merging (Np − 3 per merged window) are a stage of
 * their own (`merge`, block −1) before the pruning stages; with early exits, the tokens that left at each exit block
 * follow (`exit`, its block; the share of Np is the exit rate).
 */
import type { I32Tensor } from '../validate.js';

export interface StageKept {
  /** Pruning stage s and the block it starts at; 'merge' (block -1): the tokens after superpatch merging; 'exit': the
   * tokens that left after that block (early exits). */
  stage: number | 'merge' | 'exit';
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
  #merge: { sum: number; min: number; max: number; images: number } | null = null;
  readonly #exits: Array<{ sum: number; min: number; max: number; images: number }> = [];
  #exitBlocks: readonly number[] = [];

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

  /** Adds one run's merged windows [B, wh, ww] (superpatches; ignored when absent). */
  addMerged(merged: { data: Uint8Array; shape: readonly number[] } | undefined): void {
    if (merged === undefined) return;
    const [B, wh, ww] = merged.shape as [number, number, number];
    const m = (this.#merge ??= { sum: 0, min: Infinity, max: -Infinity, images: 0 });
    for (let b = 0; b < B; b++) {
      let n = this.Np;
      for (let i = 0; i < wh * ww; i++) n -= 3 * merged.data[b * wh * ww + i]!;
      m.sum += n;
      m.min = Math.min(m.min, n);
      m.max = Math.max(m.max, n);
      m.images++;
    }
  }

  /** Adds one run's halted tokens [E,B] (early exits after `blocks`; ignored when absent). */
  addHalted(halted: I32Tensor | undefined, blocks: readonly number[]): void {
    if (halted === undefined) return;
    const [E, B] = halted.shape as [number, number];
    this.#exitBlocks = blocks;
    for (let e = 0; e < E; e++) {
      const x = (this.#exits[e] ??= { sum: 0, min: Infinity, max: -Infinity, images: 0 });
      for (let b = 0; b < B; b++) {
        const v = halted.data[e * B + b]!;
        x.sum += v;
        x.min = Math.min(x.min, v);
        x.max = Math.max(x.max, v);
        x.images++;
      }
    }
  }

  /** The superpatch merge (stage 'merge', block -1) when any, every pruning stage, then every early exit ('exit'). */
  summary(): StageKept[] {
    const m = this.#merge;
    const row = (stage: 'merge' | 'exit', block: number, a: { sum: number; min: number; max: number; images: number }): StageKept =>
      ({ stage, block, mean: a.sum / a.images, min: a.min, max: a.max, meanFraction: a.sum / a.images / this.Np, images: a.images });
    const merge: StageKept[] = m ? [row('merge', -1, m)] : [];
    const exits = this.#exits.map((x, e) => row('exit', this.#exitBlocks[e] ?? -1, x));
    const stages = this.#sum.map((sum, s): StageKept => {
      const mean = sum / this.#images;
      return { stage: s, block: this.stageBlocks[s] ?? -1, mean, min: this.#min[s]!, max: this.#max[s]!, meanFraction: mean / this.Np, images: this.#images };
    });
    // by block; a stage before an exit at the same block (selection precedes the block, the exit follows it)
    return [...merge, ...[...stages, ...exits].sort((a, b) => a.block - b.block || (a.stage === 'exit' ? 1 : 0) - (b.stage === 'exit' ? 1 : 0))];
  }
}

/**
 * One line for a table: per stage the mean share of Np, with the [min–max] counts when images differ.
 * @example formatKept(stats) // '70.0% / 49.0% / 34.3%' or '61.2% [580–702] / ...'
 */
export function formatKept(stats: readonly StageKept[]): string {
  if (stats.length === 0) return '-';
  return stats.map((k) => `${k.stage === 'merge' ? 'merge ' : k.stage === 'exit' ? `exit@${k.block} ` : ''}${(100 * k.meanFraction).toFixed(1)}%${k.min === k.max ? '' : ` [${k.min}–${k.max}]`}`).join(' / ');
}
