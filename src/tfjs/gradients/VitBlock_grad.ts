/**
 * Gradients of Reg4pruVitBlock w.r.t. x, the policy and all 14 block weights, from one Reg4pruVitBlockGrad pass
 * over the saved inputs and the forward's own `saved` output (outputsToSave: qkv, attention output, proj / fc1 /
 * fc2 outputs; the attention itself is recomputed). The pass runs when gradFunc is called, not in the per-input
 * closures (each closure runs in its own tidy). `saved` is an internal output: its upstream gradient is ignored.
 */
import { engine, type GradConfig, type NamedTensorMap, type Tensor } from '@tensorflow/tfjs';
import { PRUNED_BLOCK_WEIGHT_NAMES } from '../../ops/prunedBlock.js';
import { VitBlock, VitBlockGrad } from '../kernel_names.js';
import { several } from './util.js';

const SAVED_INPUTS = ['x', 'policy', ...PRUNED_BLOCK_WEIGHT_NAMES];

export const vitBlockGradConfig: GradConfig = {
  kernelName: VitBlock,
  inputsToSave: SAVED_INPUTS,
  outputsToSave: [false, true],
  gradFunc: (dy, saved, attrs) => {
    const [dyY] = several(dy);
    const inputs: NamedTensorMap = { dy: dyY! };
    SAVED_INPUTS.forEach((name, i) => (inputs[name] = saved[i]!));
    inputs.saved = saved[SAVED_INPUTS.length]!;
    const outs = engine().runKernel<Tensor[]>(VitBlockGrad, inputs, attrs) as Tensor[];
    const grads: Record<string, () => Tensor> = { x: () => outs[0]!, policy: () => outs[PRUNED_BLOCK_WEIGHT_NAMES.length + 1]! };
    PRUNED_BLOCK_WEIGHT_NAMES.forEach((name, i) => (grads[name] = () => outs[i + 1]!));
    return grads;
  },
};
