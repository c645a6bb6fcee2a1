/**
 * How a reg4pru TF.js kernel reads its inputs and hands back its outputs, on any backend.
 *
 * - `cpu` (MathBackendCPU, the pure-JS default): tensors already live in JS typed arrays, so the kernel
 *   passes the backend's own arrays (`backend.data.get(dataId).values`) to the native op without a copy,
 *   and gives the op's freshly allocated output array to `backend.makeTensorInfo` (kept, not copied).
 * - any other backend (`wasm`, tfjs-node's `tensorflow`, or one the user registers): the generic path.
 *   `readSync` downloads each input into a typed array, the native op runs on the CPU, and
 *   `backend.write` uploads the result. Correct everywhere, at the price of one copy in and one out.
 *
 * Inputs are viewed as the `{data, shape}` tensors of src/validate.ts, so the typed-array ops in src/ops/
 * do all shape and index validation (and shape maths) once, for every layer that calls them.
 */
import { MathBackendCPU, type BackendValues, type DataType, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from '@tensorflow/tfjs';
import { describe, typeError } from '../../errors.js';
import type { F32Tensor, I32Tensor, U8Tensor } from '../../validate.js';

/** The part of TF.js's KernelBackend the generic path needs. */
export interface GenericBackend {
  readSync(dataId: object): BackendValues;
  write(values: BackendValues, shape: number[], dtype: DataType): object;
}

export type Backend = MathBackendCPU | GenericBackend;

/** The kernel's `backend` argument (typed `{}` by TF.js) as one of the two paths. */
export function kernelBackend(op: string, backend: object): Backend {
  if (backend instanceof MathBackendCPU) return backend;
  const b = backend as Partial<GenericBackend>;
  if (typeof b.readSync !== 'function' || typeof b.write !== 'function')
    throw typeError(op, `the active TF.js backend has no readSync/write methods, received ${describe(backend)}`);
  return b as GenericBackend;
}

// The backend's values for one tensor: zero-copy on cpu, downloaded elsewhere.
function values(b: Backend, t: TensorInfo): BackendValues {
  if (b instanceof MathBackendCPU) {
    const v = b.data.get(t.dataId).values;
    if (v !== undefined) return v;
  }
  return b.readSync(t.dataId);
}

function input(op: string, inputs: NamedTensorInfoMap, name: string): TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw typeError(op, `expected input ${name}, received undefined`);
  return t;
}

function numeric(op: string, name: string, v: BackendValues): Float32Array | Int32Array | Uint8Array {
  if (v instanceof Float32Array || v instanceof Int32Array || v instanceof Uint8Array) return v;
  throw typeError(op, `expected ${name} to be stored as a numeric typed array, received ${describe(v)}`);
}

/** A float32 input as `{data, shape}` (TypeError naming the input when its dtype is not float32). */
export function f32(op: string, b: Backend, inputs: NamedTensorInfoMap, name: string): F32Tensor {
  const t = input(op, inputs, name);
  if (t.dtype !== 'float32') throw typeError(op, `expected ${name} to be float32, received ${t.dtype} [${t.shape.join(',')}]`);
  const v = numeric(op, name, values(b, t));
  // Some backends (webgl) may hand back another array type for float32; convert rather than fail.
  return { data: v instanceof Float32Array ? v : Float32Array.from(v), shape: t.shape };
}

/** An int32 input as `{data, shape}`. */
export function i32(op: string, b: Backend, inputs: NamedTensorInfoMap, name: string): I32Tensor {
  const t = input(op, inputs, name);
  if (t.dtype !== 'int32') throw typeError(op, `expected ${name} to be int32, received ${t.dtype} [${t.shape.join(',')}]`);
  const v = numeric(op, name, values(b, t));
  return { data: v instanceof Int32Array ? v : Int32Array.from(v), shape: t.shape };
}

/** A mask input (bool, int32 or float32; nonzero = true) as a uint8 or float32 tensor; undefined when absent. */
export function mask(op: string, b: Backend, inputs: NamedTensorInfoMap, name: string): U8Tensor | F32Tensor | undefined {
  const t = inputs[name];
  if (t === undefined) return undefined;
  const v = numeric(op, name, values(b, t));
  switch (t.dtype) {
    case 'float32':
      return { data: v instanceof Float32Array ? v : Float32Array.from(v), shape: t.shape };
    case 'bool':
    case 'int32': {
      if (v instanceof Uint8Array) return { data: v, shape: t.shape };
      const m = new Uint8Array(v.length);
      for (let i = 0; i < v.length; i++) m[i] = v[i] !== 0 ? 1 : 0;
      return { data: m, shape: t.shape };
    }
    default:
      throw typeError(op, `expected ${name} to be bool, int32 or float32, received ${t.dtype} [${t.shape.join(',')}]`);
  }
}

/** Hands an op's result (a fresh array the kernel owns) to the backend as a new tensor. */
export function output(b: Backend, t: F32Tensor | I32Tensor): TensorInfo {
  const shape = [...t.shape];
  const dtype: DataType = t.data instanceof Int32Array ? 'int32' : 'float32';
  if (b instanceof MathBackendCPU) return b.makeTensorInfo(shape, dtype, t.data);
  return { dataId: b.write(t.data, shape, dtype), shape, dtype };
}

/** A numeric attribute (TypeError naming it otherwise). */
export function numAttr(op: string, attrs: NamedAttrMap | undefined, name: string): number {
  const v = attrs?.[name];
  if (typeof v !== 'number') throw typeError(op, `expected attribute ${name} to be a number, received ${describe(v)}`);
  return v;
}

/** A boolean attribute. */
export function boolAttr(op: string, attrs: NamedAttrMap | undefined, name: string): boolean {
  const v = attrs?.[name];
  if (typeof v !== 'boolean') throw typeError(op, `expected attribute ${name} to be a boolean, received ${describe(v)}`);
  return v;
}

/** A seed attribute: a number, or the decimal string of a bigint seed (attributes cannot hold bigints). */
export function seedAttr(op: string, attrs: NamedAttrMap | undefined, name: string): number | bigint {
  const v = attrs?.[name];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) return BigInt(v);
  throw typeError(op, `expected attribute ${name} to be a number or a decimal string, received ${describe(v)}`);
}
