/**
 * TF.js kernel Reg4pruScatterTokensGrad (SPEC §5, gradients of scatterTokens): dy [B,N,D] f32, idx [B,K]
 * int32 -> [dbase [B,N,D] = dy with rows idx zeroed, dsrc [B,K,D] = dy gathered at idx]. Both come from
 * one native pass, so the kernel has two outputs.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { scatterTokensBackward } from '../../ops/scatterTokens.js';
import { ScatterTokensGrad } from '../kernel_names.js';
import { f32, i32, kernelBackend, output } from './backend_io.js';

const OP = 'scatterTokensBackward';

export const scatterTokensGradKernel: KernelFunc = ({ inputs, backend }) => {
  const b = kernelBackend(OP, backend);
  const { dbase, dsrc } = scatterTokensBackward(f32(OP, b, inputs, 'dy'), i32(OP, b, inputs, 'idx'));
  return [output(b, dbase), output(b, dsrc)];
};

export const scatterTokensGradConfig: KernelConfig = { kernelName: ScatterTokensGrad, backendName: 'cpu', kernelFunc: scatterTokensGradKernel };
