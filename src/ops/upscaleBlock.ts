/**
 * upscaleBlock / upscaleBlockBackward: one EoMT mask-head scale block (SPEC §2: ConvTranspose2d 2x2 stride 2 →
 * GELU → depthwise 3x3 → LayerNorm2d) as a single native training op, forward and backward (ops.h
 * UpscaleBlockArgs / UpscaleBlockBwdArgs), channels-last:
 *   x [B,h,w,C] f32 -> y [B,2h,2w,O]
 *   z[b,2p+i,2q+j,o] = Σ_c x[b,p,q,c] W1[c,o,i,j] + b1[o];  g = GELU(z) (exact erf)
 *   d = depthwise 3x3 of g with W2 [O,1,3,3] (zero padding 1, no bias);  y = LayerNorm over o of d (biased
 *   variance, eps lnEps) · norm.weight + norm.bias
 * The forward also returns `saved` [B·2h·2w·(O+2)] (z and the LayerNorm mean / rstd), which the backward takes back
 * (it recomputes g and d: cheaper than writing d to the fresh pages of a larger output); the backward gives dx and the five weight gradients, overwritten. Every output element has one writer
 * and every reduction a fixed order, so results do not depend on setThreads(); the kernels follow setKernel().
 */
import { native } from '../native.js';
import { describe, typeError } from '../errors.js';
import { expectEps, expectTensor, snapshot, snapshotAll, snapshotWeights, type F32Tensor } from '../validate.js';

/** The block's SPEC §8 tensor names without the `upscale.{j}.` prefix, in kernel order. */
export const UPSCALE_WEIGHT_NAMES = ['conv1.weight', 'conv1.bias', 'conv2.weight', 'norm.weight', 'norm.bias'] as const;
export type UpscaleWeightName = (typeof UPSCALE_WEIGHT_NAMES)[number];
export type UpscaleBlockWeights = Readonly<Record<UpscaleWeightName, F32Tensor>>;

/** Shape letters of each weight: conv1 [C,O,2,2] (ConvTranspose2d [in,out,kh,kw]), conv2 [O,1,3,3], the rest [O]. */
export const UPSCALE_WEIGHT_LETTERS: Readonly<Record<UpscaleWeightName, readonly string[]>> = {
  'conv1.weight': ['C', 'O', '2', '2'], 'conv1.bias': ['O'], 'conv2.weight': ['O', '1', '3', '3'], 'norm.weight': ['O'], 'norm.bias': ['O'],
};

export interface UpscaleBlockOptions {
  /** LayerNorm2d epsilon, finite > 0 (default 1e-6, SPEC §2). */
  lnEps?: number;
}

export interface UpscaleBlockDims {
  B: number;
  h: number;
  w: number;
  C: number;
  O: number;
}

/** Floats of the forward's saved buffer: B·2h·2w·(O+2). */
export function upscaleBlockSavedFloats(d: UpscaleBlockDims): number {
  return 4 * d.B * d.h * d.w * (d.O + 2);
}

interface Prepared {
  /** The inputs as read once (what the kernel must be given). */
  x: F32Tensor;
  weights: UpscaleBlockWeights;
  dims: UpscaleBlockDims;
  lnEps: number;
  w: Record<string, Float32Array>;
}

/** Validates x, weights and opts (shared with the TF.js kernels); returns the sizes, eps and the weight arrays. */
export function upscaleBlockPrepare(op: string, x0: F32Tensor, weights0: UpscaleBlockWeights, opts: UpscaleBlockOptions): Prepared {
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object {lnEps?}, received ${describe(opts)}`);
  // each input's data / shape read once: validation, the kernel and the result see the same arrays
  const x = snapshot(x0);
  const weights = snapshotWeights(weights0, UPSCALE_WEIGHT_NAMES);
  const [B, h, w, C] = expectTensor(op, 'x', x, 'float32', ['B', 'h', 'w', 'C']) as [number, number, number, number];
  if (typeof weights !== 'object' || weights === null) throw typeError(op, `expected weights to be an object of tensors, received ${describe(weights)}`);
  const b1 = weights['conv1.bias'];
  if (b1 === undefined) throw typeError(op, "expected weights['conv1.bias'] to be a float32 tensor [O], received undefined");
  const [O] = expectTensor(op, "weights['conv1.bias']", b1, 'float32', ['O']) as [number];
  const sizes: Record<string, number> = { C, O, '1': 1, '2': 2, '3': 3 };
  const arrays: Record<string, Float32Array> = {};
  for (const name of UPSCALE_WEIGHT_NAMES) {
    const letters = UPSCALE_WEIGHT_LETTERS[name];
    expectTensor(op, `weights['${name}']`, weights[name], 'float32', letters, Object.fromEntries(letters.map((l) => [l, sizes[l]])));
    arrays[name] = weights[name].data;
  }
  const lnEps = opts.lnEps === undefined ? 1e-6 : expectEps(op, 'lnEps', opts.lnEps);
  return { x, weights, dims: { B, h, w, C, O }, lnEps, w: arrays };
}

/**
 * The block's forward pass, keeping what the backward needs.
 * @param x float32 [B,h,w,C] (NHWC)
 * @param weights the five tensors by SPEC §8 name without `upscale.{j}.`: `conv1.weight` [C,O,2,2], `conv1.bias` [O],
 *   `conv2.weight` [O,1,3,3], `norm.weight` [O], `norm.bias` [O]
 * @param opts `lnEps` (default 1e-6)
 * @returns `{ y: float32 [B,2h,2w,O], saved: float32 [B·2h·2w·(O+2)] }`
 * @throws TypeError for a wrong dtype / rank or a missing weight; RangeError for a shape mismatch or a bad eps
 * @example
 *   const { y, saved } = upscaleBlock(grid, upscaleWeights, {}); // [2,16,16,192] -> [2,32,32,192]
 */
export function upscaleBlock(x0: F32Tensor, weights: UpscaleBlockWeights, opts: UpscaleBlockOptions = {}): { y: F32Tensor; saved: F32Tensor } {
  const p = upscaleBlockPrepare('upscaleBlock', x0, weights, opts);
  const { B, h, w, C, O } = p.dims;
  const y = new Float32Array(4 * B * h * w * O), saved = new Float32Array(upscaleBlockSavedFloats(p.dims));
  native().upscaleBlock(p.x.data, p.w, y, saved, B, h, w, C, O, p.lnEps);
  return { y: { data: y, shape: [B, 2 * h, 2 * w, O] }, saved: { data: saved, shape: [saved.length] } };
}

export interface UpscaleBlockGrads {
  /** float32 [B,h,w,C] */
  dx: F32Tensor;
  /** one gradient per weight, of the weight's shape */
  grads: Record<UpscaleWeightName, F32Tensor>;
}

/**
 * Gradients of upscaleBlock w.r.t. x and every weight (overwritten, not accumulated).
 * @param dy float32 [B,2h,2w,O] upstream gradient of y
 * @param x, weights, opts as given to upscaleBlock
 * @param saved the forward's `saved` float32 [B·2h·2w·(O+2)]
 * @returns `{ dx, grads }`
 * @throws as upscaleBlock; RangeError for dy or saved of the wrong size
 * @example
 *   const { dx, grads } = upscaleBlockBackward(dy, grid, upscaleWeights, saved);
 */
export function upscaleBlockBackward(dy: F32Tensor, x0: F32Tensor, weights0: UpscaleBlockWeights, saved: F32Tensor, opts: UpscaleBlockOptions = {}): UpscaleBlockGrads {
  const op = 'upscaleBlockBackward';
  const p = upscaleBlockPrepare(op, x0, weights0, opts);
  const { x, weights } = p;
  [dy, saved] = snapshotAll(dy, saved);
  const { B, h, w, C, O } = p.dims;
  expectTensor(op, 'dy', dy, 'float32', ['B', '2h', '2w', 'O'], { B, '2h': 2 * h, '2w': 2 * w, O });
  expectTensor(op, 'saved', saved, 'float32', ['S'], { S: upscaleBlockSavedFloats(p.dims) });
  const dx = new Float32Array(B * h * w * C);
  const g: Record<string, Float32Array> = {};
  const grads = {} as Record<UpscaleWeightName, F32Tensor>;
  for (const name of UPSCALE_WEIGHT_NAMES) {
    const wt = weights[name];
    g[name] = new Float32Array(wt.data.length);
    grads[name] = { data: g[name]!, shape: [...wt.shape] };
  }
  native().upscaleBlockBackward(dy.data, x.data, p.w, saved.data, dx, g, B, h, w, C, O);
  return { dx: { data: dx, shape: [B, h, w, C] }, grads };
}
