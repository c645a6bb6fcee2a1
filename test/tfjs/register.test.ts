/**
 * Registration and validation of the TF.js integration: importing reg4pru registers nothing; the first
 * tfops call registers the default backends (cpu, wasm, tensorflow); registerReg4pruKernels is idempotent
 * and takes any backend name (a second cpu backend under another name works); an unserved backend gets a
 * clear error; every op rejects wrong dtypes / ranks / non-tensors with a TypeError naming the argument and
 * bad shapes / indices / options with a RangeError naming it, without leaking tensors.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isReg4pruRegistered, registerReg4pruKernels, tfops, unregisterReg4pruKernels } from '../../src/tfjs/index.js';
import { randomBlockWeights } from '../reference/prunedBlock.js';
import { PRUNED_BLOCK_WEIGHT_NAMES, type PrunedBlockWeightName } from '../../src/index.js';
import { useBackend } from './helpers.js';

describe('registration', () => {
  it('importing reg4pru registers no kernel and no gradient', () => {
    for (const name of tfops.KERNEL_NAMES) {
      expect(tf.getKernel(name, 'cpu')).toBeUndefined();
      expect(tf.getGradient(name)).toBeUndefined();
    }
  });

  it('eighteen kernels, all prefixed Reg4pru', () => {
    expect([...tfops.KERNEL_NAMES].sort()).toEqual(
      ['GatherTokens', 'GatherTokensGrad', 'ScatterTokens', 'ScatterTokensGrad', 'PolicyAttention', 'PolicyAttentionGrad', 'PrunedBlock', 'GumbelTopK', 'GumbelSoftmaxST', 'GumbelSoftmaxSTGrad',
        'LayerNorm', 'LayerNormGrad', 'Gelu', 'GeluGrad', 'VitBlock', 'VitBlockGrad', 'UpscaleBlock', 'UpscaleBlockGrad']
        .map((n) => `Reg4pru${n}`)
        .sort(),
    );
  });

  it('the first tfops call registers the default backends', async () => {
    await useBackend('cpu');
    tf.tidy(() => {
      tfops.gatherTokens(tf.zeros([1, 2, 1]), tf.tensor2d([[1]], [1, 1], 'int32'));
    });
    for (const b of tfops.DEFAULT_BACKENDS) expect(isReg4pruRegistered(b), b).toBe(true);
    expect(tfops.DEFAULT_BACKENDS).toEqual(['cpu', 'wasm', 'tensorflow']);
    for (const name of ['Reg4pruGatherTokens', 'Reg4pruScatterTokens', 'Reg4pruPolicyAttention', 'Reg4pruGumbelSoftmaxST', 'Reg4pruGumbelTopK', 'Reg4pruPrunedBlock', 'Reg4pruVitBlock', 'Reg4pruUpscaleBlock'])
      expect(tf.getGradient(name), name).toBeDefined();
  });

  it('is idempotent: no duplicate-registration warnings', () => {
    const warn = vi.spyOn(console, 'warn');
    expect(registerReg4pruKernels()).toEqual(['cpu', 'wasm', 'tensorflow']);
    registerReg4pruKernels(['cpu']);
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  });

  describe('a backend registered under another name', () => {
    beforeAll(async () => {
      tf.registerBackend('reg4pru-test-cpu', () => new tf.MathBackendCPU());
      await useBackend('reg4pru-test-cpu');
    });
    afterAll(async () => {
      await useBackend('cpu');
      tf.removeBackend('reg4pru-test-cpu');
    });

    it('gets a clear error until registered, then works', () => {
      const x = tf.tensor3d([1, 2, 3, 4], [1, 2, 2]), idx = tf.tensor2d([[1]], [1, 1], 'int32');
      expect(isReg4pruRegistered('reg4pru-test-cpu')).toBe(false);
      expect(() => tfops.gatherTokens(x, idx)).toThrow(/not registered for the TF.js backend 'reg4pru-test-cpu'.*registerReg4pruKernels\(\['reg4pru-test-cpu'\]\)/);
      registerReg4pruKernels(['reg4pru-test-cpu']);
      expect(Array.from(tfops.gatherTokens(x, idx).dataSync())).toEqual([3, 4]);
      unregisterReg4pruKernels(['reg4pru-test-cpu']);
      expect(isReg4pruRegistered('reg4pru-test-cpu')).toBe(false);
      expect(isReg4pruRegistered('cpu')).toBe(true);
    });
  });

  it('rejects a bad backend list', () => {
    expect(() => registerReg4pruKernels('cpu' as unknown as string[])).toThrow(TypeError);
    expect(() => registerReg4pruKernels(['cpu', ''])).toThrow(/backendNames\[1\]/);
  });
});

describe('validation', () => {
  let x: tf.Tensor3D, idx: tf.Tensor2D, src: tf.Tensor3D;
  beforeAll(async () => {
    await useBackend('cpu');
    x = tf.zeros([2, 5, 3]);
    idx = tf.tensor2d([[0, 4], [1, 2]], [2, 2], 'int32');
    src = tf.zeros([2, 2, 3]);
  });

  // Every throwing call must leave no tensor behind (the tidy frees the arguments made inside f).
  function expectThrow(f: () => unknown, cls: typeof TypeError | typeof RangeError | typeof Error, message: RegExp): void {
    const before = tf.memory().numTensors;
    const g = () => tf.tidy(() => void f());
    expect(g).toThrow(cls);
    expect(g).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
  }

  it('gatherTokens / scatterTokens', () => {
    expectThrow(() => tfops.gatherTokens(x, tf.cast(idx, 'float32') as tf.Tensor2D), TypeError, /gatherTokens: expected idx to be a tf\.Tensor int32 \[B,K\], received float32 \[2,2\]/);
    expectThrow(() => tfops.gatherTokens(tf.zeros([2, 5]) as unknown as tf.Tensor3D, idx), TypeError, /expected x to be .* received float32 \[2,5\]/);
    expectThrow(() => tfops.gatherTokens(new Float32Array(30) as unknown as tf.Tensor3D, idx), TypeError, /expected x to be a tf\.Tensor .* received Float32Array\(30\)/);
    expectThrow(() => tfops.gatherTokens(x, tf.tensor2d([[0, 5], [1, 2]], [2, 2], 'int32')), RangeError, /idx\[0\]\[1\] = 5 is out of range \[0, 5\)/);
    expectThrow(() => tfops.gatherTokens(x, tf.tensor2d([[0, 1]], [1, 2], 'int32')), RangeError, /expected idx to be int32 \[B,K\] with B=2/);
    expectThrow(() => tfops.scatterTokens(x, idx, tf.zeros([2, 3, 3]) as tf.Tensor3D), RangeError, /expected src to be/);
    expectThrow(() => tfops.scatterTokens(x, tf.tensor2d([[1, 1], [0, 2]], [2, 2], 'int32'), src), RangeError, /duplicate index 1 in row 0/);
    expectThrow(() => tfops.scatterTokens(x, idx, tf.zeros([2, 2, 3], 'int32') as tf.Tensor3D), TypeError, /expected src to be a tf\.Tensor float32/);
    const gone = tf.zeros([2, 5, 3]) as tf.Tensor3D;
    gone.dispose();
    expectThrow(() => tfops.gatherTokens(gone, idx), TypeError, /expected x to be .* received a disposed tensor/);
  });

  it('policyAttention', () => {
    const q = tf.zeros([1, 2, 4, 3]) as tf.Tensor4D, p = tf.ones([1, 4]) as tf.Tensor2D;
    expectThrow(() => tfops.policyAttention(q, q, q, tf.ones([1, 4], 'int32') as tf.Tensor2D), TypeError, /expected policy to be a tf\.Tensor float32 \[B,N\]/);
    expectThrow(() => tfops.policyAttention(q, tf.zeros([1, 2, 4]) as unknown as tf.Tensor4D, q, p), TypeError, /expected k to be/);
    expectThrow(() => tfops.policyAttention(q, q, tf.zeros([1, 2, 4, 5]) as tf.Tensor4D, p), RangeError, /expected v to be float32 \[B,H,N,Dh\]/);
    expectThrow(() => tfops.policyAttention(q, q, q, tf.ones([1, 5]) as tf.Tensor2D), RangeError, /expected policy to be/);
    expectThrow(() => tfops.policyAttention(q, q, q, p, { eps: -1 }), RangeError, /eps/);
    expectThrow(() => tfops.policyAttention(q, q, q, tf.fill([1, 4], NaN) as tf.Tensor2D), RangeError, /policy values to be finite/);
    expectThrow(() => tfops.policyAttention(q, q, q, p, null as unknown as object), TypeError, /opts/);
  });

  it('gumbelTopK / gumbelSoftmaxST', () => {
    const l = tf.zeros([2, 5]) as tf.Tensor2D;
    expectThrow(() => tfops.gumbelTopK(l, 6), RangeError, /expected k to be an integer in \[1, 5\]/);
    expectThrow(() => tfops.gumbelTopK(l, 2.5), RangeError, /k/);
    expectThrow(() => tfops.gumbelTopK(l, 2, { seed: -1 }), RangeError, /seed/);
    expectThrow(() => tfops.gumbelTopK(l, 2, { noise: 1 as unknown as boolean }), TypeError, /noise/);
    expectThrow(() => tfops.gumbelTopK(tf.zeros([2, 5], 'int32') as tf.Tensor2D, 2), TypeError, /expected logits to be a tf\.Tensor float32/);
    expectThrow(() => tfops.gumbelTopK(l, 2, { active: tf.zeros([2, 5], 'bool') as tf.Tensor2D }), RangeError, /active\[0\] has 0 active tokens/);
    expectThrow(() => tfops.gumbelTopK(l, 2, { active: tf.ones([2, 4], 'bool') as tf.Tensor2D }), RangeError, /expected active/);
    expectThrow(() => tfops.gumbelTopK(l, 2, { active: tf.tensor(new Array<string>(10).fill('a'), [2, 5], 'string') as tf.Tensor2D }), TypeError, /expected active to be a tf\.Tensor bool \| int32 \| float32/);
    const g = tf.zeros([2, 5, 2]) as tf.Tensor3D;
    expectThrow(() => tfops.gumbelSoftmaxST(tf.zeros([2, 5, 3]) as tf.Tensor3D), RangeError, /expected logits to be float32 \[B,N,C\] with C=2/);
    expectThrow(() => tfops.gumbelSoftmaxST(tf.zeros([2, 5]) as unknown as tf.Tensor3D), TypeError, /expected logits/);
    expectThrow(() => tfops.gumbelSoftmaxST(g, { tau: 0 }), RangeError, /tau/);
    expectThrow(() => tfops.gumbelSoftmaxST(g, { seed: 1.5 }), RangeError, /seed/);
  });

  it('prunedBlock', () => {
    const D = 4, F = 8;
    const w = {} as Record<PrunedBlockWeightName, tf.Tensor>;
    const rw = randomBlockWeights(D, F, 1);
    for (const name of PRUNED_BLOCK_WEIGHT_NAMES) w[name] = tf.tensor(rw[name].data, [...rw[name].shape]);
    const xb = tf.zeros([1, 5, D]) as tf.Tensor3D, ib = tf.tensor2d([[0, 2]], [1, 2], 'int32');
    const { 'mlp.fc1.bias': _drop, ...missing } = w;
    expectThrow(() => tfops.prunedBlock(xb, ib, missing as Record<PrunedBlockWeightName, tf.Tensor>, { heads: 2 }), TypeError, /weights\['mlp\.fc1\.bias'\]/);
    expectThrow(() => tfops.prunedBlock(xb, ib, { ...w, 'attn.qkv.weight': tf.zeros([3 * D]) }, { heads: 2 }), TypeError, /weights\['attn\.qkv\.weight'\]/);
    expectThrow(() => tfops.prunedBlock(xb, ib, { ...w, 'attn.qkv.weight': tf.zeros([3 * D, D + 1]) }, { heads: 2 }), RangeError, /weights\['attn\.qkv\.weight'\]/);
    expectThrow(() => tfops.prunedBlock(xb, ib, w, { heads: 3 }), RangeError, /multiple of heads/);
    expectThrow(() => tfops.prunedBlock(xb, tf.tensor2d([[2, 2]], [1, 2], 'int32'), w, { heads: 2 }), RangeError, /duplicate index 2/);
    expectThrow(() => tfops.prunedBlock(xb, ib, null as unknown as Record<PrunedBlockWeightName, tf.Tensor>, { heads: 2 }), TypeError, /weights/);
    expectThrow(() => tfops.prunedBlock(xb, ib, w, { heads: 2, lnEps: 0 }), RangeError, /lnEps/);
  });
});
