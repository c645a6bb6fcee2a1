/**
 * CUDA runtime: DeviceTensor (upload, download, free), cudaTime, and the error paths.
 * The no-device block runs on every machine without a GPU (CI): every call that needs a device
 * throws a plain Error carrying the reason, never a crash; argument-kind checks come first and
 * throw TypeError/RangeError naming the argument, with or without a device.
 */
import { describe, expect, it } from 'vitest';
import { cuda, cudaAvailable, DeviceTensor, gatherTokens, gumbelSoftmaxST, gumbelTopK, info, scatterTokens } from '../../src/index.js';
import { native } from '../../src/native.js';
import { describeGpu, gpu, roundBf16 } from './gpu.js';

const f32 = (shape: number[], fill = (i: number) => Math.sin(i + 1)) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float32Array.from({ length: n }, (_, i) => fill(i)), shape };
};

describe('cuda availability', () => {
  it('cudaAvailable() never throws and explains a missing device', () => {
    const a = cudaAvailable();
    expect(typeof a.ok).toBe('boolean');
    if (!a.ok) expect(a.reason).toMatch(/\w/);
    else expect(a.reason).toBe('');
  });

  it('info().cuda reports devices with name, sm, multiprocessors and memory, or the reason there are none', () => {
    const c = info().cuda;
    if (c.devices.length === 0) expect(c.error).toMatch(/\w/);
    for (const d of c.devices) {
      expect(d.name).toMatch(/\w/);
      expect(d.sm).toBeGreaterThanOrEqual(50);
      expect(d.multiprocessors).toBeGreaterThan(0);
      expect(d.totalMemory).toBeGreaterThan(0);
    }
  });
});

describe('cuda argument checks (before any device work)', () => {
  it('DeviceTensor cannot be constructed from JS', () => {
    const ctor = native().DeviceTensor;
    expect(() => Reflect.construct(ctor, [])).toThrow(TypeError);
    expect(() => Reflect.construct(ctor, [{}])).toThrow(/cudaUpload/);
  });

  it('upload: wrong kinds are TypeErrors, bad shapes RangeErrors, naming the argument', () => {
    expect(() => cuda.upload({ data: new Float64Array(4), shape: [4] } as never)).toThrow(TypeError);
    expect(() => cuda.upload({ data: new Float64Array(4), shape: [4] } as never)).toThrow(/t\.data/);
    expect(() => cuda.upload(null as never)).toThrow(/expected t to be a tensor/);
    expect(() => cuda.upload({ data: new Float32Array(4), shape: [2, 3] })).toThrow(RangeError);
    expect(() => cuda.upload({ data: new Float32Array(4), shape: [0, 4] })).toThrow(/shape\[0\]/);
    // the binding re-checks when called directly
    expect(() => native().cudaUpload(new Float64Array(2) as never, [2])).toThrow(TypeError);
    expect(() => native().cudaUpload(new Float32Array(2), 'x' as never)).toThrow(/shape/);
    expect(() => native().cudaUpload(new Int32Array(2), [2], 'float32')).toThrow(/dtype/);
    expect(() => native().cudaUpload(new Float32Array(2), [2], 'float16' as never)).toThrow(RangeError);
    expect(() => native().cudaUpload(new Float32Array(2), [3])).toThrow(RangeError);
  });

  it('cuda ops: non-DeviceTensor arguments are TypeErrors naming the argument', () => {
    const x = new Float32Array(8);
    expect(() => cuda.gatherTokens(x as never, x as never)).toThrow(/cudaGatherTokens: expected x to be a DeviceTensor/);
    expect(() => native().cudaGatherTokens({ shape: [1], dtype: 'float32' } as never, x as never)).toThrow(/expected x to be a DeviceTensor, received object/);
    expect(() => native().cudaScatterTokens(x as never, x as never, x as never, false)).toThrow(TypeError);
    expect(() => cuda.scatterTokensBackward(x as never, x as never)).toThrow(/dout/);
    expect(() => cuda.gumbelTopK(x as never, 1)).toThrow(/logits/);
    expect(() => native().cudaGumbelTopK(x as never, null, 1, 0, true)).toThrow(TypeError);
    expect(() => cuda.gumbelSoftmaxST(x as never)).toThrow(/logits/);
    expect(() => cuda.gumbelSoftmaxSTBackward(x as never, x as never)).toThrow(/dhard/);
    expect(() => cuda.gatherTokensBackward(x as never, x as never, 0)).toThrow(RangeError);
    expect(() => cuda.copy(x as never, x as never)).toThrow(/dst/);
    expect(() => (native().cudaGatherTokens as (...a: unknown[]) => unknown)(x)).toThrow(/expected 2 arguments/);
  });

  it('host ops: device must be cpu or cuda', () => {
    const x = f32([1, 3, 2]), idx = { data: new Int32Array([0, 2]), shape: [1, 2] };
    expect(() => gatherTokens(x, idx, undefined, { device: 'gpu' as never })).toThrow(RangeError);
    expect(() => gatherTokens(x, idx, undefined, { device: 1 as never })).toThrow(TypeError);
    expect(() => gumbelTopK(f32([1, 4]), 2, { device: 'tpu' as never })).toThrow(/device/);
    expect(gatherTokens(x, idx, undefined, { device: 'cpu' }).data).toEqual(Float32Array.from([x.data[0]!, x.data[1]!, x.data[4]!, x.data[5]!]));
  });
});

describe.skipIf(gpu.ok)('without a CUDA device', () => {
  const reason = gpu.reason;
  const expectNoDevice = (fn: () => unknown, op: string) => {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(TypeError);
    expect((err as Error).message).toContain(`${op}: CUDA is not available`);
    expect((err as Error).message).toContain(reason);
  };

  it('upload, zeros, synchronize and the timer throw an Error with the reason', () => {
    expectNoDevice(() => cuda.upload(f32([2, 2])), 'cudaUpload');
    expectNoDevice(() => cuda.upload({ data: new Int32Array(3), shape: [3] }), 'cudaUpload');
    expectNoDevice(() => cuda.upload(f32([2]), { dtype: 'bfloat16' }), 'cudaUpload');
    expectNoDevice(() => cuda.zeros([4], 'float32'), 'cudaZeros');
    expectNoDevice(() => cuda.synchronize(), 'cudaSynchronize');
    expectNoDevice(() => native().cudaTimerStart(), 'cudaTimerStart');
    expectNoDevice(() => native().cudaTimerStop(), 'cudaTimerStop');
    expectNoDevice(() => native().cudaFlushL2(), 'cudaFlushL2');
    expectNoDevice(() => cuda.cudaTime(() => undefined), 'cudaTime'); // named after the op the user called
  });

  it("host ops with device: 'cuda' throw an Error with the reason (after validating their inputs)", () => {
    const x = f32([1, 3, 2]), idx = { data: new Int32Array([0, 2]), shape: [1, 2] };
    expectNoDevice(() => gatherTokens(x, idx, undefined, { device: 'cuda' }), 'cudaUpload');
    expectNoDevice(() => scatterTokens(x, idx, f32([1, 2, 2]), undefined, { device: 'cuda' }), 'cudaUpload');
    expectNoDevice(() => gumbelTopK(f32([1, 4]), 2, { device: 'cuda', seed: 1 }), 'cudaUpload');
    expectNoDevice(() => gumbelSoftmaxST(f32([1, 4, 2]), { device: 'cuda' }), 'cudaUpload');
    // input validation still comes first
    expect(() => gatherTokens(x, { data: new Int32Array([0, 3]), shape: [1, 2] }, undefined, { device: 'cuda' })).toThrow(RangeError);
  });
});

describeGpu('DeviceTensor on the device', () => {
  it('round-trips float32, int32 and uint8 exactly, bfloat16 with round-to-nearest-even', async () => {
    const x = f32([3, 5, 7], (i) => Math.sin(i) * 1e3);
    using t = cuda.upload(x);
    expect(t.shape).toEqual([3, 5, 7]);
    expect(t.dtype).toBe('float32');
    expect(t.bytes).toBe(3 * 5 * 7 * 4);
    expect(t.downloadSync().data).toEqual(x.data);
    expect((await t.download()).data).toEqual(x.data);

    const b = cuda.upload(x, { dtype: 'bfloat16' });
    expect(b.bytes).toBe(3 * 5 * 7 * 2);
    expect(b.downloadSync().data).toEqual(roundBf16(x.data));
    b.free();

    const special = Float32Array.from([0, -0, Infinity, -Infinity, NaN, 3.4e38, 1e-40, 1.00390625, 1.01171875]);
    using s = cuda.upload({ data: special, shape: [special.length] }, { dtype: 'bfloat16' });
    const back = s.downloadSync().data as Float32Array;
    const want = roundBf16(special);
    for (let i = 0; i < special.length; i++) expect(Object.is(back[i], want[i]) || (Number.isNaN(back[i]) && Number.isNaN(want[i]))).toBe(true);

    const i32 = Int32Array.from({ length: 33 }, (_, i) => i * 7919 - 100000);
    using ti = cuda.upload({ data: i32, shape: [33] });
    expect(ti.dtype).toBe('int32');
    expect(ti.downloadSync().data).toEqual(i32);
    const u8 = Uint8Array.from({ length: 17 }, (_, i) => (i * 37) & 255);
    using tu = cuda.upload({ data: u8, shape: [17] });
    expect((await tu.download()).data).toEqual(u8);
  });

  it('free is idempotent; later use throws "DeviceTensor was freed"', async () => {
    const t = cuda.upload(f32([4]));
    t.free();
    t.free();
    expect(t.freed).toBe(true);
    expect(() => t.downloadSync()).toThrow(/DeviceTensor was freed/);
    await expect(t.download()).rejects.toThrow(/DeviceTensor was freed/);
    expect(() => cuda.gatherTokens(t, t)).toThrow(/x: DeviceTensor was freed/);
  });

  it('zeros, copy, synchronize, cudaTime', () => {
    using z = cuda.zeros([2, 3], 'bfloat16');
    expect(z.downloadSync().data).toEqual(new Float32Array(6));
    using a = cuda.upload(f32([6]));
    using c = cuda.zeros([6], 'float32');
    cuda.copy(c, a);
    cuda.synchronize();
    expect(c.downloadSync().data).toEqual(a.downloadSync().data);
    const t = cuda.cudaTime(() => { cuda.copy(c, a); }, { reps: 3, warmup: 1, iters: 2 });
    expect(t.medianMs).toBeGreaterThanOrEqual(0);
    expect(t.samplesMs).toHaveLength(3);
    const f = cuda.cudaTime(() => { cuda.copy(c, a); }, { reps: 2, flushL2: true });
    expect(f.samplesMs).toHaveLength(2);
  });

  it('an out-of-memory allocation is an Error, not a crash, and the runtime keeps working', () => {
    // 2^50 bytes: a valid shape (numel < 2^53) that no device has
    expect(() => cuda.zeros([2 ** 20, 2 ** 20, 1024], 'uint8')).toThrow(/cudaMalloc: cudaErrorMemoryAllocation: out of device memory allocating 1125899906842624 bytes/);
    using ok = cuda.upload(f32([3]));
    expect(ok.downloadSync().data.length).toBe(3);
  });
});
