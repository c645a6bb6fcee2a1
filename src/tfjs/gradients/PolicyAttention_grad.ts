/**
 * Gradients of Reg4pruPolicyAttention (SPEC §4): dq, dk, dv and dpolicy (summed over heads; masked keys
 * still receive gradient), exact through the row max, from one Reg4pruPolicyAttentionGrad pass that runs
 * when gradFunc is called (see ScatterTokens_grad.ts for why not in the closures).
 */
import { engine, type GradConfig, type NamedAttrMap, type Tensor } from '@tensorflow/tfjs';
import { PolicyAttention, PolicyAttentionGrad } from '../kernel_names.js';
import { single } from './util.js';

export const policyAttentionGradConfig: GradConfig = {
  kernelName: PolicyAttention,
  inputsToSave: ['q', 'k', 'v', 'policy'],
  gradFunc: (dy, saved, attrs: NamedAttrMap) => {
    const [q, k, v, policy] = saved as [Tensor, Tensor, Tensor, Tensor];
    const [dq, dk, dv, dpolicy] = engine().runKernel<Tensor[]>(PolicyAttentionGrad, { dy: single(dy), q, k, v, policy }, { eps: attrs.eps! }) as [
      Tensor, Tensor, Tensor, Tensor,
    ];
    return { q: () => dq, k: () => dk, v: () => dv, policy: () => dpolicy };
  },
};
