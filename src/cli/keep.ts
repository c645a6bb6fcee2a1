/**
 * The `--keep` value of `bench`, `infer`, `eval` and `train`: a base keep ratio ρ in (0, 1], 'none' (unpruned), or
 * SViT's dynamic per-image keep `dynamic[:τ[:minKeep]]` (threshold τ in [0, 1], default 0.5; floor minKeep, an
 * integer >= 1, default 1; see `InferenceSessionOptions.keep`).
 */
import { UsageError, parseFloatOption } from './common.js';
import type { InferenceSessionOptions } from '../engine/session.js';

/** keep 'dynamic' with its threshold τ and floor. */
export interface DynamicKeep {
  mode: 'dynamic';
  threshold: number;
  minKeep: number;
}
export type KeepSpec = number | DynamicKeep | null;

export const isDynamic = (k: unknown): k is DynamicKeep => typeof k === 'object' && k !== null && (k as DynamicKeep).mode === 'dynamic';

/**
 * Parses a --keep string.
 * @example parseKeepSpec('dynamic:0.4') // { mode: 'dynamic', threshold: 0.4, minKeep: 1 }
 * @throws UsageError naming the flag and the expected forms
 */
export function parseKeepSpec(v: string, flag = '--keep'): KeepSpec {
  const t = v.trim().toLowerCase();
  if (t === 'none') return null;
  if (t === 'dynamic' || t.startsWith('dynamic:')) {
    const [, tau, floor, ...rest] = t.split(':');
    if (rest.length > 0) throw new UsageError(`option ${flag}: expected 'dynamic[:threshold[:minKeep]]', received '${v}'`);
    const threshold = tau === undefined ? 0.5 : parseFloatOption(`${flag} dynamic:<threshold>`, 0, 1)(tau);
    let minKeep = 1;
    if (floor !== undefined) {
      minKeep = Number(floor);
      if (!/^\d+$/.test(floor) || !Number.isSafeInteger(minKeep) || minKeep < 1 || minKeep > 2147483647)
        throw new UsageError(`option ${flag}: expected the minKeep of 'dynamic:<threshold>:<minKeep>' to be an integer >= 1, received '${floor}'`);
    }
    return { mode: 'dynamic', threshold, minKeep };
  }
  if (!/^[\d.eE+-]+$/.test(t)) throw new UsageError(`option ${flag}: expected a keep ratio in (0, 1], 'none' or 'dynamic[:threshold[:minKeep]]', received '${v}'`);
  return parseFloatOption(flag, 0, 1, { exclusiveMin: true })(v);
}

/** A command's --keep: the raw string from commander, a value from a programmatic caller, or `dflt` when undefined. */
export function resolveKeepSpec(v: KeepSpec | string | undefined, dflt: KeepSpec): KeepSpec {
  if (v === undefined) return dflt;
  return typeof v === 'string' ? parseKeepSpec(v) : v;
}

/** The session options of a keep spec. */
export function keepSessionOptions(k: KeepSpec): { keep: number | 'dynamic' | null } & Pick<InferenceSessionOptions, 'threshold' | 'minKeep'> {
  return isDynamic(k) ? { keep: 'dynamic', threshold: k.threshold, minKeep: k.minKeep } : { keep: k };
}

/** For tables and summaries: 'unpruned', 'keep 0.7', 'dynamic τ=0.5' (+ ' min 16'). */
export function keepText(k: KeepSpec): string {
  if (k === null) return 'unpruned';
  if (isDynamic(k)) return `dynamic τ=${k.threshold}${k.minKeep > 1 ? ` min ${k.minKeep}` : ''}`;
  return `keep ${k}`;
}

/** For file names and configuration labels: 'unpruned', 'keep0.7', 'dynamic0.5' (+ '-min16'). */
export function keepTag(k: KeepSpec): string {
  if (k === null) return 'unpruned';
  if (isDynamic(k)) return `dynamic${k.threshold}${k.minKeep > 1 ? `-min${k.minKeep}` : ''}`;
  return `keep${k}`;
}
