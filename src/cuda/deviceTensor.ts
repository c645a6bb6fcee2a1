/**
 * Device memory for the CUDA ops (issue 6): `DeviceTensor` keeps data on the GPU across calls.
 * Upload with `upload()`, chain `cuda.*` ops (they take and return DeviceTensors, enqueued on one
 * library stream, in call order), download once at the end.
 *
 * Errors: every call that needs a device throws `Error("<op>: CUDA is not available: <reason>")`
 * without one (after the argument-kind checks, which throw TypeError/RangeError as usual). Conditions
 * only the device can see (an index out of range, a NaN logit) surface as a RangeError at the next
 * synchronisation point: `synchronize()`, `download()` or `downloadSync()`.
 *
 * Memory: device memory is invisible to V8's garbage-collector heuristics. Free tensors explicitly
 * (`t.free()`, or `using t = upload(...)`); GC frees forgotten ones eventually.
 */
import { native, type CudaDtype, type NativeDeviceTensor } from '../native.js';
import { describe, rangeError, typeError } from '../errors.js';
import type { F32Tensor, I32Tensor, U8Tensor } from '../validate.js';

export type { CudaDtype } from '../native.js';

/** A downloaded tensor: bfloat16 and float32 come back as float32. */
export type HostTensor = F32Tensor | I32Tensor | U8Tensor;

const disposeSymbol: typeof Symbol.dispose = Symbol.dispose ?? (Symbol.for('Symbol.dispose') as typeof Symbol.dispose);

/** Whether a CUDA device is usable now, and if not, why (never throws). */
export function cudaAvailable(): { ok: boolean; reason: string } {
  try {
    return native().cudaAvailable();
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/** One device allocation with a row-major shape and a dtype. */
export class DeviceTensor {
  readonly #t: NativeDeviceTensor;

  private constructor(t: NativeDeviceTensor) {
    this.#t = t;
  }

  /** @internal Wraps a native DeviceTensor returned by a binding. */
  static fromNative(t: NativeDeviceTensor): DeviceTensor {
    return new DeviceTensor(t);
  }

  /** @internal The native object, for the op wrappers. */
  get native(): NativeDeviceTensor {
    return this.#t;
  }

  get shape(): readonly number[] {
    return this.#t.shape;
  }
  get dtype(): CudaDtype {
    return this.#t.dtype;
  }
  /** Bytes on the device. */
  get bytes(): number {
    return this.#t.bytes;
  }
  /** True after `free()`; any later use throws `Error("... DeviceTensor was freed")`. */
  get freed(): boolean {
    return this.#t.freed;
  }

  /**
   * Copies to the host after all work enqueued before this call (the copy is enqueued now; the wait
   * runs off the JS thread).
   * @returns `{data, shape}`: Float32Array for float32 and bfloat16, Int32Array, Uint8Array
   * @throws (rejects) Error if freed or on a CUDA error; RangeError for a device-detected input error
   */
  async download(): Promise<HostTensor> {
    const shape = this.shape.slice();
    const data = await this.#t.download();
    return wrapHost(data, shape);
  }

  /** Blocking `download()`. */
  downloadSync(): HostTensor {
    return wrapHost(this.#t.downloadSync(), this.shape.slice());
  }

  /** Gives the memory back (idempotent; work already enqueued on it still completes). */
  free(): void {
    this.#t.free();
  }

  [disposeSymbol](): void {
    this.free();
  }
}

function wrapHost(data: Float32Array | Int32Array | Uint8Array, shape: number[]): HostTensor {
  if (data instanceof Float32Array) return { data, shape };
  if (data instanceof Int32Array) return { data, shape };
  return { data, shape };
}

function isTensorLike(t: unknown): t is { data: unknown; shape: unknown } {
  return typeof t === 'object' && t !== null && 'data' in t && 'shape' in t;
}

/**
 * Uploads a host tensor to the device.
 * @param t `{data, shape}` with Float32Array, Int32Array or Uint8Array data
 * @param opts `dtype`: 'float32' (default for Float32Array) or 'bfloat16' (rounded to nearest even);
 *   Int32Array uploads as 'int32', Uint8Array as 'uint8'
 * @returns a DeviceTensor of the same shape
 * @throws TypeError for a wrong kind or an incompatible dtype; RangeError for a bad shape;
 *   Error when no CUDA device is usable (the message says why) or on out-of-memory
 * @example
 * using x = upload({ data: new Float32Array(1 * 4101 * 384), shape: [1, 4101, 384] }, { dtype: 'bfloat16' });
 */
export function upload(t: HostTensor, opts: { dtype?: CudaDtype } = {}): DeviceTensor {
  const op = 'cudaUpload';
  if (!isTensorLike(t)) throw typeError(op, `expected t to be a tensor {data, shape}, received ${describe(t)}`);
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
  const { data, shape } = t;
  if (!(data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array))
    throw typeError(op, `expected t.data to be a Float32Array, Int32Array or Uint8Array, received ${describe(data)}`);
  if (!Array.isArray(shape)) throw typeError(op, `expected t.shape to be an array, received ${describe(shape)}`);
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > 2 ** 31 - 1)
      throw rangeError(op, `expected t.shape[${i}] to be an integer in [1, ${2 ** 31 - 1}], received ${describe(d)}`);
    n *= d;
  }
  if (data.length !== n) throw rangeError(op, `expected t.data to have ${n} elements for shape [${shape.join(',')}], received ${data.length}`);
  return DeviceTensor.fromNative(native().cudaUpload(data, shape as number[], opts.dtype));
}

/** A zero-filled DeviceTensor. @throws Error without a usable device. */
export function zeros(shape: readonly number[], dtype: CudaDtype = 'float32'): DeviceTensor {
  return DeviceTensor.fromNative(native().cudaZeros(shape, dtype));
}

/** Device-to-device copy of src into dst (same byte size), enqueued. @returns dst */
export function copy(dst: DeviceTensor, src: DeviceTensor): DeviceTensor {
  native().cudaCopy(nativeOf('cudaCopy', 'dst', dst), nativeOf('cudaCopy', 'src', src));
  return dst;
}

/**
 * Waits for all enqueued work. @throws Error for an asynchronous CUDA error, RangeError for a
 * device-detected input error (out-of-range index, NaN logit), Error without a device.
 */
export function synchronize(): void {
  native().cudaSynchronize();
}

/** @internal The native tensor of a DeviceTensor argument (TypeError naming op and argument otherwise). */
export function nativeOf(op: string, name: string, t: unknown): NativeDeviceTensor {
  if (!(t instanceof DeviceTensor)) throw typeError(op, `expected ${name} to be a DeviceTensor, received ${describe(t)}`);
  return t.native;
}
