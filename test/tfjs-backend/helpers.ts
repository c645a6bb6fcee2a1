/**
 * Helpers for the TF.js backend tests: run the same TF.js computation on the stock `cpu` kernels and on
 * the native ones (useNativeBackend) and return both results as plain arrays.
 */
import * as tf from '@tensorflow/tfjs';
import { useNativeBackend } from '../../src/tfjs/index.js';

let ready: Promise<void> | undefined;
/** Selects the embedded cpu backend once (quietly). */
export function cpuReady(): Promise<void> {
  ready ??= (async () => {
    tf.env().set('IS_NODE', true);
    await tf.setBackend('cpu');
    await tf.ready();
  })();
  return ready;
}

/** fn's tensors read back as Float32Arrays, under stock then native kernels. All tensors disposed. */
export function stockVsNative(fn: () => tf.Tensor | tf.Tensor[]): { stock: Float32Array[]; native: Float32Array[]; shapes: number[][] } {
  const run = (native: boolean) => {
    useNativeBackend(native);
    try {
      return tf.tidy(() => {
        const r = fn();
        const list = Array.isArray(r) ? r : [r];
        return list.map((t) => ({ v: Float32Array.from(t.dataSync()), s: t.shape }));
      });
    } finally {
      useNativeBackend(false);
    }
  };
  const s = run(false), n = run(true);
  return { stock: s.map((x) => x.v), native: n.map((x) => x.v), shapes: n.map((x) => x.s) };
}

/** Seeded normal tensor. */
export function randT(shape: number[], seed: number, std = 1): tf.Tensor {
  return tf.randomNormal(shape, 0, std, 'float32', seed);
}
