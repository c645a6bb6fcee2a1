/**
 * softmaxRows: native last-axis softmax (ops.h SoftmaxArgs), the attention softmax of SPEC §2 as the
 * TF.js `cpu` backend's `Softmax` kernel runs it after `useNativeBackend()`:
 *   y[r,c] = exp(x[r,c] - max_c' x[r,c']) / sum_c' exp(x[r,c'] - max_c' x[r,c'])
 * x [R,C] row-major. Rows are independent; each is written by one thread, so the result does not depend
 * on the thread count. The avx2 variant uses a polynomial exp (~1.5 ulp) and a float32 row sum.
 */
import { native } from '../native.js';
import { expectTensor, outputF32, snapshot, type F32Tensor } from '../validate.js';

/**
 * Softmax over the last axis of a rank-2 tensor.
 * @param x float32 [R,C] logits
 * @param out optional Float32Array of R*C elements to write into (must not overlap x.data)
 * @returns float32 [R,C] probabilities (each row sums to 1)
 * @throws TypeError when x is not a float32 [R,C] tensor or out is not a Float32Array
 * @throws RangeError on a shape / length mismatch or an out that overlaps x
 * @example
 *   const y = softmaxRows({ data: new Float32Array([1, 2, 3, 0, 0, 0]), shape: [2, 3] });
 */
export function softmaxRows(x: F32Tensor, out?: Float32Array): F32Tensor {
  x = snapshot(x); // data / shape read once
  const [R, C] = expectTensor('softmax', 'x', x, 'float32', ['R', 'C']) as [number, number];
  const y = outputF32('softmax', 'out', out, R * C);
  native().softmax(x.data, y, R, C);
  return { data: y, shape: [R, C] };
}
