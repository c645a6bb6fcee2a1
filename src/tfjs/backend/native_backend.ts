/**
 * Switches the TF.js `cpu` backend's hot kernels to native ones (SPEC §1: the training graph of SPEC §2
 * runs in TF.js; part 2 of the TF.js integration). `useNativeBackend()` unregisters the stock kernel
 * configs and registers native replacements under the same names; TF.js's own gradients dispatch to
 * kernels by name, so backward passes speed up too. `useNativeBackend(false)` puts the saved stock
 * configs back. Each replacement falls back to the stock kernel function for inputs it does not handle
 * (non-float32, empty), so switching never narrows what the backend accepts.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { info } from '../../runtime.js';
import type { BuildInfo } from '../../native.js';
import { makeBatchMatMul, makeFusedMatMul } from './matmul.js';
import { makeDepthwiseBackpropFilter, makeDepthwiseBackpropInput, makeDepthwiseConv2d } from './depthwise.js';
import { makeAdd, makeMean, makeMultiply, makeRealDiv, makeSub, makeSoftmax, makeSum, makeTranspose } from './elementwise.js';
import { makePadV2, makeSlice, makeSplitV } from './slicing.js';
import { bufferPoolWanted, pooledKernel, setBufferPool } from './poolHooks.js';

/** A native kernel: built from the stock kernel function it replaces (its fallback). */
type NativeKernelFactory = (stock: KernelFunc) => KernelFunc;

/** The kernels replaced on the `cpu` backend, by TF.js kernel name. */
const NATIVE_KERNELS: ReadonlyArray<readonly [string, NativeKernelFactory]> = [
  [tf.BatchMatMul, makeBatchMatMul],
  [tf._FusedMatMul, makeFusedMatMul],
  [tf.Add, makeAdd],
  [tf.Sub, makeSub],
  [tf.Multiply, makeMultiply],
  [tf.RealDiv, makeRealDiv],
  [tf.Sum, makeSum],
  [tf.Mean, makeMean],
  [tf.Slice, makeSlice],
  [tf.SplitV, makeSplitV],
  [tf.PadV2, makePadV2],
  [tf.Transpose, makeTranspose],
  [tf.Softmax, makeSoftmax],
  [tf.DepthwiseConv2dNative, makeDepthwiseConv2d],
  [tf.DepthwiseConv2dNativeBackpropInput, makeDepthwiseBackpropInput],
  [tf.DepthwiseConv2dNativeBackpropFilter, makeDepthwiseBackpropFilter],
];

const BACKEND = 'cpu';
/** The stock configs saved while the native ones are registered. */
const saved = new Map<string, KernelConfig>();

/** What `backendInfo()` reports. */
export interface BackendInfo {
  /** The active TF.js backend (tf.getBackend()). */
  backend: string;
  /** True while native kernels are registered on the `cpu` backend. */
  native: boolean;
  /** TF.js kernel names replaced by native ones (empty when native is false). */
  kernels: string[];
  /** The native addon's build and runtime info. */
  addon: BuildInfo;
  /**
   * One line saying what runs, e.g. `TF.js 'cpu' backend with 16 native reg4pru kernels (avx2, 2 threads)`
   * or `TF.js 'cpu' backend, stock JavaScript kernels (useNativeBackend() not called)`.
   */
  active: string;
}

/**
 * Registers (on = true) or removes (on = false) the native kernels of the TF.js `cpu` backend.
 * Idempotent. The `cpu` backend must be registered (importing `@tensorflow/tfjs` does that); the active
 * backend is not changed: call `tf.setBackend('cpu')` to run on it.
 * Switching on also turns on the Float32Array pool for reg4pru kernel outputs (./poolHooks.ts; not with
 * REG4PRU_BUFFER_POOL=0), switching off turns it off.
 * @param on true to use the native kernels, false to restore the stock ones
 * @returns the names of the kernels now replaced
 * @throws Error when a stock kernel to replace is not registered for `cpu`
 * @example
 *   await tf.setBackend('cpu');
 *   useNativeBackend();            // BatchMatMul, _FusedMatMul, ... now native
 *   useNativeBackend(false);       // stock TF.js kernels again
 */
export function useNativeBackend(on = true): string[] {
  if (on) {
    silenceCpuBanner();
    if (saved.size > 0) return [...saved.keys()];
    for (const [name] of NATIVE_KERNELS) {
      if (!tf.getKernel(name, BACKEND)) throw new Error(`useNativeBackend: expected the TF.js '${BACKEND}' backend to register kernel ${name}, received none`);
    }
    for (const [name, make] of NATIVE_KERNELS) {
      const stock = tf.getKernel(name, BACKEND);
      if (!stock) continue;
      saved.set(name, stock);
      tf.unregisterKernel(name, BACKEND);
      tf.registerKernel({ ...stock, kernelFunc: pooledKernel(make(stock.kernelFunc)) });
    }
    setBufferPool(bufferPoolWanted());
    return [...saved.keys()];
  }
  for (const [name, stock] of saved) {
    tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(stock);
  }
  if (saved.size > 0) setBufferPool(false);
  saved.clear();
  return [];
}

/**
 * TF.js's `cpu` backend prints "Hi, looks like you are running TensorFlow.js in Node.js. To speed things
 * up dramatically, install our node backend..." on its first tensor write in Node. Once we have chosen
 * this backend and put native kernels under it, that advice is wrong, so the one-shot flag that gates it
 * is cleared here (it is a private field of MathBackendCPU: `firstUse`, set in its constructor). Only
 * that message is affected; every other TF.js warning still prints.
 */
export function silenceCpuBanner(): void {
  const backend = tf.findBackend(BACKEND);
  if (backend && 'firstUse' in backend) Reflect.set(backend, 'firstUse', false);
}

/** True while the native kernels are registered. */
export function nativeBackendActive(): boolean {
  return saved.size > 0;
}

/** The TF.js kernel names `useNativeBackend()` replaces. */
export function nativeKernelNames(): string[] {
  return NATIVE_KERNELS.map(([n]) => n);
}

/**
 * What runs now: `{ backend: tf.getBackend(), native, kernels (replaced), addon: info(), active }`.
 * `native` is true only when the active backend is `cpu` and the native kernels are registered on it.
 * @returns a fresh BackendInfo
 */
export function backendInfo(): BackendInfo {
  const backend = tf.getBackend();
  const addon = info();
  const native = backend === BACKEND && saved.size > 0;
  let active: string;
  if (native) active = `TF.js '${BACKEND}' backend with ${saved.size} native reg4pru kernels (${addon.cpu.kernel}, ${addon.cpu.threads} threads)`;
  else if (backend === BACKEND) active = `TF.js '${BACKEND}' backend, stock JavaScript kernels (useNativeBackend() not called)`;
  else if (backend === 'tensorflow') active = "TF.js 'tensorflow' backend (libtensorflow from @tensorflow/tfjs-node or -gpu); reg4pru ops run native";
  else active = `TF.js '${backend}' backend; reg4pru ops run native, other kernels are the backend's own`;
  return { backend, native, kernels: native ? [...saved.keys()] : [], addon, active };
}
