/**
 * TF.js kernel Reg4pruLayerNorm: the training graph's LayerNorm (SPEC §2 numerics, biased variance) over the
 * last axis of a tensor of any rank >= 1, viewed as [R,C] (ops/layerNorm.ts, native LayerNormArgs):
 *   x [..., C] f32, w [C], b [C], attr eps -> [y (x's shape), mean [R], rstd [R]]
 * mean and rstd are outputs so that the gradient saves them (outputsToSave) instead of recomputing them.
 * An empty x (a zero dim, which the typed-array op rejects) is answered here: y is empty, and mean / rstd
 * are NaN when C = 0 (the mean of nothing, as tf.moments gives).
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { layerNorm, layerNormDims } from '../../ops/layerNorm.js';
import { LayerNorm } from '../kernel_names.js';
import { f32, kernelBackend, numAttr, output } from './backend_io.js';

const OP = 'layerNorm';

export const layerNormKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = kernelBackend(OP, backend);
  const x = f32(OP, be, inputs, 'x');
  const { R, C } = layerNormDims(x.shape);
  const w = f32(OP, be, inputs, 'w'), b = f32(OP, be, inputs, 'b');
  const eps = numAttr(OP, attrs, 'eps');
  if (R * C === 0) {
    const stat = () => output(be, { data: new Float32Array(R).fill(NaN), shape: [R] });
    return [output(be, { data: new Float32Array(0), shape: x.shape }), stat(), stat()];
  }
  const { y, mean, rstd } = layerNorm({ data: x.data, shape: [R, C] }, w, b, { eps });
  return [output(be, { data: y.data, shape: x.shape }), output(be, mean), output(be, rstd)];
};

export const layerNormConfig: KernelConfig = { kernelName: LayerNorm, backendName: 'cpu', kernelFunc: layerNormKernel };
