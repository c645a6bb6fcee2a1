/**
 * Hungarian matching of the Q query predictions of one image to its T target masks (SPEC §4,
 * "Mask2Former-style with Hungarian matching"), in plain TS on typed arrays.
 *
 * Cost of assigning query q to target t (Mask2Former's HungarianMatcher weights):
 *     C[q,t] = 2 · (−softmax(class_q)[label_t])
 *            + 5 · mean_px BCE(σ(m_q), y_t)                     BCE with logits, mean over the h·w pixels
 *            + 5 · (1 − (2 Σ σ(m_q)·y_t + 1) / (Σ σ(m_q) + Σ y_t + 1))   soft Dice, +1 smoothing
 * The mask costs are computed on ALL pixels of the low-resolution mask logits m_q [h,w] (4x the patch
 * grid) against the target resized to [h,w] by area average (soft values in [0,1]; `resizeArea`), not on
 * sampled points: at h·w ≤ 256² this is cheap and deterministic. The same target resolution is used by
 * the set loss (losses.ts).
 * The assignment minimises Σ C over a one-to-one map of the T targets into the Q ≥ T queries
 * (Jonker–Volgenant via `linear-sum-assignment`, rectangular). Unmatched queries are "no object".
 *
 * Binary vessel segmentation (`vesselTargets`): each image has the whole vessel mask as ONE instance of
 * class 0 (T = 1) when it has at least one vessel pixel, and no instance (T = 0) otherwise.
 * Layouts: class logits [Q, C+1] (no-object last), mask logits [Q, h·w], target masks [T, h·w].
 */
import { linearSumAssignment } from 'linear-sum-assignment';
import { rangeError } from '../errors.js';
import { resizeArea } from './targets.js';

/** The targets of one image at the mask-logit resolution. */
export interface ImageTargets {
  /** Class of each target, in [0, C) (C = number of real classes; no-object is C). [T] */
  labels: Int32Array;
  /** Target masks, values in [0, 1], [T·h·w] row-major. */
  masks: Float32Array;
}

/** A matching: target `target[i]` is assigned to query `query[i]` (ascending target index). */
export interface Match {
  query: Int32Array;
  target: Int32Array;
}

/** Weights of the matching cost (Mask2Former defaults: class 2, mask BCE 5, mask Dice 5). */
export interface MatchWeights {
  cls: number;
  bce: number;
  dice: number;
}

export const DEFAULT_MATCH_WEIGHTS: Readonly<MatchWeights> = { cls: 2, bce: 5, dice: 5 };

/**
 * The targets of binary vessel segmentation: T = 1 instance of class 0 (the whole vessel mask, resized to
 * the mask-logit resolution [h,w] by area average) when the mask has any vessel pixel, else T = 0.
 * @param mask uint8 [H·W], nonzero = vessel. @param H,W its size. @param h,w the mask-logit resolution.
 */
export function vesselTargets(mask: Uint8Array, H: number, W: number, h: number, w: number): ImageTargets {
  if (mask.length !== H * W) throw rangeError('vesselTargets', `mask must have H*W = ${H * W} elements, got ${mask.length}`);
  let any = false;
  for (let k = 0; k < mask.length && !any; k++) any = mask[k] !== 0;
  if (!any) return { labels: new Int32Array(0), masks: new Float32Array(0) };
  const bin = mask.map((m) => (m !== 0 ? 1 : 0));
  return { labels: Int32Array.of(0), masks: resizeArea(bin, H, W, h, w) };
}

function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/**
 * The matching cost matrix C [Q, T] (row-major) of one image, see the file header.
 * @param classLogits [Q·(C+1)]. @param maskLogits [Q·P] with P = h·w. @param targets T labels + masks [T·P].
 * @throws {RangeError} on inconsistent sizes, a label out of [0, C), or a non-finite cost.
 */
export function matchingCost(classLogits: Float32Array, maskLogits: Float32Array, targets: ImageTargets, Q: number, weights: MatchWeights = DEFAULT_MATCH_WEIGHTS): Float64Array {
  const op = 'matchingCost';
  const T = targets.labels.length;
  if (!Number.isInteger(Q) || Q < 1) throw rangeError(op, `Q must be a positive integer, got ${Q}`);
  if (classLogits.length % Q !== 0 || classLogits.length / Q < 2) throw rangeError(op, `classLogits must be [Q, C+1] with C >= 1, got ${classLogits.length} elements for Q=${Q}`);
  const C1 = classLogits.length / Q;
  if (maskLogits.length % Q !== 0) throw rangeError(op, `maskLogits must be [Q, h*w], got ${maskLogits.length} elements for Q=${Q}`);
  const P = maskLogits.length / Q;
  if (targets.masks.length !== T * P) throw rangeError(op, `targets.masks must be [T, h*w] = [${T}, ${P}], got ${targets.masks.length} elements`);
  for (let t = 0; t < T; t++) {
    const l = targets.labels[t];
    if (!(l >= 0 && l < C1 - 1)) throw rangeError(op, `targets.labels[${t}] must be in [0, C) = [0, ${C1 - 1}), got ${l}`);
  }
  const cost = new Float64Array(Q * T);
  if (T === 0) return cost;
  // Per target: Σ y_t.
  const ySum = new Float64Array(T);
  for (let t = 0; t < T; t++) for (let p = 0; p < P; p++) ySum[t] += targets.masks[t * P + p];
  const sig = new Float64Array(P);
  for (let q = 0; q < Q; q++) {
    // softmax over the C+1 logits (max-shifted)
    let mx = -Infinity;
    for (let c = 0; c < C1; c++) mx = Math.max(mx, classLogits[q * C1 + c]);
    let z = 0;
    for (let c = 0; c < C1; c++) z += Math.exp(classLogits[q * C1 + c] - mx);
    // Σ_p softplus(x) and Σ σ(x) are target-independent; Σ x·y and Σ σ·y are per target.
    let spSum = 0;
    let sSum = 0;
    for (let p = 0; p < P; p++) {
      const x = maskLogits[q * P + p];
      spSum += softplus(x);
      sig[p] = 1 / (1 + Math.exp(-x));
      sSum += sig[p];
    }
    for (let t = 0; t < T; t++) {
      let xy = 0;
      let sy = 0;
      for (let p = 0; p < P; p++) {
        const y = targets.masks[t * P + p];
        xy += maskLogits[q * P + p] * y;
        sy += sig[p] * y;
      }
      const prob = Math.exp(classLogits[q * C1 + targets.labels[t]] - mx) / z;
      const bce = (spSum - xy) / P; // BCE(σ(x), y) = softplus(x) − x·y
      const dc = 1 - (2 * sy + 1) / (sSum + ySum[t] + 1);
      const c = weights.cls * -prob + weights.bce * bce + weights.dice * dc;
      if (!Number.isFinite(c)) throw rangeError(op, `cost[${q},${t}] is not finite (non-finite logits?)`);
      cost[q * T + t] = c;
    }
  }
  return cost;
}

/**
 * Minimum-cost one-to-one assignment of the T columns of a [Q, T] cost matrix to distinct rows (Q ≥ T).
 * @param cost row-major float [Q·T], finite. @returns the matching in ascending target order.
 * @throws {RangeError} when Q < T, sizes disagree or a cost is not finite.
 */
export function hungarian(cost: ArrayLike<number>, Q: number, T: number): Match {
  const op = 'hungarian';
  if (!Number.isInteger(Q) || !Number.isInteger(T) || Q < 0 || T < 0) throw rangeError(op, `Q and T must be non-negative integers, got Q=${Q}, T=${T}`);
  if (T > Q) throw rangeError(op, `needs at least as many queries as targets, got Q=${Q} < T=${T}`);
  if (cost.length !== Q * T) throw rangeError(op, `cost must have Q*T = ${Q * T} elements, got ${cost.length}`);
  if (T === 0) return { query: new Int32Array(0), target: new Int32Array(0) };
  const rows: number[][] = [];
  for (let q = 0; q < Q; q++) {
    const r = new Array<number>(T);
    for (let t = 0; t < T; t++) {
      const c = cost[q * T + t];
      if (!Number.isFinite(c)) throw rangeError(op, `cost[${q},${t}] is not finite, got ${c}`);
      r[t] = c;
    }
    rows.push(r);
  }
  const { columnAssignments } = linearSumAssignment(rows, { maximaze: false });
  const query = new Int32Array(T);
  const target = new Int32Array(T);
  for (let t = 0; t < T; t++) {
    const q = columnAssignments[t];
    if (!(q >= 0 && q < Q)) throw rangeError(op, `assignment failed for target ${t}`);
    query[t] = q;
    target[t] = t;
  }
  return { query, target };
}

/**
 * Matches one image's queries to its targets (cost as in the file header, then `hungarian`).
 * @param classLogits [Q·(C+1)] no-object last. @param maskLogits [Q·h·w]. @param targets at [h,w].
 * @returns the matching (empty when T = 0).
 */
export function matchImage(classLogits: Float32Array, maskLogits: Float32Array, targets: ImageTargets, Q: number, weights: MatchWeights = DEFAULT_MATCH_WEIGHTS): Match {
  const T = targets.labels.length;
  return hungarian(matchingCost(classLogits, maskLogits, targets, Q, weights), Q, T);
}
