/**
 * Fuzz: thousands of malformed calls at every native entry point (straight at the binding, so the
 * C++ validation is what is tested) and at the public TS wrappers. Each malformed call must throw a
 * TypeError or RangeError; the unmodified calls must succeed. The worker process surviving the run
 * is itself the crash check (a segfault fails the file).
 */
import { describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';
import { gatherTokens, gumbelSoftmaxST, gumbelTopK, scatterTokens } from '../../src/index.js';
import { rng } from '../reference/helpers.js';
import { SPECS, pick, type Slot } from './specs.js';

type Mutation = { what: string; apply: (args: unknown[]) => void };

function mutationsFor(slot: Slot, i: number, args: unknown[], r: () => number): Mutation[] {
  const m: Mutation[] = [];
  const set = (what: string, v: unknown) => m.push({ what: `arg${i} ${what}`, apply: (a) => (a[i] = v) });
  switch (slot.kind) {
    case 'f32':
    case 'i32':
    case 'u8': {
      if (args[i] === null || args[i] === undefined) {
        // an optional array left out: giving it in the wrong form must still be an error
        set('Float64Array', new Float64Array(3));
        set('number', 3);
        set('string', 'x');
        break;
      }
      const arr = args[i] as Float32Array | Int32Array | Uint8Array;
      const n = arr.length;
      const Ctor = arr.constructor as new (n: number) => Float32Array | Int32Array | Uint8Array;
      if (!(slot.kind === 'f32' && slot.longerOk)) set('length+1', new Ctor(n + 1));
      if (n > 1) set('length-1', new Ctor(n - 1));
      set('empty', new Ctor(0));
      set('Float64Array', new Float64Array(n));
      // the same array on a SharedArrayBuffer (any input, output or index array)
      {
        const sab = new Ctor(0).constructor as new (b: SharedArrayBuffer) => Float32Array | Int32Array | Uint8Array;
        const c = new sab(new SharedArrayBuffer(arr.byteLength));
        c.set(arr);
        set('on a SharedArrayBuffer', c);
      }
      set(slot.kind === 'f32' ? 'Int32Array' : 'Float32Array', slot.kind === 'f32' ? new Int32Array(n) : new Float32Array(n));
      set('plain array', Array.from({ length: n }, () => 0));
      set('number', 3);
      set('string', 'x');
      if (!slot.optional) {
        set('undefined', undefined);
        set('null', null);
      }
      if (slot.kind === 'i32' && slot.indexRange !== undefined && n > 0) {
        const R = slot.indexRange;
        for (const bad of [-1, R, R + 7, 2147483647, -2147483648]) {
          const pos = Math.floor(r() * n);
          m.push({ what: `arg${i}[${pos}] = ${bad}`, apply: (a) => { const c = Int32Array.from(a[i] as Int32Array); c[pos] = bad; a[i] = c; } });
        }
        if (slot.noDuplicates && n > 1) {
          m.push({ what: `arg${i} duplicate`, apply: (a) => { const c = Int32Array.from(a[i] as Int32Array); c[1] = c[0]!; a[i] = c; } });
        }
      }
      break;
    }
    case 'dim': {
      const d = args[i] as number;
      for (const bad of [0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 53, '2', undefined, null, {}]) set(`dim=${String(bad)}`, bad);
      if (!slot.plusOneMayBeValid) set(`dim=${d + 1}`, d + 1);
      break;
    }
    case 'number':
      for (const bad of slot.bad ?? [NaN, Infinity, '1', undefined, null]) set(`number=${String(bad)}`, bad);
      break;
    case 'custom':
      for (const [what, bad] of slot.bad) set(what, bad);
      break;
    case 'bool':
      for (const bad of [1, 'true', undefined, null]) set(`bool=${String(bad)}`, bad);
      break;
    case 'seed':
      for (const bad of [-1, 1.5, NaN, 2 ** 60, -1n, 1n << 64n, 'x', undefined]) set(`seed=${String(bad)}`, bad);
      break;
    case 'string':
      for (const bad of [1, undefined, null, 'no-such-value']) set(`string=${String(bad)}`, bad);
      break;
    case 'object':
      for (const bad of [1, 'x', []]) set(`object=${String(bad)}`, bad);
      break;
    case 'passthrough':
      break;
  }
  return m;
}

function isCleanError(e: unknown): boolean {
  return e instanceof TypeError || e instanceof RangeError;
}

describe('fuzz: native entry points reject malformed calls cleanly', () => {
  for (const spec of SPECS) {
    it(`${spec.label ?? spec.fn}`, async () => {
      const fn = (native() as unknown as Record<string, (...a: unknown[]) => unknown>)[spec.fn];
      expect(typeof fn).toBe('function');
      const r = rng(spec.fn.length * 977);
      let calls = 0;
      for (let round = 0; round < 12; round++) {
        const call = spec.valid(r);
        // the unmodified call works
        let result: unknown;
        expect(() => (result = fn!(...call.args))).not.toThrow();
        if (spec.async) {
          expect(result).toBeInstanceOf(Promise);
          await result;
        }
        calls++;
        const muts: Mutation[] = [];
        call.slots.forEach((s, i) => muts.push(...mutationsFor(s, i, call.args, r)));
        for (const [o, inp] of call.noAlias ?? []) muts.push({ what: `arg${o} aliases arg${inp}`, apply: (a) => (a[o] = a[inp]) });
        muts.push({ what: 'one argument missing', apply: (a) => a.splice(a.length - (call.optionalLast ? 2 : 1), 1) });
        muts.push({ what: 'one argument extra', apply: (a) => a.push(0) });
        for (const mut of muts) {
          const args = [...call.args];
          mut.apply(args);
          let threw: unknown = undefined;
          try {
            fn!(...args);
          } catch (e) {
            threw = e;
          }
          if (!isCleanError(threw)) throw new Error(`${spec.fn}: ${mut.what}: expected a TypeError or RangeError, got ${threw === undefined ? 'no error' : String(threw)}`);
          expect((threw as Error).message).toMatch(new RegExp(`^${spec.fn}: `));
          calls++;
        }
      }
      expect(calls).toBeGreaterThan(200);
    });
  }
});

describe('fuzz: public wrappers', () => {
  it('random garbage tensors give TypeError/RangeError, never a crash', () => {
    const r = rng(4242);
    const junk = (): unknown => pick(r, [
      undefined, null, 3, 'x', {}, [], { data: new Float32Array(4) }, { shape: [1, 2, 2] },
      { data: new Float32Array(4), shape: [1, 2, 2] }, { data: new Float32Array(4), shape: [1, 2, 3] },
      { data: new Float64Array(4), shape: [1, 2, 2] }, { data: new Int32Array(2), shape: [1, 2] },
      { data: new Int32Array([0, 9]), shape: [1, 2] }, { data: new Int32Array([1, 1]), shape: [1, 2] },
      { data: new Float32Array(0), shape: [0, 2, 2] }, { data: new Float32Array(4), shape: [1, 2, 2.5] },
      { data: new Float32Array(4), shape: [1, -2, -2] }, { data: new Float32Array(4), shape: 'abc' },
    ]);
    let n = 0;
    for (let i = 0; i < 1500; i++) {
      const op = pick(r, ['gather', 'scatter', 'topk', 'softmaxST'] as const);
      const opt = (): unknown => pick(r, [undefined, {}, { seed: -1 }, { seed: 2n ** 70n }, { tau: 0 }, { noise: 'yes' }, { active: junk() }, 7]);
      try {
        if (op === 'gather') gatherTokens(junk() as never, junk() as never);
        else if (op === 'scatter') scatterTokens(junk() as never, junk() as never, junk() as never);
        else if (op === 'topk') gumbelTopK(junk() as never, pick(r, [1, 2, 0, -1, NaN, 'x', 99]) as never, opt() as never);
        else gumbelSoftmaxST(junk() as never, opt() as never);
      } catch (e) {
        if (!isCleanError(e)) throw e;
        n++;
      }
    }
    expect(n).toBeGreaterThan(1000);
  });
});
