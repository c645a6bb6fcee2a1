/**
 * Routing schedules for Reg4Pru training (SPEC §4 "Random routing"): per training forward pass, which
 * blocks l..n (zero-indexed, inclusive) the kept tokens run through while the routed tokens skip them.
 *
 * - `none`: no routing (`sampleRoute` returns null).
 * - `fixed`: always l = `l` (default 2), n = `n` (default L − 2).
 * - `random` (Reg4Pru): l ~ U{lMin..lMax} (default 2..⌊L/2⌋), then n ~ U{max(l, nMin)..nMax}
 *   (default l..L − 2). The pair (l, n) is therefore NOT uniform over all pairs: P(l, n) =
 *   1/|l range| · 1/|n range given l|, as the SPEC's two-step draw says.
 *
 * `fraction` is the routed fraction: the share of patch tokens that skip blocks l..n (default 0.5);
 * `routeKeepCount(fraction, Np)` patches stay in the route's forward. Prefix and query tokens always stay.
 * Ranges that depend on L are stored as null and resolved per call, so one schedule serves any depth.
 * Sampling takes a caller's uniform stream (`routeRng(seed)` gives a seeded one), never Math.random.
 */
import { describe, rangeError, typeError } from '../errors.js';
import { mulberry32 } from '../model/rng.js';

export type RouteScheduleKind = 'none' | 'fixed' | 'random';

/** A validated schedule; null range ends mean "the SPEC default for this L". */
export interface RouteSchedule {
  kind: RouteScheduleKind;
  /** Share of patch tokens routed around blocks l..n, in [0, 1). */
  fraction: number;
  /** fixed: the route's first block (null: 2). */
  l: number | null;
  /** fixed: the route's last block (null: L − 2). */
  n: number | null;
  /** random: smallest l (null: 2). */
  lMin: number | null;
  /** random: largest l (null: ⌊L/2⌋). */
  lMax: number | null;
  /** random: smallest n (null: l; n is always >= l). */
  nMin: number | null;
  /** random: largest n (null: L − 2). */
  nMax: number | null;
}

/** One sampled route: blocks l..n (inclusive) run on the kept tokens only. */
export interface Route {
  l: number;
  n: number;
  /** Share of patch tokens routed around the blocks. */
  fraction: number;
}

export type RouteScheduleOptions = Partial<Omit<RouteSchedule, 'kind'>>;

const OP = 'routeSchedule';

function optInt(op: string, name: string, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number') throw typeError(op, `expected ${name} to be an integer or null, received ${describe(v)}`);
  if (!Number.isInteger(v) || v < 0) throw rangeError(op, `expected ${name} to be an integer >= 0, received ${v}`);
  return v;
}

/**
 * Builds a routing schedule.
 * @param kind 'none' | 'fixed' | 'random'
 * @param opts `fraction` (default 0.5, in [0, 1)); fixed: `l`, `n`; random: `lMin`, `lMax`, `nMin`, `nMax`
 *   (integers >= 0, or null for the L-dependent default)
 * @returns the validated schedule
 * @throws {TypeError|RangeError} unknown kind, bad fraction, bad or contradictory range ends
 * @example
 * const s = routeSchedule('random');            // Reg4Pru: l ~ U{2..L/2}, n ~ U{l..L-2}, 50% routed
 * const r = sampleRoute(s, 12, routeRng(step)); // {l: 4, n: 7, fraction: 0.5}
 */
export function routeSchedule(kind: RouteScheduleKind, opts: RouteScheduleOptions = {}): RouteSchedule {
  if (kind !== 'none' && kind !== 'fixed' && kind !== 'random')
    throw rangeError(OP, `expected kind to be 'none', 'fixed' or 'random', received ${describe(kind)}`);
  if (typeof opts !== 'object' || opts === null) throw typeError(OP, `expected opts to be an object, received ${describe(opts)}`);
  const fraction = opts.fraction ?? 0.5;
  if (typeof fraction !== 'number') throw typeError(OP, `expected fraction to be a number, received ${describe(fraction)}`);
  if (!(fraction >= 0 && fraction < 1)) throw rangeError(OP, `expected fraction in [0, 1), received ${fraction}`);
  const s: RouteSchedule = {
    kind, fraction,
    l: optInt(OP, 'l', opts.l), n: optInt(OP, 'n', opts.n),
    lMin: optInt(OP, 'lMin', opts.lMin), lMax: optInt(OP, 'lMax', opts.lMax),
    nMin: optInt(OP, 'nMin', opts.nMin), nMax: optInt(OP, 'nMax', opts.nMax),
  };
  if (s.l !== null && s.n !== null && s.n < s.l) throw rangeError(OP, `expected l <= n, received l=${s.l}, n=${s.n}`);
  if (s.lMin !== null && s.lMax !== null && s.lMax < s.lMin) throw rangeError(OP, `expected lMin <= lMax, received lMin=${s.lMin}, lMax=${s.lMax}`);
  if (s.nMin !== null && s.nMax !== null && s.nMax < s.nMin) throw rangeError(OP, `expected nMin <= nMax, received nMin=${s.nMin}, nMax=${s.nMax}`);
  return s;
}

/** The integer ranges of a schedule resolved for depth L: l in [lLo, lHi], n in [max(l, nLo), nHi]. */
export interface ResolvedRanges { lLo: number; lHi: number; nLo: number; nHi: number }

function expectL(op: string, L: unknown): number {
  if (typeof L !== 'number') throw typeError(op, `expected L to be an integer, received ${describe(L)}`);
  if (!Number.isInteger(L) || L < 1) throw rangeError(op, `expected L to be an integer >= 1, received ${L}`);
  return L;
}

/**
 * Resolves the L-dependent defaults and checks that a route exists with l <= n <= L − 1.
 * @returns null for 'none'
 * @throws RangeError when no (l, n) fits in L blocks
 */
export function resolveRanges(schedule: RouteSchedule, L: number): ResolvedRanges | null {
  const op = 'sampleRoute';
  expectL(op, L);
  if (schedule.kind === 'none') return null;
  const r: ResolvedRanges = schedule.kind === 'fixed'
    ? { lLo: schedule.l ?? 2, lHi: schedule.l ?? 2, nLo: schedule.n ?? L - 2, nHi: schedule.n ?? L - 2 }
    : { lLo: schedule.lMin ?? 2, lHi: schedule.lMax ?? Math.floor(L / 2), nLo: schedule.nMin ?? 0, nHi: schedule.nMax ?? L - 2 };
  if (r.lHi < r.lLo) throw rangeError(op, `no route fits L=${L}: l range [${r.lLo}, ${r.lHi}] is empty`);
  if (r.nHi > L - 1) throw rangeError(op, `no route fits L=${L}: n may reach ${r.nHi} > L - 1 = ${L - 1}`);
  if (r.nHi < Math.max(r.lHi, r.nLo)) throw rangeError(op, `no route fits L=${L}: n range [max(l, ${r.nLo}), ${r.nHi}] is empty for l=${r.lHi}`);
  return r;
}

/** Every (l, n) pair the schedule can produce for depth L, with its probability (l ascending, then n). */
export function routeSupport(schedule: RouteSchedule, L: number): Array<{ l: number; n: number; p: number }> {
  const r = resolveRanges(schedule, L);
  if (r === null) return [];
  const out: Array<{ l: number; n: number; p: number }> = [];
  const nl = r.lHi - r.lLo + 1;
  for (let l = r.lLo; l <= r.lHi; l++) {
    const lo = Math.max(l, r.nLo);
    for (let n = lo; n <= r.nHi; n++) out.push({ l, n, p: 1 / nl / (r.nHi - lo + 1) });
  }
  return out;
}

/** A seeded uniform [0, 1) stream for `sampleRoute` (mulberry32 over the low 32 bits of seed). */
export function routeRng(seed: number): () => number {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw typeError('routeRng', `expected seed to be an integer, received ${describe(seed)}`);
  return mulberry32(seed);
}

/**
 * Draws the route of one training forward pass.
 * @param schedule from `routeSchedule`
 * @param L number of blocks
 * @param rng uniform [0, 1) stream (`routeRng(seed)`); 'random' draws two values, the others none
 * @returns {l, n, fraction}, or null for 'none'
 * @throws {TypeError|RangeError} bad L or rng, or a schedule whose ranges do not fit L
 * @example
 * sampleRoute(routeSchedule('fixed'), 12, routeRng(0)); // {l: 2, n: 10, fraction: 0.5}
 */
export function sampleRoute(schedule: RouteSchedule, L: number, rng: () => number): Route | null {
  const r = resolveRanges(schedule, L);
  if (r === null) return null;
  if (typeof rng !== 'function') throw typeError('sampleRoute', `expected rng to be a function () => number, received ${describe(rng)}`);
  if (schedule.kind === 'fixed') return { l: r.lLo, n: r.nHi, fraction: schedule.fraction };
  const pick = (lo: number, hi: number): number => lo + Math.min(hi - lo, Math.floor(rng() * (hi - lo + 1)));
  const l = pick(r.lLo, r.lHi);
  const n = pick(Math.max(l, r.nLo), r.nHi);
  return { l, n, fraction: schedule.fraction };
}

/** Patches that stay in the route's forward: Np − round(fraction · Np), at least 1. */
export function routeKeepCount(fraction: number, Np: number): number {
  return Math.max(1, Np - Math.floor(fraction * Np + 0.5));
}
