/**
 * Small shared pieces of the reg4pru gradient functions.
 */
import { engine, zeros, type GradConfig, type NamedTensorMap, type Tensor } from '@tensorflow/tfjs';

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

/**
 * The gradFunc of a fused training op whose forward returns [y, saved] (inputsToSave: `savedInputs`,
 * outputsToSave: [false, true]) and whose gradient kernel `gradKernel` takes dy, the saved inputs and `saved` and
 * returns one gradient per name of `gradNames`, in that order. The gradient kernel runs once, when gradFunc is
 * called, not in the per-input closures (each closure runs in its own tidy); saved's upstream gradient is ignored.
 */
export function savedOutputGradFunc(gradKernel: string, savedInputs: readonly string[], gradNames: readonly string[]): GradConfig['gradFunc'] {
  return (dy, saved, attrs) => {
    const inputs: NamedTensorMap = { dy: several(dy)[0]! };
    savedInputs.forEach((name, i) => (inputs[name] = saved[i]!));
    inputs.saved = saved[savedInputs.length]!;
    const outs = engine().runKernel<Tensor[]>(gradKernel, inputs, attrs) as Tensor[];
    return Object.fromEntries(gradNames.map((name, i) => [name, () => outs[i]!]));
  };
}
