/**
 * scatterTokens (SPEC §5): write K token rows back into the full map.
 *   base [B,N,D] f32, idx [B,K] int32 (no duplicates in a row), src [B,K,D] -> out [B,N,D]
 *   out = base with out[b, idx[b,k], :] = src[b,k,:]  (rows not in idx keep base: "reactivation")
 * Gradient: dbase = dout with rows idx zeroed; dsrc = dout[idx].
 */
import { native } from '../native.js';
import { checkIndices, expectTensor, outputF32, type F32Tensor, type I32Tensor } from '../validate.js';
import { gatherTokensDims, type GatherDims } from './gatherTokens.js';

/** Validates base, idx and src (no duplicate indices) and returns the sizes. */
export function scatterTokensDims(op: string, base: F32Tensor, idx: I32Tensor, src: F32Tensor): GatherDims {
  const [B, N, D] = expectTensor(op, 'base', base, 'float32', ['B', 'N', 'D']) as [number, number, number];
  const [, K] = expectTensor(op, 'idx', idx, 'int32', ['B', 'K'], { B, N: undefined }) as [number, number];
  expectTensor(op, 'src', src, 'float32', ['B', 'K', 'D'], { B, K, D });
  checkIndices(op, 'idx', idx.data, B, K, N, true);
  return { B, N, K, D };
}

/**
 * Replaces rows idx of base by src.
 * @param base float32 [B,N,D]
 * @param idx int32 [B,K], each in [0, N), no duplicates within a row
 * @param src float32 [B,K,D]
 * @param out optional Float32Array of B*N*D elements; may be `base.data` itself (in-place)
 * @returns float32 [B,N,D]
 * @throws TypeError for a wrong dtype or rank; RangeError for a shape mismatch, an index out of range or a duplicate index
 */
export function scatterTokens(base: F32Tensor, idx: I32Tensor, src: F32Tensor, out?: Float32Array): F32Tensor {
  const { B, N, K, D } = scatterTokensDims('scatterTokens', base, idx, src);
  const o = outputF32('scatterTokens', 'out', out, B * N * D);
  native().scatterTokens(base.data, idx.data, src.data, o, B, N, K, D);
  return { data: o, shape: [B, N, D] };
}

/**
 * Gradients of scatterTokens: `dbase` = dout with rows idx zeroed, `dsrc` = dout gathered at idx.
 * @param dout float32 [B,N,D]
 * @param idx int32 [B,K], no duplicates within a row
 * @returns `{ dbase: [B,N,D], dsrc: [B,K,D] }`
 */
export function scatterTokensBackward(dout: F32Tensor, idx: I32Tensor): { dbase: F32Tensor; dsrc: F32Tensor } {
  const op = 'scatterTokensBackward';
  const { B, N, K, D } = gatherTokensDims(op, dout, idx);
  checkIndices(op, 'idx', idx.data, B, K, N, true);
  const dbase = new Float32Array(B * N * D);
  const dsrc = new Float32Array(B * K * D);
  native().scatterTokensBackward(dout.data, idx.data, dbase, dsrc, B, N, K, D);
  return { dbase: { data: dbase, shape: [B, N, D] }, dsrc: { data: dsrc, shape: [B, K, D] } };
}
