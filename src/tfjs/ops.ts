/**
 * reg4pru's ops as TF.js tensor ops (SPEC §5), exported as the `tfops` namespace: each validates its
 * tensors' dtypes and ranks (TypeError naming the argument; shapes and indices are then checked by the
 * typed-array op inside the kernel, RangeError) and runs one `Reg4pru*` kernel through the TF.js engine,
 * so results are ordinary tf.Tensors that work with tf.tidy, tf.grad/tf.grads and tf.variableGrads:
 *
 * | op              | differentiable in                      | gradient                                   |
 * | gatherTokens    | x                                      | scatter-add into x                         |
 * | scatterTokens   | base, src                              | dy with rows idx zeroed; dy gathered       |
 * | policyAttention | q, k, v, policy                        | exact (SPEC §4)                            |
 * | gumbelSoftmaxST | logits                                 | straight-through: the soft score's         |
 * | gumbelTopK      | none                                   | zeros (as tf.argMax)                       |
 * | prunedBlock     | none (inference only)                  | backprop through it throws an Error        |
 * | layerNorm       | x, w, b                                | exact (one fused backward pass)            |
 * | gelu            | x                                      | exact: dy (Phi(x) + x phi(x))              |
 * | vitBlock        | x, policy, all 14 weights              | exact, one fused native backward           |
 * | upscaleBlock    | x, all 5 weights                       | exact, one fused native backward           |
 * Integer inputs (idx, masks) get zero gradients, as TF.js's own index inputs do.
 *
 * Registration is lazy: the first op call registers the kernels for the default backends (cpu, wasm,
 * tensorflow) unless registerReg4pruKernels() ran before; another backend needs an explicit
 * registerReg4pruKernels([...]), and an op called on an unserved backend says so.
 */
import { engine, getBackend, getKernel, tensor1d, Tensor, type DataType, type NamedTensorMap, type Tensor2D, type Tensor3D, type Tensor4D } from '@tensorflow/tfjs';
import { describe, typeError } from '../errors.js';
import type { Seed } from '../native.js';
import { PRUNED_BLOCK_WEIGHT_NAMES, type PrunedBlockWeightName } from '../ops/prunedBlock.js';
import { UPSCALE_WEIGHT_LETTERS, UPSCALE_WEIGHT_NAMES, type UpscaleWeightName } from '../ops/upscaleBlock.js';
import { expectInt, expectNumber, expectSeed } from '../validate.js';
import { GatherTokens, Gelu, GumbelSoftmaxST, GumbelTopK, LayerNorm, PolicyAttention, PrunedBlock, ScatterTokens, UpscaleBlock, VitBlock } from './kernel_names.js';
import { registerReg4pruKernels } from './register.js';

export { registerReg4pruKernels, unregisterReg4pruKernels, isReg4pruRegistered, DEFAULT_BACKENDS, KERNEL_NAMES } from './register.js';

let autoRegistered = false;

// Lazy default registration, then a clear error when the active backend has no reg4pru kernels.
function ready(kernelName: string): void {
  if (!autoRegistered) {
    autoRegistered = true;
    registerReg4pruKernels();
  }
  const backend = getBackend();
  if (getKernel(kernelName, backend) === undefined)
    throw new Error(`reg4pru: kernel ${kernelName} is not registered for the TF.js backend '${backend}'; call registerReg4pruKernels(['${backend}'])`);
}

// Where each weight's rank comes from: Linear weights are [out, in], the rest are vectors.
const WEIGHT_LETTERS: Readonly<Record<PrunedBlockWeightName, readonly string[]>> = {
  'norm1.weight': ['D'], 'norm1.bias': ['D'], 'attn.qkv.weight': ['3D', 'D'], 'attn.qkv.bias': ['3D'],
  'attn.proj.weight': ['D', 'D'], 'attn.proj.bias': ['D'], 'ls1.gamma': ['D'], 'norm2.weight': ['D'], 'norm2.bias': ['D'],
  'mlp.fc1.weight': ['F', 'D'], 'mlp.fc1.bias': ['F'], 'mlp.fc2.weight': ['D', 'F'], 'mlp.fc2.bias': ['D'], 'ls2.gamma': ['D'],
};

/**
 * `t` must be a live tf.Tensor of one of `dtypes` with `letters.length` dims:
 * `gatherTokens: expected idx to be a tf.Tensor int32 [B,K], received float32 [2,5]`.
 */
function expectTf(op: string, name: string, t: unknown, dtypes: readonly DataType[], letters: readonly string[]): Tensor {
  const want = `a tf.Tensor ${dtypes.join(' | ')} [${letters.join(',')}]`;
  if (!(t instanceof Tensor)) throw typeError(op, `expected ${name} to be ${want}, received ${describe(t)}`);
  if (t.isDisposed) throw typeError(op, `expected ${name} to be ${want}, received a disposed tensor`);
  if (!dtypes.includes(t.dtype) || t.rank !== letters.length)
    throw typeError(op, `expected ${name} to be ${want}, received ${t.dtype} [${t.shape.join(',')}]`);
  return t;
}

function expectOpts(op: string, opts: unknown): Record<string, unknown> {
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
  return opts as Record<string, unknown>;
}

// Attributes hold numbers and strings, not bigints: a bigint seed travels as its decimal string.
function seedAttr(seed: Seed): number | string {
  return typeof seed === 'bigint' ? seed.toString() : seed;
}

/**
 * Gathers token rows: `out[b,k,:] = x[b, idx[b,k], :]` (duplicates allowed). Differentiable in x.
 * @param x tf.Tensor float32 [B,N,D]
 * @param idx tf.Tensor int32 [B,K], each in [0, N)
 * @returns tf.Tensor float32 [B,K,D]
 * @throws TypeError for a non-tensor, a wrong dtype or rank; RangeError for a shape mismatch or an index out of range
 * @example
 * const kept = tfops.gatherTokens(x, keepIdx); // [1,4101,384], [1,2872] -> [1,2872,384]
 */
export function gatherTokens(x: Tensor3D, idx: Tensor2D): Tensor3D {
  const op = 'gatherTokens';
  const inputs = { x: expectTf(op, 'x', x, ['float32'], ['B', 'N', 'D']), idx: expectTf(op, 'idx', idx, ['int32'], ['B', 'K']) };
  ready(GatherTokens);
  return engine().runKernel<Tensor3D>(GatherTokens, inputs);
}

/**
 * Writes rows back: base with `out[b, idx[b,k], :] = src[b,k,:]`. Differentiable in base and src.
 * @param base tf.Tensor float32 [B,N,D]
 * @param idx tf.Tensor int32 [B,K], each in [0, N), no duplicates within a row
 * @param src tf.Tensor float32 [B,K,D]
 * @returns tf.Tensor float32 [B,N,D]
 * @throws TypeError for a non-tensor, a wrong dtype or rank; RangeError for a shape mismatch, an index out of range or a duplicate index
 * @example
 * const full = tfops.scatterTokens(snapshot, keepIdx, processed);
 */
export function scatterTokens(base: Tensor3D, idx: Tensor2D, src: Tensor3D): Tensor3D {
  const op = 'scatterTokens';
  const inputs = {
    base: expectTf(op, 'base', base, ['float32'], ['B', 'N', 'D']),
    idx: expectTf(op, 'idx', idx, ['int32'], ['B', 'K']),
    src: expectTf(op, 'src', src, ['float32'], ['B', 'K', 'D']),
  };
  ready(ScatterTokens);
  return engine().runKernel<Tensor3D>(ScatterTokens, inputs);
}

/**
 * Policy-masked attention with a self-loop (SPEC §4). Differentiable in q, k, v and policy.
 * @param q tf.Tensor float32 [B,H,N,Dh]
 * @param k tf.Tensor float32 [B,H,N,Dh]
 * @param v tf.Tensor float32 [B,H,N,Dh]
 * @param policy tf.Tensor float32 [B,N] (1 keep, 0 drop; soft values allowed, finite)
 * @param opts `eps` (default 1e-6, finite >= 0)
 * @returns tf.Tensor float32 [B,H,N,Dh]
 * @throws TypeError for a non-tensor, a wrong dtype or rank; RangeError for a shape mismatch, a bad eps, a non-finite policy value
 * @example
 * const o = tfops.policyAttention(q, k, v, keep); // q: [1,6,4101,64], keep: [1,4101]
 */
export function policyAttention(q: Tensor4D, k: Tensor4D, v: Tensor4D, policy: Tensor2D, opts: { eps?: number } = {}): Tensor4D {
  const op = 'policyAttention';
  const o = expectOpts(op, opts);
  const letters = ['B', 'H', 'N', 'Dh'];
  const inputs = {
    q: expectTf(op, 'q', q, ['float32'], letters),
    k: expectTf(op, 'k', k, ['float32'], letters),
    v: expectTf(op, 'v', v, ['float32'], letters),
    policy: expectTf(op, 'policy', policy, ['float32'], ['B', 'N']),
  };
  const eps = expectNumber(op, 'eps', o.eps ?? 1e-6);
  if (eps < 0) throw new RangeError(`${op}: expected eps to be a finite number >= 0, received ${eps}`);
  ready(PolicyAttention);
  return engine().runKernel<Tensor4D>(PolicyAttention, inputs, { eps });
}

/**
 * The fused gather–block–scatter pre-norm ViT block (SPEC §5), inference only: backprop through it throws.
 * @param x tf.Tensor float32 [B,N,D]
 * @param idx tf.Tensor int32 [B,K] (no duplicates within a row), or null for all N tokens
 * @param weights one block's 14 float32 tensors by SPEC §8 name without `blocks.{i}.` (`norm1.weight` [D],
 *   `attn.qkv.weight` [3D,D], `attn.qkv.bias` [3D], `attn.proj.weight` [D,D], `mlp.fc1.weight` [F,D],
 *   `mlp.fc1.bias` [F], `mlp.fc2.weight` [D,F], the rest [D])
 * @param opts `heads` H (D % H == 0), `lnEps` (default 1e-6)
 * @returns tf.Tensor float32 [B,N,D]: x with rows idx replaced by block(x[idx])
 * @throws TypeError for a non-tensor, a wrong dtype or rank, a missing weight; RangeError for a shape
 *   mismatch, an index out of range, a duplicate index, D % heads != 0
 * @example
 * const y = tfops.prunedBlock(x, keepIdx, blockWeights, { heads: 6 });
 */
export function prunedBlock(x: Tensor3D, idx: Tensor2D | null, weights: Readonly<Record<PrunedBlockWeightName, Tensor>>, opts: { heads: number; lnEps?: number }): Tensor3D {
  const op = 'prunedBlock';
  const o = expectOpts(op, opts);
  const inputs: NamedTensorMap = { x: expectTf(op, 'x', x, ['float32'], ['B', 'N', 'D']) };
  if (idx !== null) inputs.idx = expectTf(op, 'idx', idx, ['int32'], ['B', 'K']);
  if (typeof weights !== 'object' || weights === null) throw typeError(op, `expected weights to be an object of tf.Tensors, received ${describe(weights)}`);
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) inputs[name] = expectTf(op, `weights['${name}']`, weights[name], ['float32'], WEIGHT_LETTERS[name]);
  const heads = expectInt(op, 'heads', o.heads, 1);
  const lnEps = o.lnEps === undefined ? 1e-6 : expectNumber(op, 'lnEps', o.lnEps, { gt: 0 });
  ready(PrunedBlock);
  return engine().runKernel<Tensor3D>(PrunedBlock, inputs, { heads, lnEps });
}

/**
 * Gumbel top-k token selection (SPEC §3, §5): per row, the k largest `logits + Gumbel noise`, ascending.
 * Not differentiable: its gradient is zeros, as tf.argMax's.
 * @param logits tf.Tensor float32 [B,N], no NaN
 * @param k integer in [1, N], at most the active count of every row
 * @param opts `seed` (number | bigint, default 0), `noise` (default true; false = plain top-k), `active`
 *   (tf.Tensor bool | int32 | float32 [B,N], nonzero = may be chosen)
 * @returns tf.Tensor int32 [B,k], each row strictly ascending
 * @throws TypeError for a non-tensor, a wrong dtype/rank or option kind; RangeError for k out of range, a NaN
 *   logit, a bad seed, a row with fewer than k active tokens
 * @example
 * const keep = tfops.gumbelTopK(scores, 2872, { seed: 42 }); // int32 [1,2872]
 */
export function gumbelTopK(logits: Tensor2D, k: number, opts: { seed?: Seed; noise?: boolean; active?: Tensor2D } = {}): Tensor2D {
  const op = 'gumbelTopK';
  const o = expectOpts(op, opts);
  const inputs: NamedTensorMap = { logits: expectTf(op, 'logits', logits, ['float32'], ['B', 'N']) };
  if (o.active !== undefined) inputs.active = expectTf(op, 'active', o.active, ['bool', 'int32', 'float32'], ['B', 'N']);
  const kk = expectInt(op, 'k', k, 1, logits.shape[1]);
  const seed = expectSeed(op, 'seed', o.seed ?? 0);
  const noise = o.noise ?? true;
  if (typeof noise !== 'boolean') throw typeError(op, `expected noise to be a boolean, received ${describe(noise)}`);
  ready(GumbelTopK);
  return engine().runKernel<Tensor2D>(GumbelTopK, inputs, { k: kk, seed: seedAttr(seed), noise });
}

/**
 * Two-channel Gumbel-Softmax with a straight-through estimator (SPEC §4): returns the hard keep decision;
 * its gradient is the soft score's, `d/dlogits = [g s(1-s)/tau, -g s(1-s)/tau]`.
 * @param logits tf.Tensor float32 [B,N,2], channel 0 = keep
 * @param opts `tau` (default 1, finite > 0), `seed` (number | bigint, default 0)
 * @returns tf.Tensor float32 [B,N] in {0,1}
 * @throws TypeError for a non-tensor, a wrong dtype/rank or option kind; RangeError for a last dim other than 2, a bad tau or seed
 * @example
 * const keep = tfops.gumbelSoftmaxST(selectorLogits, { tau: 1, seed: step }); // [B,N]
 */
export function gumbelSoftmaxST(logits: Tensor3D, opts: { tau?: number; seed?: Seed } = {}): Tensor2D {
  const op = 'gumbelSoftmaxST';
  const o = expectOpts(op, opts);
  const inputs = { logits: expectTf(op, 'logits', logits, ['float32'], ['B', 'N', 'C']) };
  const tau = expectNumber(op, 'tau', o.tau ?? 1, { gt: 0 });
  const seed = expectSeed(op, 'seed', o.seed ?? 0);
  ready(GumbelSoftmaxST);
  const [hard, soft] = engine().runKernel<Tensor[]>(GumbelSoftmaxST, inputs, { tau, seed: seedAttr(seed) }) as [Tensor2D, Tensor2D];
  // The gradient keeps its own reference to soft (outputsToSave), so the caller never sees it.
  soft.dispose();
  return hard;
}

// ---- layerNorm / gelu (the TF.js training graph's LayerNorm and exact GELU, SPEC §2 numerics)

/** `t` must be a live float32 tf.Tensor of rank >= minRank (any shape). */
function expectTfFloat(op: string, name: string, t: unknown, minRank: number): Tensor {
  const want = `a tf.Tensor float32 of rank >= ${minRank}`;
  if (!(t instanceof Tensor)) throw typeError(op, `expected ${name} to be ${want}, received ${describe(t)}`);
  if (t.isDisposed) throw typeError(op, `expected ${name} to be ${want}, received a disposed tensor`);
  if (t.dtype !== 'float32' || t.rank < minRank) throw typeError(op, `expected ${name} to be ${want}, received ${t.dtype} [${t.shape.join(',')}]`);
  return t;
}

/**
 * LayerNorm over the last axis (biased variance): `(x - mean) / sqrt(var + eps) * w + b`, one native kernel
 * forward and one backward. Differentiable in x, w and b.
 * @param x tf.Tensor float32 [..., C], rank >= 1
 * @param w tf.Tensor float32 [C] scale
 * @param b tf.Tensor float32 [C] shift
 * @param opts `eps` (default 1e-6, finite > 0)
 * @returns tf.Tensor float32 of x's shape
 * @throws TypeError for a non-tensor, a wrong dtype or rank; RangeError for w / b not [C] or a bad eps
 * @example
 * const y = tfops.layerNorm(tokens, w['norm1.weight'], w['norm1.bias']); // [2,277,192]
 */
export function layerNorm<T extends Tensor>(x: T, w: Tensor, b: Tensor, opts: { eps?: number } = {}): T {
  const op = 'layerNorm';
  const o = expectOpts(op, opts);
  const xt = expectTfFloat(op, 'x', x, 1);
  const C = xt.shape[xt.rank - 1]!;
  const inputs = { x: xt, w: expectTf(op, 'w', w, ['float32'], ['C']), b: expectTf(op, 'b', b, ['float32'], ['C']) };
  for (const [name, t] of [['w', inputs.w], ['b', inputs.b]] as const)
    if (t.shape[0] !== C) throw new RangeError(`${op}: expected ${name} to be float32 [C] with C=${C} (the last dim of x), received float32 [${t.shape.join(',')}]`);
  const eps = expectNumber(op, 'eps', o.eps ?? 1e-6, { gt: 0 });
  ready(LayerNorm);
  const [y, mean, rstd] = engine().runKernel<Tensor[]>(LayerNorm, inputs, { eps }) as [T, Tensor, Tensor];
  // The gradient keeps its own references to mean and rstd (outputsToSave), so the caller never sees them.
  mean.dispose();
  rstd.dispose();
  return y;
}

/**
 * Exact (erf) GELU, elementwise: `0.5 x (1 + erf(x / sqrt 2))`. Differentiable in x.
 * @param x tf.Tensor float32, any shape
 * @returns tf.Tensor float32 of x's shape
 * @throws TypeError for a non-tensor or a wrong dtype
 * @example
 * const h = tfops.gelu(fc1Out); // [2,277,768]
 */
export function gelu<T extends Tensor>(x: T): T {
  const op = 'gelu';
  const inputs = { x: expectTfFloat(op, 'x', x, 0) };
  ready(Gelu);
  return engine().runKernel<T>(Gelu, inputs);
}

/**
 * One pre-norm ViT block as a single differentiable op (SPEC §2 block, §4 attention), forward and backward in
 * native code: `z = x + ls1 * proj(attn(LN1 x)); y = z + ls2 * fc2(GELU(fc1(LN2 z)))`, attention = SPEC §4 policy
 * attention when `policy` is given, plain softmax otherwise. Differentiable in x, policy and every weight. The
 * forward keeps qkv and the Linear outputs for the backward (no N x N matrix; attention is recomputed).
 * @param x tf.Tensor float32 [B,N,D]
 * @param weights one block's 14 float32 tensors by SPEC §8 name without `blocks.{i}.` (as tfops.prunedBlock)
 * @param opts `heads` H (D % H == 0), `policy` tf.Tensor float32 [B,N] (finite), `lnEps` (default 1e-6, > 0),
 *   `attnEps` (default 1e-6, >= 0; SPEC §4 eps)
 * @returns tf.Tensor float32 [B,N,D]
 * @throws TypeError for a non-tensor, a wrong dtype or rank, a missing weight; RangeError for a shape mismatch,
 *   D % heads != 0, a bad eps, a non-finite policy value
 * @example
 * const y = tfops.vitBlock(x, blockWeights, { heads: 3, policy: keep }); // [2,277,192]
 */
export function vitBlock(x: Tensor3D, weights: Readonly<Record<PrunedBlockWeightName, Tensor>>, opts: { heads: number; policy?: Tensor2D | null; lnEps?: number; attnEps?: number }): Tensor3D {
  const op = 'vitBlock';
  const o = expectOpts(op, opts);
  const inputs: NamedTensorMap = { x: expectTf(op, 'x', x, ['float32'], ['B', 'N', 'D']) };
  if (typeof weights !== 'object' || weights === null) throw typeError(op, `expected weights to be an object of tf.Tensors, received ${describe(weights)}`);
  for (const name of PRUNED_BLOCK_WEIGHT_NAMES) inputs[name] = expectTf(op, `weights['${name}']`, weights[name], ['float32'], WEIGHT_LETTERS[name]);
  const heads = expectInt(op, 'heads', o.heads, 1);
  const lnEps = o.lnEps === undefined ? 1e-6 : expectNumber(op, 'lnEps', o.lnEps, { gt: 0 });
  const attnEps = o.attnEps === undefined ? 1e-6 : expectNumber(op, 'attnEps', o.attnEps);
  if (attnEps < 0) throw new RangeError(`${op}: expected attnEps to be a finite number >= 0, received ${attnEps}`);
  const plain = o.policy === undefined || o.policy === null;
  ready(VitBlock);
  // Without a policy the kernel gets an empty placeholder input (a kernel's inputs are fixed for its gradient).
  const placeholder = plain ? tensor1d([], 'float32') : null;
  inputs.policy = placeholder ?? expectTf(op, 'policy', o.policy, ['float32'], ['B', 'N']);
  try {
    const [y, saved] = engine().runKernel<Tensor[]>(VitBlock, inputs, { heads, lnEps, attnEps, plain }) as [Tensor3D, Tensor];
    // The gradient keeps its own reference to saved (outputsToSave), so the caller never sees it.
    saved.dispose();
    return y;
  } finally {
    placeholder?.dispose();
  }
}

/**
 * One EoMT mask-head scale block as a single differentiable op (SPEC §2), forward and backward in native code,
 * channels-last: ConvTranspose2d 2x2 stride 2 (+ bias) → exact GELU → depthwise 3x3 (zero padding 1, no bias) →
 * LayerNorm2d (over the channels per pixel). Differentiable in x and all five weights. The forward keeps the
 * pre-GELU map and the LayerNorm statistics for the backward (GELU and the depthwise 3x3 are recomputed).
 * @param x tf.Tensor float32 [B,h,w,C] (NHWC)
 * @param weights the block's five float32 tensors by SPEC §8 name without `upscale.{j}.`: `conv1.weight` [C,O,2,2]
 *   (PyTorch ConvTranspose2d layout [in,out,kh,kw]), `conv1.bias` [O], `conv2.weight` [O,1,3,3], `norm.weight` [O],
 *   `norm.bias` [O]
 * @param opts `lnEps` (default 1e-6, > 0)
 * @returns tf.Tensor float32 [B,2h,2w,O]
 * @throws TypeError for a non-tensor, a wrong dtype or rank, a missing weight; RangeError for a shape mismatch or a
 *   bad eps
 * @example
 * const up = tfops.upscaleBlock(grid, upscaleWeights); // [2,16,16,192] -> [2,32,32,192]
 */
export function upscaleBlock(x: Tensor4D, weights: Readonly<Record<UpscaleWeightName, Tensor>>, opts: { lnEps?: number } = {}): Tensor4D {
  const op = 'upscaleBlock';
  const o = expectOpts(op, opts);
  const inputs: NamedTensorMap = { x: expectTf(op, 'x', x, ['float32'], ['B', 'h', 'w', 'C']) };
  if (typeof weights !== 'object' || weights === null) throw typeError(op, `expected weights to be an object of tf.Tensors, received ${describe(weights)}`);
  for (const name of UPSCALE_WEIGHT_NAMES) inputs[name] = expectTf(op, `weights['${name}']`, weights[name], ['float32'], UPSCALE_WEIGHT_LETTERS[name]);
  const lnEps = o.lnEps === undefined ? 1e-6 : expectNumber(op, 'lnEps', o.lnEps, { gt: 0 });
  ready(UpscaleBlock);
  const [y, saved] = engine().runKernel<Tensor[]>(UpscaleBlock, inputs, { lnEps }) as [Tensor4D, Tensor];
  // The gradient keeps its own reference to saved (outputsToSave), so the caller never sees it.
  saved.dispose();
  return y;
}
