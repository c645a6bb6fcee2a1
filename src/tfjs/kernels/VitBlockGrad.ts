/**
 * TF.js kernel Reg4pruVitBlockGrad (gradients of Reg4pruVitBlock; ops/vitBlock.ts vitBlockBackward):
 *   dy [B,N,D], x [B,N,D], policy [B,N] | [0] placeholder, the 14 weights, saved [B*N*(6D+F)]; attrs as the forward
 *   -> [dx [B,N,D], the 14 weight gradients (PRUNED_BLOCK_WEIGHT_NAMES order, weight shapes), dpolicy [B,N] | [0]]
 * One native pass produces all of them. With attr plain the policy gradient is the empty [0] placeholder's.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { PRUNED_BLOCK_WEIGHT_NAMES } from '../../ops/prunedBlock.js';
import { vitBlockBackward } from '../../ops/vitBlock.js';
import { VitBlockGrad } from '../kernel_names.js';
import { f32, kernelBackend, output } from './backend_io.js';
import { vitBlockOpts, vitBlockPolicy, vitBlockWeights } from './VitBlock.js';

const OP = 'vitBlockBackward';

export const vitBlockGradKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = kernelBackend(OP, backend);
  const policy = vitBlockPolicy(OP, be, inputs, attrs);
  const { dx, dpolicy, grads } = vitBlockBackward(
    f32(OP, be, inputs, 'dy'), f32(OP, be, inputs, 'x'), policy, vitBlockWeights(OP, be, inputs), f32(OP, be, inputs, 'saved'), vitBlockOpts(OP, attrs),
  );
  return [output(be, dx), ...PRUNED_BLOCK_WEIGHT_NAMES.map((n) => output(be, grads[n])), output(be, dpolicy ?? { data: new Float32Array(0), shape: [0] })];
};

export const vitBlockGradConfig: KernelConfig = { kernelName: VitBlockGrad, backendName: 'cpu', kernelFunc: vitBlockGradKernel };
