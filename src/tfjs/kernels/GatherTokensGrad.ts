/**
 * TF.js kernel Reg4pruGatherTokensGrad (SPEC §5, gradient of gatherTokens): dy [B,K,D] f32, idx [B,K]
 * int32, attr N -> dx [B,N,D] f32 = scatter-add of dy rows into zeros (repeated indices sum).
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { gatherTokensBackward } from '../../ops/gatherTokens.js';
import { GatherTokensGrad } from '../kernel_names.js';
import { f32, i32, kernelBackend, numAttr, output } from './backend_io.js';

const OP = 'gatherTokensBackward';

export const gatherTokensGradKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = kernelBackend(OP, backend);
  return output(b, gatherTokensBackward(f32(OP, b, inputs, 'dy'), i32(OP, b, inputs, 'idx'), numAttr(OP, attrs, 'N')));
};

export const gatherTokensGradConfig: KernelConfig = { kernelName: GatherTokensGrad, backendName: 'cpu', kernelFunc: gatherTokensGradKernel };
