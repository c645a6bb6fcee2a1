/**
 * Optimisation schedule of SPEC §4 (paper §4, following EoMT's two-stage warmup): which parameters are
 * "backbone" or "head", their layer-wise lr decay (LLRD) scale, whether they get weight decay, and the
 * learning rate at every optimiser step. Plain TS (no TF.js): the AdamW of optimizer.ts reads it.
 *
 * Parameter groups (SPEC §8 names):
 *  - backbone = the DINOv2-like encoder: `patch_embed.*`, `cls_token`, `reg_token`, `pos_embed`,
 *    `blocks.{i}.*` and the final `norm.*`; head = everything new on top of it: `q.weight`,
 *    `class_head.*`, `mask_head.*`, `upscale.*`, `selectors.*`.
 *  - LLRD scale (relative to the head's 1): `blocks.{i}.*` → llrd^(L−i) (the last block 0.8, the first
 *    0.8^L); the embeddings (`patch_embed.*`, `cls_token`, `reg_token`, `pos_embed`) → llrd^(L+1);
 *    `norm.*` and every head parameter → 1.
 *  - Weight decay only on weight matrices and conv kernels (`*.weight` except norms and `q.weight`);
 *    none on biases, LayerNorm/RMSNorm weights, LayerScale gammas (`ls1/ls2/ls.gamma`), the cls/register
 *    tokens, the position embedding and the learned queries.
 *
 * Learning rate at optimiser step t (0-based: t = the index of the update about to be applied), base lr
 * η, warmup [w1, w2], T total steps, power p (0.9), as EoMT's TwoStageWarmupPolySchedule:
 *   head:      t < w1        : η · (t+1)/w1                                  (linear warmup)
 *              otherwise     : η · (1 − (t−w1)/max(1, T−w1))^p               (polynomial decay)
 *   backbone:  t < w1        : 0                                             (frozen while the head warms up)
 *              t < w1 + w2   : η · (t−w1+1)/w2                               (its own linear warmup)
 *              otherwise     : η · (1 − (t−w1−w2)/max(1, T−w1−w2))^p
 * The decay reaches 0 at t = T (one past the last update; the last update uses a small positive lr).
 * (t+1 instead of EoMT's t in the warmups: the very first update is not a wasted zero-lr step.)
 */
import { rangeError } from '../errors.js';

export type ParamGroup = 'backbone' | 'head';

/** How the optimiser treats one parameter. */
export interface ParamInfo {
  group: ParamGroup;
  /** LLRD multiplier of the base lr (1 for the head). */
  lrScale: number;
  /** Whether decoupled weight decay applies. */
  decay: boolean;
}

/** The lr schedule's numbers. */
export interface LrSchedule {
  /** Base learning rate η (2e-4). */
  lr: number;
  /** [head warmup w1, backbone warmup w2] in optimiser steps (paper fine-tuning: [200, 400]). */
  warmup: readonly [number, number];
  /** Total optimiser steps T. */
  totalSteps: number;
  /** Polynomial decay power (0.9). */
  power?: number;
}

const EMBED = /^(patch_embed\.|cls_token$|reg_token$|pos_embed$)/;
const BLOCK = /^blocks\.(\d+)\./;
const NO_DECAY = /(\.bias$|norm\d*\.|\.gamma$|^cls_token$|^reg_token$|^pos_embed$|^q\.weight$)/;

/**
 * Group, LLRD scale and weight-decay flag of a SPEC §8 parameter (see the file comment).
 * @param name SPEC §8 tensor name, e.g. `blocks.3.attn.qkv.weight`
 * @param L number of blocks
 * @param llrd layer-wise lr decay factor in (0, 1] (0.8)
 * @example paramInfo('blocks.11.mlp.fc1.weight', 12, 0.8) // {group: 'backbone', lrScale: 0.8, decay: true}
 */
export function paramInfo(name: string, L: number, llrd = 0.8): ParamInfo {
  if (!Number.isInteger(L) || L < 1) throw rangeError('paramInfo', `expected L to be a positive integer, received ${L}`);
  if (!(llrd > 0 && llrd <= 1)) throw rangeError('paramInfo', `expected llrd in (0, 1], received ${llrd}`);
  const decay = !NO_DECAY.test(name);
  const m = BLOCK.exec(name);
  if (m) return { group: 'backbone', lrScale: llrd ** (L - Number(m[1])), decay };
  if (EMBED.test(name)) return { group: 'backbone', lrScale: llrd ** (L + 1), decay };
  if (name.startsWith('norm.')) return { group: 'backbone', lrScale: 1, decay };
  return { group: 'head', lrScale: 1, decay };
}

function checkSchedule(s: LrSchedule): void {
  const op = 'lrAt';
  if (!(s.lr >= 0 && Number.isFinite(s.lr))) throw rangeError(op, `expected lr >= 0, received ${s.lr}`);
  const [w1, w2] = s.warmup;
  if (!Number.isInteger(w1) || !Number.isInteger(w2) || w1 < 0 || w2 < 0) throw rangeError(op, `expected warmup to be two integers >= 0, received [${s.warmup.join(', ')}]`);
  if (!Number.isInteger(s.totalSteps) || s.totalSteps < 1) throw rangeError(op, `expected totalSteps to be a positive integer, received ${s.totalSteps}`);
}

/**
 * Learning rate (before the LLRD scale) of a parameter group at optimiser step `step` (0-based).
 * @example lrAt(0, 'backbone', { lr: 2e-4, warmup: [200, 400], totalSteps: 10000 }) // 0
 */
export function lrAt(step: number, group: ParamGroup, s: LrSchedule): number {
  checkSchedule(s);
  if (!Number.isInteger(step) || step < 0) throw rangeError('lrAt', `expected step to be an integer >= 0, received ${step}`);
  const [w1, w2] = s.warmup;
  const p = s.power ?? 0.9;
  const poly = (start: number) => s.lr * Math.max(0, 1 - (step - start) / Math.max(1, s.totalSteps - start)) ** p;
  if (group === 'head') return step < w1 ? (s.lr * (step + 1)) / w1 : poly(w1);
  if (step < w1) return 0;
  if (step < w1 + w2) return (s.lr * (step - w1 + 1)) / w2;
  return poly(w1 + w2);
}

/**
 * Shrinks the warmup proportionally when it would take more than half of a short run (w1 + w2 ≤ T/2),
 * so that a quick experiment still decays; long runs keep the paper's numbers.
 */
export function fitWarmup(warmup: readonly [number, number], totalSteps: number): [number, number] {
  const [w1, w2] = warmup;
  const cap = Math.floor(totalSteps / 2);
  if (w1 + w2 <= cap) return [w1, w2];
  const f = cap / (w1 + w2);
  return [Math.floor(w1 * f), Math.floor(w2 * f)];
}
