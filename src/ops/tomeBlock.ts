/**
 * tomeBlock (SPEC §6 ToMe baseline): one pre-norm ViT block with token merging, inference only.
 *   x [B,T,D] f32, one block's weights -> out [B,T,D]; the first P0 tokens (queries, cls, registers) are protected.
 * Merging (ToMe, Bolya et al. 2023, bipartite soft matching; merge/unmerge around the block as in ToMe for SD):
 *   - the Tu = T - P0 unprotected tokens, at offsets u = t - P0, split into sources A and destinations B:
 *       1-D (no `grid`): A = u even, B = u odd (ToMe's alternating split; at most ceil(Tu/2) merge);
 *       2-D (`grid: [gh, gw]`, gh*gw = Tu, u = row*gw + col; ToMe for SD's split): 2x2 windows tile the grid
 *       from the top-left (for odd gh / gw the last window row / column is 1 token high / wide); B = the
 *       top-left token of every window (row and col even), A = all others (up to ~75% merge). ToMe-SD picks
 *       each window's destination at random; this choice is fixed (ToMe-SD's no-random variant), so the
 *       op needs no seed and is deterministic;
 *     A and B are each ordered by offset;
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
import { expectEps, expectInt, expectNumber, outputF32, snapshot, snapshotWeights, type F32Tensor } from '../validate.js';
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
  /**
   * Fraction of the T - P0 unprotected tokens KEPT after merging, in (0, 1]: m = tomeMergeCount(Tu, ratio, grid).
   * Give exactly one of `ratio` and `mergeRatio`.
   */
  ratio?: number;
  /**
   * Fraction of the T - P0 unprotected tokens MERGED AWAY, in [0, 1] (ToMe for SD's `ratio`; the Reg4Pru paper's
   * "merge ratio 0.7 ... 0.4"): m = min(round(mergeRatio * Tu), |A|) (round half up; ToMe-SD itself floors).
   * Give exactly one of `ratio` and `mergeRatio`.
   */
  mergeRatio?: number;
  /**
   * [gh, gw]: the T - P0 unprotected tokens are a row-major gh x gw grid (gh * gw must equal T - P0) and are
   * split 2-D (one destination per 2x2 window). Left out: the 1-D alternating split.
   */
  grid?: readonly [number, number];
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
  /** The 2-D grid [gh, gw], or null for the 1-D split. */
  grid: [number, number] | null;
  /** The kept fraction handed to the kernel (from `ratio`, or tomeKeptRatio(Tu, mergeRatio, grid)). */
  ratio: number;
  /** Tokens merged away per row: m = tomeMergeCount(T - P0, ratio, grid). */
  merged: number;
}

/**
 * |A|, the number of source tokens (those that may merge) among Tu unprotected tokens:
 * 1-D split ceil(Tu / 2) (0 when Tu < 2: no destination); 2-D split Tu - ceil(gh / 2) * ceil(gw / 2).
 * @param Tu non-negative integer
 * @param grid optional [gh, gw] with gh * gw = Tu
 * @returns |A|, integer
 * @example
 * tomeSourceCount(256); // 128
 * tomeSourceCount(256, [16, 16]); // 192
 */
export function tomeSourceCount(Tu: number, grid?: readonly [number, number] | null): number {
  if (grid) return Tu - Math.ceil(grid[0] / 2) * Math.ceil(grid[1] / 2);
  return Tu < 2 ? 0 : Math.ceil(Tu / 2);
}

/**
 * Number of tokens merged away from Tu unprotected tokens at KEPT fraction `ratio`:
 * m = Tu - floor(ratio * Tu + 0.5), clamped to [0, |A|] (tomeSourceCount).
 * @param Tu non-negative integer
 * @param ratio kept fraction in (0, 1]
 * @param grid optional [gh, gw] (the 2-D split)
 * @returns m, integer
 * @example
 * tomeMergeCount(256, 0.7); // 77
 * tomeMergeCount(256, 0.3, [16, 16]); // 179
 */
export function tomeMergeCount(Tu: number, ratio: number, grid?: readonly [number, number] | null): number {
  const na = tomeSourceCount(Tu, grid);
  if (na <= 0) return 0;
  const m = Tu - Math.floor(ratio * Tu + 0.5);
  return Math.min(Math.max(m, 0), na);
}

/**
 * The kept fraction that makes the kernel merge m = min(round(mergeRatio * Tu), |A|) tokens (ToMe for SD's
 * convention: `mergeRatio` = fraction merged away): (Tu - m) / Tu, and 1 when Tu = 0. It lies in (0, 1]
 * (|A| < Tu), and tomeMergeCount(Tu, tomeKeptRatio(Tu, r, grid), grid) = m exactly.
 * @param Tu non-negative integer
 * @param mergeRatio merged fraction in [0, 1]
 * @param grid optional [gh, gw] (the 2-D split)
 * @returns kept fraction in (0, 1]
 * @example
 * tomeKeptRatio(256, 0.7, [16, 16]); // 77 / 256 (179 merged)
 */
export function tomeKeptRatio(Tu: number, mergeRatio: number, grid?: readonly [number, number] | null): number {
  if (Tu === 0) return 1;
  const m = Math.min(Math.round(mergeRatio * Tu), Math.max(tomeSourceCount(Tu, grid), 0)); // round half up
  return (Tu - m) / Tu;
}

/** Validates x, weights and options; returns the sizes. */
export function tomeBlockDims(op: string, x: F32Tensor, weights: PrunedBlockWeights, opts: TomeBlockOptions): TomeBlockDims {
  if (typeof opts !== 'object' || opts === null)
    throw typeError(op, `expected opts to be an object {heads, protectedTokens, mode, ratio | mergeRatio, grid?, out?, mergeMap?, lnEps?}, received ${describe(opts)}`);
  const { B, N: T, D, H, F } = prunedBlockDims(op, x, null, weights, opts.heads);
  const P0 = expectInt(op, 'protectedTokens', opts.protectedTokens, 0, T);
  const Tu = T - P0;
  if (opts.mode !== 'mhsa' && opts.mode !== 'mhsa+mlp') throw rangeError(op, `expected mode to be 'mhsa' or 'mhsa+mlp', received ${describe(opts.mode)}`);
  let grid: [number, number] | null = null;
  if (opts.grid !== undefined) {
    const g: unknown = opts.grid;
    if (!Array.isArray(g) || g.length !== 2) throw typeError(op, `expected grid to be an array [gh, gw], received ${describe(g)}`);
    const gh = expectInt(op, 'grid[0]', g[0], 1), gw = expectInt(op, 'grid[1]', g[1], 1);
    if (gh * gw !== Tu) throw rangeError(op, `expected grid [gh, gw] to have gh * gw = T - P0 = ${Tu} (the unprotected tokens), received [${gh}, ${gw}]`);
    grid = [gh, gw];
  }
  const hasRatio = opts.ratio !== undefined, hasMerge = opts.mergeRatio !== undefined;
  if (hasRatio === hasMerge)
    throw typeError(op, `expected exactly one of ratio (kept fraction) and mergeRatio (merged fraction), received ${hasRatio ? 'both' : 'neither'}`);
  let ratio: number;
  if (hasRatio) {
    ratio = expectNumber(op, 'ratio', opts.ratio, { gt: 0 });
    if (ratio > 1) throw rangeError(op, `expected ratio to be in (0, 1], received ${ratio}`);
  } else {
    const r = expectNumber(op, 'mergeRatio', opts.mergeRatio);
    if (r < 0 || r > 1) throw rangeError(op, `expected mergeRatio to be in [0, 1], received ${r}`);
    ratio = tomeKeptRatio(Tu, r, grid);
  }
  return { B, T, D, H, F, P0, grid, ratio, merged: tomeMergeCount(Tu, ratio, grid) };
}

// Validates the call; returns x and the weights read once (see prunedBlock's prepare) with the sizes and options.
function prepare(op: string, x0: F32Tensor, weights0: PrunedBlockWeights, opts: TomeBlockOptions) {
  const x = snapshot(x0);
  const weights = snapshotWeights(weights0, PRUNED_BLOCK_WEIGHT_NAMES);
  const dims = tomeBlockDims(op, x, weights, opts);
  const lnEps = opts.lnEps === undefined ? 1e-6 : expectEps(op, 'lnEps', opts.lnEps);
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
  return { x, dims, lnEps, out, map, w };
}

/**
 * Runs one ViT block with ToMe token merging on all T tokens of x.
 * @param x float32 [B,T,D] (the block's full input; the first `protectedTokens` rows are never merged)
 * @param weights the 14 tensors of one block (as prunedBlock): `norm1.weight` [D], ..., `attn.qkv.weight` [3D,D],
 *   `mlp.fc1.weight` [F,D], `mlp.fc2.weight` [D,F], `ls2.gamma` [D]
 * @param opts `heads` H; `protectedTokens` P0; `mode` 'mhsa' | 'mhsa+mlp'; exactly one of `ratio` (kept fraction
 *   in (0, 1]) and `mergeRatio` (merged fraction in [0, 1], ToMe-SD's convention); optional `grid` [gh, gw]
 *   (2-D split, gh * gw = T - P0), `out` (may be `x.data`), `mergeMap` (int32 [B,T] output), `lnEps` (1e-6)
 * @returns float32 [B,T,D]
 * @throws TypeError for a wrong dtype / rank, a missing weight, a wrong option kind, or not exactly one of
 *   ratio / mergeRatio; RangeError for a shape mismatch, D % H != 0, protectedTokens outside [0, T], ratio
 *   outside (0, 1], mergeRatio outside [0, 1], grid with gh * gw != T - P0, an unknown mode, or an output
 *   buffer overlapping an input
 * @example
 * const y = tomeBlock({ data: x, shape: [1, 1029, 384] }, blockWeights, { heads: 6, protectedTokens: 5, mode: 'mhsa', ratio: 0.5 });
 * // ToMe for SD: 2-D split over the 16x16 patch grid after P0 = 19 protected tokens, 70% of them merged
 * const z = tomeBlock({ data: x2, shape: [1, 275, 384] }, blockWeights, { heads: 6, protectedTokens: 19, mode: 'mhsa', mergeRatio: 0.7, grid: [16, 16] });
 */
export function tomeBlock(x0: F32Tensor, weights: PrunedBlockWeights, opts: TomeBlockOptions): F32Tensor {
  const { x, dims, lnEps, out, map, w } = prepare('tomeBlock', x0, weights, opts);
  const { B, T, D, H, P0, grid, ratio } = dims;
  native().tomeBlock(x.data, out, map, B, T, D, H, P0, w, opts.mode, ratio, lnEps, grid?.[0] ?? 0, grid?.[1] ?? 0);
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
export function tomeBlockAsync(x0: F32Tensor, weights: PrunedBlockWeights, opts: TomeBlockOptions): Promise<F32Tensor> {
  const { x, dims, lnEps, out, map, w } = prepare('tomeBlockAsync', x0, weights, opts);
  const { B, T, D, H, P0, grid, ratio } = dims;
  return native()
    .tomeBlockAsync(x.data, out, map, B, T, D, H, P0, w, opts.mode, ratio, lnEps, grid?.[0] ?? 0, grid?.[1] ?? 0)
    .then((): F32Tensor => ({ data: out, shape: [B, T, D] }));
}
