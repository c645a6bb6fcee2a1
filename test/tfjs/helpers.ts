/**
 * Shared pieces of the TF.js integration tests: the backends under test (the pure-JS `cpu` backend, which
 * takes the zero-copy path, and `wasm`, which takes the generic readSync/write path), a sampled float32
 * central-difference gradient of a scalar TF.js function, and a leak check.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'vitest';

export const BACKENDS = ['cpu', 'wasm'] as const;

export async function useBackend(name: string): Promise<void> {
  // Loud when a backend cannot start (setBackend only returns false).
  if (!(await tf.setBackend(name))) throw new Error(`TF.js backend ${name} failed to initialise`);
  await tf.ready();
  expect(tf.getBackend()).toBe(name);
}

/** Evenly spread sample of `count` positions in [0, n). */
export function samplePositions(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor(((i + 0.5) * n) / count));
}

/**
 * Central differences of the scalar `f(x)` in float32 through TF.js itself, at the given positions
 * (4-point stencil: float32 round-off limits h, so the O(h^4) truncation keeps h large).
 */
export function tfFiniteDiff(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, positions: number[], h = 1e-2): Float64Array {
  const base = x.dataSync().slice();
  const g = new Float64Array(base.length);
  const at = (i: number, d: number): number =>
    tf.tidy(() => {
      const v = base.slice();
      v[i] = v[i]! + d;
      return f(tf.tensor(v, x.shape, 'float32')).dataSync()[0]!;
    });
  for (const i of positions) g[i] = (8 * (at(i, h) - at(i, -h)) - (at(i, 2 * h) - at(i, -2 * h))) / (12 * h);
  return g;
}

/** `values` at the given positions, as a plain array (to compare against a sampled finite difference). */
export function pick(values: ArrayLike<number>, positions: number[]): number[] {
  return positions.map((i) => values[i]!);
}

/** Runs `step` a few times and expects the live tensor count not to grow after the first run. */
export function expectNoLeak(step: () => void, runs = 3): void {
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < runs; i++) step();
  expect(tf.memory().numTensors).toBe(before);
}
