/**
 * TF.js kernel Reg4pruGelu: the training graph's exact GELU (SPEC §2 numerics), elementwise on any shape
 * (ops/gelu.ts, native GeluArgs): x f32 -> y = 0.5 x (1 + erf(x / sqrt 2)).
 * An empty x (which the typed-array op rejects) gives an empty y here.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { gelu } from '../../ops/gelu.js';
import { Gelu } from '../kernel_names.js';
import { f32, kernelBackend, output } from './backend_io.js';

const OP = 'gelu';

export const geluKernel: KernelFunc = ({ inputs, backend }) => {
  const be = kernelBackend(OP, backend);
  const x = f32(OP, be, inputs, 'x');
  if (x.data.length === 0) return output(be, { data: new Float32Array(0), shape: x.shape });
  return output(be, gelu(x));
};

export const geluConfig: KernelConfig = { kernelName: Gelu, backendName: 'cpu', kernelFunc: geluKernel };
