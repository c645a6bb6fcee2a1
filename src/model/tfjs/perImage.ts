/**
 * The per-image pieces of `EomtModel.forwardInference` (eomt.ts): keep 'dynamic' and STEP superpatches make every
 * image's token count its own, so the TF.js model runs such batches one image at a time (the native engine runs them
 * as variable-length rows of one batch) and concatenates the outputs.
 *   dynamicKeepCount  k_b = max(#{active: score >= threshold}, min(minKeep, #active)), read back per stage
 *   superpatchDecisions  the policy CNN on one image's patch means: merge where sigmoid(logit) >= threshold
 *   applySuperpatches  window means into the top-left rows (mergeWindowRows), the initial active patches, and the
 *                     decoder's view of the map (every sibling row gathered from its top-left row)
 *   exitTokens        an early exit: confidences of the active patches, the least confident stay (engine rule)
 */
import * as tf from '@tensorflow/tfjs';
import { describe, rangeError, typeError } from '../../errors.js';
import { patchGrid, type ModelConfig } from '../config.js';
import { checkWeight, mergeWindowRows, patchMeans, policyWeightShapes, superpatchLayout, validatePolicyConfig, type SuperpatchPolicyConfig } from '../superpatch.js';
import { policyLogits } from './superpatchPolicy.js';
import { exitWeightShapes, validateExitConfig, type ExitHeadsConfig } from '../earlyExit.js';
import { layerNorm, linear } from './layers.js';
import type { InferenceOutput } from './eomt.js';

type KeepK = (s: number, score: tf.Tensor2D, active: tf.Tensor2D | null) => number;

/** The keep 'dynamic' count of a stage (validated threshold and floor). */
export function dynamicKeepCount(op: string, threshold: number, minKeep: number): KeepK {
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) throw rangeError(op, `expected threshold in [0, 1], received ${describe(threshold)}`);
  if (!Number.isInteger(minKeep) || minKeep < 1) throw rangeError(op, `expected minKeep to be an integer >= 1, received ${describe(minKeep)}`);
  return (_s, score, active) => {
    const sc = score.dataSync(), act = active?.dataSync();
    let pass = 0, n = 0;
    for (let j = 0; j < sc.length; j++) {
      if (act && !act[j]) continue;
      n++;
      if (sc[j]! >= threshold) pass++;
    }
    return Math.max(pass, Math.min(minKeep, n));
  };
}

export interface SuperpatchRun {
  config: SuperpatchPolicyConfig;
  weights: Record<string, Float32Array>;
  threshold: number;
}

/** Checks the superpatch option against the model (same patch). @throws TypeError/RangeError naming the field */
export function checkSuperpatch(op: string, sp: { policy: { config: SuperpatchPolicyConfig; weights: Record<string, Float32Array> }; threshold?: number }, cfg: ModelConfig): SuperpatchRun {
  if (typeof sp !== 'object' || sp === null || typeof sp.policy !== 'object' || sp.policy === null) throw typeError(op, `expected superpatch to be {policy: {config, weights}, threshold?}, received ${describe(sp)}`);
  const config = validatePolicyConfig(sp.policy.config);
  if (config.patch !== cfg.patch) throw rangeError(op, `expected the superpatch policy's patch ${config.patch} to be the model's patch ${cfg.patch}`);
  const threshold = sp.threshold ?? 0.5;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) throw rangeError(op, `expected superpatch.threshold in [0, 1], received ${describe(threshold)}`);
  for (const [name, shape] of policyWeightShapes(config)) checkWeight(sp.policy.weights, name, shape);
  return { config, weights: sp.policy.weights, threshold };
}

/** [gh, gw] of a model. */
export const grid = (cfg: ModelConfig): [number, number] => {
  const { gh, gw } = patchGrid(cfg);
  return [gh, gw];
};

/** The merged windows [wh*ww] of one image [1,3,H,W] (1 = one token). */
export function superpatchDecisions(image: tf.Tensor4D, sp: SuperpatchRun, cfg: ModelConfig): Uint8Array {
  const [H, W] = cfg.image;
  const [gh, gw] = grid(cfg);
  return tf.tidy(() => {
    const u = patchMeans(image.dataSync() as Float32Array, H, W, cfg.patch);
    const vars: Record<string, tf.Tensor> = {};
    for (const [name, shape] of policyWeightShapes(sp.config)) vars[name] = tf.tensor(sp.weights[name]!, shape);
    const p = tf.sigmoid(policyLogits(vars, tf.tensor4d(u, [1, 3, gh, gw]))).dataSync();
    return Uint8Array.from(p, (v) => (v >= sp.threshold ? 1 : 0));
  });
}

/**
 * One image's map x [1, P+Np, D] after the patch embedding, merged: returns the merged map, the active patches
 * [1, n0] (ascending) and `unmerge(m)` for a later map m [1, Q+P+Np, D] (queries present): every sibling row shows its
 * top-left row.
 */
export function applySuperpatches(x: tf.Tensor3D, merged: Uint8Array, cfg: ModelConfig): { x: tf.Tensor3D; activeIdx: tf.Tensor2D; unmerge: (m: tf.Tensor3D) => tf.Tensor3D } {
  const { D, Q, R } = cfg;
  const P = 1 + R;
  const [gh, gw] = grid(cfg);
  const data = Float32Array.from(x.dataSync() as Float32Array);
  mergeWindowRows(data.subarray(P * D), merged, gh, gw, D);
  const { active, source } = superpatchLayout(merged, gh, gw);
  const rowMap = Int32Array.from({ length: Q + P + gh * gw }, (_, r) => (r < Q + P ? r : Q + P + source[r - Q - P]!));
  return {
    x: tf.tensor3d(data, x.shape as [number, number, number]),
    activeIdx: tf.tensor2d(active, [1, active.length], 'int32'),
    unmerge: (m) => tf.gather(m, tf.tensor1d(rowMap, 'int32'), 1) as tf.Tensor3D,
  };
}

/** The per-image outputs concatenated along the batch (keptPerStage empty; counts and merged windows per image). */
export function concatOutputs(outs: InferenceOutput[]): InferenceOutput {
  const cat = <T extends tf.Tensor>(ts: T[]): T => tf.concat(ts, 0) as T;
  const out: InferenceOutput = {
    semantic: cat(outs.map((o) => o.semantic)),
    classLogits: cat(outs.map((o) => o.classLogits)),
    maskLogits: cat(outs.map((o) => o.maskLogits)),
    keptPerStage: [],
    keptCounts: outs[0]!.keptCounts.map((_, s) => outs.map((o) => o.keptCounts[s]![0]!)),
  };
  if (outs[0]!.perBlock) out.perBlock = outs[0]!.perBlock.map((p, i) => ({ block: p.block, semantic: cat(outs.map((o) => o.perBlock![i]!.semantic)) }));
  if (outs[0]!.merged) out.merged = outs.flatMap((o) => o.merged!);
  if (outs[0]!.halted) out.halted = outs[0]!.halted.map((_, e) => outs.map((o) => o.halted![e]![0]!));
  // the per-image tensors (a set: the last decode point's map is also `semantic`)
  tf.dispose([...new Set(outs.flatMap((o) => [o.semantic, o.classLogits, o.maskLogits, ...o.keptPerStage, ...(o.perBlock ?? []).map((p) => p.semantic)]))]);
  return out;
}

export interface ExitRun {
  blocks: number[];
  threshold: number;
  minActive: number;
  weights: Record<string, Float32Array>;
}

/** Checks the early-exit option against the model. @throws TypeError/RangeError naming the field */
export function checkExits(op: string, ex: { heads: { config: ExitHeadsConfig; weights: Record<string, Float32Array> }; threshold?: number; minActive?: number }, cfg: ModelConfig): ExitRun {
  if (typeof ex !== 'object' || ex === null || typeof ex.heads !== 'object' || ex.heads === null) throw typeError(op, `expected earlyExit to be {heads: {config, weights}, threshold?, minActive?}, received ${describe(ex)}`);
  const config = validateExitConfig(ex.heads.config, cfg.L);
  if (config.D !== cfg.D || config.classes !== cfg.classes) throw rangeError(op, `expected the exit heads to fit the model (D ${cfg.D}, classes ${cfg.classes}), received D ${config.D}, classes ${config.classes}`);
  const threshold = ex.threshold ?? 0.9, minActive = ex.minActive ?? 1;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) throw rangeError(op, `expected earlyExit.threshold in [0, 1], received ${describe(threshold)}`);
  if (!Number.isInteger(minActive) || minActive < 1) throw rangeError(op, `expected earlyExit.minActive to be an integer >= 1, received ${describe(minActive)}`);
  for (const [name, shape] of exitWeightShapes(config)) checkWeight(ex.heads.weights, name, shape, op);
  return { blocks: config.blocks, threshold, minActive, weights: ex.heads.weights };
}

/**
 * Early exit e on one image (B = 1): conf = max softmax(fc(LayerNorm(x))) of the active patches (all when activeIdx is
 * null); the image keeps max(#{conf <= threshold}, min(minActive, active)) of them, the least confident (ties to the
 * lower index). Returns the new active patches [1, k] (ascending) and the count that left.
 */
export function exitTokens(x: tf.Tensor3D, base: number, activeIdx: tf.Tensor2D | null, e: number, ex: ExitRun, Np: number): { activeIdx: tf.Tensor2D; halted: number } {
  const ids = activeIdx ? Array.from(activeIdx.dataSync()) : Array.from({ length: Np }, (_, n) => n);
  const D = x.shape[2];
  const w = (k: string, shape: number[]) => tf.tensor(ex.weights[`exits.${e}.${k}`]!, shape);
  const conf = tf.tidy(() => {
    const rows = tf.gather(x, tf.tensor1d(ids.map((n) => base + n), 'int32'), 1);
    const C1 = ex.weights[`exits.${e}.fc.bias`]!.length;
    const l = linear(layerNorm(rows, w('norm.weight', [D]), w('norm.bias', [D]), 1e-6), w('fc.weight', [C1, D]), w('fc.bias', [C1]));
    return tf.max(tf.softmax(l), -1).dataSync();
  });
  const stay = Array.from(conf).filter((c) => c <= ex.threshold).length;
  const k = Math.max(stay, Math.min(ex.minActive, ids.length));
  const order = ids.map((n, j) => ({ n, c: conf[j]! })).sort((a, b) => (a.c !== b.c ? a.c - b.c : a.n - b.n));
  const keep = order.slice(0, k).map((o) => o.n).sort((a, b) => a - b);
  return { activeIdx: tf.tensor2d(keep, [1, k], 'int32'), halted: ids.length - k };
}
