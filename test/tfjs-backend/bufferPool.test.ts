/**
 * The cpu backend's Float32Array pool (src/bufferPool.ts, src/tfjs/backend/poolHooks.ts): a disposed kernel
 * output's array serves the next output of its length, and an array is never reused while anything can still see
 * it: a live tensor (also one sharing its storage by reshape), a dataSync() / data() result, a user's array given
 * to tf.tensor, a second tensor stored on it or on a view of it, a plain typed-array op's result. Switching off
 * (or on again) forgets every array; maxBytes caps the pool; poison fills taken arrays with NaN; bad options
 * are errors naming the option.
 */
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gelu } from '../../src/index.js';
import { bufferPoolActive, bufferPoolStats, resetBufferPoolStats, setBufferPool, tfops, useNativeBackend } from '../../src/tfjs/index.js';
import { pooledScope, takeF32, takeF32Zeroed } from '../../src/bufferPool.js';
import { cpuReady, randT } from './helpers.js';

beforeAll(async () => {
  await cpuReady();
  useNativeBackend();
});
afterEach(() => {
  setBufferPool(true);
});

function cpu(): MathBackendCPU {
  const b = tf.backend();
  if (!(b instanceof MathBackendCPU)) throw new Error('expected the cpu backend');
  return b;
}
/** The backend's own storage of t (no copy, not through readSync). */
function storage(t: tf.Tensor): Float32Array {
  const v = cpu().data.get(t.dataId).values;
  if (!(v instanceof Float32Array)) throw new Error('expected float32 storage');
  return v;
}
/** Many native kernel outputs of n = 64*64 elements, each disposed: a reused array would be overwritten. */
function churn(a: tf.Tensor, b: tf.Tensor, rounds = 20): Float32Array[] {
  const seen: Float32Array[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = i % 2 === 0 ? tf.add(a, b) : tf.mul(a, b);
    seen.push(storage(t));
    t.dispose();
  }
  return seen;
}

describe('buffer pool', () => {
  it('a disposed output serves the next output of its length, and the result is right', () => {
    setBufferPool(true);
    expect(bufferPoolActive()).toBe(true);
    const a = randT([64, 64], 1), b = randT([64, 64], 2);
    const y = tf.add(a, b);
    const yv = storage(y);
    y.dispose();
    resetBufferPoolStats();
    const z = tf.mul(a, b);
    expect(storage(z)).toBe(yv);
    expect(bufferPoolStats().hits).toBe(1);
    const av = a.dataSync(), bv = b.dataSync(), zv = z.dataSync();
    for (let i = 0; i < zv.length; i++) expect(zv[i]).toBe(Math.fround(av[i]! * bv[i]!));
    tf.dispose([a, b, z]);
  });

  it('a kept tensor (and a reshape sharing its storage) is never overwritten', () => {
    setBufferPool(true);
    const a = randT([64, 64], 3), b = randT([64, 64], 4);
    const kept = tf.add(a, b);
    const keptV = storage(kept), want = Float32Array.from(keptV);
    const r = kept.reshape([4096]);
    const seen = churn(a, b);
    expect(seen).not.toContain(keptV);
    expect(storage(kept)).toEqual(want);
    kept.dispose(); // r still holds the storage
    const seen2 = churn(a, b);
    expect(seen2).not.toContain(keptV);
    expect(storage(r)).toEqual(want);
    tf.dispose([a, b, r]);
  });

  it('arrays handed out by dataSync() / data() are never reused', async () => {
    setBufferPool(true);
    const a = randT([64, 64], 5), b = randT([64, 64], 6);
    const y1 = tf.add(a, b), y2 = tf.sub(a, b);
    const v1 = y1.dataSync() as Float32Array, v2 = (await y2.data()) as Float32Array;
    const w1 = Float32Array.from(v1), w2 = Float32Array.from(v2);
    y1.dispose();
    y2.dispose();
    const seen = churn(a, b);
    expect(seen).not.toContain(v1);
    expect(seen).not.toContain(v2);
    expect(v1).toEqual(w1);
    expect(v2).toEqual(w2);
    tf.dispose([a, b]);
  });

  it('a user array given to tf.tensor is never pooled', () => {
    setBufferPool(true, { minFloats: 1 });
    const a = randT([64, 64], 7), b = randT([64, 64], 8);
    const u = Float32Array.from({ length: 4096 }, (_, i) => i);
    const t = tf.tensor(u, [64, 64]);
    expect(storage(t)).toBe(u); // TF.js adopts it without a copy
    t.dispose();
    expect(churn(a, b)).not.toContain(u);
    expect(u[4095]).toBe(4095);
    tf.dispose([a, b]);
  });

  it('storage stored again by a second tensor (the same array, or a view of it) is never reused', () => {
    setBufferPool(true);
    const a = randT([64, 64], 9), b = randT([64, 64], 10);
    const be = cpu();
    for (const view of [false, true]) {
      const y = tf.add(a, b);
      const yv = storage(y);
      const shared = view ? yv.subarray(0, 2048) : yv;
      const info = be.makeTensorInfo(view ? [2048] : [4096], 'float32', shared);
      const other = tf.engine().makeTensorFromTensorInfo(info);
      const want = Float32Array.from(shared);
      y.dispose();
      const seen = churn(a, b);
      expect(seen, view ? 'view' : 'same array').not.toContain(yv);
      expect(storage(other)).toEqual(want);
      other.dispose();
      expect(churn(a, b)).not.toContain(yv);
    }
    tf.dispose([a, b]);
  });

  it("a plain typed-array op's result (outside a kernel) is never pooled", () => {
    setBufferPool(true);
    const x = Float32Array.from({ length: 4096 }, (_, i) => (i % 13) - 6);
    const r = gelu({ data: x, shape: [64, 64] });
    const want = Float32Array.from(r.data);
    const t = tf.tensor(r.data, [64, 64]);
    t.dispose();
    for (let i = 0; i < 10; i++) tf.tidy(() => tfops.gelu(tf.tensor(x, [64, 64]))).dispose();
    expect(r.data).toEqual(want);
    expect(takeF32(4096)).not.toBe(r.data); // outside a kernel: always fresh
  });

  it('off: fresh arrays; on again: no array from before is reused', () => {
    const a = randT([64, 64], 11), b = randT([64, 64], 12);
    setBufferPool(false);
    expect(bufferPoolActive()).toBe(false);
    const y = tf.add(a, b), yv = storage(y);
    y.dispose();
    expect(churn(a, b)).not.toContain(yv);
    setBufferPool(true);
    const y2 = tf.add(a, b), y2v = storage(y2);
    y2.dispose();
    setBufferPool(true); // forgets y2's array
    expect(churn(a, b)).not.toContain(y2v);
    // read while the pool was off (no hook saw it), disposed once it is on again: still never reused
    const y3 = tf.add(a, b);
    setBufferPool(false);
    const v3 = y3.dataSync() as Float32Array, w3 = Float32Array.from(v3);
    setBufferPool(true);
    y3.dispose();
    expect(churn(a, b)).not.toContain(v3);
    expect(v3).toEqual(w3);
    tf.dispose([a, b]);
  });

  it('maxBytes caps the bytes held, dropping the least recently used length first', () => {
    setBufferPool(true, { maxBytes: 3 * 4096 * 4 });
    const small = [randT([64, 64], 13), randT([64, 64], 14)], big = [randT([64, 128], 15), randT([64, 128], 16)];
    const s1 = tf.add(small[0]!, small[1]!), b1 = tf.add(big[0]!, big[1]!), b2 = tf.mul(big[0]!, big[1]!);
    const sv = storage(s1), bv1 = storage(b1), bv2 = storage(b2);
    resetBufferPoolStats();
    s1.dispose(); // pool: 1 x 4096
    b1.dispose(); // + 8192 = 3 * 4096: full
    expect(bufferPoolStats().pooledBytes).toBe(3 * 4096 * 4);
    b2.dispose(); // needs 8192 more: the 4096 (least recently used) and then the older 8192 go
    const st = bufferPoolStats();
    expect(st.evicted).toBe(2);
    expect(st.pooledBytes).toBe(8192 * 4);
    const n1 = tf.add(small[0]!, small[1]!), n2 = tf.add(big[0]!, big[1]!);
    expect(storage(n1)).not.toBe(sv);
    expect(storage(n2)).toBe(bv2);
    expect(storage(n2)).not.toBe(bv1);
    tf.dispose([...small, ...big, n1, n2]);
  });

  it('poison fills every taken array with NaN; takeF32Zeroed zero-fills', () => {
    setBufferPool(true, { poison: true });
    pooledScope(() => {
      const p = takeF32(2048);
      expect(p.every((v) => Number.isNaN(v))).toBe(true);
      expect(takeF32Zeroed(2048).every((v) => v === 0)).toBe(true);
    });
  });

  it('bad options are errors naming the option', () => {
    expect(() => setBufferPool('yes' as unknown as boolean)).toThrow(/setBufferPool: expected on to be a boolean/);
    expect(() => setBufferPool(true, { maxBytes: -1 })).toThrow(/setBufferPool: expected opts.maxBytes/);
    expect(() => setBufferPool(true, { minFloats: 0.5 })).toThrow(/setBufferPool: expected opts.minFloats/);
    expect(() => setBufferPool(true, null as unknown as object)).toThrow(/setBufferPool: expected opts to be an object/);
  });
});
