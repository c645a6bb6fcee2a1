/**
 * Zero-copy access to the TF.js `cpu` backend's tensor storage for the native kernels (SPEC §1, part 2
 * of the TF.js integration): a kernel reads `backend.data.get(dataId).values` (a Float32Array for
 * float32 tensors) and returns `backend.makeTensorInfo(shape, 'float32', out)`, which adopts `out`
 * without copying. Anything that is not a float32 tensor on a cpu-like backend makes the caller fall back
 * to the stock kernel, so the replacement is never less general than the original.
 */
import * as tf from '@tensorflow/tfjs';
import type { DataType, TensorInfo } from '@tensorflow/tfjs';

/** The part of `MathBackendCPU` the native kernels use (structural, so no import of the backend package). */
export interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array): TensorInfo;
}

/** True when `b` looks like the `cpu` backend (has `data.get` and `makeTensorInfo`). */
export function isCpuBackend(b: unknown): b is CpuBackendLike {
  if (typeof b !== 'object' || b === null) return false;
  const data: unknown = Reflect.get(b, 'data');
  return (
    typeof Reflect.get(b, 'makeTensorInfo') === 'function' &&
    typeof data === 'object' && data !== null && typeof Reflect.get(data, 'get') === 'function'
  );
}

/** The float32 values of t, or undefined when t is not float32 or not stored as a Float32Array. */
export function f32Values(backend: CpuBackendLike, t: TensorInfo): Float32Array | undefined {
  if (t.dtype !== 'float32') return undefined;
  const v = backend.data.get(t.dataId).values;
  return v instanceof Float32Array ? v : undefined;
}

/**
 * The float32 values of a variable on the cpu backend, for an in-place update (src/train/optimizer.ts), or
 * undefined when it is not float32 on a cpu-like backend. TF.js tensors share storage (a clone or reshape of
 * a variable holds the same array, counted by the backend's refCount): when anything else holds this
 * variable's array, the variable first gets a private copy, so the update changes the variable alone.
 */
export function ownedF32Values(v: tf.Variable): Float32Array | undefined {
  const backend: unknown = tf.backend();
  if (!isCpuBackend(backend) || v.dtype !== 'float32') return undefined;
  const refCount: unknown = Reflect.get(backend, 'refCount');
  if (typeof refCount !== 'function') return undefined;
  const shared = (refCount as (id: object) => number).call(backend, v.dataId) > 1;
  if (shared) {
    const values = f32Values(backend, v);
    if (values === undefined) return undefined;
    const copy = tf.tensor(Float32Array.from(values), v.shape, 'float32');
    v.assign(copy);
    copy.dispose();
  }
  return f32Values(backend, v);
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** NumPy/TF.js broadcast shape of a and b, or undefined when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | undefined {
  const r = Math.max(a.length, b.length);
  const out = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1, db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return undefined;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Offsets into a tensor of shape `src` (right-aligned, broadcast) for every index of `out`, in
 * row-major order of `out`: a flat Int32Array. Used for the rare general-broadcast paths only.
 */
export function broadcastOffsets(src: readonly number[], out: readonly number[]): Int32Array {
  const n = sizeOf(out);
  const r = out.length;
  const ss = stridesOf(src);
  // Stride of each out axis in src (0 where src broadcasts along it).
  const st = new Array<number>(r);
  for (let i = 0; i < r; i++) {
    const j = src.length - r + i;
    st[i] = j < 0 || src[j] === 1 ? 0 : ss[j]!;
  }
  const offs = new Int32Array(n);
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let e = 0; e < n; e++) {
    offs[e] = off;
    for (let i = r - 1; i >= 0; i--) {
      idx[i]++;
      off += st[i]!;
      if (idx[i]! < out[i]!) break;
      off -= st[i]! * out[i]!;
      idx[i] = 0;
    }
  }
  return offs;
}
