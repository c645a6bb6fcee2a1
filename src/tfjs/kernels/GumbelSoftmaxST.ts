/**
 * TF.js kernel Reg4pruGumbelSoftmaxST (SPEC §4): logits [B,N,2] f32 (channel 0 = keep), attrs tau, seed ->
 * [hard [B,N] in {0,1}, soft [B,N]]. `soft` is the second output so that the gradient can save it
 * (outputsToSave) instead of recomputing the noise; ops.gumbelSoftmaxST returns `hard` only.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { gumbelSoftmaxST } from '../../ops/gumbelSoftmaxST.js';
import { GumbelSoftmaxST } from '../kernel_names.js';
import { f32, kernelBackend, numAttr, output, seedAttr } from './backend_io.js';

const OP = 'gumbelSoftmaxST';

export const gumbelSoftmaxSTKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = kernelBackend(OP, backend);
  const { hard, soft } = gumbelSoftmaxST(f32(OP, b, inputs, 'logits'), { tau: numAttr(OP, attrs, 'tau'), seed: seedAttr(OP, attrs, 'seed') });
  return [output(b, hard), output(b, soft)];
};

export const gumbelSoftmaxSTConfig: KernelConfig = { kernelName: GumbelSoftmaxST, backendName: 'cpu', kernelFunc: gumbelSoftmaxSTKernel };
