/**
 * TF.js kernel Reg4pruUpscaleBlock (ops/upscaleBlock.ts, native UpscaleBlockArgs; SPEC §2 mask-head scale block):
 *   x [B,h,w,C] f32, the five block weights by SPEC §8 name; attr lnEps -> [y [B,2h,2w,O], saved [B*2h*2w*(O+2)]]
 * saved is an output so that the gradient keeps it (outputsToSave); tfops.upscaleBlock returns y only.
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap } from '@tensorflow/tfjs';
import { UPSCALE_WEIGHT_NAMES, upscaleBlock, type UpscaleBlockOptions, type UpscaleWeightName } from '../../ops/upscaleBlock.js';
import type { F32Tensor } from '../../validate.js';
import { UpscaleBlock } from '../kernel_names.js';
import { f32, kernelBackend, numAttr, output, type Backend } from './backend_io.js';

const OP = 'upscaleBlock';

/** The five weights of an upscaleBlock kernel's inputs, as `{data, shape}` tensors. */
export function upscaleBlockWeights(op: string, be: Backend, inputs: NamedTensorInfoMap): Record<UpscaleWeightName, F32Tensor> {
  const w = {} as Record<UpscaleWeightName, F32Tensor>;
  for (const name of UPSCALE_WEIGHT_NAMES) w[name] = f32(op, be, inputs, name);
  return w;
}

export function upscaleBlockOpts(op: string, attrs: NamedAttrMap | undefined): UpscaleBlockOptions {
  return { lnEps: numAttr(op, attrs, 'lnEps') };
}

export const upscaleBlockKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = kernelBackend(OP, backend);
  const { y, saved } = upscaleBlock(f32(OP, be, inputs, 'x'), upscaleBlockWeights(OP, be, inputs), upscaleBlockOpts(OP, attrs));
  return [output(be, y), output(be, saved)];
};

export const upscaleBlockConfig: KernelConfig = { kernelName: UpscaleBlock, backendName: 'cpu', kernelFunc: upscaleBlockKernel };
