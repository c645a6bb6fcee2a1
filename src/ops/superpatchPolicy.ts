/**
 * superpatchPolicy: STEP's superpatch policy CNN (src/model/superpatch.ts) as the native engine runs it before merging
 * windows (ops.h SuperpatchPolicyArgs), on its own:
 *   u = the mean of every p x p patch [3, gh, gw]; h1 = ReLU(conv3x3 pad 1 (u) + b1) [c, gh, gw];
 *   h2 = ReLU(conv2x2 stride 2 (h1) + b2) [c, wh, ww]; logits = conv1x1 (h2) + b3 [wh, ww]
 * with gh = H/p, gw = W/p, wh = floor(gh/2), ww = floor(gw/2); window (y, x) merges when sigmoid(logit) >= τ. Sums in
 * double, rounded to float once per layer output; one portable kernel serves every CPU variant (it is tiny).
 */
import { native } from '../native.js';
import { checkWeights, policyWeightShapes, validatePolicyConfig, windowGrid } from '../model/superpatch.js';
import type { SuperpatchPolicy } from '../engine/session.js';
import { describe, rangeError, typeError } from '../errors.js';
import { expectTensor, outputF32, snapshot, snapshotWeights, type F32Tensor } from '../validate.js';

/**
 * Merge logits of every 2x2 window of patches.
 * @param images float32 [B,3,H,W] (ImageNet-normalised, as the engine gets them; H, W multiples of the patch)
 * @param policy the policy's config {patch, width} and weights (conv1/2/3 .weight/.bias, PyTorch layouts)
 * @param out optional Float32Array of B*wh*ww elements to write into (must not overlap images or weights)
 * @returns float32 [B,wh,ww] logits
 * @throws TypeError / RangeError naming the argument: a bad tensor or weight, H or W not a multiple of the patch,
 *   a patch grid without a 2x2 window
 * @example
 *   const { data } = superpatchPolicy(images, { config: { patch: 16, width: 16 }, weights }); // a file's: reg4pru train-policy
 */
export function superpatchPolicy(images: F32Tensor, policy: SuperpatchPolicy, out?: Float32Array): F32Tensor {
  const op = 'superpatchPolicy';
  images = snapshot(images);
  const [B, , H, W] = expectTensor(op, 'images', images, 'float32', ['B', 'C', 'H', 'W'], { C: 3 }) as [number, number, number, number];
  if (typeof policy !== 'object' || policy === null) throw typeError(op, `expected policy to be {config, weights}, received ${describe(policy)}`);
  const config = validatePolicyConfig(policy.config);
  if (typeof policy.weights !== 'object' || policy.weights === null) throw typeError(op, `expected policy.weights to be an object of Float32Arrays, received ${describe(policy.weights)}`);
  const shapes = policyWeightShapes(config);
  const checked = checkWeights(snapshotWeights(policy.weights, shapes.map(([n]) => n)), shapes, op);
  const w = shapes.map(([name]) => checked[name]!);
  if (H % config.patch !== 0 || W % config.patch !== 0) throw rangeError(op, `expected images' H and W to be multiples of the patch ${config.patch}, received ${H}x${W}`);
  const { gh, gw, wh, ww } = windowGrid(H, W, config.patch);
  if (wh < 1 || ww < 1) throw rangeError(op, `expected images with at least a 2x2 patch grid, received ${gh}x${gw} patches of ${config.patch}`);
  const logits = outputF32(op, 'out', out, B * wh * ww);
  native().superpatchPolicy(images.data, logits, B, H, W, config.patch, config.width, w[0]!, w[1]!, w[2]!, w[3]!, w[4]!, w[5]!);
  return { data: logits, shape: [B, wh, ww] };
}
