/**
 * prunedBlock on CUDA (SPEC §5, numerics §2) over DeviceTensors: the fused gather–attention–scatter pre-norm
 * ViT block of src/ops/prunedBlock.ts on the device (native/kernels/cuda/pruned_block.cu):
 *   X = x[b, idx[b,:]];  z = X + ls1 * proj(MHSA(LN1(X)));  y = z + ls2 * fc2(GELU(fc1(LN2(z))))
 *   out = x with rows idx replaced by y
 * The gather is fused into LayerNorm 1's row loads, attention reads q/k/v as strided head slices of the qkv
 * buffer (no gathered copy of K/V), and the scatter is fused into the fc2 residual epilogue.
 * Precision follows the weights' dtype: bfloat16 weights -> tensor cores (BF16 activations between the GEMMs,
 * FP32 residual stream); float32 weights -> FP32 throughout (within ~1e-5 of the CPU op).
 * Variable length (`opts.offsets`, FlashAttention's cu_seqlens): idx is the packed int32 [K] list of every row's
 * tokens and offsets an int32 DeviceTensor [B+1]; row b runs on idx[offsets[b] .. offsets[b+1]) alone (attention over
 * its own tokens; checked on the CUDA emulator against the CPU op, not yet on a GPU).
 * idx is checked on the device (range, duplicates) before anything is written; the op waits for that check, so
 * a bad index throws a RangeError naming the position from this call (the rest is enqueued asynchronously).
 * Status: ran on an H200 on 2026-12-04, all GPU tests passing (docs/gpu-results.md).
 */
import { native, type NativeDeviceTensor } from '../native.js';
import { describe, rangeError, typeError } from '../errors.js';
import { PRUNED_BLOCK_WEIGHT_NAMES, type PrunedBlockWeightName, type PrunedBlockWeights } from '../ops/prunedBlock.js';
import { expectEps } from '../validate.js';
import { DeviceTensor, nativeOf, upload } from './deviceTensor.js';

/** One block's 14 weights on the device (SPEC §8 names without `blocks.{i}.`), all float32 or all bfloat16. */
export type CudaBlockWeights = Readonly<Record<PrunedBlockWeightName, DeviceTensor>>;

export interface CudaPrunedBlockOptions {
  /** Number of attention heads H (D % H === 0, D/H <= 256). */
  heads: number;
  /** LayerNorm epsilon (default 1e-6). */
  lnEps?: number;
  /** Write into x and return it (default false: a new DeviceTensor). */
  inPlace?: boolean;
  /**
   * Variable-length rows: DeviceTensor int32 [B+1] (offsets[0] = 0, row lengths in [0, N], offsets[B] = K) into a packed
   * idx int32 [K]; checked on the device with idx.
   */
  offsets?: DeviceTensor;
  /** With offsets: the longest row if known (sizes the attention grid; default N, the bound). */
  maxLen?: number;
}

/**
 * Runs one pre-norm ViT block on the tokens idx of x, on the device.
 * @param x DeviceTensor float32 | bfloat16 [B,N,D]
 * @param idx DeviceTensor int32 [B,K] (each in [0, N), no duplicates in a row, any order), or null for all N tokens;
 *   with opts.offsets the packed int32 [K] of every row
 * @param weights the 14 tensors of one block as DeviceTensors of one dtype (see `uploadBlockWeights`)
 * @param opts `heads` H; `lnEps` (1e-6); `inPlace` (false); `offsets`, `maxLen` (variable-length rows)
 * @returns DeviceTensor [B,N,D] of x's dtype (x itself when inPlace)
 * @throws TypeError for a non-DeviceTensor, a wrong dtype / rank or a missing weight; RangeError for a shape
 *   mismatch, D % H != 0, an index out of range or a duplicate (checked on the device, naming the position);
 *   Error when no CUDA device is usable
 * @example
 * const w = cuda.uploadBlockWeights(blockWeights, { dtype: 'bfloat16' });
 * const y = cuda.prunedBlock(x, idx, w, { heads: 6 }); // x bfloat16 [1,4101,384], idx int32 [1,2871]
 */
export function prunedBlock(x: DeviceTensor, idx: DeviceTensor | null, weights: CudaBlockWeights, opts: CudaPrunedBlockOptions): DeviceTensor {
  const op = 'cudaPrunedBlock';
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object {heads, lnEps?, inPlace?}, received ${describe(opts)}`);
  if (typeof weights !== 'object' || weights === null) throw typeError(op, `expected weights to be an object of DeviceTensors, received ${describe(weights)}`);
  const heads: unknown = opts.heads;
  if (typeof heads !== 'number' || !Number.isInteger(heads)) throw typeError(op, `expected opts.heads to be an integer, received ${describe(heads)}`);
  if (heads < 1) throw rangeError(op, `expected opts.heads to be >= 1, received ${heads}`);
  const lnEps = opts.lnEps === undefined ? 1e-6 : expectEps(op, 'opts.lnEps', opts.lnEps); // the one LayerNorm eps rule
  const inPlace = opts.inPlace ?? false;
  if (typeof inPlace !== 'boolean') throw typeError(op, `expected opts.inPlace to be a boolean, received ${describe(inPlace)}`);
  const offsets = opts.offsets === undefined ? undefined : nativeOf(op, 'opts.offsets', opts.offsets);
  if (offsets !== undefined && idx === null) throw rangeError(op, 'expected idx (the packed row indices, int32 [K]) with opts.offsets, received null');
  const maxLen = opts.maxLen ?? 0;
  if (typeof maxLen !== 'number' || !Number.isInteger(maxLen) || maxLen < 0) throw rangeError(op, `expected opts.maxLen to be an integer >= 0, received ${describe(maxLen)}`);
  if (maxLen > 0 && offsets === undefined) throw rangeError(op, 'opts.maxLen applies to variable-length rows (opts.offsets) only');
  const w: Record<string, NativeDeviceTensor> = {};
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) w[name] = nativeOf(op, `weights['${name}']`, weights[name]);
  const xn = nativeOf(op, 'x', x);
  const idxn = idx === null ? null : nativeOf(op, 'idx', idx);
  const out = offsets === undefined ? native().cudaPrunedBlock(xn, idxn, w, heads, lnEps, inPlace) : native().cudaPrunedBlock(xn, idxn, w, heads, lnEps, inPlace, offsets, maxLen);
  return inPlace ? x : DeviceTensor.fromNative(out);
}

/**
 * Uploads one block's weights (host tensors, as prunedBlock takes them) to the device.
 * @param weights the 14 float32 tensors of one block
 * @param opts `dtype`: 'float32' (default; FP32 block) or 'bfloat16' (tensor-core block)
 * @returns the DeviceTensors; free them with `freeBlockWeights` when done
 * @throws TypeError for a missing / non-tensor weight (naming it); RangeError for a bad shape; Error when no CUDA
 *   device is usable
 * @example
 * const w = cuda.uploadBlockWeights(blockWeights, { dtype: 'bfloat16' });
 */
export function uploadBlockWeights(weights: PrunedBlockWeights, opts: { dtype?: 'float32' | 'bfloat16' } = {}): CudaBlockWeights {
  const op = 'uploadBlockWeights';
  if (typeof weights !== 'object' || weights === null) throw typeError(op, `expected weights to be an object of float32 tensors, received ${describe(weights)}`);
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object {dtype?}, received ${describe(opts)}`);
  const out: Partial<Record<PrunedBlockWeightName, DeviceTensor>> = {};
  try {
    for (const name of PRUNED_BLOCK_WEIGHT_NAMES) {
      const t: unknown = weights[name];
      if (typeof t !== 'object' || t === null || !('data' in t) || !(t.data instanceof Float32Array))
        throw typeError(op, `expected weights['${name}'] to be a float32 tensor {data, shape}, received ${describe(t)}`);
      out[name] = upload(weights[name], { dtype: opts.dtype ?? 'float32' });
    }
  } catch (e) {
    for (const t of Object.values(out)) t.free();
    throw e;
  }
  return out as CudaBlockWeights;
}

/** Frees the DeviceTensors of `uploadBlockWeights` (idempotent). */
export function freeBlockWeights(weights: CudaBlockWeights): void {
  const op = 'freeBlockWeights';
  if (typeof weights !== 'object' || weights === null) throw typeError(op, `expected weights to be an object of DeviceTensors, received ${describe(weights)}`);
  const ts = PRUNED_BLOCK_WEIGHT_NAMES.map((name) => {
    const t: unknown = weights[name];
    if (!(t instanceof DeviceTensor)) throw typeError(op, `expected weights['${name}'] to be a DeviceTensor, received ${describe(t)}`);
    return t;
  });
  for (const t of ts) t.free();
}
