/**
 * TF.js kernel Reg4pruUpscaleBlockGrad (gradients of Reg4pruUpscaleBlock; ops/upscaleBlock.ts upscaleBlockBackward):
 *   dy [B,2h,2w,O], x [B,h,w,C], the five weights, saved [B*2h*2w*(O+2)]; attrs as the forward
 *   -> [dx [B,h,w,C], the five weight gradients (UPSCALE_WEIGHT_NAMES order, weight shapes)]
 * One native pass produces all of them.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { UPSCALE_WEIGHT_NAMES, upscaleBlockBackward } from '../../ops/upscaleBlock.js';
import { UpscaleBlockGrad } from '../kernel_names.js';
import { f32, kernelBackend, output } from './backend_io.js';
import { upscaleBlockOpts, upscaleBlockWeights } from './UpscaleBlock.js';

const OP = 'upscaleBlockBackward';

export const upscaleBlockGradKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = kernelBackend(OP, backend);
  const { dx, grads } = upscaleBlockBackward(
    f32(OP, be, inputs, 'dy'), f32(OP, be, inputs, 'x'), upscaleBlockWeights(OP, be, inputs), f32(OP, be, inputs, 'saved'), upscaleBlockOpts(OP, attrs),
  );
  return [output(be, dx), ...UPSCALE_WEIGHT_NAMES.map((n) => output(be, grads[n]))];
};

export const upscaleBlockGradConfig: KernelConfig = { kernelName: UpscaleBlockGrad, backendName: 'cpu', kernelFunc: upscaleBlockGradKernel };
