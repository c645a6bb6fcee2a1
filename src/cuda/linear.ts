/**
 * linear on CUDA: the built-in GEMM (native/kernels/cuda/gemm.cu) with the CPU matmul's fused epilogue,
 * in the Linear-layer layout (w is a weight [out, in], as `matmul(a, w, { transB: true })` on the CPU):
 *   out[m,n] = residual[m,n] + colScale[n] * act(alpha * sum_k a[m,k] w[n,k] + bias[n])
 * bfloat16 a/w run on tensor cores (mma.sync m16n8k16, FP32 accumulation); float32 a/w on an FP32 SIMT
 * kernel. The result is rounded once to `outDtype`. Used by the CUDA prunedBlock and the GPU benchmarks
 * (BF16 peak measurement). Status: ran on an H200 on 2026-12-04, all GPU tests passing (docs/gpu-results.md).
 */
import { native } from '../native.js';
import { describe, rangeError, typeError } from '../errors.js';
import type { Activation } from '../ops/matmul.js';
import { DeviceTensor, nativeOf } from './deviceTensor.js';

export interface CudaLinearOptions {
  /** float32 | bfloat16 [N], added before the activation. */
  bias?: DeviceTensor;
  /** 'none' (default), 'relu' or the exact erf 'gelu'. */
  activation?: Activation;
  /** float32 | bfloat16 [N], multiplies after the activation (LayerScale). */
  colScale?: DeviceTensor;
  /** float32 | bfloat16 [M,N], added last. */
  residual?: DeviceTensor;
  /** Scales the product before the bias (default 1). */
  alpha?: number;
  /** dtype of the result (default: a's dtype). */
  outDtype?: 'float32' | 'bfloat16';
}

/**
 * Matrix product with a Linear weight and a fused bias / activation / LayerScale / residual epilogue.
 * @param a DeviceTensor float32 | bfloat16 [M,K]
 * @param w DeviceTensor, a's dtype, [N,K]
 * @param opts bias [N], activation, colScale [N], residual [M,N], alpha, outDtype
 * @returns a new DeviceTensor [M,N]
 * @throws TypeError for a non-DeviceTensor or a wrong dtype / rank; RangeError for mismatched sizes, an
 *   unknown activation or a non-finite alpha; Error when no CUDA device is usable
 * @example
 * const y = cuda.linear(x, fc1w, { bias: fc1b, activation: 'gelu' }); // x [M,384], fc1w [1536,384] bfloat16
 */
export function linear(a: DeviceTensor, w: DeviceTensor, opts: CudaLinearOptions = {}): DeviceTensor {
  const op = 'cudaLinear';
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
  const alpha = opts.alpha ?? 1;
  if (typeof alpha !== 'number') throw typeError(op, `expected opts.alpha to be a number, received ${describe(alpha)}`);
  if (!Number.isFinite(alpha)) throw rangeError(op, `expected opts.alpha to be finite, received ${alpha}`);
  const act = opts.activation ?? 'none';
  if (act !== 'none' && act !== 'relu' && act !== 'gelu') throw rangeError(op, `expected opts.activation to be 'none', 'relu' or 'gelu', received ${describe(act)}`);
  const opt = (name: string, t: DeviceTensor | undefined) => (t === undefined ? null : nativeOf(op, name, t));
  const out = native().cudaLinear(
    nativeOf(op, 'a', a), nativeOf(op, 'w', w), opt('opts.bias', opts.bias), act, opt('opts.colScale', opts.colScale),
    opt('opts.residual', opts.residual), alpha, opts.outDtype ?? null,
  );
  return DeviceTensor.fromNative(out);
}
