/**
 * TF.js kernel Reg4pruGeluGrad (gradient of Reg4pruGelu, SPEC §2 numerics; ops/gelu.ts):
 *   dy, x f32 of one shape -> dx = dy (Phi(x) + x phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
 * An empty x gives an empty dx.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { geluBackward } from '../../ops/gelu.js';
import { GeluGrad } from '../kernel_names.js';
import { f32, kernelBackend, output } from './backend_io.js';

const OP = 'geluBackward';

export const geluGradKernel: KernelFunc = ({ inputs, backend }) => {
  const be = kernelBackend(OP, backend);
  const dy = f32(OP, be, inputs, 'dy'), x = f32(OP, be, inputs, 'x');
  if (x.data.length === 0 && dy.data.length === 0) return output(be, { data: new Float32Array(0), shape: x.shape });
  return output(be, geluBackward(dy, x));
};

export const geluGradConfig: KernelConfig = { kernelName: GeluGrad, backendName: 'cpu', kernelFunc: geluGradKernel };
