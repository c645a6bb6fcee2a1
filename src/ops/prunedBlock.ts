/**
 * prunedBlock (SPEC §5, numerics §2): the fused gather–attention–scatter pre-norm ViT block, inference only.
 *   x [B,N,D] f32, idx [B,K] int32 (no duplicates; null = all tokens), one block's weights -> out [B,N,D]
 *   X = x[b, idx[b,:]];  z = X + ls1 * proj(MHSA(LN1(X)));  y = z + ls2 * fc2(GELU(fc1(LN2(z))))
 *   out = x with rows idx replaced by y; attention runs over the K gathered tokens only.
 * Variable length (`opts.offsets`, FlashAttention's cu_seqlens): row b runs on its own K_b tokens
 * idx[offsets[b] .. offsets[b+1]) of a packed int32 idx [offsets[B]], no padding; the result of row b equals
 * the block run on that row alone (bit for bit on the ref kernel).
 * LayerNorm eps 1e-6 by default, exact (erf) GELU, qkv with bias, H heads of Dh = D/H, scale 1/sqrt(Dh).
 * `device: 'cuda'` runs the block on the GPU in float32 (src/cuda/prunedBlock.ts): upload -> run -> download,
 * same result; it throws (never falls back) when no device is usable.
 */
import { native, type NativeDeviceTensor } from '../native.js';
import { upload } from '../cuda/deviceTensor.js';
import { expectDevice, onCuda } from '../cuda/hostBridge.js';
import { describe, rangeError, typeError } from '../errors.js';
import { checkIndices, checkOffsets, expectEps, expectInt, expectTensor, outputF32, snapshotAll, snapshotWeights, type F32Tensor, type I32Tensor } from '../validate.js';

/** One block's SPEC §8 tensor names without the `blocks.{i}.` prefix, in kernel order. */
export const PRUNED_BLOCK_WEIGHT_NAMES = [
  'norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias', 'ls1.gamma',
  'norm2.weight', 'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias', 'ls2.gamma',
] as const;
export type PrunedBlockWeightName = (typeof PRUNED_BLOCK_WEIGHT_NAMES)[number];

/** One block's weights (timm layout, Linear weights [out, in]); F is the MLP hidden width. */
export type PrunedBlockWeights = Readonly<Record<PrunedBlockWeightName, F32Tensor>>;

export interface PrunedBlockOptions {
  /** Number of attention heads H (D % H === 0). */
  heads: number;
  /** Output buffer of B*N*D floats; may be `x.data` itself (in-place). */
  out?: Float32Array;
  /** LayerNorm epsilon (default 1e-6). */
  lnEps?: number;
  /** 'cpu' (default) or 'cuda' (upload, run on the GPU in float32, download). */
  device?: 'cpu' | 'cuda';
  /**
   * CPU only, sync op: 'fp32' (default) or 'bf16' (the four Linear layers and the attention with BF16 operands
   * and FP32 sums, as the engine's precision 'bf16'; LayerNorm and softmax in FP32). Needs AVX-512 BF16.
   */
  precision?: 'fp32' | 'bf16';
  /**
   * Variable length, CPU only: Int32Array [B+1] row offsets into a packed idx int32 [offsets[B]] (offsets[0] = 0,
   * row lengths offsets[b+1] − offsets[b] in [0, N]); row b runs on idx[offsets[b] .. offsets[b+1]) alone.
   */
  offsets?: Int32Array;
}

export interface PrunedBlockDims {
  B: number;
  N: number;
  K: number;
  D: number;
  H: number;
  F: number;
}

// Expected shape letters per weight, given D and F.
function weightShape(name: PrunedBlockWeightName): readonly string[] {
  switch (name) {
    case 'attn.qkv.weight': return ['3D', 'D'];
    case 'attn.qkv.bias': return ['3D'];
    case 'attn.proj.weight': return ['D', 'D'];
    case 'mlp.fc1.weight': return ['F', 'D'];
    case 'mlp.fc1.bias': return ['F'];
    case 'mlp.fc2.weight': return ['D', 'F'];
    default: return ['D'];
  }
}

/** Validates x, idx, weights and heads; returns the sizes (F from `mlp.fc1.bias`). Shared with the TF.js kernel. */
export function prunedBlockDims(op: string, x: F32Tensor, idx: I32Tensor | null, weights: PrunedBlockWeights, heads: number, offsets?: unknown): PrunedBlockDims {
  const [B, N, D] = expectTensor(op, 'x', x, 'float32', ['B', 'N', 'D']) as [number, number, number];
  let K = N;
  if (offsets !== undefined) {
    if (idx === null) throw rangeError(op, 'expected idx (the packed row indices, int32 [K]) with opts.offsets, received null');
    [K] = expectTensor(op, 'idx', idx, 'int32', ['K']) as [number];
    checkIndices(op, 'idx', idx.data, B, K, N, true, checkOffsets(op, 'opts.offsets', offsets, B, N, K));
  } else if (idx !== null) {
    [, K] = expectTensor(op, 'idx', idx, 'int32', ['B', 'K'], { B }) as [number, number];
    if (K > N) throw rangeError(op, `expected K <= N, received idx [${B},${K}] for N=${N}`);
    checkIndices(op, 'idx', idx.data, B, K, N, true);
  }
  const H = expectInt(op, 'heads', heads, 1);
  if (D % H !== 0) throw rangeError(op, `expected D to be a multiple of heads, received D=${D} heads=${H}`);
  if (typeof weights !== 'object' || weights === null) throw typeError(op, `expected weights to be an object of tensors, received ${describe(weights)}`);
  const fc1b = weights['mlp.fc1.bias'];
  if (fc1b === undefined) throw typeError(op, "expected weights['mlp.fc1.bias'] to be a float32 tensor [F], received undefined");
  const [F] = expectTensor(op, "weights['mlp.fc1.bias']", fc1b, 'float32', ['F']) as [number];
  const sizes: Record<string, number> = { D, '3D': 3 * D, F };
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) {
    const letters = weightShape(name);
    const expected: Record<string, number> = {};
    for (const l of letters) expected[l] = sizes[l]!;
    // [D,D] names both axes D: expectTensor checks each axis against its letter's size
    expectTensor(op, `weights['${name}']`, weights[name], 'float32', letters, expected);
  }
  return { B, N, K, D, H, F };
}

function nativeWeights(weights: PrunedBlockWeights): Record<string, Float32Array> {
  const w: Record<string, Float32Array> = {};
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) w[name] = weights[name].data;
  return w;
}

// Validates the call; returns the inputs read once (data / shape of x, idx and each weight: validation, the kernel
// and the result see the same arrays even if they are getters) with the sizes and options.
function prepare(op: string, x0: F32Tensor, idx0: I32Tensor | null, weights0: PrunedBlockWeights, opts: PrunedBlockOptions) {
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object {heads, out?, lnEps?}, received ${describe(opts)}`);
  const [x, idx] = snapshotAll(x0, idx0);
  const weights = snapshotWeights(weights0, PRUNED_BLOCK_WEIGHT_NAMES);
  const dims = prunedBlockDims(op, x, idx, weights, opts.heads, opts.offsets);
  const lnEps = opts.lnEps === undefined ? 1e-6 : expectEps(op, 'lnEps', opts.lnEps);
  const { B, N, D } = dims;
  const out = outputF32(op, 'out', opts.out, B * N * D);
  const cuda = expectDevice(op, opts.device) === 'cuda';
  if (cuda && opts.offsets !== undefined) throw rangeError(op, "opts.offsets (variable length) runs on the CPU; on the device use cuda.prunedBlock with its offsets option");
  return { x, idx, weights, dims, lnEps, out, w: nativeWeights(weights), cuda };
}

function precisionOf(p: unknown): 'fp32' | 'bf16' {
  if (p === undefined || p === 'fp32' || p === 'bf16') return p ?? 'fp32';
  throw rangeError('prunedBlock', `expected opts.precision to be 'fp32' or 'bf16', received ${describe(p)}`);
}

// device: 'cuda': float32 uploads of x, idx and the weights, then the CUDA block (enqueued). The caller downloads
// the result into out and frees it; the uploads are freed here (stream-ordered, so after the block has read them).
function launchCuda(x: F32Tensor, idx: I32Tensor | null, weights: PrunedBlockWeights, H: number, lnEps: number): NativeDeviceTensor {
  return onCuda((own) => {
    const w: Record<string, NativeDeviceTensor> = {};
    for (const name of PRUNED_BLOCK_WEIGHT_NAMES) w[name] = own(upload(weights[name])).native;
    const xd = own(upload(x)).native;
    const idxd = idx === null ? null : own(upload(idx)).native;
    return native().cudaPrunedBlock(xd, idxd, w, H, lnEps, false);
  });
}

/**
 * Runs one pre-norm ViT block on the tokens idx of x and writes them back; other rows are copied from x.
 * @param x float32 [B,N,D]
 * @param idx int32 [B,K] (each in [0, N), no duplicates in a row, any order), or null for all N tokens
 * @param weights the 14 tensors of one block: `norm1.weight` [D], `norm1.bias` [D], `attn.qkv.weight` [3D,D],
 *   `attn.qkv.bias` [3D], `attn.proj.weight` [D,D], `attn.proj.bias` [D], `ls1.gamma` [D], `norm2.weight` [D],
 *   `norm2.bias` [D], `mlp.fc1.weight` [F,D], `mlp.fc1.bias` [F], `mlp.fc2.weight` [D,F], `mlp.fc2.bias` [D], `ls2.gamma` [D]
 * @param opts `heads` H (D % H == 0); `out` optional output buffer (may be `x.data`: in-place); `lnEps` (1e-6);
 *   `device` ('cpu' default, or 'cuda')
 * @returns float32 [B,N,D]
 * @throws TypeError for a wrong dtype / rank or a missing weight; RangeError for a shape mismatch, an index
 *   out of range, a duplicate index (naming both positions), D % H != 0, or an out buffer overlapping an input;
 *   Error for `device: 'cuda'` without a usable CUDA device (the message says why)
 * @example
 * const y = prunedBlock({ data: x, shape: [1, 4101, 384] }, { data: keep, shape: [1, 2872] }, blockWeights, { heads: 6 });
 */
export function prunedBlock(x0: F32Tensor, idx0: I32Tensor | null, weights0: PrunedBlockWeights, opts: PrunedBlockOptions): F32Tensor {
  const { x, idx, weights, dims, lnEps, out, w, cuda } = prepare('prunedBlock', x0, idx0, weights0, opts);
  const { B, N, K, D, H } = dims;
  if (cuda) {
    const r = launchCuda(x, idx, weights, H, lnEps);
    try {
      out.set(r.downloadSync());
    } finally {
      r.free();
    }
    return { data: out, shape: [B, N, D] };
  }
  native().prunedBlock(x.data, idx === null ? null : idx.data, out, B, N, K, D, H, w, lnEps, precisionOf(opts.precision), opts.offsets);
  return { data: out, shape: [B, N, D] };
}

/**
 * prunedBlock off the JS thread: same arguments and result, as a Promise. Do not touch x, idx, out or the
 * weights until it settles.
 * @returns Promise of float32 [B,N,D]
 * @throws never synchronously: the Promise rejects for invalid arguments (the errors of prunedBlock) and,
 *   with the native error's class and message and the caller's stack, if the kernel fails. idx is copied
 *   and checked when the call is made, so changing it afterwards cannot make the kernel index out of range.
 * @example
 * const y = await prunedBlockAsync(x, idx, blockWeights, { heads: 6 });
 */
export async function prunedBlockAsync(x0: F32Tensor, idx0: I32Tensor | null, weights0: PrunedBlockWeights, opts: PrunedBlockOptions): Promise<F32Tensor> {
  // Created before the native call so that its stack points at the caller, not at the libuv callback (STYLE §6).
  const err = new Error('prunedBlockAsync failed');
  // async: a bad argument rejects the Promise (as policyAttentionAsync does) instead of throwing here.
  const { x, idx, weights, dims, lnEps, out, w, cuda } = prepare('prunedBlockAsync', x0, idx0, weights0, opts);
  const { B, N, K, D, H } = dims;
  if (cuda) {
    const r = launchCuda(x, idx, weights, H, lnEps);
    return r.download().then(
      (data): F32Tensor => {
        r.free();
        out.set(data);
        return { data: out, shape: [B, N, D] };
      },
      (e: unknown) => {
        r.free();
        throw nativeError(err, e);
      },
    );
  }
  return native()
    .prunedBlockAsync(x.data, idx === null ? null : idx.data, out, B, N, K, D, H, w, lnEps, undefined, opts.offsets)
    .then(
      (): F32Tensor => ({ data: out, shape: [B, N, D] }),
      (e: unknown) => {
        throw nativeError(err, e);
      },
    );
}

// Copies the native error's message and class onto the pre-made error, keeping its stack frames.
function nativeError(err: Error, e: unknown): Error {
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof Error) Object.setPrototypeOf(err, Object.getPrototypeOf(e) as object);
  const frames = (err.stack ?? '').split('\n').slice(1);
  err.message = message;
  err.stack = [`${e instanceof Error ? e.name : 'Error'}: ${message}`, ...frames].join('\n');
  return err;
}
