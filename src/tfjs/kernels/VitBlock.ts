/**
 * TF.js kernel Reg4pruVitBlock (ops/vitBlock.ts, native VitBlockArgs; SPEC §2 block, §4 attention):
 *   x [B,N,D] f32, policy [B,N] f32 (attr plain = false) or an empty [0] placeholder (plain = true), the 14 block
 *   weights by SPEC §8 name; attrs heads, lnEps, attnEps, plain -> [y [B,N,D], saved [B*N*(6D+F)]]
 * saved is an output so that the gradient keeps it (outputsToSave); tfops.vitBlock returns y only.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap } from '@tensorflow/tfjs';
import { PRUNED_BLOCK_WEIGHT_NAMES, type PrunedBlockWeightName } from '../../ops/prunedBlock.js';
import { vitBlock, type VitBlockOptions } from '../../ops/vitBlock.js';
import type { F32Tensor } from '../../validate.js';
import { VitBlock } from '../kernel_names.js';
import { boolAttr, f32, kernelBackend, numAttr, output, type Backend } from './backend_io.js';

const OP = 'vitBlock';

/** The 14 weights of a vitBlock kernel's inputs, as `{data, shape}` tensors. */
export function vitBlockWeights(op: string, be: Backend, inputs: NamedTensorInfoMap): Record<PrunedBlockWeightName, F32Tensor> {
  const w = {} as Record<PrunedBlockWeightName, F32Tensor>;
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) w[name] = f32(op, be, inputs, name);
  return w;
}

/** The policy input, or null when attr plain is set. */
export function vitBlockPolicy(op: string, be: Backend, inputs: NamedTensorInfoMap, attrs: NamedAttrMap | undefined): F32Tensor | null {
  return boolAttr(op, attrs, 'plain') ? null : f32(op, be, inputs, 'policy');
}

export function vitBlockOpts(op: string, attrs: NamedAttrMap | undefined): VitBlockOptions {
  return { heads: numAttr(op, attrs, 'heads'), lnEps: numAttr(op, attrs, 'lnEps'), attnEps: numAttr(op, attrs, 'attnEps') };
}

export const vitBlockKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = kernelBackend(OP, backend);
  const { y, saved } = vitBlock(f32(OP, be, inputs, 'x'), vitBlockPolicy(OP, be, inputs, attrs), vitBlockWeights(OP, be, inputs), vitBlockOpts(OP, attrs));
  return [output(be, y), output(be, saved)];
};

export const vitBlockConfig: KernelConfig = { kernelName: VitBlock, backendName: 'cpu', kernelFunc: vitBlockKernel };
