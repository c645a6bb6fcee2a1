/**
 * Native `BatchMatMul` and `_FusedMatMul` for the TF.js `cpu` backend (SPEC §2: every Linear layer and
 * both attention products of the training graph run through these two kernels, forward and backward).
 *
 * Layout (TF.js semantics): a [...Ba, r, c], b [...Bb, r, c], rank >= 2 each; the batch dims Ba and Bb
 * broadcast (NumPy rules, right-aligned) to Bo; out [...Bo, M, N] with
 *   out[o] = op(a[ia(o)]) op(b[ib(o)]),  op(x) = x^T when the matching transpose flag is set.
 * Each (batch, M, N, K) product is one call of the native GEMM (`native().gemm`, ops.h GemmArgs) on
 * zero-copy subarray views of the backend's Float32Arrays: transposes are folded into transA/transB
 * and the leading dimension, so nothing is copied. When b has no batch (or a batch of 1) and a is not
 * transposed, a's batches are one tall [Ba*M, K] matrix and the whole product is a single GEMM.
 *
 * _FusedMatMul adds `bias` (any shape that broadcasts against out, as TF.js's Add) and an activation.
 * A bias that is a scalar or [N] (after leading 1s) goes into the GEMM epilogue with 'linear'/'relu';
 * the other activations (relu6, elu, sigmoid, leakyrelu, prelu) run as one pass in TS over the output,
 * with TF.js's formulas, which is cheap next to the O(MNK) product.
 * Numerics: float32 FMA chains over k in ascending order (the GEMM's contract), so results differ from
 * the stock JS loop (float64 accumulation of blocks) only by float32 rounding.
 */
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import { native } from '../../native.js';
import { broadcastOffsets, broadcastShape, f32Values, isCpuBackend, sizeOf, type CpuBackendLike } from './cpuData.js';
import { takeF32 } from '../../bufferPool.js';

interface MatmulPlan {
  M: number;
  N: number;
  K: number;
  outShape: number[];
}

function plan(a: TensorInfo, b: TensorInfo, transA: boolean, transB: boolean): MatmulPlan | undefined {
  const ra = a.shape.length, rb = b.shape.length;
  if (ra < 2 || rb < 2) return undefined;
  const M = transA ? a.shape[ra - 1]! : a.shape[ra - 2]!;
  const K = transA ? a.shape[ra - 2]! : a.shape[ra - 1]!;
  const Kb = transB ? b.shape[rb - 1]! : b.shape[rb - 2]!;
  const N = transB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
  if (K !== Kb) return undefined;
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  if (!batch) return undefined;
  return { M, N, K, outShape: [...batch, M, N] };
}

interface GemmEpilogue {
  bias?: Float32Array;
  activation?: 'none' | 'relu';
}

/** out = op(a) op(b) over broadcast batches; returns undefined when the stock kernel must run. */
function matmulInto(
  av: Float32Array, aShape: readonly number[], bv: Float32Array, bShape: readonly number[],
  transA: boolean, transB: boolean, p: MatmulPlan, epi: GemmEpilogue,
): Float32Array {
  const { M, N, K } = p;
  const batchA = aShape.slice(0, -2), batchB = bShape.slice(0, -2);
  const nA = sizeOf(batchA), nB = sizeOf(batchB);
  const outBatch = p.outShape.slice(0, -2);
  const nO = sizeOf(outBatch);
  const out = takeF32(nO * M * N);
  const lda = transA ? M : K, ldb = transB ? K : N;
  const g = native();
  const opts = epi.bias || epi.activation === 'relu' ? { bias: epi.bias, activation: epi.activation } : undefined;
  if (nB === 1 && !transA && nA === nO) {
    // One tall GEMM: a's batches stack into [nA*M, K] rows.
    g.gemm(av, bv, out, nA * M, N, K, lda, ldb, N, false, transB, opts);
    return out;
  }
  const offA = nA === nO ? undefined : broadcastOffsets(batchA, outBatch);
  const offB = nB === nO ? undefined : broadcastOffsets(batchB, outBatch);
  const sA = M * K, sB = K * N, sC = M * N;
  for (let o = 0; o < nO; o++) {
    const ia = offA ? offA[o]! : o, ib = offB ? offB[o]! : o;
    g.gemm(
      av.subarray(ia * sA, (ia + 1) * sA), bv.subarray(ib * sB, (ib + 1) * sB), out.subarray(o * sC, (o + 1) * sC),
      M, N, K, lda, ldb, N, transA, transB, opts,
    );
  }
  return out;
}

type Stock = KernelFunc;
type KernelArgs = Parameters<KernelFunc>[0];

function boolAttr(attrs: NamedAttrMap | undefined, name: string): boolean {
  return attrs?.[name] === true;
}

/** Native BatchMatMul; falls back to `stock` for non-float32 or empty operands. */
export function makeBatchMatMul(stock: Stock): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const a = inputs.a, b = inputs.b;
    if (!a || !b || !isCpuBackend(backend)) return stock(args);
    const transA = boolAttr(attrs, 'transposeA'), transB = boolAttr(attrs, 'transposeB');
    const av = f32Values(backend, a), bv = f32Values(backend, b);
    const p = plan(a, b, transA, transB);
    if (!av || !bv || !p || p.M * p.N * p.K === 0 || sizeOf(p.outShape) === 0) return stock(args);
    const out = matmulInto(av, a.shape, bv, b.shape, transA, transB, p, {});
    return backend.makeTensorInfo(p.outShape, 'float32', out);
  };
}

/** A bias that the GEMM epilogue can take: scalar or [N] after leading 1s, rank <= out rank. */
function epilogueBias(backend: CpuBackendLike, bias: TensorInfo, N: number, outRank: number): Float32Array | undefined {
  const v = f32Values(backend, bias);
  if (!v || bias.shape.length > outRank) return undefined;
  const lead = bias.shape.slice(0, -1);
  if (lead.some((d) => d !== 1)) return undefined;
  const last = bias.shape.length === 0 ? 1 : bias.shape[bias.shape.length - 1]!;
  if (last === N) return v;
  if (last === 1) return new Float32Array(N).fill(v[0]!);
  return undefined;
}

/** x + bias with TF.js (NumPy) broadcasting: the general path for biases the epilogue cannot take. */
function addBroadcast(x: Float32Array, xShape: number[], bv: Float32Array, bShape: readonly number[]): { values: Float32Array; shape: number[] } | undefined {
  const shape = broadcastShape(xShape, bShape);
  if (!shape) return undefined;
  const offX = broadcastOffsets(xShape, shape), offB = broadcastOffsets(bShape, shape);
  const out = takeF32(offX.length);
  for (let i = 0; i < out.length; i++) out[i] = x[offX[i]!]! + bv[offB[i]!]!;
  return { values: out, shape };
}

/** Applies a TF.js fused activation other than linear/relu in place (TF.js cpu formulas). */
function activateInPlace(v: Float32Array, activation: string, leakyAlpha: number): boolean {
  const n = v.length;
  switch (activation) {
    case 'relu6':
      for (let i = 0; i < n; i++) v[i] = Math.min(Math.max(0, v[i]!), 6);
      return true;
    case 'elu':
      for (let i = 0; i < n; i++) { const x = v[i]!; v[i] = x >= 0 ? x : Math.exp(x) - 1; }
      return true;
    case 'sigmoid':
      for (let i = 0; i < n; i++) v[i] = 1 / (1 + Math.exp(-v[i]!));
      return true;
    case 'leakyrelu':
      for (let i = 0; i < n; i++) { const x = v[i]!; v[i] = x < 0 ? leakyAlpha * x : x; }
      return true;
    case 'relu':
      for (let i = 0; i < n; i++) v[i] = Math.max(0, v[i]!);
      return true;
    default:
      return false;
  }
}

/** Native _FusedMatMul (bias + every TF.js fused activation); falls back to `stock` when it cannot run. */
export function makeFusedMatMul(stock: Stock): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const { a, b, bias, preluActivationWeights: preluW } = inputs;
    const fallback = () => stock(args);
    if (!a || !b || !isCpuBackend(backend)) return fallback();
    const transA = boolAttr(attrs, 'transposeA'), transB = boolAttr(attrs, 'transposeB');
    const act = typeof attrs?.activation === 'string' ? attrs.activation : 'linear';
    const leakyAlpha = typeof attrs?.leakyreluAlpha === 'number' ? attrs.leakyreluAlpha : 0.2;
    const known = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'];
    const av = f32Values(backend, a), bv = f32Values(backend, b);
    const p = plan(a, b, transA, transB);
    if (!av || !bv || !p || p.M * p.N * p.K === 0 || sizeOf(p.outShape) === 0 || !known.includes(act)) return fallback();
    let eBias: Float32Array | undefined;
    let lateBias: Float32Array | undefined;
    if (bias) {
      eBias = epilogueBias(backend, bias, p.N, p.outShape.length);
      if (!eBias) {
        lateBias = f32Values(backend, bias);
        if (!lateBias) return fallback();
      }
    }
    let preluV: Float32Array | undefined;
    if (act === 'prelu') {
      preluV = preluW ? f32Values(backend, preluW) : undefined;
      if (!preluV || !preluW) return fallback();
    }
    // relu is fused only when no late bias must come before it.
    const fuseRelu = act === 'relu' && !lateBias;
    let values = matmulInto(av, a.shape, bv, b.shape, transA, transB, p, { bias: eBias, activation: fuseRelu ? 'relu' : 'none' });
    let shape = p.outShape;
    if (lateBias && bias) {
      const r = addBroadcast(values, shape, lateBias, bias.shape);
      if (!r) return fallback();
      values = r.values;
      shape = r.shape;
    }
    if (act === 'prelu' && preluV && preluW) {
      const outShape = broadcastShape(shape, preluW.shape);
      if (!outShape) return fallback();
      const offX = broadcastOffsets(shape, outShape), offA = broadcastOffsets(preluW.shape, outShape);
      const out = takeF32(offX.length);
      for (let i = 0; i < out.length; i++) { const x = values[offX[i]!]!; out[i] = x < 0 ? preluV[offA[i]!]! * x : x; }
      values = out;
      shape = outShape;
    } else if (act !== 'linear' && !fuseRelu) {
      activateInPlace(values, act, leakyAlpha);
    }
    return backend.makeTensorInfo(shape, 'float32', values);
  };
}
