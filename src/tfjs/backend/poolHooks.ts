/**
 * Connects the Float32Array pool (src/bufferPool.ts) to the TF.js `cpu` backend: the backend's storage map
 * (`backend.data`, a DataStorage) reports every `set` (an array becomes a tensor's storage) and `delete` (the
 * storage's refcount reached 0), and `readSync` (which `dataSync()`, `data()`, `array()` and `bufferSync()` go
 * through, and which hands the backend's own array to the caller) marks the array as escaped. The hooks are
 * own properties of that one backend instance, removed by `setBufferPool(false)`; the stock classes are not
 * changed. Kernels registered by reg4pru run inside `pooledScope` (register.ts, native_backend.ts), so only
 * their outputs come from the pool; stock TF.js kernels allocate as before.
 *
 * On by default with `useNativeBackend()`; `REG4PRU_BUFFER_POOL=0` turns it off (for A/B),
 * `REG4PRU_BUFFER_POOL=poison` NaN-fills every array taken (tests), and `REG4PRU_BUFFER_POOL_MB` caps the bytes
 * it holds (default 1024).
 */
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs';
import { configureBufferPool, noteDeleted, noteEscaped, noteStored, pooledScope } from '../../bufferPool.js';
import type { KernelFunc } from '@tensorflow/tfjs';
import { describe, rangeError, typeError } from '../../errors.js';

interface Storage {
  set(dataId: object, value: { values?: unknown }): void;
  get(dataId: object): { values?: unknown };
  has(dataId: object): boolean;
  delete(dataId: object): boolean;
}

/** The backend instance whose storage is hooked now, or null. */
let hooked: MathBackendCPU | null = null;

export interface BufferPoolOptions {
  /** Most bytes the pool holds (least recently used lengths are dropped first). Default REG4PRU_BUFFER_POOL_MB or 1024 MiB. */
  maxBytes?: number;
  /** Fill every array taken with NaN first (tests: an output element a kernel does not write shows up). Default: REG4PRU_BUFFER_POOL=poison. */
  poison?: boolean;
  /** Shortest array pooled, in floats (default 1024; tests use 1 to pool every output). */
  minFloats?: number;
}

function defaultMaxBytes(): number {
  const mb = process.env.REG4PRU_BUFFER_POOL_MB;
  if (mb === undefined || mb === '') return 1024 * 2 ** 20;
  const v = Number(mb);
  if (!(Number.isFinite(v) && v >= 0)) throw rangeError('setBufferPool', `expected REG4PRU_BUFFER_POOL_MB to be a number >= 0, received '${mb}'`);
  return v * 2 ** 20;
}

/** False when REG4PRU_BUFFER_POOL is '0', 'off' or 'false' (the pool stays off with useNativeBackend()). */
export function bufferPoolWanted(): boolean {
  const v = (process.env.REG4PRU_BUFFER_POOL ?? '').toLowerCase();
  return !(v === '0' || v === 'off' || v === 'false');
}

// REG4PRU_BUFFER_POOL=poison: every array taken is NaN-filled (run a test suite with it to catch kernels that
// leave output elements unwritten).
function poisonWanted(): boolean {
  return (process.env.REG4PRU_BUFFER_POOL ?? '').toLowerCase() === 'poison';
}

function unhook(): void {
  if (hooked === null) return;
  const data = hooked.data as unknown as Storage;
  for (const k of ['set', 'delete'] as const) Reflect.deleteProperty(data, k);
  Reflect.deleteProperty(hooked, 'readSync');
  hooked = null;
}

function hook(backend: MathBackendCPU): void {
  const data = backend.data as unknown as Storage;
  const proto = Object.getPrototypeOf(data) as Storage;
  Object.defineProperty(data, 'set', {
    configurable: true, writable: true,
    value(this: Storage, dataId: object, value: { values?: unknown }) {
      noteStored(value.values);
      proto.set.call(this, dataId, value);
    },
  });
  Object.defineProperty(data, 'delete', {
    configurable: true, writable: true,
    value(this: Storage, dataId: object) {
      const values = this.has(dataId) ? this.get(dataId).values : undefined;
      const r = proto.delete.call(this, dataId);
      noteDeleted(values);
      return r;
    },
  });
  const readSync = MathBackendCPU.prototype.readSync;
  Object.defineProperty(backend, 'readSync', {
    configurable: true, writable: true,
    value(this: MathBackendCPU, dataId: object) {
      const v = readSync.call(this, dataId);
      noteEscaped(v);
      return v;
    },
  });
  hooked = backend;
}

/**
 * Turns the cpu backend's Float32Array pool on or off. Off (or on again) empties the pool and forgets which
 * arrays were handed out, so no array from before is ever reused.
 * @param on true to pool reg4pru kernel outputs on the `cpu` backend
 * @param opts maxBytes, poison
 * @returns whether the pool is on now (false when the `cpu` backend is not a MathBackendCPU)
 * @example setBufferPool(false); // A/B: every kernel output a fresh array again
 */
export function setBufferPool(on: boolean, opts: BufferPoolOptions = {}): boolean {
  const op = 'setBufferPool';
  if (typeof on !== 'boolean') throw typeError(op, `expected on to be a boolean, received ${describe(on)}`);
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
  const { maxBytes, minFloats, poison } = opts;
  if (maxBytes !== undefined && !(typeof maxBytes === 'number' && maxBytes >= 0)) throw rangeError(op, `expected opts.maxBytes to be a number >= 0, received ${describe(maxBytes)}`);
  if (minFloats !== undefined && !(Number.isInteger(minFloats) && minFloats >= 1)) throw rangeError(op, `expected opts.minFloats to be an integer >= 1, received ${describe(minFloats)}`);
  if (poison !== undefined && typeof poison !== 'boolean') throw typeError(op, `expected opts.poison to be a boolean, received ${describe(poison)}`);
  unhook();
  const backend = on ? tf.findBackend('cpu') : null;
  const ok = backend instanceof MathBackendCPU;
  if (ok) hook(backend);
  configureBufferPool(ok, { maxBytes: opts.maxBytes ?? defaultMaxBytes(), poison: opts.poison ?? poisonWanted(), minFloats: opts.minFloats });
  return ok;
}

/** True while the pool is hooked into a cpu backend. */
export function bufferPoolActive(): boolean {
  return hooked !== null;
}

/** A kernel function that runs inside pooledScope (its takeF32 outputs may come from the pool). */
export function pooledKernel(fn: KernelFunc): KernelFunc {
  return (args) => pooledScope(() => fn(args));
}
