/**
 * How much the blocks of a model transform the patch tokens (issue 15): the reason a pruned token's stale
 * state can differ from the state the head expects. On the unpruned forward (`forwardTrain` with no
 * policy and no route, `trace`), with x_{-1} the patch embedding (+ position) and x_i the patch rows
 * after block i, [B,Np,D]:
 *  - relChange[i]   = mean over images and patches of ‖x_i − x_{i−1}‖₂ / ‖x_{i−1}‖₂;
 *  - stale[s]       = for stage s starting at block S_s: a token pruned there keeps x_{S_s−1}; the mean
 *                     cosine similarity cos(x_{S_s−1}, x_{L−1}) (raw residual stream) and the same after
 *                     LayerNorm without affine (what the head's final LayerNorm sees up to its scale),
 *                     and the relative distance ‖x_{L−1} − x_{S_s−1}‖ / ‖x_{L−1}‖.
 * Computed in float64 from the traced float32 rows.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.js';
import { EomtModel } from '../model/tfjs/eomt.js';
import { patchEmbed } from '../model/tfjs/patchEmbed.js';
import { normalizeImageNet } from '../data/augment.js';
import { makeBatch } from '../data/batch.js';
import type { SegSample } from '../data/sample.js';

export interface StaleStat {
  stage: number;
  /** First block of the stage (a token pruned there keeps its state after block `block − 1`). */
  block: number;
  cosine: number;
  cosineNormed: number;
  relDistance: number;
}

export interface TokenStats {
  images: number;
  /** relChange[i]: mean relative change of the patch tokens across block i. */
  relChange: number[];
  /** Mean patch-token norm after each block (x_{-1} first). */
  norms: number[];
  stale: StaleStat[];
}

/** Mean over rows of a per-row function of two [R, D] row sets. */
function rowMean(a: Float32Array, b: Float32Array, D: number, f: (a: Float32Array, b: Float32Array, o: number) => number): number {
  const R = a.length / D;
  let s = 0;
  for (let r = 0; r < R; r++) s += f(a, b, r * D);
  return s / R;
}

function makeRowOps(D: number) {
  const dot = (a: Float32Array, b: Float32Array, o: number, ma = 0, mb = 0) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += (a[o + d]! - ma) * (b[o + d]! - mb);
    return s;
  };
  const mean = (a: Float32Array, o: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += a[o + d]!;
    return s / D;
  };
  const diffNorm = (a: Float32Array, b: Float32Array, o: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += (a[o + d]! - b[o + d]!) ** 2;
    return Math.sqrt(s);
  };
  const cos = (a: Float32Array, b: Float32Array, o: number, centred: boolean) => {
    const ma = centred ? mean(a, o) : 0, mb = centred ? mean(b, o) : 0;
    return dot(a, b, o, ma, mb) / Math.sqrt(dot(a, a, o, ma, ma) * dot(b, b, o, mb, mb) + 1e-30);
  };
  return { dot, diffNorm, cos };
}

/**
 * Measures {@link TokenStats} of a model on images (a TF.js backend must be set).
 * @param model `{config, weights}` (SPEC §8 Float32Arrays)
 * @param samples images in [0, 1] at the model's input size (ImageNet-normalised here)
 * @returns per-block relative change, norms, and per-stage stale-state similarity
 */
export function tokenStats(model: { config: ModelConfig; weights: Record<string, Float32Array> }, samples: readonly SegSample[]): TokenStats {
  const cfg = model.config;
  const D = cfg.D;
  const m = EomtModel.create(cfg, model.weights, { trainable: false });
  try {
    const b = makeBatch(samples.map((s) => ({ ...s, image: normalizeImageNet(s.image) })));
    const states: Float32Array[] = tf.tidy(() => {
      const images = tf.tensor4d(b.images, b.shape);
      const x0 = patchEmbed(images, cfg, m.weights);
      const out = m.forwardTrain(images, { policy: 'none', route: null, trace: true, fullResolution: false });
      return [x0, ...out.patchTrace!].map((t) => t.dataSync() as Float32Array);
    });
    const ops = makeRowOps(D);
    const norm = (a: Float32Array, o: number) => Math.sqrt(ops.dot(a, a, o));
    const relChange = states.slice(1).map((x, i) => rowMean(x, states[i]!, D, (a, p, o) => ops.diffNorm(a, p, o) / (norm(p, o) + 1e-30)));
    const norms = states.map((x) => rowMean(x, x, D, (a, _b, o) => norm(a, o)));
    const last = states[cfg.L]!; // after block L-1 (index 0 is the embedding)
    const stale = cfg.stageBlocks.map((block, stage): StaleStat => {
      const kept = states[block]!; // after block `block - 1`
      return {
        stage, block,
        cosine: rowMean(kept, last, D, (a, c, o) => ops.cos(a, c, o, false)),
        cosineNormed: rowMean(kept, last, D, (a, c, o) => ops.cos(a, c, o, true)),
        relDistance: rowMean(kept, last, D, (a, c, o) => ops.diffNorm(a, c, o) / (norm(c, o) + 1e-30)),
      };
    });
    return { images: samples.length, relChange, norms, stale };
  } finally {
    m.dispose();
  }
}

/** A copy of `weights` with every block's LayerScale (ls1, ls2) set to `value`. */
export function withLayerScale(weights: Record<string, Float32Array>, value: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [n, a] of Object.entries(weights)) out[n] = /^blocks\.\d+\.ls[12]\.gamma$/.test(n) ? new Float32Array(a.length).fill(value) : a;
  return out;
}
