/**
 * TF.js kernel Reg4pruPolicyAttentionGrad (SPEC §4, gradient of policyAttention): dy, q, k, v [B,H,N,Dh]
 * f32, policy [B,N] f32, attr eps -> [dq, dk, dv [B,H,N,Dh], dpolicy [B,N] (summed over heads)], exact
 * (the row max is not detached). One native pass produces all four, hence four outputs.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { policyAttentionBackward } from '../../ops/policyAttention.js';
import { PolicyAttentionGrad } from '../kernel_names.js';
import { f32, kernelBackend, numAttr, output } from './backend_io.js';

const OP = 'policyAttentionBackward';

export const policyAttentionGradKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = kernelBackend(OP, backend);
  const g = policyAttentionBackward(
    f32(OP, b, inputs, 'q'), f32(OP, b, inputs, 'k'), f32(OP, b, inputs, 'v'), f32(OP, b, inputs, 'policy'), f32(OP, b, inputs, 'dy'),
    { eps: numAttr(OP, attrs, 'eps') },
  );
  return [output(b, g.dq), output(b, g.dk), output(b, g.dv), output(b, g.dpolicy)];
};

export const policyAttentionGradConfig: KernelConfig = { kernelName: PolicyAttentionGrad, backendName: 'cpu', kernelFunc: policyAttentionGradKernel };
