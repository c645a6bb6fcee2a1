/**
 * Straight-through gradient of Reg4pruGumbelSoftmaxST (SPEC §4): the forward value is the hard decision,
 * the gradient is the soft score's: dlogits = [g*s(1-s)/tau, -g*s(1-s)/tau] with g the upstream gradient.
 * The kernel's second output, soft, has the same derivative, so g = d(hard) + d(soft) and one
 * Reg4pruGumbelSoftmaxSTGrad pass serves both (TF.js passes zeros for an output not on the path).
 */
import { add, engine, type GradConfig, type NamedAttrMap, type Tensor } from '@tensorflow/tfjs';
import { GumbelSoftmaxST, GumbelSoftmaxSTGrad } from '../kernel_names.js';
import { several } from './util.js';

export const gumbelSoftmaxSTGradConfig: GradConfig = {
  kernelName: GumbelSoftmaxST,
  outputsToSave: [false, true],
  gradFunc: (dy, saved, attrs: NamedAttrMap) => {
    const [soft] = saved as [Tensor];
    const [dhard, dsoft] = several(dy);
    return {
      logits: () => {
        const g = dsoft === undefined ? dhard! : add(dhard!, dsoft);
        return engine().runKernel<Tensor>(GumbelSoftmaxSTGrad, { dy: g, soft }, { tau: attrs.tau! });
      },
    };
  },
};
