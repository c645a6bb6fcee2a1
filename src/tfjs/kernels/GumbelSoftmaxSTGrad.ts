/**
 * TF.js kernel Reg4pruGumbelSoftmaxSTGrad (SPEC §4, straight-through gradient): dy [B,N] f32 (the upstream
 * gradient of hard, plus that of soft: both have the soft score's derivative), soft [B,N] f32, attr tau ->
 * dlogits [B,N,2] = [dy*s(1-s)/tau, -dy*s(1-s)/tau].
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { gumbelSoftmaxSTBackward } from '../../ops/gumbelSoftmaxST.js';
import { GumbelSoftmaxSTGrad } from '../kernel_names.js';
import { f32, kernelBackend, numAttr, output } from './backend_io.js';

const OP = 'gumbelSoftmaxSTBackward';

export const gumbelSoftmaxSTGradKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = kernelBackend(OP, backend);
  return output(b, gumbelSoftmaxSTBackward(f32(OP, b, inputs, 'dy'), f32(OP, b, inputs, 'soft'), { tau: numAttr(OP, attrs, 'tau') }));
};

export const gumbelSoftmaxSTGradConfig: KernelConfig = { kernelName: GumbelSoftmaxSTGrad, backendName: 'cpu', kernelFunc: gumbelSoftmaxSTGradKernel };
