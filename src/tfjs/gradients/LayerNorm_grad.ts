/**
 * Gradients of Reg4pruLayerNorm (SPEC §2 numerics) w.r.t. x, w and b, from one Reg4pruLayerNormGrad pass
 * over the saved x, w and the forward's own mean / rstd outputs (outputsToSave). The pass runs when gradFunc
 * is called, not in the per-input closures (see ScatterTokens_grad.ts: each closure runs in its own tidy).
 * mean and rstd are internal outputs (tfops.layerNorm returns y only), so their upstream gradients are
 * ignored.
 */
import { engine, type GradConfig, type Tensor } from '@tensorflow/tfjs';
import { LayerNorm, LayerNormGrad } from '../kernel_names.js';
import { several } from './util.js';

export const layerNormGradConfig: GradConfig = {
  kernelName: LayerNorm,
  inputsToSave: ['x', 'w'],
  outputsToSave: [false, true, true],
  gradFunc: (dy, saved) => {
    const [x, w, mean, rstd] = saved as [Tensor, Tensor, Tensor, Tensor];
    const [dyY] = several(dy);
    const [dx, dw, db] = engine().runKernel<Tensor[]>(LayerNormGrad, { dy: dyY!, x, w, mean, rstd }) as [Tensor, Tensor, Tensor];
    return { x: () => dx, w: () => dw, b: () => db };
  },
};
