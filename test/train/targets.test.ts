/** Policy targets (SPEC §4 eq. 6): area resize, exact EDT vs brute force, morphological gradient. */
import { describe, expect, it } from 'vitest';
import { distanceTransform, morphologicalGradient, policyTargets, policyTargetsBatch, resizeArea } from '../../src/train/targets.js';
import { rng } from '../reference/helpers.js';

function bruteEDT(mask: Uint8Array, H: number, W: number): Float64Array {
  const out = new Float64Array(H * W).fill(Infinity);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let yy = 0; yy < H; yy++)
        for (let xx = 0; xx < W; xx++) if (mask[yy * W + xx]) out[y * W + x] = Math.min(out[y * W + x], Math.hypot(y - yy, x - xx));
  return out;
}

describe('distanceTransform', () => {
  it('matches brute force on small random masks (incl. empty, full, single pixel, non-square)', () => {
    const r = rng(3);
    for (let trial = 0; trial < 40; trial++) {
      const H = 1 + Math.floor(r() * 12);
      const W = 1 + Math.floor(r() * 12);
      const density = trial === 0 ? 0 : trial === 1 ? 1 : trial % 3 === 0 ? 0.02 : r() * 0.5;
      const m = new Uint8Array(H * W);
      for (let i = 0; i < m.length; i++) m[i] = r() < density ? 1 : 0;
      if (trial === 2) {
        m.fill(0);
        m[Math.floor(m.length / 2)] = 1;
      }
      const got = distanceTransform(m, H, W);
      const want = bruteEDT(m, H, W);
      for (let i = 0; i < m.length; i++) {
        if (want[i] === Infinity) expect(got[i]).toBe(Infinity);
        else expect(got[i]).toBeCloseTo(want[i], 10);
      }
    }
  });
});

describe('resizeArea', () => {
  it('integer factor = block mean; identity; non-integer factor conserves the mean', () => {
    const src = Float32Array.from({ length: 16 }, (_, i) => i); // 4x4
    expect([...resizeArea(src, 4, 4, 2, 2)]).toEqual([2.5, 4.5, 10.5, 12.5]);
    expect([...resizeArea(src, 4, 4, 4, 4)]).toEqual([...src]);
    const r = rng(5);
    const a = Float32Array.from({ length: 7 * 5 }, () => r());
    const b = resizeArea(a, 7, 5, 3, 2);
    const mean = (v: ArrayLike<number>) => Array.from(v).reduce((s, x) => s + x, 0) / v.length;
    expect(mean(b)).toBeCloseTo(mean(a), 5);
    // 1x3 -> 1x2: cells cover [0,1.5) and [1.5,3): (a0 + .5 a1)/1.5, (.5 a1 + a2)/1.5
    expect([...resizeArea([3, 6, 9], 1, 3, 1, 2)].map((v) => +v.toFixed(5))).toEqual([4, 8]);
  });
  it('errors', () => {
    expect(() => resizeArea([1, 2], 1, 3, 1, 1)).toThrow(RangeError);
    expect(() => resizeArea([1], 1, 1, 0, 1)).toThrow(/output size/);
  });
});

describe('morphologicalGradient and policyTargets', () => {
  // 4x4 mask with a vertical vessel in column 1
  const H = 4;
  const W = 4;
  const m = new Uint8Array(16);
  for (let y = 0; y < 4; y++) m[y * 4 + 1] = 1;
  it('edges: both sides of the boundary, image border is not an edge', () => {
    const e = morphologicalGradient(m, H, W);
    // columns 0,1,2 are within one pixel of the boundary; column 3 is not
    for (let y = 0; y < 4; y++) expect([...e.subarray(y * 4, y * 4 + 4)]).toEqual([1, 1, 1, 0]);
    expect([...morphologicalGradient(new Uint8Array(9).fill(1), 3, 3)]).toEqual(new Array(9).fill(0));
  });
  it('mask / distance / edges on a 2x2 token grid', () => {
    // mask: token (0,0) covers cols 0-1 -> half vessel; (0,1) none
    expect([...policyTargets(m, H, W, [2, 2], 'mask')]).toEqual([0.5, 0, 0.5, 0]);
    // distance to vessel per column: [1,0,1,2], d_max = 2 -> T = [.5, 1, .5, 0]; tokens: (.5+1)/2, (.5+0)/2
    expect([...policyTargets(m, H, W, [2, 2], 'distance')]).toEqual([0.75, 0.25, 0.75, 0.25]);
    expect([...policyTargets(m, H, W, [2, 2], 'edges')]).toEqual([1, 0.5, 1, 0.5]);
  });
  it('degenerate masks', () => {
    const empty = new Uint8Array(16);
    for (const k of ['mask', 'distance', 'edges'] as const) expect([...policyTargets(empty, 4, 4, [2, 2], k)]).toEqual([0, 0, 0, 0]);
    const full = new Uint8Array(16).fill(1);
    expect([...policyTargets(full, 4, 4, [2, 2], 'distance')]).toEqual([1, 1, 1, 1]);
    expect(() => policyTargets(m, 4, 4, [2, 2], 'bogus' as 'mask')).toThrow(/kind/);
    expect([...policyTargetsBatch([m, empty], 4, 4, [2, 2], 'mask')]).toEqual([0.5, 0, 0.5, 0, 0, 0, 0, 0]);
  });
});
