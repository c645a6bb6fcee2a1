/**
 * Gradients of Reg4pruUpscaleBlock w.r.t. x and the five scale-block weights, from one Reg4pruUpscaleBlockGrad pass
 * over the saved inputs and the forward's own `saved` output (outputsToSave: the pre-GELU map and the LayerNorm
 * statistics; GELU and the depthwise output are recomputed). `saved` is an internal output: its upstream gradient
 * is ignored.
 */
import type { GradConfig } from '@tensorflow/tfjs';
import { UPSCALE_WEIGHT_NAMES } from '../../ops/upscaleBlock.js';
import { UpscaleBlock, UpscaleBlockGrad } from '../kernel_names.js';
import { savedOutputGradFunc } from './util.js';

const SAVED_INPUTS = ['x', ...UPSCALE_WEIGHT_NAMES];

export const upscaleBlockGradConfig: GradConfig = {
  kernelName: UpscaleBlock,
  inputsToSave: SAVED_INPUTS,
  outputsToSave: [false, true],
  gradFunc: savedOutputGradFunc(UpscaleBlockGrad, SAVED_INPUTS, ['x', ...UPSCALE_WEIGHT_NAMES]),
};
