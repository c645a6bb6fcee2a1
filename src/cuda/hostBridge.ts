/**
 * The `device: 'cpu' | 'cuda'` option of the host ops (src/ops/): validate the choice, and run a
 * CUDA path as upload -> op -> download with every temporary DeviceTensor freed, also on error.
 * The host op has already validated its inputs (shapes, indices) before it gets here, so the
 * device path sees only inputs the CPU op would accept.
 */
import { describe, rangeError, typeError } from '../errors.js';
import type { DeviceTensor } from './deviceTensor.js';

export type Device = 'cpu' | 'cuda';

/** `device` option: undefined -> 'cpu'; anything but 'cpu' / 'cuda' is an error naming op. */
export function expectDevice(op: string, v: unknown): Device {
  if (v === undefined) return 'cpu';
  if (typeof v !== 'string') throw typeError(op, `expected device to be 'cpu' or 'cuda', received ${describe(v)}`);
  if (v !== 'cpu' && v !== 'cuda') throw rangeError(op, `expected device to be 'cpu' or 'cuda', received '${v}'`);
  return v;
}

/** Options object of a host op (undefined -> {}). */
export function expectOptions<T extends object>(op: string, o: unknown): Partial<T> {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw typeError(op, `expected opts to be an object, received ${describe(o)}`);
  return o as Partial<T>;
}

/** Runs `body` with `own`, which registers DeviceTensors to free when body returns or throws. */
export function onCuda<R>(body: (own: <T extends DeviceTensor | null>(t: T) => T) => R): R {
  const owned: DeviceTensor[] = [];
  try {
    return body((t) => {
      if (t !== null) owned.push(t);
      return t;
    });
  } finally {
    for (const t of owned) t.free();
  }
}

/** Blocking download of a float32/bfloat16 DeviceTensor, into `out` when given. */
export function downloadF32(t: DeviceTensor, out?: Float32Array): Float32Array {
  const d = t.downloadSync().data;
  if (!(d instanceof Float32Array)) throw new TypeError(`download: expected a float tensor, received ${t.dtype}`);
  if (out === undefined) return d;
  out.set(d);
  return out;
}

/** Blocking download of an int32 DeviceTensor. */
export function downloadI32(t: DeviceTensor): Int32Array {
  const d = t.downloadSync().data;
  if (!(d instanceof Int32Array)) throw new TypeError(`download: expected an int32 tensor, received ${t.dtype}`);
  return d;
}
