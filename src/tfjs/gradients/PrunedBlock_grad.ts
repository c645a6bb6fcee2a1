/**
 * Reg4pruPrunedBlock has no gradient (SPEC §5: inference only; the fused kernel keeps no activations).
 * Rather than let TF.js report a missing gradient, or silently return zeros for an output that does
 * depend on x and the weights, backprop through it throws an Error that says what to do instead.
 */
import type { GradConfig } from '@tensorflow/tfjs';
import { PrunedBlock } from '../kernel_names.js';

export const PRUNED_BLOCK_NO_GRAD =
  'prunedBlock: no gradient (SPEC §5: inference only). To train, compose tfops.gatherTokens, the block written with TF.js ops, and tfops.scatterTokens';

export const prunedBlockGradConfig: GradConfig = {
  kernelName: PrunedBlock,
  gradFunc: () => {
    throw new Error(PRUNED_BLOCK_NO_GRAD);
  },
};
