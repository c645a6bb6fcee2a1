/**
 * Native BatchMatMul / _FusedMatMul (src/tfjs/backend/matmul.ts) against the stock TF.js cpu kernels:
 * forward and gradients (tf.grads), every transpose combination, batch broadcasting (incl. rank
 * mismatch), bias shapes and every fused activation. Float32 tolerance: the GEMM accumulates in
 * float32 FMA order, the stock loop in float64 blocks.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { backendInfo, nativeKernelNames, useNativeBackend } from '../../src/tfjs/index.js';
import { expectClose } from '../reference/helpers.js';
import { cpuReady, randT, stockVsNative } from './helpers.js';

const ATOL = 2e-4, RTOL = 2e-4;

function compare(fn: () => tf.Tensor | tf.Tensor[], what: string): void {
  const r = stockVsNative(fn);
  expect(r.native.length).toBe(r.stock.length);
  r.native.forEach((v, i) => expectClose(v, r.stock[i]!, ATOL, RTOL, `${what} [${i}]`));
}

/** [a shape, b shape] as stored (before transposes), for M, K, N and batch dims. */
function shapes(batchA: number[], batchB: number[], M: number, K: number, N: number, ta: boolean, tb: boolean): [number[], number[]] {
  return [[...batchA, ...(ta ? [K, M] : [M, K])], [...batchB, ...(tb ? [N, K] : [K, N])]];
}

const BATCHES: Array<[string, number[], number[]]> = [
  ['2D', [], []],
  ['batch 3', [3], [3]],
  ['[1]x[B] broadcast', [1], [4]],
  ['[B]x[1] broadcast', [4], [1]],
  ['rank mismatch [B,M,K]x[K,N]', [3], []],
  ['rank mismatch [M,K]x[B,K,N]', [], [3]],
  ['rank 4', [2, 3], [2, 3]],
  ['rank 4 vs rank 3 broadcast', [2, 3], [3]],
];

beforeAll(cpuReady);

describe('BatchMatMul native vs stock', () => {
  for (const [name, ba, bb] of BATCHES)
    for (const ta of [false, true])
      for (const tb of [false, true])
        it(`${name} transA=${ta} transB=${tb}`, () => {
          const [M, K, N] = [5, 11, 9];
          const [sa, sb] = shapes(ba, bb, M, K, N, ta, tb);
          compare(() => {
            const a = randT(sa, 1), b = randT(sb, 2);
            const r = randT(tf.matMul(a, b, ta, tb).shape, 3);
            // TF.js's BatchMatMul gradient does not reduce broadcast batch dims (stock fails too): forward only there.
            if (ba.join() !== bb.join()) return [tf.matMul(a, b, ta, tb)];
            const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), r)))([a, b]);
            return [tf.matMul(a, b, ta, tb), ...g];
          }, `${name} ${ta} ${tb}`);
        });

  it('tails and K=1, a realistic attention shape', () => {
    for (const [ba, M, K, N] of [[[2], 1, 1, 1], [[2], 17, 1, 13], [[2, 3], 261, 64, 261]] as Array<[number[], number, number, number]>)
      compare(() => [tf.matMul(randT([...ba, M, K], 4), randT([...ba, K, N], 5)), tf.matMul(randT([...ba, M, N], 6), randT([...ba, K, N], 7), false, true)], `M=${M} K=${K} N=${N}`);
  });

  it('int32 inputs fall back to the stock kernel', () => {
    const r = stockVsNative(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6, 7, 8], [2, 2], 'int32')));
    expect(Array.from(r.native[0]!)).toEqual(Array.from(r.stock[0]!));
  });
});

describe('_FusedMatMul native vs stock', () => {
  const M = 6, K = 10, N = 7;
  const biases: Array<[string, number[]]> = [['none', []], ['scalar', []], ['[1]', [1]], ['[N]', [N]], ['[1,N]', [1, N]], ['[M,N] (general)', [M, N]], ['[M,1] (general)', [M, 1]]];
  for (const [bname, bshape] of biases)
    for (const ta of [false, true])
      for (const tb of [false, true])
        it(`bias ${bname} transA=${ta} transB=${tb}, forward + grads (linear)`, () => {
          const [sa, sb] = shapes([], [], M, K, N, ta, tb);
          compare(() => {
            const a = randT(sa, 11) as tf.Tensor2D, b = randT(sb, 12) as tf.Tensor2D;
            const bias = bname === 'none' ? undefined : bshape.length === 0 ? tf.scalar(0.3) : randT(bshape, 13);
            const f = (x: tf.Tensor, y: tf.Tensor) => tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, transposeA: ta, transposeB: tb, bias });
            const out = f(a, b);
            const r = randT(out.shape, 14);
            const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), r)))([a, b]);
            return [out, ...g];
          }, `${bname} ${ta} ${tb}`);
        });

  const acts: Array<[tf.fused.Activation, number?]> = [['linear'], ['relu'], ['relu6'], ['elu'], ['sigmoid'], ['leakyrelu', 0.3], ['leakyrelu'], ['prelu']];
  for (const [act, alpha] of acts)
    for (const bname of ['none', '[N]', '[M,N]'])
      it(`activation ${act}${alpha !== undefined ? ` alpha=${alpha}` : ''}, bias ${bname}, batched [2,M,K]x[K,N]`, () => {
        compare(() => {
          const a = randT([2, M, K], 21, 2), b = randT([K, N], 22);
          const bias = bname === 'none' ? undefined : randT(bname === '[N]' ? [N] : [M, N], 23);
          const out = tf.fused.matMul({
            a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation: act, leakyreluAlpha: alpha,
            preluActivationWeights: act === 'prelu' ? randT([N], 24) : undefined,
          });
          return [out, tf.mul(out, 6)];
        }, `${act} ${bname}`);
      });

  it('prelu with scalar weights', () => {
    compare(() => tf.fused.matMul({ a: randT([M, K], 31) as tf.Tensor2D, b: randT([K, N], 32) as tf.Tensor2D, activation: 'prelu', preluActivationWeights: tf.scalar(0.25) }), 'prelu scalar');
  });
});

describe('useNativeBackend', () => {
  it('registers the native kernels and restores the stock configs', () => {
    const before = nativeKernelNames().map((n) => tf.getKernel(n, 'cpu')!.kernelFunc);
    const replaced = useNativeBackend();
    expect(replaced).toEqual(nativeKernelNames());
    expect(useNativeBackend()).toEqual(replaced); // idempotent
    const info = backendInfo();
    expect(info.native).toBe(true);
    expect(info.backend).toBe('cpu');
    expect(info.kernels).toContain('BatchMatMul');
    expect(info.addon.ops).toContain('gemm');
    nativeKernelNames().forEach((n, i) => expect(tf.getKernel(n, 'cpu')!.kernelFunc).not.toBe(before[i]));
    expect(useNativeBackend(false)).toEqual([]);
    nativeKernelNames().forEach((n, i) => expect(tf.getKernel(n, 'cpu')!.kernelFunc).toBe(before[i]));
    expect(backendInfo()).toMatchObject({ native: false, kernels: [] });
  });
});
