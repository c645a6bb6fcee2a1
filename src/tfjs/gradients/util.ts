/**
 * Small shared pieces of the reg4pru gradient functions.
 */
import { customGrad, engine, getGradient, zeros, type GradConfig, type GradSaveFunc, type NamedAttrMap, type NamedTensorMap, type Tensor } from '@tensorflow/tfjs';

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

/**
 * Benchmarks and tests only (A/B inside one process, bench/tfjs/allocTrain.ts --ab savedgrad): customGrad false runs
 * the [y, saved] kernel straight on the tape, as before runSavedOutputOp.
 */
export const savedOutputAB = { customGrad: true };

/**
 * Runs a fused training op whose kernel returns [y, saved] (gradient: a savedOutputGradFunc config registered for
 * `kernel`) and returns y. The kernel runs inside tf.customGrad, so the tape records one node with y as its only
 * output: recorded directly, the node's second output `saved` gets a zero-filled upstream gradient of saved's full
 * size from TF.js in every backward pass (tfjs-core's tapeNode.gradient fills every output without a gradient),
 * which the gradient ignores. The backward is the registered gradFunc itself, given the same saved tensors.
 * @param kernel the TF.js kernel name (its GradConfig has inputsToSave and outputsToSave [false, true])
 * @param inputs the kernel's inputs by name
 * @param attrs the kernel's attributes
 */
export function runSavedOutputOp(kernel: string, inputs: NamedTensorMap, attrs: NamedAttrMap): Tensor {
  const grad = getGradient(kernel);
  if (grad === undefined || grad.inputsToSave === undefined) throw new Error(`runSavedOutputOp: expected a gradient with inputsToSave registered for ${kernel}, received none`);
  if (!savedOutputAB.customGrad) {
    const [y, saved] = engine().runKernel<Tensor[]>(kernel, inputs, attrs) as [Tensor, Tensor];
    saved.dispose(); // the gradient keeps its own reference (outputsToSave)
    return y;
  }
  const names = Object.keys(inputs);
  const toSave = grad.inputsToSave;
  const op = customGrad((...args: Array<Tensor | GradSaveFunc>) => {
    const save = args[names.length] as GradSaveFunc;
    const ins: NamedTensorMap = {};
    names.forEach((n, i) => (ins[n] = args[i] as Tensor));
    const [y, saved] = engine().runKernel<Tensor[]>(kernel, ins, attrs) as [Tensor, Tensor];
    save([...toSave.map((n) => ins[n]!), saved]);
    return {
      value: y,
      gradFunc: (dy: Tensor | Tensor[], savedTensors: Tensor[]) => {
        const g = grad.gradFunc(dy, savedTensors, attrs);
        return names.map((n) => g[n]!());
      },
    };
  });
  return op(...names.map((n) => inputs[n]!));
}
