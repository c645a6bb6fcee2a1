/**
 * Training losses of SPEC §4 as differentiable TF.js compositions (work under tf.grad / tf.variableGrads
 * on any backend; only built-in TF.js ops):
 *
 *  - Set loss (Mask2Former) for ONE decoded output, batch B, Q queries, C real classes (+ no-object last):
 *      queries are Hungarian-matched to the targets per image (matching.ts, non-differentiable, on the
 *      current values), then
 *        L = 2 · CE + 5 · BCE + 5 · Dice
 *      CE   = Σ_{b,q} w_{b,q} · (−log softmax(class_{b,q})[y_{b,q}]) / Σ_{b,q} w_{b,q}
 *             y = the matched target's label, or no-object (index C) for unmatched queries;
 *             w = 1, or 0.1 for no-object (PyTorch's weighted-mean cross_entropy, as Mask2Former);
 *      BCE  = 1/M Σ_{matched} mean_px [softplus(m) − m·y]                (BCE with logits)
 *      Dice = 1/M Σ_{matched} (1 − (2 Σ σ(m)·y + 1) / (Σ σ(m) + Σ y + 1))
 *      M = number of matched (= target) masks in the batch; BCE = Dice = 0 when M = 0.
 *      Masks are compared at the mask-logit resolution [h,w] (all pixels, no point sampling), the
 *      targets brought there by area average (`vesselTargets`).
 *    `deepSupervisionLoss` sums the set loss over every decoded output (each matched on its own).
 *  - Ratio loss (eq. 2): L_ratio = 1/(B·S) Σ_b Σ_s (ρ_s − mean_τ P_τ^{b,s})².
 *  - Policy loss (eq. 6): L_pol = λ_pol/B Σ_b Σ_s BCE(σ(p^{b,s}), T^b), where BCE is the MEAN over the
 *    N tokens (so L_pol = λ_pol · Σ_s mean_{b,τ} BCE), λ_pol = 8; T from `policyTargets`.
 * BCE with logits is written softplus(x) − x·y: TF.js's softplus is overflow-safe and its gradient σ(x)
 * is exact at x = 0 (a relu/abs formulation would give 0 there).
 */
import * as tf from '@tensorflow/tfjs';
import { rangeError, typeError } from '../errors.js';
import { DEFAULT_MATCH_WEIGHTS, matchImage, type ImageTargets, type Match, type MatchWeights } from './matching.js';

/** One decoded block's output: class logits [B,Q,C+1] (no-object last) and mask logits [B,Q,h,w]. */
export interface DecodedOutput {
  classLogits: tf.Tensor;
  maskLogits: tf.Tensor;
}

/** Options of the set loss (Mask2Former defaults). */
export interface SetLossOptions {
  /** Loss weights: class CE 2, mask BCE 5, mask Dice 5. */
  weights?: MatchWeights;
  /** Class weight of no-object in the CE (0.1). */
  noObjectWeight?: number;
  /** Matching cost weights (2, 5, 5). */
  matchWeights?: MatchWeights;
}

/** The set loss and its parts (all scalars; dispose them, or compute inside tf.tidy / tf.grad). */
export interface SetLossParts {
  loss: tf.Scalar;
  ce: tf.Scalar;
  bce: tf.Scalar;
  dice: tf.Scalar;
  matches: Match[];
}

function checkOutput(op: string, out: DecodedOutput, B: number): { Q: number; C1: number; P: number } {
  const { classLogits: cl, maskLogits: ml } = out;
  if (!(cl instanceof tf.Tensor) || cl.rank !== 3 || cl.dtype !== 'float32') throw typeError(op, `classLogits must be a float32 tf.Tensor [B,Q,C+1], got ${cl instanceof tf.Tensor ? `${cl.dtype} [${cl.shape.join(',')}]` : typeof cl}`);
  if (!(ml instanceof tf.Tensor) || ml.rank !== 4 || ml.dtype !== 'float32') throw typeError(op, `maskLogits must be a float32 tf.Tensor [B,Q,h,w], got ${ml instanceof tf.Tensor ? `${ml.dtype} [${ml.shape.join(',')}]` : typeof ml}`);
  const [b, Q, C1] = cl.shape;
  if (b !== B) throw rangeError(op, `classLogits batch B=${b} but ${B} targets were given`);
  if (C1 < 2) throw rangeError(op, `classLogits must have C+1 >= 2 classes, got ${C1}`);
  if (ml.shape[0] !== B || ml.shape[1] !== Q) throw rangeError(op, `maskLogits must be [B,Q,h,w] = [${B},${Q},h,w], got [${ml.shape.join(',')}]`);
  return { Q, C1, P: (ml.shape[2] ?? 0) * (ml.shape[3] ?? 0) };
}

/**
 * Hungarian matching of every image of one decoded output (reads the tensors' current values).
 * @returns one Match per image.
 */
export function matchOutput(out: DecodedOutput, targets: readonly ImageTargets[], matchWeights: MatchWeights = DEFAULT_MATCH_WEIGHTS): Match[] {
  const B = targets.length;
  const { Q, C1, P } = checkOutput('matchOutput', out, B);
  const cl = out.classLogits.dataSync() as Float32Array;
  const ml = out.maskLogits.dataSync() as Float32Array;
  const res: Match[] = [];
  for (let b = 0; b < B; b++) {
    if (targets[b].labels.length > Q) throw rangeError('matchOutput', `image ${b} has T=${targets[b].labels.length} targets but only Q=${Q} queries`);
    res.push(matchImage(cl.subarray(b * Q * C1, (b + 1) * Q * C1), ml.subarray(b * Q * P, (b + 1) * Q * P), targets[b], Q, matchWeights));
  }
  return res;
}

/** Elementwise BCE with logits, softplus(x) − x·y (see the header). */
function bceWithLogits(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.sub(tf.softplus(x), tf.mul(x, y));
}

/**
 * Mask2Former set loss of one decoded output with its parts (see the file header).
 * @param out classLogits float32 [B,Q,C+1], maskLogits float32 [B,Q,h,w].
 * @param targets one per image, masks at [h,w] (e.g. `vesselTargets(mask, H, W, h, w)`).
 * @param options weights; `matches` to reuse a matching (else computed here from the current values).
 * @throws {TypeError} on non-tensors / wrong rank or dtype. {RangeError} on inconsistent sizes or labels.
 */
export function setLossParts(out: DecodedOutput, targets: readonly ImageTargets[], options: SetLossOptions = {}, matches?: readonly Match[]): SetLossParts {
  const op = 'setLoss';
  const B = targets.length;
  if (B < 1) throw rangeError(op, 'needs at least one image of targets');
  const { Q, C1, P } = checkOutput(op, out, B);
  const w = options.weights ?? DEFAULT_MATCH_WEIGHTS;
  const noObj = options.noObjectWeight ?? 0.1;
  const m = matches ? [...matches] : matchOutput(out, targets, options.matchWeights);
  if (m.length !== B) throw rangeError(op, `matches must have one entry per image (${B}), got ${m.length}`);

  // Class targets and CE weights per (b, q); gather list for the matched masks.
  const cls = new Int32Array(B * Q).fill(C1 - 1);
  const cw = new Float32Array(B * Q).fill(noObj);
  let M = 0;
  for (const mb of m) M += mb.query.length;
  const rows = new Int32Array(M);
  const tgt = new Float32Array(M * P);
  let k = 0;
  for (let b = 0; b < B; b++) {
    const { labels, masks } = targets[b];
    if (masks.length !== labels.length * P) throw rangeError(op, `targets[${b}].masks must be [T, h*w] = [${labels.length}, ${P}], got ${masks.length} elements`);
    for (let i = 0; i < m[b].query.length; i++) {
      const q = m[b].query[i];
      const t = m[b].target[i];
      if (!(q >= 0 && q < Q && t >= 0 && t < labels.length)) throw rangeError(op, `matches[${b}] pairs query ${q} with target ${t}, out of range`);
      const l = labels[t];
      if (!(l >= 0 && l < C1 - 1)) throw rangeError(op, `targets[${b}].labels[${t}] must be in [0, C) = [0, ${C1 - 1}), got ${l}`);
      cls[b * Q + q] = l;
      cw[b * Q + q] = 1;
      rows[k] = b * Q + q;
      tgt.set(masks.subarray(t * P, (t + 1) * P), k * P);
      k++;
    }
  }

  const parts = tf.tidy(() => {
    const logp = tf.logSoftmax(tf.reshape(out.classLogits, [B * Q, C1]));
    const onehot = tf.oneHot(tf.tensor1d(cls, 'int32'), C1);
    const nll = tf.neg(tf.sum(tf.mul(onehot, logp), 1));
    const wt = tf.tensor1d(cw);
    const ce = tf.div(tf.sum(tf.mul(wt, nll)), tf.sum(wt)) as tf.Scalar;
    let bce: tf.Scalar;
    let dice: tf.Scalar;
    if (M === 0) {
      bce = tf.scalar(0);
      dice = tf.scalar(0);
    } else {
      // The matched rows, picked by a one-hot [M, B·Q] product rather than tf.gather: the values are the
      // same (1·x + 0·others), and the gradient is a matmul instead of the cpu backend's slow
      // UnsortedSegmentSum (60 ms per decode point at 256x256).
      const sel = new Float32Array(M * B * Q);
      for (let i = 0; i < M; i++) sel[i * B * Q + rows[i]!] = 1;
      const x = tf.matMul(tf.tensor2d(sel, [M, B * Q]), tf.reshape(out.maskLogits, [B * Q, P]));
      const y = tf.tensor2d(tgt, [M, P]);
      bce = tf.div(tf.sum(tf.mean(bceWithLogits(x, y), 1)), M) as tf.Scalar;
      const s = tf.sigmoid(x);
      const num = tf.add(tf.mul(2, tf.sum(tf.mul(s, y), 1)), 1);
      const den = tf.add(tf.add(tf.sum(s, 1), tf.sum(y, 1)), 1);
      dice = tf.div(tf.sum(tf.sub(1, tf.div(num, den))), M) as tf.Scalar;
    }
    const loss = tf.addN([tf.mul(w.cls, ce), tf.mul(w.bce, bce), tf.mul(w.dice, dice)]) as tf.Scalar;
    return { loss, ce, bce, dice };
  });
  return { ...parts, matches: m };
}

/**
 * Mask2Former set loss of one decoded output (scalar), see {@link setLossParts}.
 * @example const { value, grads } = tf.variableGrads(() => setLoss(model(x), targets));
 */
export function setLoss(out: DecodedOutput, targets: readonly ImageTargets[], options: SetLossOptions = {}, matches?: readonly Match[]): tf.Scalar {
  return tf.tidy(() => setLossParts(out, targets, options, matches).loss);
}

/**
 * Deep supervision: the set loss summed over every decoded output (each output matched on its own, as
 * Mask2Former does for its auxiliary outputs).
 * @param outs one DecodedOutput per decoded block (at least one).
 * @returns a scalar.
 */
export function deepSupervisionLoss(outs: readonly DecodedOutput[], targets: readonly ImageTargets[], options: SetLossOptions = {}): tf.Scalar {
  if (outs.length < 1) throw rangeError('deepSupervisionLoss', 'needs at least one decoded output');
  return tf.tidy(() => tf.addN(outs.map((o) => setLossParts(o, targets, options).loss)) as tf.Scalar);
}

/**
 * Ratio loss (SPEC §4 eq. 2): 1/(B·S) Σ_b Σ_s (ρ_s − mean_τ P_τ^{b,s})², or with `over: 'batch'` (dynamic per-image
 * keep, SViT) 1/S Σ_s (ρ_s − mean_{b,τ} P_τ^{b,s})²: only the batch's mean keep is held at ρ_s, images may differ.
 * @param keep hard keep decisions float32 [B,S,N] (straight-through gradient from gumbelSoftmaxST), or a
 *   list of S tensors [B,N] (stacked on axis 1).
 * @param rhos target keep ratios ρ_s (cumulative), length S.
 * @param opts `over`: 'image' (default, eq. 2) or 'batch' (the batch mean per stage).
 * @returns a scalar.
 * @throws {RangeError} when rhos does not have S entries. {TypeError} on a wrong rank.
 */
export function ratioLoss(keep: tf.Tensor | readonly tf.Tensor[], rhos: readonly number[], opts: { over?: 'image' | 'batch' } = {}): tf.Scalar {
  const op = 'ratioLoss';
  return tf.tidy(() => {
    const k = Array.isArray(keep) ? tf.stack(keep as tf.Tensor[], 1) : (keep as tf.Tensor);
    if (k.rank !== 3) throw typeError(op, `keep must be [B,S,N] (or S tensors [B,N]), got rank ${k.rank}`);
    const S = k.shape[1];
    if (rhos.length !== S) throw rangeError(op, `rhos must have S=${S} entries, got ${rhos.length}`);
    const over = opts.over ?? 'image';
    if (over !== 'image' && over !== 'batch') throw rangeError(op, `over must be 'image' or 'batch', got ${String(over)}`);
    const kf = tf.cast(k, 'float32');
    const diff = tf.sub(tf.tensor2d([...rhos], [1, S]), over === 'image' ? tf.mean(kf, 2) : tf.mean(kf, [0, 2]).reshape([1, S]));
    return tf.mean(tf.square(diff)) as tf.Scalar;
  });
}

/**
 * Informed-policy loss (SPEC §4 eq. 6): λ_pol/B Σ_b Σ_s mean_τ BCE(σ(p_τ^{b,s}), T_τ^b).
 * @param logits one keep-logit tensor float32 [B,N] per stage (S ≥ 1).
 * @param target T float32 [B,N] in [0,1] (tensor or row-major Float32Array), e.g. stacked `policyTargets`.
 * @param lambdaPol λ_pol (8).
 * @returns a scalar.
 * @throws {RangeError} on shape mismatches.
 */
export function policyLoss(logits: readonly tf.Tensor[], target: tf.Tensor | Float32Array, lambdaPol = 8): tf.Scalar {
  const op = 'policyLoss';
  if (logits.length < 1) throw rangeError(op, 'needs at least one stage of logits');
  return tf.tidy(() => {
    const [B, N] = logits[0].shape;
    for (let s = 0; s < logits.length; s++) {
      const l = logits[s];
      if (l.rank !== 2 || l.shape[0] !== B || l.shape[1] !== N) throw rangeError(op, `logits[${s}] must be [B,N] = [${B},${N}], got [${l.shape.join(',')}]`);
    }
    if (!(target instanceof tf.Tensor) && target.length !== B * N) throw rangeError(op, `target must have B*N = ${B * N} elements, got ${target.length}`);
    const t = target instanceof tf.Tensor ? target : tf.tensor2d(target, [B, N]);
    if (t.rank !== 2 || t.shape[0] !== B || t.shape[1] !== N) throw rangeError(op, `target must be [B,N] = [${B},${N}], got [${t.shape.join(',')}]`);
    const perStage = logits.map((l) => tf.mean(bceWithLogits(l, t)));
    return tf.mul(lambdaPol, tf.addN(perStage)) as tf.Scalar;
  });
}
