/**
 * Fuzz specs: for each native entry point, how to build a valid call and what each positional
 * argument is, so the fuzzer can break exactly one thing at a time and know the call must fail.
 */
import { randIndices, randn } from '../reference/helpers.js';

export type Slot =
  | { kind: 'f32'; optional?: boolean }
  | { kind: 'i32'; optional?: boolean; indexRange?: number; noDuplicates?: boolean }
  | { kind: 'u8'; optional?: boolean }
  | { kind: 'dim' }
  | { kind: 'number'; finiteOnly?: boolean }
  | { kind: 'bool' }
  | { kind: 'seed' }
  | { kind: 'string' }
  | { kind: 'object' }
  | { kind: 'passthrough' };

export interface ValidCall {
  args: unknown[];
  slots: Slot[];
  /** Pairs of argument positions that must not share memory (output, input). */
  noAlias?: Array<[number, number]>;
}

export interface FuzzSpec {
  fn: string;
  /** A valid call with small random sizes. */
  valid: (r: () => number) => ValidCall;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const small = (r: () => number, lo = 1, hi = 6) => lo + Math.floor(r() * (hi - lo + 1));

export const SPECS: FuzzSpec[] = [
  {
    fn: 'gatherTokens',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 1, 9), K = small(r, 1, 9), D = small(r, 1, 5);
      const idx = new Int32Array(B * K).map(() => Math.floor(r() * N));
      return {
        args: [randn(B * N * D, r), idx, new Float32Array(B * K * D), B, N, K, D],
        slots: [{ kind: 'f32' }, { kind: 'i32', indexRange: N }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[2, 0]],
      };
    },
  },
  {
    fn: 'gatherTokensBackward',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 1, 9), K = small(r, 1, 9), D = small(r, 1, 5);
      const idx = new Int32Array(B * K).map(() => Math.floor(r() * N));
      return {
        args: [randn(B * K * D, r), idx, new Float32Array(B * N * D), B, N, K, D],
        slots: [{ kind: 'f32' }, { kind: 'i32', indexRange: N }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[2, 0]],
      };
    },
  },
  {
    fn: 'scatterTokens',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 2, 9), D = small(r, 1, 5);
      const K = small(r, 2, N);
      return {
        args: [randn(B * N * D, r), randIndices(B, N, K, r), randn(B * K * D, r), new Float32Array(B * N * D), B, N, K, D],
        slots: [{ kind: 'f32' }, { kind: 'i32', indexRange: N, noDuplicates: true }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[3, 2]],
      };
    },
  },
  {
    fn: 'scatterTokensBackward',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 2, 9), D = small(r, 1, 5);
      const K = small(r, 2, N);
      return {
        args: [randn(B * N * D, r), randIndices(B, N, K, r), new Float32Array(B * N * D), new Float32Array(B * K * D), B, N, K, D],
        slots: [{ kind: 'f32' }, { kind: 'i32', indexRange: N, noDuplicates: true }, { kind: 'f32', optional: true }, { kind: 'f32', optional: true }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[2, 0], [3, 0]],
      };
    },
  },
];

export { pick, small };
