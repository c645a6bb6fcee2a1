/**
 * Small shared pieces of the reg4pru gradient functions.
 */
import { zeros, type Tensor } from '@tensorflow/tfjs';

/** The upstream gradient of a single-output kernel (TF.js passes a Tensor, or an array for several outputs). */
export function single(dy: Tensor | Tensor[]): Tensor {
  return Array.isArray(dy) ? dy[0]! : dy;
}

/**
 * The upstream gradients of a multi-output kernel; TF.js has already replaced the gradient of an output
 * that is not on the path by zeros.
 */
export function several(dy: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(dy) ? dy : [dy];
}

/**
 * The gradient of an integer input (token indices, masks): zeros, float32, as TF.js's own OneHot and
 * GatherV2-style gradients give (backprop insists on a float32 gradient of the input's shape).
 */
export function integerInputGrad(t: Tensor): () => Tensor {
  return () => zeros(t.shape, 'float32');
}
