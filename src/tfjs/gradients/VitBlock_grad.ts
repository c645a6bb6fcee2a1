/**
 * Gradients of Reg4pruVitBlock w.r.t. x, the policy and all 14 block weights, from one Reg4pruVitBlockGrad pass
 * over the saved inputs and the forward's own `saved` output (outputsToSave: qkv, attention output, proj / fc1 /
 * fc2 outputs; the attention itself is recomputed). The pass runs when gradFunc is called, not in the per-input
 * closures (each closure runs in its own tidy). `saved` is an internal output: its upstream gradient is ignored.
 */
import type { GradConfig } from '@tensorflow/tfjs';
import { PRUNED_BLOCK_WEIGHT_NAMES } from '../../ops/prunedBlock.js';
import { VitBlock, VitBlockGrad } from '../kernel_names.js';
import { savedOutputGradFunc } from './util.js';

const SAVED_INPUTS = ['x', 'policy', ...PRUNED_BLOCK_WEIGHT_NAMES];

export const vitBlockGradConfig: GradConfig = {
  kernelName: VitBlock,
  inputsToSave: SAVED_INPUTS,
  outputsToSave: [false, true],
  // Reg4pruVitBlockGrad returns [dx, the 14 weight gradients, dpolicy]
  gradFunc: savedOutputGradFunc(VitBlockGrad, SAVED_INPUTS, ['x', ...PRUNED_BLOCK_WEIGHT_NAMES, 'policy']),
};
