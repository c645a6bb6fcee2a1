/**
 * TF.js kernel Reg4pruPrunedBlock (SPEC §5): the fused gather–block–scatter ViT block, inference only.
 *   x [B,N,D] f32, idx [B,K] int32 (absent = all N tokens), 14 weights named as SPEC §8 without the
 *   `blocks.{i}.` prefix, attrs heads, lnEps -> out [B,N,D] f32 (x with rows idx replaced by block(x[idx])).
 * No gradient: gradients/PrunedBlock_grad.ts makes backprop through it an explicit error.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { PRUNED_BLOCK_WEIGHT_NAMES, prunedBlock, type PrunedBlockWeightName } from '../../ops/prunedBlock.js';
import type { F32Tensor } from '../../validate.js';
import { PrunedBlock } from '../kernel_names.js';
import { f32, i32, kernelBackend, numAttr, output } from './backend_io.js';

const OP = 'prunedBlock';

export const prunedBlockKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = kernelBackend(OP, backend);
  const weights = {} as Record<PrunedBlockWeightName, F32Tensor>;
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) weights[name] = f32(OP, b, inputs, name);
  const idx = inputs.idx === undefined ? null : i32(OP, b, inputs, 'idx');
  const out = prunedBlock(f32(OP, b, inputs, 'x'), idx, weights, { heads: numAttr(OP, attrs, 'heads'), lnEps: numAttr(OP, attrs, 'lnEps') });
  return output(b, out);
};

export const prunedBlockConfig: KernelConfig = { kernelName: PrunedBlock, backendName: 'cpu', kernelFunc: prunedBlockKernel };
