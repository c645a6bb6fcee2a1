/**
 * Gradient of Reg4pruGumbelTopK: zeros. The output is a set of integer indices, piecewise constant in the
 * logits, so its derivative is zero almost everywhere; TF.js's own index-valued ops (ArgMax, ArgMin) give
 * zeros the same way, so a graph that routes tokens with gumbelTopK and gathers them still backprops into
 * the gathered values. (Training the selection itself uses gumbelSoftmaxST, SPEC §4.)
 * Only logits is saved: `active` is optional (inputsToSave cannot name an absent input) and has the
 * shape of logits, [B,N], so its zero gradient is made from logits' shape.
 */
import { zeros, zerosLike, type GradConfig, type Tensor } from '@tensorflow/tfjs';
import { GumbelTopK } from '../kernel_names.js';

export const gumbelTopKGradConfig: GradConfig = {
  kernelName: GumbelTopK,
  inputsToSave: ['logits'],
  gradFunc: (_dy, saved) => {
    const [logits] = saved as [Tensor];
    return { logits: () => zerosLike(logits), active: () => zeros(logits.shape, 'float32') };
  },
};
