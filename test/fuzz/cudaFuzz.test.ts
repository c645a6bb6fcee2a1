/**
 * Fuzz of the CUDA surface's argument validation (issue 16 item 8): every `cuda*` binding (cudaSpecs.ts) and
 * every function of the public `cuda` namespace gets malformed calls, and each must fail with a TypeError or
 * RangeError whose message starts with the op's name and names the argument, or with the plain
 * "<op>: CUDA is not available: <reason>" Error, never anything else and never a crash (the worker process
 * surviving is the crash check).
 *
 * Runs without a device, which is where it mostly runs: the CPU-only build links stand-ins
 * (native/kernels/cuda_*_none.cc) and a CUDA build without a driver reports the missing device. No DeviceTensor
 * can exist there, so every scalar argument is broken one at a time (the bindings check scalars before
 * DeviceTensors, cuda_args.h), and the DeviceTensor arguments get the non-DeviceTensor values of
 * notDeviceTensors() (the first one's message is checked exactly; later ones cannot be reached). With a device the
 * valid call must succeed, and each DeviceTensor argument is also given a freed tensor, a wrong dtype and a
 * wrong rank.
 */
import { describe, expect, it } from 'vitest';
import { PRUNED_BLOCK_WEIGHT_NAMES, cuda, cudaAvailable } from '../../src/index.js';
import { native, type NativeDeviceTensor } from '../../src/native.js';
import { DeviceTensor } from '../../src/cuda/deviceTensor.js';
import { rng } from '../reference/helpers.js';
import { CUDA_SPECS, notDeviceTensors, type CudaFuzzSpec, type CudaSlot } from './cudaSpecs.js';
import { pick } from './specs.js';

const hasDevice = cudaAvailable().ok;
const binding = native() as unknown as Record<string, (...a: unknown[]) => unknown>;
const isDevGroup = (s: CudaSlot) => s.kind === 'dev' || s.kind === 'weights';

/** Why `e` is not a clean error of `op`, or null when it is. */
function unclean(e: unknown, op: string): string | null {
  if (e === undefined) return 'no error';
  if (!(e instanceof Error)) return `a thrown ${typeof e}: ${String(e)}`;
  if (!e.message.startsWith(`${op}: `)) return `a message without the op's name: ${e.constructor.name}: ${e.message}`;
  if (e instanceof TypeError || e instanceof RangeError) return null;
  if (/^\w+: CUDA is not available: ./.test(e.message) || /^\w+: [\w'[\].]+: DeviceTensor was freed$/.test(e.message)) return null;
  return `an Error that is no TypeError / RangeError: ${e.message}`;
}

function call(fn: string, args: unknown[]): unknown {
  try {
    binding[fn]!(...args);
  } catch (e) {
    return e;
  }
  return undefined;
}

// ---- valid values (DeviceTensors only with a device)
function upload(s: Extract<CudaSlot, { kind: 'dev' }>): NativeDeviceTensor {
  const n = s.shape.reduce((a, b) => a * b, 1), last = s.shape[s.shape.length - 1]!;
  // int32: 0..K-1 in every row (in range, no duplicates); uint8: all active; floats: small values
  const data = s.dtype === 'int32' ? Int32Array.from({ length: n }, (_, i) => i % last) : s.dtype === 'uint8' ? new Uint8Array(n).fill(1) : Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  return native().cudaUpload(data, s.shape, s.dtype);
}
function validArgs(spec: CudaFuzzSpec, owned: NativeDeviceTensor[]): unknown[] {
  return spec.slots.map((s) => {
    if (s.kind === 'scalar') return s.valid;
    if (s.kind === 'host') return s.valid();
    if (!hasDevice) return notDeviceTensors()[6]![1]; // a look-alike object: no DeviceTensor can exist
    if (s.kind === 'dev') return own(owned, upload(s));
    const w: Record<string, NativeDeviceTensor> = {};
    const shapes: Record<string, number[]> = { 'attn.qkv.weight': [3 * s.D, s.D], 'attn.qkv.bias': [3 * s.D], 'attn.proj.weight': [s.D, s.D], 'mlp.fc1.weight': [s.F, s.D], 'mlp.fc1.bias': [s.F], 'mlp.fc2.weight': [s.D, s.F] };
    for (const name of PRUNED_BLOCK_WEIGHT_NAMES) w[name] = own(owned, upload({ name, kind: 'dev', dtype: s.dtype, shape: shapes[name] ?? [s.D] }));
    return w;
  });
}
function own(owned: NativeDeviceTensor[], t: NativeDeviceTensor): NativeDeviceTensor {
  owned.push(t);
  return t;
}
function freeAll(v: unknown, seen = new Set<unknown>()): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (typeof (v as { free?: unknown }).free === 'function' && 'freed' in v) (v as NativeDeviceTensor).free();
  else for (const x of Object.values(v)) freeAll(x, seen);
}

// ---- the malformed calls of one argument
function badValues(spec: CudaFuzzSpec, i: number, valid: unknown[], owned: NativeDeviceTensor[]): Array<[string, unknown]> {
  const s = spec.slots[i]!;
  if (s.kind === 'scalar' || s.kind === 'host') return s.bad.map((b) => [String(b), b]);
  const out = notDeviceTensors();
  if (s.kind === 'dev' && !s.optional) out.push(['undefined', undefined], ['null', null]);
  if (s.kind === 'weights') {
    out.push(['null', null], ['{}', {}], ['Float32Array', new Float32Array(3)]);
    if (hasDevice) {
      const w = valid[i] as Record<string, unknown>;
      out.push(['a DeviceTensor', own(owned, upload({ name: 'w', kind: 'dev', dtype: 'float32', shape: [4] }))], ['ls2.gamma a Float32Array', { ...w, 'ls2.gamma': new Float32Array(4) }]);
    }
  }
  if (s.kind === 'dev' && hasDevice) {
    const freed = own(owned, upload(s));
    freed.free();
    out.push(['a freed DeviceTensor', freed]);
    if (spec.fn !== 'cudaCopy') { // cudaCopy takes any dtype and rank of the same byte size
      out.push(['wrong dtype', own(owned, upload({ ...s, dtype: s.dtype === 'int32' ? 'float32' : 'int32' }))]);
      out.push(['one more axis', own(owned, upload({ ...s, shape: [...s.shape, 2] }))]);
    }
    out.push(['first axis + 1', own(owned, upload({ ...s, shape: [s.shape[0]! + 1, ...s.shape.slice(1)] }))]);
  }
  return out;
}

describe('fuzz: cuda* bindings reject malformed calls cleanly', () => {
  it('covers every cuda* export of the addon', () => {
    const exported = Object.keys(binding).filter((k) => /^cuda[A-Z]/.test(k) && k !== 'cudaAvailable').sort();
    expect(CUDA_SPECS.map((s) => s.fn).sort()).toEqual(exported);
  });

  for (const spec of CUDA_SPECS) {
    it(spec.fn, () => {
      const owned: NativeDeviceTensor[] = [];
      try {
        const valid = validArgs(spec, owned);
        const firstDev = spec.slots.find(isDevGroup)?.name;
        // the valid call: runs with a device; without one it names the first DeviceTensor or the missing device
        const e0 = call(spec.fn, valid);
        if (hasDevice) {
          if (spec.fn !== 'cudaTimerStop') expect(e0).toBeUndefined();
        } else if (firstDev !== undefined) {
          expect(unclean(e0, spec.fn)).toBeNull();
          expect((e0 as Error).message).toMatch(new RegExp(`^${spec.fn}: expected ${firstDev} to be a DeviceTensor, received object$`));
        } else {
          expect((e0 as Error).message).toMatch(new RegExp(`^${spec.fn}: CUDA is not available: .`));
        }
        if (hasDevice) native().cudaSynchronize();
        let calls = 0;
        spec.slots.forEach((s, i) => {
          for (const [what, bad] of badValues(spec, i, valid, owned)) {
            const args = [...valid];
            args[i] = bad;
            const e = call(spec.fn, args);
            const why = unclean(e, spec.fn);
            if (why !== null) throw new Error(`${spec.fn}: ${s.name} = ${what}: expected a clean error, got ${why}`);
            const msg = (e as Error).message;
            // scalars are checked first: the message names the broken one; DeviceTensors in order
            const named = !isDevGroup(s) || hasDevice ? s.name : firstDev!;
            const names = (n: string) => msg.includes(` ${n} `) || msg.includes(` ${n}[`) || msg.includes(`: ${n}:`) || msg.includes(` ${n}'`) || msg.includes(`${n}[`);
            const ok = !isDevGroup(s) || !hasDevice ? names(named) : spec.slots.some((x) => names(x.name));
            if (!ok) throw new Error(`${spec.fn}: ${s.name} = ${what}: the message does not name ${named}: ${msg}`);
            calls++;
          }
        });
        // argument count
        for (const args of [...(valid.length > 0 ? [valid.slice(0, -1)] : []), [...valid, 0], [...valid, 0, 0]]) {
          if (spec.fn === 'cudaUpload' && args.length === 2) continue; // dtype is optional
          const e = call(spec.fn, args);
          expect(unclean(e, spec.fn)).toBeNull();
          expect(e).toBeInstanceOf(TypeError);
          calls++;
        }
        expect(calls).toBeGreaterThan(spec.slots.length === 0 ? 1 : 8);
      } finally {
        if (hasDevice) native().cudaSynchronize();
        for (const t of owned) t.free();
      }
    });
  }

  it('cudaAvailable never throws (also given arguments); DeviceTensor is not constructible from JS', () => {
    for (const args of [[], [1], ['x', {}]]) {
      const r = binding.cudaAvailable!(...args) as { ok: unknown; reason: unknown };
      expect(typeof r.ok).toBe('boolean');
      expect(typeof r.reason).toBe('string');
    }
    const Ctor = (native() as unknown as { DeviceTensor: new (...a: unknown[]) => unknown }).DeviceTensor;
    for (const args of [[], [{}], [1], [null]]) expect(() => new Ctor(...args)).toThrow(/^DeviceTensor: not constructible from JS/);
    expect(() => (Ctor as unknown as () => unknown)()).toThrow(TypeError);
  });
});

describe('fuzz: the public cuda namespace', () => {
  it('random garbage gives TypeError / RangeError naming the op, or "CUDA is not available", never a crash', () => {
    const r = rng(31337);
    const fake = DeviceTensor.fromNative({ shape: [2, 3], dtype: 'float32' } as unknown as NativeDeviceTensor); // a wrapper around no tensor
    const junk = (): unknown => pick(r, [undefined, null, 3, -1, 0.5, NaN, 'x', true, {}, [], 2n, fake, new Float32Array(4), { data: new Float32Array(6), shape: [2, 3] },
      { data: new Int32Array(2), shape: [1, 2] }, [2, 3], 'float32', 'bfloat16', () => 0, Symbol('s')]);
    const opts = (): unknown => pick(r, [undefined, null, 7, 'o', {}, { eps: -1 }, { eps: 1e-50 }, { tau: 0 }, { tau: 1e-50 }, { seed: -1 }, { seed: 2n ** 70n }, { noise: 'yes' },
      { active: junk() }, { inPlace: 1 }, { dbase: 'no' }, { heads: 0 }, { heads: 2, lnEps: 1e-50 }, { heads: 2, lnEps: NaN }, { heads: 1.5 }, { heads: 2, inPlace: 'y' },
      { outDtype: 'int32' }, { rowMax: junk() }, { alpha: Infinity }, { activation: 'swish' }, { bias: junk() }, { dtype: 'float64' }, { dtype: 3 },
      { warmup: -1 }, { reps: 0 }, { iters: 1.5 }]);
    const ops: Array<[string, string, () => unknown]> = [
      ['gatherTokens', 'cudaGatherTokens', () => cuda.gatherTokens(junk() as never, junk() as never)],
      ['gatherTokensBackward', 'cudaGatherTokensBackward', () => cuda.gatherTokensBackward(junk() as never, junk() as never, junk() as never)],
      ['scatterTokens', 'cudaScatterTokens', () => cuda.scatterTokens(junk() as never, junk() as never, junk() as never, opts() as never)],
      ['scatterTokensBackward', 'cudaScatterTokensBackward', () => cuda.scatterTokensBackward(junk() as never, junk() as never, opts() as never)],
      ['gumbelTopK', 'cudaGumbelTopK', () => cuda.gumbelTopK(junk() as never, junk() as never, opts() as never)],
      ['gumbelSoftmaxST', 'cudaGumbelSoftmaxST', () => cuda.gumbelSoftmaxST(junk() as never, opts() as never)],
      ['gumbelSoftmaxSTBackward', 'cudaGumbelSoftmaxSTBackward', () => cuda.gumbelSoftmaxSTBackward(junk() as never, junk() as never, opts() as never)],
      ['policyAttention', 'cudaPolicyAttention', () => cuda.policyAttention(junk() as never, junk() as never, junk() as never, junk() as never, opts() as never)],
      ['policyAttentionBackward', 'cudaPolicyAttentionBackward', () => cuda.policyAttentionBackward(junk() as never, junk() as never, junk() as never, junk() as never, junk() as never, opts() as never)],
      ['linear', 'cudaLinear', () => cuda.linear(junk() as never, junk() as never, opts() as never)],
      ['prunedBlock', 'cudaPrunedBlock', () => cuda.prunedBlock(junk() as never, junk() as never, junk() as never, opts() as never)],
      ['upload', 'cudaUpload', () => cuda.upload(junk() as never, opts() as never)],
      ['zeros', 'cudaZeros', () => cuda.zeros(junk() as never, junk() as never)],
      ['copy', 'cudaCopy', () => cuda.copy(junk() as never, junk() as never)],
      ['uploadBlockWeights', 'uploadBlockWeights', () => cuda.uploadBlockWeights(junk() as never, opts() as never)],
      ['freeBlockWeights', 'freeBlockWeights', () => cuda.freeBlockWeights(junk() as never)],
      ['cudaTime', 'cudaTime', () => cuda.cudaTime(junk() as never, opts() as never)],
    ];
    let n = 0;
    for (let i = 0; i < 3000; i++) {
      const [name, op, f] = ops[i % ops.length]!;
      let threw: unknown;
      try {
        const v = f();
        freeAll(v);
      } catch (e) {
        threw = e;
      }
      if (threw === undefined) continue; // a junk pick can be valid (e.g. zeros([2,3], 'float32') with a device)
      // uploadBlockWeights reports a bad weight itself and a failed upload as cudaUpload's error
      const why = unclean(threw, op) === null || (name === 'uploadBlockWeights' && unclean(threw, 'cudaUpload') === null) ? null : unclean(threw, op);
      if (why !== null) throw new Error(`cuda.${name}: expected a clean error, got ${why}`);
      n++;
    }
    expect(n).toBeGreaterThan(hasDevice ? 1000 : 2500);
  });
});
