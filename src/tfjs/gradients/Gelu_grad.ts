/**
 * Gradient of Reg4pruGelu (SPEC §2 numerics): dx = dy (Phi(x) + x phi(x)) from Reg4pruGeluGrad on the saved x.
 */
import { engine, type GradConfig, type Tensor } from '@tensorflow/tfjs';
import { Gelu, GeluGrad } from '../kernel_names.js';
import { single } from './util.js';

export const geluGradConfig: GradConfig = {
  kernelName: Gelu,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => {
    const [x] = saved as [Tensor];
    return { x: () => engine().runKernel<Tensor>(GeluGrad, { dy: single(dy), x }) };
  },
};
