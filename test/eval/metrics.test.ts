/**
 * SPEC §7 metrics: Dice and AP. AP is checked against hand-computed scikit-learn values and against a
 * literal transcription of sklearn's precision_recall_curve + average_precision_score (argsort
 * descending, distinct-value thresholds, cumsum, AP = −Σ diff(recall)·precision[:-1]). The hand values were
 * also checked with scikit-learn 1.9.1 (all-negative labels: it returns 0.0 with a warning), and so was a
 * 200k-pixel random set (agreement to 4e-16; not stored).
 */
import { describe, expect, it } from 'vitest';
import { APAccumulator, BlockMetricsAccumulator, averagePrecision, dice, evaluateBlocks } from '../../src/eval/metrics.js';
import { rng } from '../reference/helpers.js';

/** sklearn's algorithm written out (float64). */
function sklearnAP(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const s = order.map((i) => scores[i]);
  const y = order.map((i) => (labels[i] !== 0 ? 1 : 0));
  const thr: number[] = [];
  for (let i = 0; i < n - 1; i++) if (s[i + 1] !== s[i]) thr.push(i);
  thr.push(n - 1);
  const cum: number[] = [];
  let c = 0;
  for (const v of y) cum.push((c += v));
  const tps = thr.map((i) => cum[i]);
  const fps = thr.map((i, k) => 1 + i - tps[k]);
  const P = tps[tps.length - 1];
  if (P === 0) return 0;
  const prec = tps.map((t, k) => t / (t + fps[k]));
  const rec = tps.map((t) => t / P);
  let ap = 0;
  let prev = 0;
  for (let k = 0; k < tps.length; k++) {
    ap += (rec[k] - prev) * prec[k];
    prev = rec[k];
  }
  return ap;
}

describe('averagePrecision (sklearn semantics)', () => {
  it('sklearn docs example', () => {
    // sorted: 0.8(+) 0.4(−) 0.35(+) 0.1(−)
    // t=0.8: TP1 FP0 P=1 R=.5; t=0.4: R unchanged; t=0.35: TP2 FP1 P=2/3 R=1
    // AP = 0.5·1 + 0.5·2/3 = 0.8333…
    expect(averagePrecision([0.1, 0.4, 0.35, 0.8], Uint8Array.of(0, 0, 1, 1))).toBeCloseTo(5 / 6, 12);
    expect(averagePrecision(Float32Array.of(0.1, 0.4, 0.35, 0.8), Uint8Array.of(0, 0, 1, 1))).toBeCloseTo(5 / 6, 12);
  });
  it('ties enter as one threshold, whatever their order', () => {
    // scores [0.5,0.5,0.2,0.9], labels [1,0,1,0]; thresholds 0.9, 0.5, 0.2
    // t=0.9: TP0 FP1 R=0; t=0.5: TP1 FP2 P=1/3 R=.5; t=0.2: TP2 FP2 P=1/2 R=1
    // AP = .5·(1/3) + .5·(1/2) = 5/12 (a tie-unaware order would give .5·1/2+.5·1/2 or .5·1/3+.5·1/2… not both)
    expect(averagePrecision([0.5, 0.5, 0.2, 0.9], Uint8Array.of(1, 0, 1, 0))).toBeCloseTo(5 / 12, 12);
    expect(averagePrecision([0.5, 0.5, 0.2, 0.9], Uint8Array.of(0, 1, 1, 0))).toBeCloseTo(5 / 12, 12);
    // all equal: one threshold, TP1 FP2 -> AP = 1·(1/3)
    expect(averagePrecision([0.3, 0.3, 0.3], Uint8Array.of(0, 1, 0))).toBeCloseTo(1 / 3, 12);
  });
  it('all positive -> 1; perfect ranking -> 1; reversed ranking', () => {
    expect(averagePrecision([0.2, 0.9, 0.1], Uint8Array.of(1, 1, 1))).toBe(1);
    expect(averagePrecision([0.9, 0.8, 0.1], Uint8Array.of(1, 1, 0))).toBe(1);
    // reversed: 0.9(−) 0.8(+) 0.1(+): t=.8 TP1 FP1 P=.5 R=.5; t=.1 TP2 FP1 P=2/3 R=1 -> .25 + 1/3
    expect(averagePrecision([0.9, 0.8, 0.1], Uint8Array.of(0, 1, 1))).toBeCloseTo(0.25 + 1 / 3, 12);
  });
  it('single element; all negative -> 0 (sklearn >= 1.3 returns 0 with a warning)', () => {
    expect(averagePrecision([0.7], Uint8Array.of(1))).toBe(1);
    expect(averagePrecision([0.7], Uint8Array.of(0))).toBe(0);
    expect(averagePrecision([0.1, 0.9], Uint8Array.of(0, 0))).toBe(0);
  });
  it('matches the literal sklearn transcription on random data with many ties', () => {
    const r = rng(7);
    for (let trial = 0; trial < 30; trial++) {
      const n = 1 + Math.floor(r() * 300);
      const levels = 1 + Math.floor(r() * 20);
      const s = new Float32Array(n);
      const y = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        s[i] = Math.floor(r() * levels) / levels;
        y[i] = r() < 0.3 + 0.4 * s[i] ? 1 : 0;
      }
      expect(averagePrecision(s, y)).toBeCloseTo(sklearnAP(s, y), 12);
    }
  });
  it('scikit-learn 1.9.1 fixture (30 scores on a 0.1 grid, many ties)', () => {
    // np.random.default_rng(3): s = round(random(30), 1), y = random(30) < .4;
    // sklearn.metrics.average_precision_score(y, s) = 0.3932442135159527
    const s = [0.1, 0.2, 0.8, 0.6, 0.1, 0.4, 0.5, 0.2, 0.7, 0.1, 0.4, 0.5, 0.4, 0.6, 0.7, 1.0, 0.3, 0.6, 0.7, 0.3, 0.0, 1.0, 0.3, 0.3, 0.9, 0.6, 0.5, 0.8, 0.0, 0.7];
    const y = Uint8Array.of(1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
    expect(averagePrecision(s, y)).toBeCloseTo(0.3932442135159527, 14);
    expect(averagePrecision(Float32Array.from(s), y)).toBeCloseTo(0.3932442135159527, 14);
  });
  it('errors', () => {
    expect(() => averagePrecision([], new Uint8Array(0))).toThrow(RangeError);
    expect(() => averagePrecision([0.1, 0.2], Uint8Array.of(1))).toThrow(/same length/);
    expect(() => averagePrecision([NaN], Uint8Array.of(1))).toThrow(/NaN/);
    expect(() => averagePrecision([0.1], [1] as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('APAccumulator', () => {
  const r = rng(11);
  const chunks = Array.from({ length: 5 }, () => {
    const n = 50 + Math.floor(r() * 200);
    const s = new Float32Array(n);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = (Math.floor(r() * 32) + 0.5) / 32;
      y[i] = r() < s[i] ? 1 : 0;
    }
    return { s, y };
  });
  const allS = Float32Array.from(chunks.flatMap((c) => [...c.s]));
  const allY = Uint8Array.from(chunks.flatMap((c) => [...c.y]));
  it('exact mode equals averagePrecision on the concatenation', () => {
    const acc = new APAccumulator();
    for (const c of chunks) acc.add(c.s, c.y);
    expect(acc.mode).toBe('exact');
    expect(acc.size).toBe(allS.length);
    expect(acc.compute()).toBe(averagePrecision(allS, allY));
  });
  it('histogram mode (opt-in) is exact when every distinct score has its own bin, close otherwise', () => {
    const h = new APAccumulator({ histogram: { bins: 32 } });
    for (const c of chunks) h.add(c.s, c.y);
    expect(h.compute()).toBeCloseTo(averagePrecision(allS, allY), 12);
    const coarse = new APAccumulator({ histogram: { bins: 8 } });
    for (const c of chunks) coarse.add(c.s, c.y);
    expect(Math.abs(coarse.compute() - averagePrecision(allS, allY))).toBeLessThan(0.05);
  });
  it('errors', () => {
    expect(() => new APAccumulator().compute()).toThrow(RangeError);
    expect(() => new APAccumulator({ histogram: { bins: 0 } })).toThrow(/bins/);
    expect(() => new APAccumulator().add([NaN], Uint8Array.of(0))).toThrow(/NaN/);
  });
});

describe('dice', () => {
  it('hand cases', () => {
    // pred = prob > .5 -> [1,0,1]; target [1,0,0]: TP1 FP1 FN0 -> 2/3
    expect(dice(Float32Array.of(0.9, 0.2, 0.7), Uint8Array.of(1, 0, 0))).toBeCloseTo(2 / 3, 12);
    // threshold is strict: 0.5 is not foreground
    expect(dice(Float32Array.of(0.5, 0.5), Uint8Array.of(1, 1))).toBe(0);
    expect(dice(Float32Array.of(0.1, 0.2), Uint8Array.of(0, 0))).toBe(1);
    expect(dice(Float32Array.of(0.6, 0.7), Uint8Array.of(1, 1), 0.65)).toBeCloseTo(2 / 3, 12);
  });
  it('evaluateBlocks and the streaming depth-wise accumulator', () => {
    const target = Uint8Array.of(1, 0, 1, 0);
    const per = [
      { block: 9, prob: Float32Array.of(0.9, 0.1, 0.8, 0.2) },
      { block: 5, prob: Float32Array.of(0.4, 0.6, 0.8, 0.2) },
    ];
    const res = evaluateBlocks(per, target);
    expect(res.map((e) => e.block)).toEqual([9, 5]);
    expect(res[0].dice).toBe(1);
    expect(res[0].ap).toBe(1);
    // block 5: pred [0,1,1,0]: TP1 FP1 FN1 -> 0.5; AP: 0.8(+) 0.6(−) 0.4(+) 0.2(−) -> .5 + .5·2/3
    expect(res[1].dice).toBeCloseTo(0.5, 12);
    expect(res[1].ap).toBeCloseTo(5 / 6, 12);
    const acc = new BlockMetricsAccumulator();
    acc.add(per, target);
    acc.add(per, target);
    const agg = acc.compute();
    expect(agg.map((e) => e.block)).toEqual([5, 9]);
    expect(agg[0].dice).toBeCloseTo(0.5, 12);
    expect(agg[0].ap).toBeCloseTo(averagePrecision(Float32Array.of(0.4, 0.6, 0.8, 0.2, 0.4, 0.6, 0.8, 0.2), Uint8Array.of(1, 0, 1, 0, 1, 0, 1, 0)), 12);
  });
});
