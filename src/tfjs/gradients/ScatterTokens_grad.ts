/**
 * Gradients of Reg4pruScatterTokens (SPEC §5): dbase = dy with rows idx zeroed, dsrc = dy gathered at idx,
 * from one Reg4pruScatterTokensGrad pass; idx gets a zero gradient.
 * The pass runs when gradFunc is called (inside TF.js's backward tidy), not in the per-input closures:
 * each closure runs in its own tidy, which would dispose the other output before it is used.
 */
import { engine, type GradConfig, type Tensor } from '@tensorflow/tfjs';
import { ScatterTokens, ScatterTokensGrad } from '../kernel_names.js';
import { integerInputGrad, single } from './util.js';

export const scatterTokensGradConfig: GradConfig = {
  kernelName: ScatterTokens,
  inputsToSave: ['idx'],
  gradFunc: (dy, saved) => {
    const [idx] = saved as [Tensor];
    const [dbase, dsrc] = engine().runKernel<Tensor[]>(ScatterTokensGrad, { dy: single(dy), idx }) as [Tensor, Tensor];
    return { base: () => dbase, idx: integerInputGrad(idx), src: () => dsrc };
  },
};
