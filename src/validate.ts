/**
 * Input validation shared by every op wrapper (the TS half of SPEC §5's "validate in TS and in C++").
 * Tensors are plain typed arrays with explicit row-major shapes: `{ data, shape }`.
 */
import { describe, rangeError, typeError } from './errors.js';

/** A float32 tensor: row-major `data` with `shape` (data.length === product of shape). */
export interface F32Tensor {
  data: Float32Array;
  shape: readonly number[];
}
/** An int32 tensor (token indices). */
export interface I32Tensor {
  data: Int32Array;
  shape: readonly number[];
}
/** A uint8 tensor (masks: nonzero = true). */
export interface U8Tensor {
  data: Uint8Array;
  shape: readonly number[];
}

type DtypeName = 'float32' | 'int32' | 'uint8';
type ArrayFor<D extends DtypeName> = D extends 'float32' ? Float32Array : D extends 'int32' ? Int32Array : Uint8Array;

const CTOR: Record<DtypeName, { name: string; is: (v: unknown) => boolean }> = {
  float32: { name: 'Float32Array', is: (v) => v instanceof Float32Array },
  int32: { name: 'Int32Array', is: (v) => v instanceof Int32Array },
  uint8: { name: 'Uint8Array', is: (v) => v instanceof Uint8Array },
};

/** Largest dimension and element count we accept (int32 indices; exact in a JS number). */
export const MAX_DIM = 2 ** 31 - 1;
export const MAX_ELEMENTS = 2 ** 53 - 1;

function dtypeOf(data: unknown): string {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Float64Array) return 'float64';
  return describe(data);
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Element count of a shape; RangeError when it overflows. */
export function numel(op: string, name: string, shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  if (!(n <= MAX_ELEMENTS)) throw rangeError(op, `${name} with shape ${shapeStr(shape)} has too many elements (overflow)`);
  return n;
}

/**
 * Rejects a typed array on a SharedArrayBuffer (TypeError naming op and argument): another thread could
 * change it while a kernel reads it, so indices checked here could be out of range when used.
 */
export function expectUnshared(op: string, name: string, data: ArrayBufferView): void {
  if (typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer)
    throw typeError(op, `expected ${name} to be backed by an ArrayBuffer, received ${data.constructor.name}(${Reflect.get(data, 'length')}) on a SharedArrayBuffer`);
}

/**
 * A positive float32 scalar: finite and > 0 as a number and after rounding to float32. The one rule for every
 * LayerNorm epsilon (layerNorm's eps, the blocks' lnEps, host and CUDA) and the Gumbel temperature tau; the
 * bindings apply the same rule (eps_arg in native/napi/convert.h).
 */
export function expectEps(op: string, name: string, v: unknown): number {
  if (typeof v !== 'number') throw typeError(op, `expected ${name} to be a number, received ${describe(v)}`);
  const f = Math.fround(v);
  if (!(v > 0) || !Number.isFinite(v) || !(f > 0) || !Number.isFinite(f))
    throw rangeError(op, `expected ${name} to be a finite number > 0 (as float32), received ${v}`);
  return v;
}

/**
 * Reads `t.data` and `t.shape` once into a plain object, so that validation and the native call see the
 * same values even when they are getters (a non-object is returned as is, for expectTensor to report).
 */
export function snapshot<T>(t: T): T {
  if (typeof t !== 'object' || t === null || !('data' in t) || !('shape' in t)) return t;
  const { data, shape } = t as { data: unknown; shape: unknown };
  // Not `{...t}`: a spread would call the getters again.
  return { data, shape: Array.isArray(shape) ? shape.slice() : shape } as T;
}

/** `snapshot` of each argument, in order: `[q, k, v] = snapshotAll(q, k, v)`. */
export function snapshotAll<T extends unknown[]>(...ts: T): T {
  return ts.map((t) => snapshot(t)) as T;
}

/** `snapshot` of an optional tensor (undefined / null pass through). */
export function snapshotOpt<T>(t: T | null | undefined): T | null | undefined {
  return t === undefined || t === null ? t : snapshot(t);
}

/**
 * `snapshot` of each named weight, each `weights[name]` read once too, into a new object with just those
 * names (a non-object is returned as is, for the op's own check to report).
 */
export function snapshotWeights<W>(weights: W, names: readonly string[]): W {
  if (typeof weights !== 'object' || weights === null) return weights;
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const w: unknown = (weights as Record<string, unknown>)[name];
    if (w !== undefined) out[name] = snapshot(w);
  }
  return out as W;
}

/**
 * Checks that `t` is a `{data, shape}` tensor of the given dtype and rank, that every dim is a
 * positive integer (zero-size dims are rejected: every op needs at least one element per axis), and
 * that `dims` (letters -> expected sizes, `undefined` = free) agree. Returns the shape.
 *
 * Message: `gatherTokens: expected idx to be int32 [B,K] with B=2, received float32 [2,5]`.
 */
export function expectTensor<D extends DtypeName>(
  op: string,
  name: string,
  t: unknown,
  dtype: D,
  letters: readonly string[],
  expected: Readonly<Record<string, number | undefined>> = {},
): number[] {
  const want = () => {
    const fixed = letters.filter((l) => expected[l] !== undefined).map((l) => `${l}=${expected[l]}`);
    return `${dtype} [${letters.join(',')}]${fixed.length ? ' with ' + fixed.join(', ') : ''}`;
  };
  if (typeof t !== 'object' || t === null || !('data' in t) || !('shape' in t))
    throw typeError(op, `expected ${name} to be a tensor {data, shape} of ${want()}, received ${describe(t)}`);
  const { data, shape } = t as { data: unknown; shape: unknown };
  if (!Array.isArray(shape)) throw typeError(op, `expected ${name}.shape to be an array, received ${describe(shape)}`);
  if (!CTOR[dtype].is(data))
    throw typeError(op, `expected ${name} to be ${want()}, received ${dtypeOf(data)} ${Array.isArray(shape) ? shapeStr(shape) : ''}`.trimEnd());
  if (shape.length !== letters.length)
    throw typeError(op, `expected ${name} to be ${want()} (rank ${letters.length}), received ${dtype} ${shapeStr(shape)} (rank ${shape.length})`);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > MAX_DIM)
      throw rangeError(op, `expected ${name}.shape[${i}] (${letters[i]}) to be an integer in [1, ${MAX_DIM}], received ${describe(d)}`);
    const e = expected[letters[i]!];
    if (e !== undefined && d !== e) throw rangeError(op, `expected ${name} to be ${want()}, received ${dtype} ${shapeStr(shape)}`);
  }
  const n = numel(op, name, shape as number[]);
  const arr = data as ArrayFor<D>;
  expectUnshared(op, name, arr);
  if (arr.length !== n)
    throw rangeError(op, `expected ${name}.data to have ${n} elements for shape ${shapeStr(shape)}, received ${arr.length}`);
  return shape.slice() as number[];
}

/** A positive integer argument in [min, max]. */
export function expectInt(op: string, name: string, v: unknown, min: number, max: number = MAX_DIM): number {
  if (typeof v !== 'number') throw typeError(op, `expected ${name} to be an integer, received ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > max) throw rangeError(op, `expected ${name} to be an integer in [${min}, ${max}], received ${v}`);
  return v;
}

/** A finite number argument, optionally with an exclusive lower bound. */
export function expectNumber(op: string, name: string, v: unknown, opts: { gt?: number } = {}): number {
  if (typeof v !== 'number') throw typeError(op, `expected ${name} to be a number, received ${describe(v)}`);
  if (!Number.isFinite(v) || (opts.gt !== undefined && !(v > opts.gt)))
    throw rangeError(op, `expected ${name} to be a finite number${opts.gt !== undefined ? ` > ${opts.gt}` : ''}, received ${v}`);
  return v;
}

/** A seed: non-negative safe integer or a bigint in [0, 2^64). */
export function expectSeed(op: string, name: string, v: unknown): number | bigint {
  if (typeof v === 'bigint') {
    if (v < 0n || v >= 1n << 64n) throw rangeError(op, `expected ${name} to be a bigint in [0, 2^64), received ${v}`);
    return v;
  }
  if (typeof v !== 'number') throw typeError(op, `expected ${name} to be a number or bigint, received ${describe(v)}`);
  if (!Number.isSafeInteger(v) || v < 0) throw rangeError(op, `expected ${name} to be a non-negative safe integer, received ${v}`);
  return v;
}

/**
 * Every idx[b][k] in [0, N); with `noDuplicates`, no value twice in a row (the error names both
 * positions): `idx[1][3] = 4101 is out of range [0, 4101)`.
 */
export function checkIndices(op: string, name: string, idx: Int32Array, B: number, K: number, N: number, noDuplicates: boolean, offsets?: Int32Array): void {
  const seen = noDuplicates ? new Int32Array(N) : null;
  for (let b = 0; b < B; b++) {
    const base = offsets ? offsets[b]! : b * K;
    const len = offsets ? offsets[b + 1]! - base : K;
    for (let k = 0; k < len; k++) {
      const t = idx[base + k]!;
      if (t < 0 || t >= N) throw rangeError(op, `${name}[${b}][${k}] = ${t} is out of range [0, ${N})`);
      if (seen) {
        if (seen[t] !== 0) throw rangeError(op, `${name} has duplicate index ${t} in row ${b} at positions ${seen[t]! - 1} and ${k}`);
        seen[t] = k + 1;
      }
    }
    if (seen) for (let k = 0; k < len; k++) seen[idx[base + k]!] = 0;
  }
}

/**
 * Variable-length row offsets (FlashAttention's cu_seqlens): an Int32Array [B+1] with offsets[0] = 0, every
 * row length offsets[b+1] − offsets[b] in [0, N] and offsets[B] = total (the packed index count).
 * @throws TypeError when not an Int32Array; RangeError naming the bad entry
 */
export function checkOffsets(op: string, name: string, offsets: unknown, B: number, N: number, total: number): Int32Array {
  if (!(offsets instanceof Int32Array)) throw typeError(op, `expected ${name} to be an Int32Array [B+1], received ${describe(offsets)}`);
  expectUnshared(op, name, offsets);
  if (offsets.length !== B + 1) throw rangeError(op, `expected ${name} to have B+1 = ${B + 1} elements, received ${offsets.length}`);
  if (offsets[0] !== 0) throw rangeError(op, `expected ${name}[0] = 0, received ${offsets[0]}`);
  for (let b = 0; b < B; b++) {
    const len = offsets[b + 1]! - offsets[b]!;
    if (len < 0 || len > N) throw rangeError(op, `expected row lengths ${name}[${b + 1}] - ${name}[${b}] in [0, N=${N}], received ${offsets[b + 1]} - ${offsets[b]} = ${len}`);
  }
  if (offsets[B] !== total) throw rangeError(op, `expected ${name}[B=${B}] to equal the index count ${total}, received ${offsets[B]}`);
  return offsets;
}

/** An optional caller-provided output buffer must be a Float32Array of exactly n elements. */
export function outputF32(op: string, name: string, out: unknown, n: number): Float32Array {
  if (out === undefined) {
    // V8 caps typed array lengths below our element limit: name the op and the buffer instead of a bare
    // "Invalid typed array length" (or "Array buffer allocation failed") from inside V8.
    try {
      return new Float32Array(n);
    } catch (e) {
      throw rangeError(op, `cannot allocate ${name} of ${n} float32 elements (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  if (!(out instanceof Float32Array)) throw typeError(op, `expected ${name} to be a Float32Array, received ${describe(out)}`);
  if (out.length !== n) throw rangeError(op, `expected ${name} to have ${n} elements, received ${out.length}`);
  expectUnshared(op, name, out);
  return out;
}
