/**
 * Fuzz of the native InferenceSession boundary (straight at the binding, so the C++ validation is what
 * is tested): malformed config JSON, config fields, weights and run arguments must each throw a
 * TypeError or RangeError, never crash the worker; the unmodified calls must succeed.
 */
import { describe, expect, it } from 'vitest';
import { modelConfig, randomWeights, weightShapes, type ModelConfig } from '../../src/index.js';
import { native } from '../../src/native.js';
import { rng } from '../reference/helpers.js';

const CFG: ModelConfig = modelConfig('tiny', {
  D: 8, H: 2, L: 3, patch: 4, image: [8, 12], R: 1, Q: 2, Bq: 1, classes: 1, stageBlocks: [1], selectorWidth: 2,
});
const W = randomWeights(CFG, 2, { init: 'test' });
const IMG = new Float32Array(3 * 8 * 12).fill(0.25);
const Native = native().InferenceSession;

function expectCleanError(fn: () => unknown, what: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (!(thrown instanceof TypeError || thrown instanceof RangeError)) throw new Error(`${what}: expected a TypeError/RangeError, got ${String(thrown)}`);
}

describe('InferenceSession native fuzz', () => {
  it('the valid call works', async () => {
    const s = new Native(JSON.stringify(CFG), W, { keep: 0.5 });
    const r = await s.run(IMG, 1, true);
    expect(r.semantic.length).toBe(96);
    s.dispose();
  });

  it('malformed JSON and config fields', () => {
    const r = rng(1);
    const text = JSON.stringify(CFG);
    for (let i = 0; i < 200; i++) {
      const cut = text.slice(0, Math.floor(r() * (text.length - 1)));
      expectCleanError(() => new Native(cut, W, { keep: null }), `truncated JSON '${cut}'`);
    }
    for (const bad of ['', ' ', 'nul', '{"a":}', '{"D":1e999}', '[[[[', '"\\u12"', '{"D": 16} x', '{' .repeat(500)])
      expectCleanError(() => new Native(bad, W, { keep: null }), `JSON '${bad.slice(0, 20)}'`);
    const fields = ['D', 'H', 'L', 'patch', 'R', 'Q', 'Bq', 'classes', 'selectorWidth', 'mlpRatio', 'image', 'stageBlocks'] as const;
    const bads: unknown[] = [-1, 0, 1.5, 'x', null, [], {}, 2 ** 40, [1], [0, 0], [1, 2, 3], [-1, 4], [5]];
    for (const f of fields) {
      for (const bad of bads) {
        const cfg = { ...CFG, [f]: bad } as Record<string, unknown>;
        // some replacements are valid configs (e.g. R = 0 or stageBlocks []); those build or fail on weights
        try {
          new Native(JSON.stringify(cfg), W, { keep: null }).dispose();
        } catch (e) {
          expect(e instanceof TypeError || e instanceof RangeError, `${f} = ${JSON.stringify(bad)}: ${String(e)}`).toBe(true);
        }
      }
    }
  });

  it('malformed weights', () => {
    const r = rng(2);
    const names = weightShapes(CFG).map(([n]) => n);
    const bads: unknown[] = [undefined, null, 3, 'x', new Float64Array(4), new Int32Array(4), new Float32Array(0), []];
    for (let i = 0; i < 120; i++) {
      const name = names[Math.floor(r() * names.length)]!;
      const n = W[name]!.length;
      const bad = i % 3 === 0 ? new Float32Array(n + 1 + Math.floor(r() * 3)) : bads[i % bads.length];
      expectCleanError(() => new Native(JSON.stringify(CFG), { ...W, [name]: bad } as Record<string, Float32Array>, { keep: null }), `weights['${name}']`);
    }
  });

  it('malformed run arguments and options', () => {
    const s = new Native(JSON.stringify(CFG), W, { keep: null });
    const bads: Array<[string, unknown[]]> = [
      ['images Float64Array', [new Float64Array(IMG.length), 1, false]],
      ['images short', [IMG.subarray(1), 1, false]],
      ['images null', [null, 1, false]],
      ['B 0', [IMG, 0, false]],
      ['B 1.5', [IMG, 1.5, false]],
      ['B NaN', [IMG, NaN, false]],
      ['B 2^40', [IMG, 2 ** 40, false]],
      ['perBlock 1', [IMG, 1, 1]],
      ['missing', [IMG, 1]],
    ];
    for (const [what, args] of bads) expectCleanError(() => (s.run as (...a: unknown[]) => unknown)(...args), what);
    for (const opts of [3, 'x', { keep: -1 }, { keep: 'a' }, { keep: Infinity }, { tome: 1 }, { tome: { mode: 'mhsa' } }, { tome: { mode: 'mhsa', mergeRatio: 2 } }])
      expectCleanError(() => new Native(JSON.stringify(CFG), W, opts as never), `options ${JSON.stringify(opts)}`);
    s.dispose();
  });
});
