/**
 * TF.js kernel Reg4pruPolicyAttention (SPEC §4, §5): q,k,v [B,H,N,Dh] f32, policy [B,N] f32, attr eps ->
 * out [B,H,N,Dh] f32, the policy-masked softmax attention with a self-loop (max over all keys, eps/N
 * smoothing). Synchronous: TF.js kernels cannot await, so this calls the sync native op.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { policyAttention } from '../../ops/policyAttention.js';
import { PolicyAttention } from '../kernel_names.js';
import { f32, kernelBackend, numAttr, output } from './backend_io.js';

const OP = 'policyAttention';

export const policyAttentionKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = kernelBackend(OP, backend);
  const out = policyAttention(f32(OP, b, inputs, 'q'), f32(OP, b, inputs, 'k'), f32(OP, b, inputs, 'v'), f32(OP, b, inputs, 'policy'), {
    eps: numAttr(OP, attrs, 'eps'),
  });
  return output(b, out);
};

export const policyAttentionConfig: KernelConfig = { kernelName: PolicyAttention, backendName: 'cpu', kernelFunc: policyAttentionKernel };
