/**
 * gatherTokens (SPEC §5): pick K token rows per batch row.
 *   x [B,N,D] f32, idx [B,K] int32 -> out [B,K,D]; out[b,k,:] = x[b, idx[b,k], :]
 * Gradient (gatherTokensBackward): scatter-add of dout into a zero [B,N,D]; repeated indices sum.
 * `{ device: 'cuda' }` runs the same op on the GPU (upload, src/cuda/tokenOps.ts, download); same result.
 */
import { native } from '../native.js';
import { checkIndices, expectInt, expectTensor, outputF32, snapshotAll, type F32Tensor, type I32Tensor } from '../validate.js';
import { downloadF32, expectDevice, expectOptions, onCuda, type Device } from '../cuda/hostBridge.js';
import { upload } from '../cuda/deviceTensor.js';
import { gatherTokens as cudaGatherTokens, gatherTokensBackward as cudaGatherTokensBackward } from '../cuda/tokenOps.js';

/** Where a host op runs: `'cpu'` (default) or `'cuda'` (upload -> GPU kernel -> download, same result type). */
export interface DeviceOptions {
  device?: Device;
}

export interface GatherDims {
  B: number;
  N: number;
  K: number;
  D: number;
}

/** Validates x and idx and returns the sizes; shared by the op, its gradient and the TF.js kernel. */
export function gatherTokensDims(op: string, x: F32Tensor, idx: I32Tensor): GatherDims {
  const [B, N, D] = expectTensor(op, 'x', x, 'float32', ['B', 'N', 'D']) as [number, number, number];
  const [, K] = expectTensor(op, 'idx', idx, 'int32', ['B', 'K'], { B }) as [number, number];
  checkIndices(op, 'idx', idx.data, B, K, N, false);
  return { B, N, K, D };
}

/**
 * Gathers token rows: `out[b,k,:] = x[b, idx[b,k], :]`. Duplicate indices are allowed.
 * @param x float32 [B,N,D]
 * @param idx int32 [B,K], each in [0, N)
 * @param out optional Float32Array of B*K*D elements to write into (zero-copy on the CPU)
 * @param opts `device`: 'cpu' (default) or 'cuda'
 * @returns float32 [B,K,D]
 * @throws TypeError for a wrong dtype or rank; RangeError for a shape mismatch or an index out of range;
 *   Error for `device: 'cuda'` without a usable device (the message says why)
 * @example
 * const y = gatherTokens({ data: x, shape: [1, 4101, 384] }, { data: keep, shape: [1, 2872] });
 */
export function gatherTokens(x: F32Tensor, idx: I32Tensor, out?: Float32Array, opts?: DeviceOptions): F32Tensor {
  const op = 'gatherTokens';
  [x, idx] = snapshotAll(x, idx); // each input's data / shape read once: validation and the kernel see the same arrays
  const device = expectDevice(op, expectOptions<DeviceOptions>(op, opts).device);
  const { B, N, K, D } = gatherTokensDims(op, x, idx);
  const o = outputF32(op, 'out', out, B * K * D);
  if (device === 'cuda') onCuda((own) => downloadF32(own(cudaGatherTokens(own(upload(x)), own(upload(idx)))), o));
  else native().gatherTokens(x.data, idx.data, o, B, N, K, D);
  return { data: o, shape: [B, K, D] };
}

/**
 * Gradient of gatherTokens with respect to x: `dx = 0; dx[b, idx[b,k], :] += dout[b,k,:]`.
 * @param dout float32 [B,K,D]
 * @param idx int32 [B,K]
 * @param N number of tokens of x
 * @param opts `device`: 'cpu' (default) or 'cuda'
 * @returns float32 [B,N,D]
 */
export function gatherTokensBackward(dout: F32Tensor, idx: I32Tensor, N: number, out?: Float32Array, opts?: DeviceOptions): F32Tensor {
  const op = 'gatherTokensBackward';
  [dout, idx] = snapshotAll(dout, idx);
  const device = expectDevice(op, expectOptions<DeviceOptions>(op, opts).device);
  const [B, K, D] = expectTensor(op, 'dout', dout, 'float32', ['B', 'K', 'D']) as [number, number, number];
  expectTensor(op, 'idx', idx, 'int32', ['B', 'K'], { B, K });
  expectInt(op, 'N', N, 1);
  checkIndices(op, 'idx', idx.data, B, K, N, false);
  const o = outputF32(op, 'out', out, B * N * D);
  if (device === 'cuda') onCuda((own) => downloadF32(own(cudaGatherTokensBackward(own(upload(dout)), own(upload(idx)), N)), o));
  else native().gatherTokensBackward(dout.data, idx.data, o, B, N, K, D);
  return { data: o, shape: [B, N, D] };
}
