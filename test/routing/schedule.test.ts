/**
 * Routing schedules (SPEC §4): every (l, n) of the Reg4Pru draw is reachable with the two-step
 * probabilities (chi-square with a fixed seed), fixed/none behaviour, keep counts, validation errors.
 */
import { describe, expect, it } from 'vitest';
import { routeKeepCount, routeRng, routeSchedule, routeSupport, sampleRoute } from '../../src/index.js';

describe('random (Reg4Pru) schedule', () => {
  it.each([12, 6, 9])('L=%i: l ~ U{2..L/2}, n ~ U{l..L-2}; every pair reachable; chi-square uniform', (L) => {
    const s = routeSchedule('random');
    const support = routeSupport(s, L);
    const want: Array<[number, number]> = [];
    for (let l = 2; l <= Math.floor(L / 2); l++) for (let n = l; n <= L - 2; n++) want.push([l, n]);
    expect(support.map((p) => [p.l, p.n])).toEqual(want);
    expect(support.reduce((a, p) => a + p.p, 0)).toBeCloseTo(1, 12);
    const draws = 40000;
    const rng = routeRng(1234 + L);
    const counts = new Map<string, number>();
    for (let t = 0; t < draws; t++) {
      const r = sampleRoute(s, L, rng)!;
      const key = `${r.l},${r.n}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(sampleRoute(s, L, rng)!.fraction).toBe(0.5);
    expect(counts.size).toBe(support.length);
    let chi2 = 0;
    for (const p of support) {
      const e = p.p * draws;
      const o = counts.get(`${p.l},${p.n}`) ?? 0;
      chi2 += ((o - e) * (o - e)) / e;
    }
    // dof = |support| - 1 <= 20; the 99.9% quantile of chi2(20) is 45.3
    expect(chi2).toBeLessThan(45.3);
    // marginal of l is uniform
    const lCounts = new Map<number, number>();
    for (const [k, c] of counts) lCounts.set(Number(k.split(',')[0]), (lCounts.get(Number(k.split(',')[0])) ?? 0) + c);
    const nl = Math.floor(L / 2) - 1;
    for (const c of lCounts.values()) expect(Math.abs(c / draws - 1 / nl)).toBeLessThan(0.02);
  });

  it('is deterministic for a seed and honours custom ranges and fraction', () => {
    const s = routeSchedule('random', { lMin: 3, lMax: 4, nMin: 5, nMax: 6, fraction: 0.25 });
    const a = Array.from({ length: 50 }, ((rng) => () => sampleRoute(s, 8, rng))(routeRng(7)));
    const b = Array.from({ length: 50 }, ((rng) => () => sampleRoute(s, 8, rng))(routeRng(7)));
    expect(a).toEqual(b);
    for (const r of a) {
      expect(r!.l).toBeGreaterThanOrEqual(3);
      expect(r!.l).toBeLessThanOrEqual(4);
      expect(r!.n).toBeGreaterThanOrEqual(5);
      expect(r!.n).toBeLessThanOrEqual(6);
      expect(r!.fraction).toBe(0.25);
    }
    expect(routeSupport(s, 8).length).toBe(4);
  });
});

describe('fixed and none', () => {
  it('fixed: l = 2, n = L - 2 always (or the configured pair); draws nothing', () => {
    let calls = 0;
    const rng = () => { calls++; return 0.5; };
    expect(sampleRoute(routeSchedule('fixed'), 12, rng)).toEqual({ l: 2, n: 10, fraction: 0.5 });
    expect(sampleRoute(routeSchedule('fixed'), 6, rng)).toEqual({ l: 2, n: 4, fraction: 0.5 });
    expect(sampleRoute(routeSchedule('fixed', { l: 1, n: 3 }), 6, rng)).toEqual({ l: 1, n: 3, fraction: 0.5 });
    expect(calls).toBe(0);
    expect(routeSupport(routeSchedule('fixed'), 12)).toEqual([{ l: 2, n: 10, p: 1 }]);
  });
  it('none: null, no support', () => {
    expect(sampleRoute(routeSchedule('none'), 12, routeRng(0))).toBeNull();
    expect(routeSupport(routeSchedule('none'), 12)).toEqual([]);
  });
  it('routeKeepCount', () => {
    expect(routeKeepCount(0.5, 16)).toBe(8);
    expect(routeKeepCount(0.5, 1024)).toBe(512);
    expect(routeKeepCount(0, 16)).toBe(16);
    expect(routeKeepCount(0.99, 4)).toBe(1);
  });
});

describe('validation', () => {
  it('bad kind, fraction, range ends', () => {
    expect(() => routeSchedule('sometimes' as 'none')).toThrow(RangeError);
    expect(() => routeSchedule('random', { fraction: 1 })).toThrow(/fraction/);
    expect(() => routeSchedule('random', { fraction: -0.1 })).toThrow(RangeError);
    expect(() => routeSchedule('random', { fraction: '0.5' as unknown as number })).toThrow(TypeError);
    expect(() => routeSchedule('random', { lMin: 1.5 })).toThrow(/lMin/);
    expect(() => routeSchedule('random', { lMin: -1 })).toThrow(RangeError);
    expect(() => routeSchedule('random', { lMin: 4, lMax: 3 })).toThrow(/lMin <= lMax/);
    expect(() => routeSchedule('random', { nMin: 4, nMax: 3 })).toThrow(/nMin <= nMax/);
    expect(() => routeSchedule('fixed', { l: 5, n: 3 })).toThrow(/l <= n/);
  });
  it('ranges that do not fit L, bad L and rng', () => {
    expect(() => sampleRoute(routeSchedule('random'), 3, routeRng(0))).toThrow(/no route fits L=3/);
    expect(() => sampleRoute(routeSchedule('fixed', { l: 2, n: 8 }), 6, routeRng(0))).toThrow(/L - 1/);
    expect(() => sampleRoute(routeSchedule('random', { nMax: 1 }), 12, routeRng(0))).toThrow(/n range/);
    expect(() => sampleRoute(routeSchedule('random'), 0, routeRng(0))).toThrow(/L/);
    expect(() => sampleRoute(routeSchedule('random'), 12.5, routeRng(0))).toThrow(RangeError);
    expect(() => sampleRoute(routeSchedule('random'), 12, 'x' as unknown as () => number)).toThrow(/rng/);
    expect(() => routeRng(1.5)).toThrow(TypeError);
  });
});
