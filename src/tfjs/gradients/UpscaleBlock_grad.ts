/**
 * Gradients of Reg4pruUpscaleBlock w.r.t. x and the five scale-block weights, from one Reg4pruUpscaleBlockGrad pass
 * over the saved inputs and the forward's own `saved` output (outputsToSave: the pre-GELU map and the LayerNorm
 * statistics; GELU and the depthwise output are recomputed). The pass runs when gradFunc is called, not in the per-input closures (each closure
 * runs in its own tidy). `saved` is an internal output: its upstream gradient is ignored.
 */
import { engine, type GradConfig, type NamedTensorMap, type Tensor } from '@tensorflow/tfjs';
import { UPSCALE_WEIGHT_NAMES } from '../../ops/upscaleBlock.js';
import { UpscaleBlock, UpscaleBlockGrad } from '../kernel_names.js';
import { several } from './util.js';

const SAVED_INPUTS = ['x', ...UPSCALE_WEIGHT_NAMES];

export const upscaleBlockGradConfig: GradConfig = {
  kernelName: UpscaleBlock,
  inputsToSave: SAVED_INPUTS,
  outputsToSave: [false, true],
  gradFunc: (dy, saved, attrs) => {
    const [dyY] = several(dy);
    const inputs: NamedTensorMap = { dy: dyY! };
    SAVED_INPUTS.forEach((name, i) => (inputs[name] = saved[i]!));
    inputs.saved = saved[SAVED_INPUTS.length]!;
    const outs = engine().runKernel<Tensor[]>(UpscaleBlockGrad, inputs, attrs) as Tensor[];
    const grads: Record<string, () => Tensor> = { x: () => outs[0]! };
    UPSCALE_WEIGHT_NAMES.forEach((name, i) => (grads[name] = () => outs[i + 1]!));
    return grads;
  },
};
