/**
 * TF.js kernel Reg4pruLayerNormGrad (gradients of Reg4pruLayerNorm, SPEC §2 numerics; ops/layerNorm.ts):
 *   dy, x [..., C] f32, w [C], mean, rstd [R] -> [dx (x's shape), dw [C], db [C]]
 * with xhat = (x - mean) rstd, g = dy w: dx = rstd (g - mean_c g - xhat mean_c(g xhat)), dw = sum_r dy xhat,
 * db = sum_r dy, all three from one native pass. An empty x gives an empty dx and zero dw, db.
 */
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';
import { layerNormBackward, layerNormDims } from '../../ops/layerNorm.js';
import type { F32Tensor } from '../../validate.js';
import { LayerNormGrad } from '../kernel_names.js';
import { f32, kernelBackend, output } from './backend_io.js';

const OP = 'layerNormBackward';

export const layerNormGradKernel: KernelFunc = ({ inputs, backend }) => {
  const be = kernelBackend(OP, backend);
  const dy = f32(OP, be, inputs, 'dy'), x = f32(OP, be, inputs, 'x');
  const { R, C } = layerNormDims(x.shape);
  if (R * C === 0) {
    const zeros = () => output(be, { data: new Float32Array(C), shape: [C] });
    return [output(be, { data: new Float32Array(0), shape: x.shape }), zeros(), zeros()];
  }
  // dy must have x's element count; layerNormBackward checks it against [R,C].
  const rc = (t: F32Tensor): F32Tensor => ({ data: t.data, shape: t.data.length === R * C ? [R, C] : t.shape });
  const { dx, dw, db } = layerNormBackward(rc(dy), rc(x), f32(OP, be, inputs, 'w'), f32(OP, be, inputs, 'mean'), f32(OP, be, inputs, 'rstd'));
  return [output(be, { data: dx.data, shape: x.shape }), output(be, dw), output(be, db)];
};

export const layerNormGradConfig: KernelConfig = { kernelName: LayerNormGrad, backendName: 'cpu', kernelFunc: layerNormGradKernel };
