/**
 * scatterTokens (SPEC §5): write K token rows back into the full map.
 *   base [B,N,D] f32, idx [B,K] int32 (no duplicates in a row), src [B,K,D] -> out [B,N,D]
 *   out = base with out[b, idx[b,k], :] = src[b,k,:]  (rows not in idx keep base: "reactivation")
 * Gradient: dbase = dout with rows idx zeroed; dsrc = dout[idx].
 * `{ device: 'cuda' }` runs the same op on the GPU (upload, src/cuda/tokenOps.ts, download); same result.
 */
import { native } from '../native.js';
import { checkIndices, expectTensor, outputF32, snapshotAll, type F32Tensor, type I32Tensor } from '../validate.js';
import { gatherTokensDims, type DeviceOptions, type GatherDims } from './gatherTokens.js';
import { downloadF32, expectDevice, expectOptions, onCuda } from '../cuda/hostBridge.js';
import { upload } from '../cuda/deviceTensor.js';
import { scatterTokens as cudaScatterTokens, scatterTokensBackward as cudaScatterTokensBackward } from '../cuda/tokenOps.js';

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
 * @param opts `device`: 'cpu' (default) or 'cuda'
 * @returns float32 [B,N,D]
 * @throws TypeError for a wrong dtype or rank; RangeError for a shape mismatch, an index out of range or a duplicate index;
 *   Error for `device: 'cuda'` without a usable device
 */
export function scatterTokens(base: F32Tensor, idx: I32Tensor, src: F32Tensor, out?: Float32Array, opts?: DeviceOptions): F32Tensor {
  const op = 'scatterTokens';
  [base, idx, src] = snapshotAll(base, idx, src); // each input's data / shape read once
  const device = expectDevice(op, expectOptions<DeviceOptions>(op, opts).device);
  const { B, N, K, D } = scatterTokensDims(op, base, idx, src);
  const o = outputF32(op, 'out', out, B * N * D);
  if (device === 'cuda') onCuda((own) => downloadF32(own(cudaScatterTokens(own(upload(base)), own(upload(idx)), own(upload(src)))), o));
  else native().scatterTokens(base.data, idx.data, src.data, o, B, N, K, D);
  return { data: o, shape: [B, N, D] };
}

/**
 * Gradients of scatterTokens: `dbase` = dout with rows idx zeroed, `dsrc` = dout gathered at idx.
 * @param dout float32 [B,N,D]
 * @param idx int32 [B,K], no duplicates within a row
 * @param opts `device`: 'cpu' (default) or 'cuda'
 * @returns `{ dbase: [B,N,D], dsrc: [B,K,D] }`
 */
export function scatterTokensBackward(dout: F32Tensor, idx: I32Tensor, opts?: DeviceOptions): { dbase: F32Tensor; dsrc: F32Tensor } {
  const op = 'scatterTokensBackward';
  [dout, idx] = snapshotAll(dout, idx);
  const device = expectDevice(op, expectOptions<DeviceOptions>(op, opts).device);
  const { B, N, K, D } = gatherTokensDims(op, dout, idx);
  checkIndices(op, 'idx', idx.data, B, K, N, true);
  const dbase = new Float32Array(B * N * D);
  const dsrc = new Float32Array(B * K * D);
  if (device === 'cuda')
    onCuda((own) => {
      const g = cudaScatterTokensBackward(own(upload(dout)), own(upload(idx)));
      own(g.dbase);
      own(g.dsrc);
      downloadF32(g.dbase!, dbase);
      downloadF32(g.dsrc!, dsrc);
    });
  else native().scatterTokensBackward(dout.data, idx.data, dbase, dsrc, B, N, K, D);
  return { dbase: { data: dbase, shape: [B, N, D] }, dsrc: { data: dsrc, shape: [B, K, D] } };
}
