/**
 * One EoMT upscale block j (SPEC §2; docs/inference-forward.md step 5.3), NHWC [B,h,w,D] → [B,2h,2w,D]:
 * ConvTranspose2d 2×2 stride 2 (weight [in, out, 2, 2]: the windows do not overlap, so it is one matmul
 * [B·h·w, C] · [C, 2·2·O] followed by a pixel shuffle), GELU, depthwise 3×3 (zero padding 1, no bias;
 * weight [D,1,3,3] → TF.js [3,3,D,1]), LayerNorm2d = LayerNorm over the channel axis per pixel.
 */
import * as tf from '@tensorflow/tfjs';
import { gelu, layerNorm } from './layers.js';

export function upscale(x: tf.Tensor4D, j: number, w: Readonly<Record<string, tf.Tensor>>): tf.Tensor4D {
  const u = `upscale.${j}.`;
  const [B, h, wd, C] = x.shape;
  const W1 = w[`${u}conv1.weight`]!;
  const O = W1.shape[1]!;
  // [C,O,i,j] → [C,i,j,O] → [C, 4O]
  const Wm = W1.transpose([0, 2, 3, 1]).reshape([C, 4 * O]);
  let y = tf.matMul(x.reshape([B * h * wd, C]), Wm).reshape([B, h, wd, 2, 2, O]).transpose([0, 1, 3, 2, 4, 5]).reshape([B, 2 * h, 2 * wd, O]);
  y = gelu(tf.add(y, w[`${u}conv1.bias`]!));
  const dw = w[`${u}conv2.weight`]!.transpose([2, 3, 0, 1]) as tf.Tensor4D; // [3,3,D,1]
  y = tf.depthwiseConv2d(y as tf.Tensor4D, dw, 1, 'same');
  return layerNorm(y, w[`${u}norm.weight`]!, w[`${u}norm.bias`]!) as tf.Tensor4D;
}
