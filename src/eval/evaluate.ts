/**
 * Evaluation of a trained model (SPEC §7) on the native engine (`InferenceSession`): pruned at a base
 * keep ratio, with dynamic per-image keep (the kept patches per stage reported: mean, min, max over images), or unpruned, Dice (threshold 0.5, pixel-pooled) and exact AP (sklearn step-wise, streaming
 * `BlockMetricsAccumulator`) over every test pixel, for the final block and, with `perBlock`, every
 * decode point L−Bq−1 … L−1 (the depth-wise analysis).
 * Test sets: 'synthetic' = `syntheticDataset(samples, mixSeed(dataSeed, 3), image)` (disjoint seed from
 * the training set's mixSeed(dataSeed, 1)); a FIVES root = its `split` ('test' by default) of
 * `listFives(root, {seed: dataSeed})` resized to the model input. Images are ImageNet-normalised only.
 */
import { InferenceSession } from '../engine/session.js';
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import type { ModelConfig } from '../model/config.js';
import { rangeError } from '../errors.js';
import { mixSeed, type SegSample } from '../data/sample.js';
import { syntheticDataset } from '../data/synthetic.js';
import { listFives, loadSample, type Split } from '../data/fives.js';
import { normalizeImageNet } from '../data/augment.js';
import { BlockMetricsAccumulator, type BlockMetrics } from './metrics.js';
import { KeptTokenStats, type StageKept } from '../engine/keptStats.js';
import { patchGrid } from '../model/config.js';

export interface EvaluateOptions {
  /** 'synthetic' or a FIVES root. */
  data: string;
  /** Synthetic test set size (default 16). */
  samples?: number;
  dataSeed?: number;
  /** FIVES split (default 'test'). */
  split?: Split;
  /** Base keep ratio, 'dynamic' (with threshold, minKeep), or null: unpruned. */
  keep: number | 'dynamic' | null;
  /** keep 'dynamic': keep-score threshold (default 0.5) and floor (default 1). */
  threshold?: number;
  minKeep?: number;
  /** The ToMe baseline instead of pruning (keep must be null): merge around MHSA or MHSA+MLP at mergeRatio. */
  tome?: { mode: 'mhsa' | 'mhsa+mlp'; mergeRatio: number };
  /** Engine precision (default 'fp32'). */
  precision?: 'fp32' | 'bf16';
  /** Also every decode point (default false). */
  perBlock?: boolean;
  /** Images per engine call (default 4). */
  batch?: number;
  /** Called after every batch with (images done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface EvaluateResult {
  keep: number | 'dynamic' | null;
  /** keep 'dynamic': its threshold and floor. */
  dynamic?: { threshold: number; minKeep: number };
  /** When pruning: kept patches per stage over the test images (mean, min, max). */
  kept?: StageKept[];
  images: number;
  /** Metrics of the final block. */
  final: BlockMetrics;
  /** With perBlock: every decode point, ascending (the last equals `final`). */
  perBlock?: BlockMetrics[];
  config: ModelConfig;
}

/**
 * Evaluates a checkpoint or in-memory weights.
 * @param model a `.safetensors` path, or `{config, weights}`
 * @param opts data, keep, perBlock, batch
 * @returns Dice and AP of the final block (and per block)
 * @throws {RangeError} empty test set or bad options; the engine's errors for bad weights
 * @example const r = await evaluate('run/ema.safetensors', { data: 'synthetic', keep: 0.7, perBlock: true });
 */
export async function evaluate(model: string | { config: ModelConfig; weights: Record<string, Float32Array> }, opts: EvaluateOptions): Promise<EvaluateResult> {
  const src = typeof model === 'string' ? loadCheckpoint(model) : model;
  const config = src.config;
  const [H, W] = config.image;
  const size: [number, number] = [H, W];
  const dataSeed = opts.dataSeed ?? 0;
  let n: number;
  let get: (i: number) => Promise<SegSample>;
  if (opts.data === 'synthetic') {
    const set = syntheticDataset(opts.samples ?? 16, mixSeed(dataSeed, 3), size);
    n = set.length;
    get = async (i) => set[i]!;
  } else {
    const list = (await listFives(opts.data, { seed: dataSeed })).filter((s) => s.split === (opts.split ?? 'test'));
    n = list.length;
    get = (i) => loadSample(list[i]!, { size });
  }
  if (n < 1) throw rangeError('evaluate', 'the test set is empty');
  const batch = opts.batch ?? 4;
  if (!Number.isInteger(batch) || batch < 1) throw rangeError('evaluate', `expected batch to be a positive integer, received ${batch}`);
  const dynamic = opts.keep === 'dynamic' ? { threshold: opts.threshold ?? 0.5, minKeep: opts.minKeep ?? 1 } : undefined;
  const session = await InferenceSession.create({ config, weights: src.weights }, { keep: opts.keep, ...dynamic, precision: opts.precision, ...(opts.tome ? { tome: opts.tome } : {}) });
  const acc = new BlockMetricsAccumulator();
  const kept = new KeptTokenStats(patchGrid(config).Np, config.stageBlocks);
  const HW = H * W;
  try {
    for (let s = 0; s < n; s += batch) {
      const samples = await Promise.all(Array.from({ length: Math.min(batch, n - s) }, (_, k) => get(s + k)));
      const B = samples.length;
      const images = new Float32Array(B * 3 * HW);
      samples.forEach((x, k) => images.set(normalizeImageNet(x.image), k * 3 * HW));
      const r = await session.run({ data: images, shape: [B, 3, H, W] }, { perBlock: opts.perBlock === true });
      kept.add(r.kept);
      const maps = r.perBlock ?? [{ block: config.L - 1, semantic: r.semantic }];
      for (let k = 0; k < B; k++) {
        // channel 0 = the vessel class (C = 1)
        const per = maps.map((m) => ({ block: m.block, prob: m.semantic.data.subarray(k * config.classes * HW, k * config.classes * HW + HW) }));
        acc.add(per, samples[k]!.mask);
      }
      opts.onProgress?.(s + B, n);
    }
  } finally {
    session.dispose();
  }
  const all = acc.compute();
  const stages = kept.summary();
  const out: EvaluateResult = { keep: opts.keep, ...(dynamic ? { dynamic } : {}), ...(stages.length ? { kept: stages } : {}), images: n, final: all[all.length - 1]!, config };
  if (opts.perBlock) out.perBlock = all;
  return out;
}
