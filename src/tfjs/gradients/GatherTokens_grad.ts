/**
 * Gradient of Reg4pruGatherTokens (SPEC §5): dx = scatter-add of dy into zeros [B,N,D] (Reg4pruGatherTokensGrad;
 * repeated indices sum); idx is an integer input and gets a zero gradient.
 * x is saved only for its N (a cheap clone that shares the data, as GatherV2's gradient does).
 */
import { engine, type GradConfig, type Tensor } from '@tensorflow/tfjs';
import { GatherTokens, GatherTokensGrad } from '../kernel_names.js';
import { integerInputGrad, single } from './util.js';

export const gatherTokensGradConfig: GradConfig = {
  kernelName: GatherTokens,
  inputsToSave: ['x', 'idx'],
  gradFunc: (dy, saved) => {
    const [x, idx] = saved as [Tensor, Tensor];
    const g = single(dy);
    return {
      x: () => engine().runKernel<Tensor>(GatherTokensGrad, { dy: g, idx }, { N: x.shape[1]! }),
      idx: integerInputGrad(idx),
    };
  },
};
