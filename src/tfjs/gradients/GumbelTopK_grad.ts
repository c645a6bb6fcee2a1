/**
 * Gradient of Reg4pruGumbelTopK: zeros. The output is a set of integer indices, piecewise constant in the
 * logits, so its derivative is zero almost everywhere; TF.js's own index-valued ops (ArgMax, ArgMin) give
 * zeros the same way, so a graph that routes tokens with gumbelTopK and gathers them still backprops into
 * the gathered values. (Training the selection itself uses gumbelSoftmaxST, SPEC §4.)
 * saveAllInputs because `active` is optional: inputsToSave cannot name an absent input.
 */
import { zerosLike, type GradConfig, type Tensor } from '@tensorflow/tfjs';
import { GumbelTopK } from '../kernel_names.js';
import { integerInputGrad } from './util.js';

export const gumbelTopKGradConfig: GradConfig = {
  kernelName: GumbelTopK,
  saveAllInputs: true,
  gradFunc: (_dy, saved) => {
    const [logits, active] = saved as [Tensor, Tensor | undefined];
    const grads: Record<string, () => Tensor> = { logits: () => zerosLike(logits) };
    if (active !== undefined) grads.active = integerInputGrad(active);
    return grads;
  },
};
