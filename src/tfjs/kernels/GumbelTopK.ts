/**
 * TF.js kernel Reg4pruGumbelTopK (SPEC §3, §5): logits [B,N] f32, active [B,N] (optional; bool, int32 or
 * float32, nonzero = may be chosen), attrs k, seed, noise -> int32 [B,k], each row ascending. Philox noise
 * keyed by (seed, b, n): the same seed gives the same indices on every backend.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { gumbelTopK } from '../../ops/gumbelTopK.js';
import { GumbelTopK } from '../kernel_names.js';
import { boolAttr, f32, kernelBackend, mask, numAttr, output, seedAttr } from './backend_io.js';

const OP = 'gumbelTopK';

export const gumbelTopKKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = kernelBackend(OP, backend);
  const out = gumbelTopK(f32(OP, b, inputs, 'logits'), numAttr(OP, attrs, 'k'), {
    seed: seedAttr(OP, attrs, 'seed'),
    noise: boolAttr(OP, attrs, 'noise'),
    active: mask(OP, b, inputs, 'active'),
  });
  return output(b, out);
};

export const gumbelTopKConfig: KernelConfig = { kernelName: GumbelTopK, backendName: 'cpu', kernelFunc: gumbelTopKKernel };
