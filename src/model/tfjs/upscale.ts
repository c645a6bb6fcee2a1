/**
 * One EoMT upscale block j (SPEC §2; docs/inference-forward.md step 5.3), NHWC [B,h,w,C] → [B,2h,2w,O]:
 * ConvTranspose2d 2×2 stride 2 (weight [in, out, 2, 2]: the windows do not overlap, so it is one matmul
 * [B·h·w, C] · [C, 2·2·O] followed by a pixel shuffle), GELU, depthwise 3×3 (zero padding 1, no bias;
 * weight [O,1,3,3] → TF.js [3,3,O,1]), LayerNorm2d = LayerNorm over the channel axis per pixel.
 *
 * On TF.js's pure-JS `cpu` backend the block runs as the fused native training op `tfops.upscaleBlock` (one kernel
 * forward, one backward, differentiable in x and all five weights); elsewhere, or with setModelFusion({ upscale:
 * false }), as the composition `upscaleComposed` (stock TF.js ops). Both compute the same function.
 */
import * as tf from '@tensorflow/tfjs';
import { UPSCALE_WEIGHT_NAMES, type UpscaleWeightName } from '../../ops/upscaleBlock.js';
import { upscaleBlock } from '../../tfjs/ops.js';
import { gelu, layerNorm, LN_EPS, modelFusion, prefixedWeights } from './layers.js';

export type UpscaleWeights = Readonly<Record<UpscaleWeightName, tf.Tensor>>;

/** Scale block j's tensors keyed without the `upscale.{j}.` prefix. */
export function upscaleWeights(w: Readonly<Record<string, tf.Tensor>>, j: number): UpscaleWeights {
  return prefixedWeights(w, `upscale.${j}.`, UPSCALE_WEIGHT_NAMES);
}

/** Whether `upscale` takes the fused native op: on (setModelFusion), the cpu backend, float32 everywhere. */
export function useFusedUpscale(x: tf.Tensor, w: UpscaleWeights): boolean {
  if (!modelFusion().upscale || tf.getBackend() !== 'cpu' || x.dtype !== 'float32') return false;
  return UPSCALE_WEIGHT_NAMES.every((n) => w[n].dtype === 'float32');
}

/** Scale block j of the model's weights `w` on x [B,h,w,C]. */
export function upscale(x: tf.Tensor4D, j: number, w: Readonly<Record<string, tf.Tensor>>): tf.Tensor4D {
  const uw = upscaleWeights(w, j);
  if (useFusedUpscale(x, uw)) return upscaleBlock(x, uw, { lnEps: LN_EPS });
  return upscaleComposed(x, uw);
}

/** The scale block as a composition of differentiable TF.js ops (the reference of tfops.upscaleBlock; non-cpu backends). */
export function upscaleComposed(x: tf.Tensor4D, w: UpscaleWeights): tf.Tensor4D {
  const [B, h, wd, C] = x.shape;
  const W1 = w['conv1.weight'];
  const O = W1.shape[1]!;
  // [C,O,i,j] → [C,i,j,O] → [C, 4O]
  const Wm = W1.transpose([0, 2, 3, 1]).reshape([C, 4 * O]);
  let y = tf.matMul(x.reshape([B * h * wd, C]), Wm).reshape([B, h, wd, 2, 2, O]).transpose([0, 1, 3, 2, 4, 5]).reshape([B, 2 * h, 2 * wd, O]);
  y = gelu(tf.add(y, w['conv1.bias']));
  const dw = w['conv2.weight'].transpose([2, 3, 0, 1]) as tf.Tensor4D; // [3,3,O,1]
  y = tf.depthwiseConv2d(y as tf.Tensor4D, dw, 1, 'same');
  return layerNorm(y, w['norm.weight'], w['norm.bias']) as tf.Tensor4D;
}
