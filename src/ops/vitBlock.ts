/**
 * vitBlock / vitBlockBackward: one pre-norm ViT block as a single native training op, forward and backward
 * (ops.h VitBlockArgs / VitBlockBwdArgs; SPEC §2 block numerics, §4 policy attention):
 *   x [B,N,D] f32, policy [B,N] f32 | null, one block's 14 weights -> y [B,N,D]
 *   z = x + ls1 * proj(attn(LN1 x));  y = z + ls2 * fc2(GELU(fc1(LN2 z)))
 *   attn: with a policy the SPEC §4 masked self-loop attention (eps = attnEps), without one plain softmax.
 * The forward also returns `saved` [B*N*(6D+F)] (qkv, attention output, proj / fc1 / fc2 outputs: no N x N
 * matrix, the backward recomputes attention tile by tile), which the backward takes back. The backward gives
 * dx, dpolicy (summed over heads; null without a policy) and all 14 weight gradients, overwritten.
 * Threads: every output element has one writer and every reduction a fixed order, so results do not depend
 * on setThreads(). The native kernels follow setKernel() (ref | avx2 | avx512).
 */
import { native } from '../native.js';
import { describe, rangeError, typeError } from '../errors.js';
import { expectEps, expectTensor, snapshotAll, snapshotWeights, type F32Tensor } from '../validate.js';
import { PRUNED_BLOCK_WEIGHT_NAMES, prunedBlockDims, type PrunedBlockDims, type PrunedBlockWeightName, type PrunedBlockWeights } from './prunedBlock.js';

export interface VitBlockOptions {
  /** Number of attention heads H (D % H === 0). */
  heads: number;
  /** LayerNorm epsilon, finite > 0 (default 1e-6). */
  lnEps?: number;
  /** SPEC §4 policy-attention eps, finite >= 0 (default 1e-6); unused without a policy. */
  attnEps?: number;
}

export type VitBlockDims = Omit<PrunedBlockDims, 'K'>;

/** Floats of the forward's saved buffer: B*N*(6D + F). */
export function vitBlockSavedFloats(d: VitBlockDims): number {
  return d.B * d.N * (6 * d.D + d.F);
}

interface Prepared {
  /** The inputs as read once (what the kernel must be given). */
  x: F32Tensor;
  policy: F32Tensor | null;
  weights: PrunedBlockWeights;
  dims: VitBlockDims;
  lnEps: number;
  attnEps: number;
  w: Record<string, Float32Array>;
}

/** Validates x, policy, weights and opts (shared with the TF.js kernels); returns the sizes and eps values. */
export function vitBlockPrepare(op: string, x0: F32Tensor, policy0: F32Tensor | null, weights0: PrunedBlockWeights, opts: VitBlockOptions): Prepared {
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object {heads, lnEps?, attnEps?}, received ${describe(opts)}`);
  // each input's data / shape read once: validation, the kernel and the result see the same arrays
  const [x, policy] = snapshotAll(x0, policy0);
  const weights = snapshotWeights(weights0, PRUNED_BLOCK_WEIGHT_NAMES);
  const { B, N, D, H, F } = prunedBlockDims(op, x, null, weights, opts.heads);
  if (policy !== null) {
    expectTensor(op, 'policy', policy, 'float32', ['B', 'N'], { B, N });
    for (let t = 0; t < policy.data.length; t++)
      if (!Number.isFinite(policy.data[t]!))
        throw rangeError(op, `expected policy values to be finite, received policy[${Math.floor(t / N)}][${t % N}] = ${policy.data[t]}`);
  }
  const lnEps = opts.lnEps === undefined ? 1e-6 : expectEps(op, 'lnEps', opts.lnEps);
  const attnEps = opts.attnEps ?? 1e-6;
  if (typeof attnEps !== 'number' || !Number.isFinite(attnEps) || attnEps < 0)
    throw rangeError(op, `expected attnEps to be a finite number >= 0, received ${describe(attnEps)}`);
  const w: Record<string, Float32Array> = {};
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) w[name] = weights[name].data;
  return { x, policy, weights, dims: { B, N, D, H, F }, lnEps, attnEps, w };
}

/**
 * The block's forward pass, keeping what the backward needs.
 * @param x float32 [B,N,D]
 * @param policy float32 [B,N] (finite; soft values allowed) or null for plain softmax attention
 * @param weights one block's 14 tensors (SPEC §8 names without `blocks.{i}.`; Linear weights [out, in])
 * @param opts `heads`, `lnEps` (default 1e-6), `attnEps` (default 1e-6)
 * @returns `{ y: float32 [B,N,D], saved: float32 [B*N*(6D+F)] }`
 * @throws TypeError for a wrong dtype / rank or a missing weight; RangeError for a shape mismatch, D % heads != 0,
 *   a bad eps or a non-finite policy value
 * @example
 *   const { y, saved } = vitBlock(x, null, blockWeights, { heads: 3 });
 */
export function vitBlock(x0: F32Tensor, policy0: F32Tensor | null, weights: PrunedBlockWeights, opts: VitBlockOptions): { y: F32Tensor; saved: F32Tensor } {
  const op = 'vitBlock';
  const p = vitBlockPrepare(op, x0, policy0, weights, opts);
  const { x, policy } = p;
  const { B, N, D, H } = p.dims;
  const y = new Float32Array(B * N * D), saved = new Float32Array(vitBlockSavedFloats(p.dims));
  native().vitBlock(x.data, policy?.data ?? null, p.w, y, saved, B, N, D, H, p.lnEps, p.attnEps);
  return { y: { data: y, shape: [B, N, D] }, saved: { data: saved, shape: [saved.length] } };
}

export interface VitBlockGrads {
  /** float32 [B,N,D] */
  dx: F32Tensor;
  /** float32 [B,N] (summed over heads), or null without a policy */
  dpolicy: F32Tensor | null;
  /** one gradient per weight, of the weight's shape */
  grads: Record<PrunedBlockWeightName, F32Tensor>;
}

/**
 * Gradients of vitBlock w.r.t. x, the policy and every weight (overwritten, not accumulated).
 * @param dy float32 [B,N,D] upstream gradient of y
 * @param x, policy, weights, opts as given to vitBlock
 * @param saved the forward's `saved` float32 [B*N*(6D+F)]
 * @returns `{ dx, dpolicy, grads }`
 * @throws as vitBlock; RangeError for dy or saved of the wrong size
 * @example
 *   const { dx, grads } = vitBlockBackward(dy, x, null, blockWeights, saved, { heads: 3 });
 */
export function vitBlockBackward(dy: F32Tensor, x0: F32Tensor, policy0: F32Tensor | null, weights0: PrunedBlockWeights, saved: F32Tensor, opts: VitBlockOptions): VitBlockGrads {
  const op = 'vitBlockBackward';
  const p = vitBlockPrepare(op, x0, policy0, weights0, opts);
  const { x, policy, weights } = p;
  [dy, saved] = snapshotAll(dy, saved);
  const { B, N, D, H } = p.dims;
  expectTensor(op, 'dy', dy, 'float32', ['B', 'N', 'D'], { B, N, D });
  expectTensor(op, 'saved', saved, 'float32', ['S'], { S: vitBlockSavedFloats(p.dims) });
  const dx = new Float32Array(B * N * D);
  const dpolicy = policy === null ? null : new Float32Array(B * N);
  const g: Record<string, Float32Array> = {};
  const grads = {} as Record<PrunedBlockWeightName, F32Tensor>;
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) {
    const w = weights[name];
    g[name] = new Float32Array(w.data.length);
    grads[name] = { data: g[name]!, shape: [...w.shape] };
  }
  native().vitBlockBackward(dy.data, x.data, policy?.data ?? null, p.w, saved.data, dx, dpolicy, g, B, N, D, H, p.lnEps, p.attnEps);
  return { dx: { data: dx, shape: [B, N, D] }, dpolicy: dpolicy === null ? null : { data: dpolicy, shape: [B, N] }, grads };
}
