/**
 * STEP's superpatch policy (dCTS, "SuperToken and Early-Pruning"): a small CNN on the image downscaled to one pixel
 * per patch that predicts, for every 2x2 window of patches, whether the window can be ONE token (a superpatch).
 *
 *   input  u [3, gh, gw]: the mean of each p x p patch of the (ImageNet-normalised) image
 *   conv1  3x3, 3 -> c, zero padding 1, + bias, ReLU              [c, gh, gw]
 *   conv2  2x2 stride 2, c -> c, + bias, ReLU (one output per window)  [c, wh, ww], wh = floor(gh/2), ww = floor(gw/2)
 *   conv3  1x1, c -> 1, + bias: the window's merge logit           [wh, ww]
 * Window (wy, wx) covers patches (2wy + i, 2wx + j), i, j in {0, 1}; it merges when sigmoid(logit) >= τ. Patches of an
 * odd last row or column belong to no window and never merge.
 * Weights (SPEC §8-style names, PyTorch Conv2d layouts [out, in, kh, kw]): conv1.weight [c,3,3,3], conv1.bias [c],
 * conv2.weight [c,c,2,2], conv2.bias [c], conv3.weight [1,c,1,1], conv3.bias [1]. Files: safetensors with the config
 * as JSON in metadata 'reg4pru.superpatch' (`saveSuperpatchPolicy` / `loadSuperpatchPolicy`).
 * Labels (`mergeLabels`): a window is mergeable when every pixel of its 2p x 2p area has the same mask label.
 */
import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors.js';
import { describe, rangeError, typeError } from '../errors.js';
import { mulberry32, normalSampler } from './rng.js';

export interface SuperpatchPolicyConfig {
  /** Patch size p of the backbone the policy serves (pixels per patch side). */
  patch: number;
  /** Channels c of the two hidden layers (default 16). */
  width: number;
}

export const SUPERPATCH_KEY = 'reg4pru.superpatch';

/** Checks a policy config (integers, patch >= 1, width in [1, 1024]). @throws TypeError/RangeError naming the field */
export function validatePolicyConfig(c: unknown): SuperpatchPolicyConfig {
  const op = 'superpatchPolicy';
  if (typeof c !== 'object' || c === null) throw typeError(op, `expected config to be {patch, width}, received ${describe(c)}`);
  const { patch, width } = c as Record<string, unknown>;
  if (typeof patch !== 'number' || !Number.isInteger(patch) || patch < 1) throw rangeError(op, `expected config.patch to be an integer >= 1, received ${describe(patch)}`);
  if (typeof width !== 'number' || !Number.isInteger(width) || width < 1 || width > 1024) throw rangeError(op, `expected config.width to be an integer in [1, 1024], received ${describe(width)}`);
  return { patch, width };
}

/** Every policy tensor with its shape, in file order. */
export function policyWeightShapes(c: SuperpatchPolicyConfig): Array<[string, number[]]> {
  const w = c.width;
  return [['conv1.weight', [w, 3, 3, 3]], ['conv1.bias', [w]], ['conv2.weight', [w, w, 2, 2]], ['conv2.bias', [w]], ['conv3.weight', [1, w, 1, 1]], ['conv3.bias', [1]]];
}

/** He-normal conv weights (fan-in), zero biases, seeded. */
export function randomPolicyWeights(c: SuperpatchPolicyConfig, seed: number): Record<string, Float32Array> {
  const normal = normalSampler(mulberry32(seed));
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of policyWeightShapes(c)) {
    const n = shape.reduce((p, d) => p * d, 1);
    const fanIn = shape.length === 4 ? shape[1]! * shape[2]! * shape[3]! : 1;
    const std = name.endsWith('bias') ? 0 : Math.sqrt(2 / fanIn);
    out[name] = Float32Array.from({ length: n }, () => std * normal());
  }
  return out;
}

/** Patch grid and window grid of an image size. @throws RangeError when H or W is not a multiple of the patch */
export function windowGrid(H: number, W: number, patch: number): { gh: number; gw: number; wh: number; ww: number } {
  if (H % patch !== 0 || W % patch !== 0) throw rangeError('superpatch', `expected the image ${H}x${W} to be a multiple of the patch ${patch}`);
  const gh = H / patch, gw = W / patch;
  return { gh, gw, wh: Math.floor(gh / 2), ww: Math.floor(gw / 2) };
}

/** The policy input: the mean of every p x p patch, image [3,H,W] (CHW) -> [3, gh, gw]. */
export function patchMeans(image: Float32Array, H: number, W: number, patch: number): Float32Array {
  const { gh, gw } = windowGrid(H, W, patch);
  const out = new Float32Array(3 * gh * gw);
  const inv = 1 / (patch * patch);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < gh; y++)
      for (let x = 0; x < gw; x++) {
        let s = 0;
        for (let i = 0; i < patch; i++) {
          const row = (c * H + y * patch + i) * W + x * patch;
          for (let j = 0; j < patch; j++) s += image[row + j]!;
        }
        out[(c * gh + y) * gw + x] = s * inv;
      }
  return out;
}

/** Training labels from a mask [H,W]: 1 where every pixel of the window's 2p x 2p area has one label, [wh, ww]. */
export function mergeLabels(mask: Uint8Array, H: number, W: number, patch: number): Float32Array {
  const { wh, ww } = windowGrid(H, W, patch);
  const out = new Float32Array(wh * ww);
  const s = 2 * patch;
  for (let wy = 0; wy < wh; wy++)
    for (let wx = 0; wx < ww; wx++) {
      const first = mask[wy * s * W + wx * s]! ? 1 : 0;
      let same = true;
      for (let i = 0; i < s && same; i++)
        for (let j = 0; j < s; j++)
          if ((mask[(wy * s + i) * W + wx * s + j]! ? 1 : 0) !== first) {
            same = false;
            break;
          }
      out[wy * ww + wx] = same ? 1 : 0;
    }
  return out;
}

/** Writes a policy (config in metadata 'reg4pru.superpatch'). */
export function saveSuperpatchPolicy(file: string, c: SuperpatchPolicyConfig, weights: Record<string, Float32Array>, metadata: Record<string, string> = {}): void {
  const cfg = validatePolicyConfig(c);
  const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const [name, shape] of policyWeightShapes(cfg)) tensors[name] = { data: checkWeight(weights, name, shape), shape };
  writeSafetensors(file, tensors, { ...metadata, [SUPERPATCH_KEY]: JSON.stringify(cfg) });
}

/** Reads a policy file. @throws RangeError naming the file and what is missing or mis-shaped */
export function loadSuperpatchPolicy(file: string): { config: SuperpatchPolicyConfig; weights: Record<string, Float32Array> } {
  const f = readSafetensors(file);
  const raw = f.metadata[SUPERPATCH_KEY];
  if (raw === undefined) throw rangeError('loadSuperpatchPolicy', `'${file}' has no '${SUPERPATCH_KEY}' metadata (not a superpatch policy: see reg4pru train-policy)`);
  const config = validatePolicyConfig(JSON.parse(raw));
  const weights: Record<string, Float32Array> = {};
  for (const [name, shape] of policyWeightShapes(config)) {
    const t = f.tensors[name];
    if (t === undefined) throw rangeError('loadSuperpatchPolicy', `'${file}' lacks tensor '${name}' [${shape}]`);
    weights[name] = checkWeight({ [name]: t.data }, name, shape);
  }
  return { config, weights };
}

/** weights[name] as a Float32Array of the shape's size. @throws TypeError/RangeError naming it */
export function checkWeight(weights: Record<string, Float32Array>, name: string, shape: readonly number[], op = 'superpatchPolicy'): Float32Array {
  const a = weights[name];
  const n = shape.reduce((p, d) => p * d, 1);
  if (!(a instanceof Float32Array)) throw typeError(op, `expected weights['${name}'] to be a Float32Array [${shape}], received ${describe(a)}`);
  if (a.length !== n) throw rangeError(op, `expected weights['${name}'] to have ${n} elements [${shape}], received ${a.length}`);
  return a;
}

/** Every named weight of `shapes` checked (`checkWeight`), in a new object; a non-object `weights` counts as empty. */
export function checkWeights(weights: unknown, shapes: ReadonlyArray<readonly [string, readonly number[]]>, op = 'superpatchPolicy'): Record<string, Float32Array> {
  const w = (typeof weights === 'object' && weights !== null ? weights : {}) as Record<string, Float32Array>;
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of shapes) out[name] = checkWeight(w, name, shape, op);
  return out;
}

/**
 * The token layout of one image's merged windows (merged [wh*ww], 1 = merge) on a gh x gw patch grid: the patches
 * that stay tokens (ascending: every patch but the 3 siblings of a merged window) and, per patch, the patch whose row
 * it shows after unmerging (its window's top-left patch when merged, itself otherwise).
 */
export function superpatchLayout(merged: ArrayLike<number>, gh: number, gw: number): { active: Int32Array; source: Int32Array } {
  const wh = Math.floor(gh / 2), ww = Math.floor(gw / 2);
  const source = Int32Array.from({ length: gh * gw }, (_, n) => n);
  for (let wy = 0; wy < wh; wy++)
    for (let wx = 0; wx < ww; wx++) {
      if (!merged[wy * ww + wx]) continue;
      const n00 = 2 * wy * gw + 2 * wx;
      for (const n of [n00 + 1, n00 + gw, n00 + gw + 1]) source[n] = n00;
    }
  return { active: Int32Array.from(source.filter((s, n) => s === n)), source };
}

/**
 * Merges one image's patch rows in place (rows [gh*gw, D]): every merged window's top-left row becomes the mean of its
 * 4 rows, summed in the order top-left, top-right, bottom-left, bottom-right (as the engine does).
 */
export function mergeWindowRows(rows: Float32Array, merged: ArrayLike<number>, gh: number, gw: number, D: number): void {
  const { source } = superpatchLayout(merged, gh, gw);
  for (let n00 = 0; n00 < gh * gw; n00++) {
    if (source[n00] !== n00 || source[n00 + 1] !== n00 || (n00 % gw) + 1 >= gw) continue; // not a merged window's top-left
    for (let d = 0; d < D; d++)
      rows[n00 * D + d] = Math.fround(Math.fround(Math.fround(Math.fround(rows[n00 * D + d]! + rows[(n00 + 1) * D + d]!) + rows[(n00 + gw) * D + d]!) + rows[(n00 + gw + 1) * D + d]!) * 0.25);
  }
}

/** Unmerges one image's patch rows in place: every patch shows its source row (superpatchLayout). */
export function unmergeWindowRows(rows: Float32Array, merged: ArrayLike<number>, gh: number, gw: number, D: number): void {
  const { source } = superpatchLayout(merged, gh, gw);
  source.forEach((s, n) => {
    if (s !== n) rows.copyWithin(n * D, s * D, (s + 1) * D);
  });
}
