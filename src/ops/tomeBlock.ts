/**
 * tomeBlock (SPEC §6 ToMe baseline): one pre-norm ViT block with token merging, inference only.
 *   x [B,T,D] f32, one block's weights -> out [B,T,D]; the first P0 tokens (queries, cls, registers) are protected.
 * Merging (ToMe, Bolya et al. 2023, bipartite soft matching; merge/unmerge around the block as in ToMe for SD):
 *   - the Tu = T - P0 unprotected tokens split by offset u = t - P0 into A (u even) and B (u odd);
 *   - kbar = mean over heads of the keys LN1(x) W_k^T + b_k [Dh]; similarity = cosine(kbar_a, kbar_b);
 *   - each a picks its most similar b (ties: lower b); the m = tomeMergeCount(Tu, ratio) a's with the highest
 *     similarity (ties: lower a) are merged: x_m[b] = (x_b + sum of its a's) / size (sizes start at 1 per block);
 *   - merged sequence = the T - m surviving tokens in their original order (ratio 1 = prunedBlock, all tokens);
 *     plain attention (no log-size bias).
 *   mode 'mhsa':     z = x + unmerge(attn(x_m) - x_m), then the MLP on all T tokens;
 *   mode 'mhsa+mlp': out = x + unmerge(block(x_m) - x_m);  a merged a receives its destination's update.
 * LayerNorm eps 1e-6 by default, exact (erf) GELU, scale 1/sqrt(Dh).
 */
import { native } from '../native.js';
import { describe, rangeError, typeError } from '../errors.js';
import { expectInt, expectNumber, outputF32, type F32Tensor } from '../validate.js';
import { PRUNED_BLOCK_WEIGHT_NAMES, prunedBlockDims, type PrunedBlockWeights } from './prunedBlock.js';

/** Which part of the block runs on the merged tokens. */
export type TomeMode = 'mhsa' | 'mhsa+mlp';

export interface TomeBlockOptions {
  /** Number of attention heads H (D % H === 0). */
  heads: number;
  /** P0: the first P0 tokens of each row are never merged (0 <= P0 <= T). */
  protectedTokens: number;
  /** 'mhsa': merge around attention only; 'mhsa+mlp': around the whole block. */
  mode: TomeMode;
  /** Fraction of the T - P0 unprotected tokens kept after merging, in (0, 1]; at most half can merge. */
  ratio: number;
  /** Output buffer of B*T*D floats; may be `x.data` itself (in-place). */
  out?: Float32Array;
  /** Optional output buffer of B*T int32: receives the merged row (0 .. T-m-1) of every token. */
  mergeMap?: Int32Array;
  /** LayerNorm epsilon (default 1e-6). */
  lnEps?: number;
}

export interface TomeBlockDims {
  B: number;
  T: number;
  D: number;
  H: number;
  F: number;
  P0: number;
  /** Tokens merged away per row: m = tomeMergeCount(T - P0, ratio). */
  merged: number;
}

/**
 * Number of tokens merged away from Tu unprotected tokens at kept fraction `ratio`:
 * m = Tu - floor(ratio * Tu + 0.5), clamped to [0, ceil(Tu / 2)] (the size of A); 0 when Tu < 2.
 * @param Tu non-negative integer
 * @param ratio kept fraction in (0, 1]
 * @returns m, integer
 * @example
 * tomeMergeCount(256, 0.7); // 77
 */
export function tomeMergeCount(Tu: number, ratio: number): number {
  if (Tu < 2) return 0;
  const m = Tu - Math.floor(ratio * Tu + 0.5);
  return Math.min(Math.max(m, 0), Math.ceil(Tu / 2));
}

/** Validates x, weights and options; returns the sizes. */
export function tomeBlockDims(op: string, x: F32Tensor, weights: PrunedBlockWeights, opts: TomeBlockOptions): TomeBlockDims {
  if (typeof opts !== 'object' || opts === null)
    throw typeError(op, `expected opts to be an object {heads, protectedTokens, mode, ratio, out?, mergeMap?, lnEps?}, received ${describe(opts)}`);
  const { B, N: T, D, H, F } = prunedBlockDims(op, x, null, weights, opts.heads);
  const P0 = expectInt(op, 'protectedTokens', opts.protectedTokens, 0, T);
  if (opts.mode !== 'mhsa' && opts.mode !== 'mhsa+mlp') throw rangeError(op, `expected mode to be 'mhsa' or 'mhsa+mlp', received ${describe(opts.mode)}`);
  const ratio = expectNumber(op, 'ratio', opts.ratio, { gt: 0 });
  if (ratio > 1) throw rangeError(op, `expected ratio to be in (0, 1], received ${ratio}`);
  return { B, T, D, H, F, P0, merged: tomeMergeCount(T - P0, ratio) };
}

function prepare(op: string, x: F32Tensor, weights: PrunedBlockWeights, opts: TomeBlockOptions) {
  const dims = tomeBlockDims(op, x, weights, opts);
  const lnEps = opts.lnEps === undefined ? 1e-6 : expectNumber(op, 'lnEps', opts.lnEps, { gt: 0 });
  const { B, T, D } = dims;
  const out = outputF32(op, 'out', opts.out, B * T * D);
  let map: Int32Array | null = null;
  if (opts.mergeMap !== undefined) {
    if (!(opts.mergeMap instanceof Int32Array)) throw typeError(op, `expected mergeMap to be an Int32Array, received ${describe(opts.mergeMap)}`);
    if (opts.mergeMap.length !== B * T) throw rangeError(op, `expected mergeMap to have ${B * T} elements ([B,T] = [${B},${T}]), received ${opts.mergeMap.length}`);
    map = opts.mergeMap;
  }
  const w: Record<string, Float32Array> = {};
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) w[name] = weights[name].data;
  return { dims, lnEps, out, map, w };
}

/**
 * Runs one ViT block with ToMe token merging on all T tokens of x.
 * @param x float32 [B,T,D] (the block's full input; the first `protectedTokens` rows are never merged)
 * @param weights the 14 tensors of one block (as prunedBlock): `norm1.weight` [D], ..., `attn.qkv.weight` [3D,D],
 *   `mlp.fc1.weight` [F,D], `mlp.fc2.weight` [D,F], `ls2.gamma` [D]
 * @param opts `heads` H; `protectedTokens` P0; `mode` 'mhsa' | 'mhsa+mlp'; `ratio` kept fraction in (0, 1];
 *   optional `out` (may be `x.data`), `mergeMap` (int32 [B,T] output), `lnEps` (1e-6)
 * @returns float32 [B,T,D]
 * @throws TypeError for a wrong dtype / rank, a missing weight or a wrong option kind; RangeError for a shape
 *   mismatch, D % H != 0, protectedTokens outside [0, T], ratio outside (0, 1], an unknown mode, or an output
 *   buffer overlapping an input
 * @example
 * const y = tomeBlock({ data: x, shape: [1, 1029, 384] }, blockWeights, { heads: 6, protectedTokens: 5, mode: 'mhsa', ratio: 0.5 });
 */
export function tomeBlock(x: F32Tensor, weights: PrunedBlockWeights, opts: TomeBlockOptions): F32Tensor {
  const { dims, lnEps, out, map, w } = prepare('tomeBlock', x, weights, opts);
  const { B, T, D, H, P0 } = dims;
  native().tomeBlock(x.data, out, map, B, T, D, H, P0, w, opts.mode, opts.ratio, lnEps);
  return { data: out, shape: [B, T, D] };
}

/**
 * tomeBlock off the JS thread: same arguments and result, as a Promise. Do not touch x, out, mergeMap or the
 * weights until it settles.
 * @returns Promise of float32 [B,T,D]
 * @throws synchronously for invalid arguments (as tomeBlock); the Promise rejects with the native error if the
 *   kernel fails
 * @example
 * const y = await tomeBlockAsync(x, blockWeights, { heads: 6, protectedTokens: 5, mode: 'mhsa+mlp', ratio: 0.5 });
 */
export function tomeBlockAsync(x: F32Tensor, weights: PrunedBlockWeights, opts: TomeBlockOptions): Promise<F32Tensor> {
  const { dims, lnEps, out, map, w } = prepare('tomeBlockAsync', x, weights, opts);
  const { B, T, D, H, P0 } = dims;
  return native()
    .tomeBlockAsync(x.data, out, map, B, T, D, H, P0, w, opts.mode, opts.ratio, lnEps)
    .then((): F32Tensor => ({ data: out, shape: [B, T, D] }));
}
