/**
 * matmul: the native single-precision GEMM (the Linear layers of SPEC §2/§5 prunedBlock) on rank-2
 * tensors, with its fused epilogue:
 *   out[m,n] = residual[m,n] + colScale[n] * act(alpha * sum_k A(m,k) B(k,n) + bias[n])
 * A(m,k) = a[m,k] (or a[k,m] with transA), B(k,n) = b[k,n] (or b[n,k] with transB). `act` is none, ReLU
 * or the exact erf GELU. Each output element is one float32 FMA chain over k in ascending order, so the
 * result does not depend on the thread count. `residual` may be `out` itself (in-place x += ls * f(x)).
 */
import { native } from '../native.js';
import { describe, rangeError, typeError } from '../errors.js';
import { expectNumber, expectTensor, outputF32, snapshot, snapshotAll, type F32Tensor } from '../validate.js';

/** Elementwise activation fused into the GEMM epilogue ('gelu' is the exact erf GELU). */
export type Activation = 'none' | 'relu' | 'gelu';

export interface MatmulOptions {
  /** Read a as [K,M] (A = a^T). */
  transA?: boolean;
  /** Read b as [N,K] (B = b^T), the layout of a Linear weight [out, in]. */
  transB?: boolean;
  /** float32 [N], added before the activation. */
  bias?: Float32Array;
  activation?: Activation;
  /** float32 [N], multiplies after the activation (LayerScale). */
  colScale?: Float32Array;
  /** float32 [M,N], added last; may share `out`'s buffer exactly. */
  residual?: F32Tensor;
  /** Scales the product before the bias (default 1). */
  alpha?: number;
  /** Float32Array of M*N elements to write into (zero-copy). */
  out?: Float32Array;
}

export interface MatmulDims {
  M: number;
  N: number;
  K: number;
}

/** Validates a and b for the given transposes and returns M, N, K. */
export function matmulDims(op: string, a: F32Tensor, b: F32Tensor, transA = false, transB = false): MatmulDims {
  const sa = expectTensor(op, 'a', a, 'float32', transA ? ['K', 'M'] : ['M', 'K']);
  const [M, K] = transA ? [sa[1]!, sa[0]!] : [sa[0]!, sa[1]!];
  const sb = expectTensor(op, 'b', b, 'float32', transB ? ['N', 'K'] : ['K', 'N'], { K });
  const N = transB ? sb[0]! : sb[1]!;
  return { M, N, K };
}

function vectorN(op: string, name: string, v: unknown, N: number): Float32Array | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof Float32Array)) throw typeError(op, `expected ${name} to be a Float32Array [N], received ${describe(v)}`);
  if (v.length !== N) throw rangeError(op, `expected ${name} to have N=${N} elements, received ${v.length}`);
  return v;
}

function noOverlap(op: string, out: Float32Array, x: Float32Array, name: string): void {
  if (out.buffer !== x.buffer) return;
  const o0 = out.byteOffset, o1 = o0 + out.byteLength, x0 = x.byteOffset, x1 = x0 + x.byteLength;
  if (o0 < x1 && x0 < o1) throw rangeError(op, `expected opts.out not to share memory with ${name}, received overlapping buffers`);
}

/**
 * Matrix product with a fused bias / activation / LayerScale / residual epilogue.
 * @param a float32 [M,K] ([K,M] with `transA`)
 * @param b float32 [K,N] ([N,K] with `transB`)
 * @param opts transA, transB, bias [N], activation, colScale [N], residual [M,N], alpha, out (M*N)
 * @returns float32 [M,N]
 * @throws TypeError for a wrong dtype, rank or option kind; RangeError for mismatched sizes, an unknown
 *   activation, a non-finite alpha, or an `out` that overlaps a or b
 * @example
 * // y = gelu(x W^T + b) for a Linear weight W [F, D]
 * const y = matmul(x, { data: W, shape: [F, D] }, { transB: true, bias: b, activation: 'gelu' });
 */
export function matmul(a: F32Tensor, b: F32Tensor, opts: MatmulOptions = {}): F32Tensor {
  const op = 'matmul';
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  if (typeof transA !== 'boolean') throw typeError(op, `expected opts.transA to be a boolean, received ${describe(transA)}`);
  if (typeof transB !== 'boolean') throw typeError(op, `expected opts.transB to be a boolean, received ${describe(transB)}`);
  [a, b] = snapshotAll(a, b); // each input's data / shape read once
  const { M, N, K } = matmulDims(op, a, b, transA, transB);
  const bias = vectorN(op, 'opts.bias', opts.bias, N);
  const colScale = vectorN(op, 'opts.colScale', opts.colScale, N);
  const activation = opts.activation ?? 'none';
  if (activation !== 'none' && activation !== 'relu' && activation !== 'gelu')
    throw rangeError(op, `expected opts.activation to be 'none', 'relu' or 'gelu', received ${describe(activation)}`);
  const alpha = opts.alpha === undefined ? 1 : expectNumber(op, 'opts.alpha', opts.alpha);
  let residual: Float32Array | undefined;
  const res = opts.residual;
  if (res !== undefined) {
    const r = snapshot(res);
    expectTensor(op, 'opts.residual', r, 'float32', ['M', 'N'], { M, N });
    residual = r.data;
  }
  const out = outputF32(op, 'opts.out', opts.out, M * N);
  noOverlap(op, out, a.data, 'a');
  noOverlap(op, out, b.data, 'b');
  try {
    native().gemm(a.data, b.data, out, M, N, K, transA ? M : K, transB ? K : N, N, transA, transB, {
      alpha,
      bias,
      activation,
      colScale,
      residual,
    });
  } catch (e) {
    throw asMatmulError(e);
  }
  return { data: out, shape: [M, N] };
}

// The binding is the internal GEMM (`gemm: ...` messages); the user called matmul, so its errors say so
// (same class, same text, op name replaced).
function asMatmulError(e: unknown): unknown {
  if (!(e instanceof Error) || !e.message.startsWith('gemm: ')) return e;
  const message = `matmul: ${e.message.slice('gemm: '.length)}`;
  const Ctor = e instanceof TypeError ? TypeError : e instanceof RangeError ? RangeError : Error;
  return new Ctor(message);
}
