/**
 * Segmentation metrics of SPEC §7: Dice at a threshold and average precision (AP, the area under the
 * precision–recall curve over all test pixels, step-wise, exactly scikit-learn's
 * `average_precision_score`), for one image, streamed over a test set, and per decoded block (the
 * depth-wise analysis). Plain TS on typed arrays: no TF.js.
 *
 * AP (sklearn semantics). Sort the pixels by score, descending. Each DISTINCT score value is one
 * threshold t_1 > t_2 > … > t_m (equal scores enter together, so the order inside a tie never matters).
 * At threshold t_n, TP_n / FP_n count positives / negatives with score >= t_n,
 * P_n = TP_n / (TP_n + FP_n), R_n = TP_n / #positives, and
 *     AP = Σ_n (R_n − R_{n−1}) · P_n,   R_0 = 0
 * (no interpolation). Degenerate label sets, as scikit-learn ≥ 1.3 does them:
 *   - no positive pixel: AP = 0 (sklearn warns "No positive class found in y_true" and returns 0 for the
 *     binary case; older releases returned nan/-0). We return 0 and do not warn;
 *   - all positive: every P_n = 1, so AP = 1.
 * An empty input or a NaN score is an error (RangeError).
 *
 * Algorithm. Instead of sorting (score, label) pairs we sort the positive scores and the negative scores
 * separately (native typed-array sorts, no index array) and merge-walk them from the top, emitting one
 * step per distinct value: O(n log n) time, the scores themselves as the only memory. That is also what
 * the streaming accumulator stores, so it is exact for any test-set size that fits as float32 scores
 * (4 bytes a pixel). Sums are accumulated in float64 in threshold order.
 */
import { rangeError, typeError } from '../errors.js';

const OP_AP = 'averagePrecision';
const OP_DICE = 'dice';

type Scores = Float32Array | Float64Array | readonly number[];

function checkPair(op: string, scores: ArrayLike<number>, labels: Uint8Array): void {
  if (!(labels instanceof Uint8Array)) throw typeError(op, `labels must be a Uint8Array (nonzero = positive), got ${Object.prototype.toString.call(labels)}`);
  if (scores.length !== labels.length) throw rangeError(op, `scores and labels must have the same length, got ${scores.length} and ${labels.length}`);
}

/** Descending numeric sort of a copy (NaN rejected). */
function sortedDesc(a: Float32Array | Float64Array): Float32Array | Float64Array {
  a.sort(); // typed-array sort is numeric ascending; NaN were rejected before
  a.reverse();
  return a;
}

/**
 * AP from the positive scores and negative scores, each sorted DESCENDING: merge-walk over distinct
 * values. Exported for the accumulator; not public.
 */
function apFromSorted(pos: Float32Array | Float64Array, neg: Float32Array | Float64Array): number {
  const P = pos.length;
  if (P === 0) return 0;
  let i = 0; // next positive
  let j = 0; // next negative
  let ap = 0;
  let prevRecall = 0;
  while (i < P) {
    // The next threshold is the largest remaining score of either list.
    const t = j < neg.length && neg[j] > pos[i] ? neg[j] : pos[i];
    while (i < P && pos[i] === t) i++;
    while (j < neg.length && neg[j] === t) j++;
    const recall = i / P;
    if (recall !== prevRecall) {
      ap += (recall - prevRecall) * (i / (i + j));
      prevRecall = recall;
    }
  }
  // Thresholds below the last positive add no recall: done.
  return ap;
}

/**
 * Average precision over all elements, exactly as scikit-learn's `average_precision_score(labels, scores)`
 * for binary labels (see the file header for the formula and the degenerate cases).
 * @param scores float scores (probabilities or logits: only the order matters), length n >= 1, no NaN.
 * @param labels uint8 labels [n]: nonzero = positive.
 * @returns AP in [0, 1]; 0 when no label is positive.
 * @throws {RangeError} on length mismatch, n = 0 or a NaN score. {TypeError} when labels is not a Uint8Array.
 * @example averagePrecision([0.1, 0.4, 0.35, 0.8], Uint8Array.of(0, 0, 1, 1)) // 0.8333…
 */
export function averagePrecision(scores: Scores, labels: Uint8Array): number {
  checkPair(OP_AP, scores, labels);
  const n = labels.length;
  if (n === 0) throw rangeError(OP_AP, 'needs at least one element');
  let nPos = 0;
  for (let k = 0; k < n; k++) if (labels[k] !== 0) nPos++;
  // Keep float32 inputs in float32 (ties stay exact); anything else in float64.
  const Ctor = scores instanceof Float32Array ? Float32Array : Float64Array;
  const pos = new Ctor(nPos);
  const neg = new Ctor(n - nPos);
  let p = 0;
  let q = 0;
  for (let k = 0; k < n; k++) {
    const s = scores[k];
    if (Number.isNaN(s)) throw rangeError(OP_AP, `scores[${k}] is NaN`);
    if (labels[k] !== 0) pos[p++] = s;
    else neg[q++] = s;
  }
  return apFromSorted(sortedDesc(pos), sortedDesc(neg));
}

/** Options of {@link APAccumulator}. */
export interface APAccumulatorOptions {
  /**
   * Opt-in approximation for test sets too large to keep: count positives/negatives in `bins` equal-width
   * bins over [lo, hi] (scores outside are clamped) and treat each bin as one threshold. Memory is
   * O(bins) instead of O(pixels); the result differs from sklearn by at most the AP mass inside one bin.
   * Default: undefined = the exact mode (stores every score as float32).
   */
  histogram?: { bins: number; lo?: number; hi?: number };
}

/**
 * Streaming AP over a test set, image by image. The default is EXACT (the same number as
 * `averagePrecision` on the concatenation of all adds, when the scores are float32, which the model's
 * probabilities are: scores are stored as float32, 4 bytes a pixel, positives and negatives apart).
 * The histogram mode is an explicit opt-in (see {@link APAccumulatorOptions.histogram}).
 * @example
 * const acc = new APAccumulator();
 * for (const { prob, mask } of testSet) acc.add(prob, mask);
 * const ap = acc.compute();
 */
export class APAccumulator {
  readonly mode: 'exact' | 'histogram';
  private readonly posChunks: Float32Array[] = [];
  private readonly negChunks: Float32Array[] = [];
  private readonly histPos: Float64Array | null = null;
  private readonly histNeg: Float64Array | null = null;
  private readonly lo: number = 0;
  private readonly hi: number = 1;
  private count = 0;

  constructor(options: APAccumulatorOptions = {}) {
    const h = options.histogram;
    if (h === undefined) {
      this.mode = 'exact';
      return;
    }
    this.mode = 'histogram';
    const bins = h.bins;
    if (!Number.isInteger(bins) || bins < 1 || bins > 2 ** 26) throw rangeError('APAccumulator', `histogram.bins must be an integer in [1, 2^26], got ${String(bins)}`);
    this.lo = h.lo ?? 0;
    this.hi = h.hi ?? 1;
    if (!(Number.isFinite(this.lo) && Number.isFinite(this.hi) && this.hi > this.lo)) throw rangeError('APAccumulator', `histogram range must be finite with hi > lo, got [${this.lo}, ${this.hi}]`);
    this.histPos = new Float64Array(bins);
    this.histNeg = new Float64Array(bins);
  }

  /** Number of elements added so far. */
  get size(): number {
    return this.count;
  }

  /**
   * Adds one batch of (score, label) pairs.
   * @param scores float scores [n] (no NaN). @param labels uint8 [n], nonzero = positive.
   * @throws {RangeError} on length mismatch or a NaN score.
   */
  add(scores: Scores, labels: Uint8Array): void {
    checkPair('APAccumulator.add', scores, labels);
    const n = labels.length;
    for (let k = 0; k < n; k++) if (Number.isNaN(scores[k])) throw rangeError('APAccumulator.add', `scores[${k}] is NaN`);
    if (this.histPos !== null && this.histNeg !== null) {
      const bins = this.histPos.length;
      const scale = bins / (this.hi - this.lo);
      for (let k = 0; k < n; k++) {
        let b = Math.floor((scores[k] - this.lo) * scale);
        b = b < 0 ? 0 : b >= bins ? bins - 1 : b;
        if (labels[k] !== 0) this.histPos[b]++;
        else this.histNeg[b]++;
      }
    } else {
      let nPos = 0;
      for (let k = 0; k < n; k++) if (labels[k] !== 0) nPos++;
      const pos = new Float32Array(nPos);
      const neg = new Float32Array(n - nPos);
      let p = 0;
      let q = 0;
      for (let k = 0; k < n; k++) {
        if (labels[k] !== 0) pos[p++] = scores[k];
        else neg[q++] = scores[k];
      }
      this.posChunks.push(pos);
      this.negChunks.push(neg);
    }
    this.count += n;
  }

  /**
   * AP over everything added (sklearn semantics; 0 when nothing positive was seen).
   * @throws {RangeError} when nothing was added.
   */
  compute(): number {
    if (this.count === 0) throw rangeError('APAccumulator.compute', 'no element was added');
    if (this.histPos !== null && this.histNeg !== null) {
      let P = 0;
      for (let b = 0; b < this.histPos.length; b++) P += this.histPos[b];
      if (P === 0) return 0;
      let tp = 0;
      let fp = 0;
      let ap = 0;
      for (let b = this.histPos.length - 1; b >= 0; b--) {
        const dp = this.histPos[b];
        tp += dp;
        fp += this.histNeg[b];
        if (dp > 0) ap += (dp / P) * (tp / (tp + fp));
      }
      return ap;
    }
    return apFromSorted(sortedDesc(concat(this.posChunks)), sortedDesc(concat(this.negChunks)));
  }
}

function concat(chunks: Float32Array[]): Float32Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Float32Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Confusion counts of a thresholded prediction: the Dice numerator/denominator parts. */
export interface DiceCounts {
  tp: number;
  fp: number;
  fn: number;
}

/** Counts TP/FP/FN of `prob > threshold` against `target != 0`. */
export function diceCounts(prob: ArrayLike<number>, target: Uint8Array, threshold = 0.5): DiceCounts {
  checkPair(OP_DICE, prob, target);
  if (!Number.isFinite(threshold)) throw rangeError(OP_DICE, `threshold must be finite, got ${threshold}`);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let k = 0; k < target.length; k++) {
    const pred = prob[k] > threshold;
    const t = target[k] !== 0;
    if (pred && t) tp++;
    else if (pred) fp++;
    else if (t) fn++;
  }
  return { tp, fp, fn };
}

/** Dice from counts: 2TP / (2TP + FP + FN); 1 when prediction and target are both empty. */
export function diceFromCounts(c: DiceCounts): number {
  const den = 2 * c.tp + c.fp + c.fn;
  return den === 0 ? 1 : (2 * c.tp) / den;
}

/**
 * Dice coefficient of the binarised prediction `prob > threshold` (strictly greater, as torchmetrics)
 * against the target: 2|P∩T| / (|P| + |T|). Both empty gives 1 (a perfect empty prediction).
 * @param prob float32 probabilities [n]. @param target uint8 [n], nonzero = vessel.
 * @param threshold binarisation threshold (SPEC §7: 0.5).
 * @returns Dice in [0, 1].
 * @throws {RangeError} on length mismatch or a non-finite threshold. {TypeError} when target is not a Uint8Array.
 * @example dice(Float32Array.of(0.9, 0.2, 0.7), Uint8Array.of(1, 0, 0)) // 2·1/(2·1+1+0) = 0.667
 */
export function dice(prob: ArrayLike<number>, target: Uint8Array, threshold = 0.5): number {
  return diceFromCounts(diceCounts(prob, target, threshold));
}

/** Per-block metrics of the depth-wise analysis. */
export interface BlockMetrics {
  block: number;
  dice: number;
  ap: number;
}

/**
 * Dice and AP of every decoded block's semantic probability map against one target (SPEC §7's
 * depth-wise analysis). The final block's entry is the headline number.
 * @param perBlock one entry per decoded block: `block` = its index, `prob` = float32 probabilities [n].
 * @param target uint8 [n], nonzero = vessel.
 * @returns one {block, dice, ap} per entry, in the given order.
 * @throws {RangeError} when a prob has a different length than target.
 */
export function evaluateBlocks(perBlock: ReadonlyArray<{ block: number; prob: Float32Array }>, target: Uint8Array, threshold = 0.5): BlockMetrics[] {
  return perBlock.map(({ block, prob }) => ({ block, dice: dice(prob, target, threshold), ap: averagePrecision(prob, target) }));
}

/**
 * Streaming depth-wise metrics over a test set: per block, global (pixel-pooled) Dice and exact AP,
 * i.e. the metrics of the concatenation of all images, as SPEC §7's "over all test pixels".
 */
export class BlockMetricsAccumulator {
  private readonly acc = new Map<number, { ap: APAccumulator; counts: DiceCounts }>();
  constructor(
    private readonly threshold = 0.5,
    private readonly apOptions: APAccumulatorOptions = {},
  ) {}

  /** Adds one image: every decoded block's probabilities against its target. */
  add(perBlock: ReadonlyArray<{ block: number; prob: Float32Array }>, target: Uint8Array): void {
    for (const { block, prob } of perBlock) {
      let e = this.acc.get(block);
      if (e === undefined) {
        e = { ap: new APAccumulator(this.apOptions), counts: { tp: 0, fp: 0, fn: 0 } };
        this.acc.set(block, e);
      }
      const c = diceCounts(prob, target, this.threshold);
      e.counts.tp += c.tp;
      e.counts.fp += c.fp;
      e.counts.fn += c.fn;
      e.ap.add(prob, target);
    }
  }

  /** Metrics per block, ascending block index. */
  compute(): BlockMetrics[] {
    return [...this.acc.entries()].sort((a, b) => a[0] - b[0]).map(([block, e]) => ({ block, dice: diceFromCounts(e.counts), ap: e.ap.compute() }));
  }
}
