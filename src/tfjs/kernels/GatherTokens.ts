/**
 * TF.js kernel Reg4pruGatherTokens (SPEC §5): x [B,N,D] f32, idx [B,K] int32 -> out [B,K,D] f32,
 * out[b,k,:] = x[b, idx[b,k], :]. Runs the native gatherTokens on the backend's arrays (backend_io.ts:
 * zero-copy on cpu, readSync/write elsewhere); shapes and indices are validated by src/ops/gatherTokens.ts.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { gatherTokens } from '../../ops/gatherTokens.js';
import { GatherTokens } from '../kernel_names.js';
import { f32, i32, kernelBackend, output } from './backend_io.js';

const OP = 'gatherTokens';

export const gatherTokensKernel: KernelFunc = ({ inputs, backend }) => {
  const b = kernelBackend(OP, backend);
  return output(b, gatherTokens(f32(OP, b, inputs, 'x'), i32(OP, b, inputs, 'idx')));
};

/** Registered for 'cpu' here; register.ts copies it to every backend name it is given. */
export const gatherTokensConfig: KernelConfig = { kernelName: GatherTokens, backendName: 'cpu', kernelFunc: gatherTokensKernel };
