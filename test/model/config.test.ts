/**
 * ModelConfig (SPEC §2, §8): presets, overrides, validation branches, SPEC §8 tensor shapes.
 */
import { describe, expect, it } from 'vitest';
import { PRESETS, modelConfig, patchGrid, validateConfig, weightShapes } from '../../src/index.js';

describe('modelConfig', () => {
  it('presets are valid and match SPEC §2', () => {
    expect(validateConfig(PRESETS.tiny)).toEqual(PRESETS.tiny);
    expect(modelConfig('small')).toMatchObject({ D: 384, H: 6, L: 12, patch: 16, R: 4, Q: 16, Bq: 4, stageBlocks: [3, 6, 9], selectorWidth: 96 });
    expect(modelConfig('tiny')).toMatchObject({ D: 192, H: 3, L: 12 });
  });

  it('overrides: preset becomes custom, selectorWidth follows D/4, arrays are copies', () => {
    const c = modelConfig('small', { D: 64, H: 4 });
    expect(c.preset).toBe('custom');
    expect(c.selectorWidth).toBe(16);
    expect(modelConfig('small', { D: 64, H: 4, selectorWidth: 5 }).selectorWidth).toBe(5);
    c.stageBlocks.push(11);
    expect(PRESETS.small.stageBlocks).toEqual([3, 6, 9]);
  });

  const base = PRESETS.tiny;
  const bad: Array<[string, unknown, ErrorConstructor, RegExp]> = [
    ['not an object', null, TypeError, /config object/],
    ['D not a number', { ...base, D: '192' }, TypeError, /D to be an integer/],
    ['D zero', { ...base, D: 0 }, RangeError, /D to be an integer >= 1/],
    ['R negative', { ...base, R: -1 }, RangeError, /R to be an integer >= 0/],
    ['D % H', { ...base, H: 5 }, RangeError, /D % H === 0/],
    ['Bq > L', { ...base, Bq: 13 }, RangeError, /Bq <= L/],
    ['image shape', { ...base, image: [256] }, TypeError, /image to be \[height, width\]/],
    ['image multiple of patch', { ...base, image: [256, 250] }, RangeError, /multiples of patch/],
    ['stage >= L', { ...base, stageBlocks: [3, 12] }, RangeError, /stageBlocks\[1\] < L/],
    ['stage not ascending', { ...base, stageBlocks: [6, 3] }, RangeError, /ascending/],
    ['stage zero', { ...base, stageBlocks: [0] }, RangeError, /stageBlocks\[0\]/],
    ['stageBlocks not array', { ...base, stageBlocks: 3 }, TypeError, /stageBlocks to be an array/],
  ];
  for (const [what, c, cls, re] of bad) {
    it(`rejects ${what}`, () => {
      expect(() => validateConfig(c)).toThrow(cls);
      expect(() => validateConfig(c)).toThrow(re);
    });
  }

  it('weightShapes lists the SPEC §8 tensors', () => {
    const c = modelConfig('small');
    const m = new Map(weightShapes(c));
    expect(m.size).toBe(6 + 14 * 12 + 4 + 6 + 10 + 6 * 3);
    expect(m.get('patch_embed.proj.weight')).toEqual([384, 3, 16, 16]);
    expect(m.get('pos_embed')).toEqual([1, 1024, 384]);
    expect(m.get('blocks.11.mlp.fc1.weight')).toEqual([1536, 384]);
    expect(m.get('upscale.1.conv1.weight')).toEqual([384, 384, 2, 2]);
    expect(m.get('upscale.0.conv2.weight')).toEqual([384, 1, 3, 3]);
    expect(m.get('class_head.weight')).toEqual([2, 384]);
    expect(m.get('selectors.2.fc2.weight')).toEqual([2, 96]);
    expect(new Map(weightShapes(modelConfig(c, { R: 0 }))).has('reg_token')).toBe(false);
    expect(patchGrid(modelConfig(c, { image: [64, 48] }))).toEqual({ gh: 4, gw: 3, Np: 12 });
  });
});
