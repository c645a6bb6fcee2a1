/**
 * selectBackend (src/tfjs/backend/select.ts): tfjs-node(-gpu) are optional peers that are not installed
 * here, so the choice falls back to the embedded cpu backend with the native kernels, and says why.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { backendInfo, nativeKernelNames, selectBackend, useNativeBackend } from '../../src/tfjs/index.js';

afterAll(() => { useNativeBackend(false); });

describe('selectBackend', () => {
  it('falls back to cpu+native and reports each skipped candidate', async () => {
    tf.env().set('IS_NODE', true);
    const choice = await selectBackend();
    expect(choice.provider).toBe('cpu+native');
    expect(choice.backend).toBe('cpu');
    expect(choice.nativeKernels).toEqual(nativeKernelNames());
    expect(choice.attempts.map((a) => a.candidate)).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', 'cpu+native']);
    for (const a of choice.attempts.slice(0, 2)) {
      expect(a.ok).toBe(false);
      expect(a.reason).toBeTruthy();
    }
    expect(backendInfo()).toMatchObject({ backend: 'cpu', native: true });
  });

  it('uses the importer hook and the prefer list', async () => {
    const seen: string[] = [];
    const choice = await selectBackend({ prefer: ['fake-a'], importer: async (n) => { seen.push(n); throw new Error('not here'); } });
    expect(seen).toEqual(['fake-a']);
    expect(choice.attempts[0]).toEqual({ candidate: 'fake-a', ok: false, reason: 'not here' });
    expect(choice.provider).toBe('cpu+native');
  });
});
