/** Hungarian matching (SPEC §4): assignment optimality, the Mask2Former cost, vessel targets. */
import { describe, expect, it } from 'vitest';
import { hungarian, matchImage, matchingCost, vesselTargets } from '../../src/train/matching.js';
import { rng } from '../reference/helpers.js';

/** Brute force over all injective maps of T targets into Q queries. */
function bruteBest(cost: Float64Array, Q: number, T: number): number {
  let best = Infinity;
  const used = new Array<boolean>(Q).fill(false);
  const rec = (t: number, acc: number): void => {
    if (t === T) {
      best = Math.min(best, acc);
      return;
    }
    for (let q = 0; q < Q; q++) {
      if (used[q]) continue;
      used[q] = true;
      rec(t + 1, acc + cost[q * T + t]);
      used[q] = false;
    }
  };
  rec(0, 0);
  return best;
}

describe('hungarian', () => {
  it('beats greedy where greedy is suboptimal', () => {
    // rows = queries, cols = targets. Greedy takes the global minimum (q0,t0)=1 then (q2,t1)=5: 6.
    // Optimal: (q1,t0)=2 + (q0,t1)=2 = 4.
    const cost = Float64Array.of(1, 2, 2, 100, 5, 5);
    const m = hungarian(cost, 3, 2);
    expect([...m.target]).toEqual([0, 1]);
    expect([...m.query]).toEqual([1, 0]);
  });
  it('T = 1 picks the cheapest query; T = 0 is empty; square case', () => {
    expect([...hungarian(Float64Array.of(3, 1, 2), 3, 1).query]).toEqual([1]);
    expect(hungarian(new Float64Array(0), 4, 0).query.length).toBe(0);
    // 3x3: [[4,1,3],[2,0,5],[3,2,2]] -> optimum 1+2+2 = 5: q0-t1, q1-t0, q2-t2
    expect([...hungarian(Float64Array.of(4, 1, 3, 2, 0, 5, 3, 2, 2), 3, 3).query]).toEqual([1, 0, 2]);
  });
  it('is optimal on random rectangular matrices (brute force)', () => {
    const r = rng(9);
    for (let trial = 0; trial < 40; trial++) {
      const T = 1 + Math.floor(r() * 4);
      const Q = T + Math.floor(r() * 3);
      const cost = Float64Array.from({ length: Q * T }, () => Math.round(r() * 20) - 5);
      const m = hungarian(cost, Q, T);
      expect(new Set(m.query).size).toBe(T);
      let s = 0;
      for (let t = 0; t < T; t++) s += cost[m.query[t] * T + t];
      expect(s).toBeCloseTo(bruteBest(cost, Q, T), 9);
    }
  });
  it('errors', () => {
    expect(() => hungarian(new Float64Array(2), 1, 2)).toThrow(/Q=1 < T=2/);
    expect(() => hungarian(new Float64Array(3), 2, 2)).toThrow(/Q\*T/);
    expect(() => hungarian(Float64Array.of(NaN), 1, 1)).toThrow(/finite/);
  });
});

describe('matchingCost / matchImage', () => {
  it('hand-computed cost of a tiny case (Q=2, C=1, h·w=2, T=1)', () => {
    // query 0: class logits [0, 0] -> p(class 0) = .5; mask logits [0, 0] -> σ = [.5, .5]
    // query 1: class logits [ln 3, 0] -> p = .75;     mask logits [ln 3, −ln 3] -> σ = [.75, .25]
    // target mask y = [1, 0]
    const cl = Float32Array.of(0, 0, Math.log(3), 0);
    const ml = Float32Array.of(0, 0, Math.log(3), -Math.log(3));
    const tg = { labels: Int32Array.of(0), masks: Float32Array.of(1, 0) };
    const cost = matchingCost(cl, ml, tg, 2);
    // q0: bce = mean(ln 2, ln 2) = ln 2; dice = 1 − (2·.5 + 1)/(1 + 1 + 1) = 1/3
    const c0 = 2 * -0.5 + 5 * Math.log(2) + 5 * (1 / 3);
    // q1: bce = mean(−ln .75, −ln .75) = ln(4/3); dice = 1 − (2·.75 + 1)/(1 + 1 + 1) = 1/6
    const c1 = 2 * -0.75 + 5 * Math.log(4 / 3) + 5 * (1 / 6);
    expect(cost[0]).toBeCloseTo(c0, 6);
    expect(cost[1]).toBeCloseTo(c1, 6);
    expect([...matchImage(cl, ml, tg, 2).query]).toEqual([1]);
  });
  it('vesselTargets: one instance of class 0 when any vessel pixel, none otherwise', () => {
    const m = new Uint8Array(16);
    expect(vesselTargets(m, 4, 4, 2, 2).labels.length).toBe(0);
    m[0] = 1;
    m[5] = 1;
    const t = vesselTargets(m, 4, 4, 2, 2);
    expect([...t.labels]).toEqual([0]);
    expect([...t.masks]).toEqual([0.5, 0, 0, 0]);
  });
  it('errors', () => {
    const tg = { labels: Int32Array.of(1), masks: Float32Array.of(1, 0) };
    expect(() => matchingCost(new Float32Array(4), new Float32Array(4), tg, 2)).toThrow(/labels\[0\]/);
    expect(() => matchingCost(new Float32Array(4), new Float32Array(6), { labels: Int32Array.of(0), masks: Float32Array.of(1, 0) }, 2)).toThrow(/targets.masks/);
  });
});
