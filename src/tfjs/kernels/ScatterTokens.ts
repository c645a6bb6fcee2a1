/**
 * TF.js kernel Reg4pruScatterTokens (SPEC §5): base [B,N,D] f32, idx [B,K] int32 (no duplicates in a row),
 * src [B,K,D] f32 -> out [B,N,D] f32 = base with rows idx replaced by src. Always out of place (TF.js
 * tensors are immutable), so the op writes a fresh array.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { scatterTokens } from '../../ops/scatterTokens.js';
import { ScatterTokens } from '../kernel_names.js';
import { f32, i32, kernelBackend, output } from './backend_io.js';

const OP = 'scatterTokens';

export const scatterTokensKernel: KernelFunc = ({ inputs, backend }) => {
  const b = kernelBackend(OP, backend);
  return output(b, scatterTokens(f32(OP, b, inputs, 'base'), i32(OP, b, inputs, 'idx'), f32(OP, b, inputs, 'src')));
};

export const scatterTokensConfig: KernelConfig = { kernelName: ScatterTokens, backendName: 'cpu', kernelFunc: scatterTokensKernel };
