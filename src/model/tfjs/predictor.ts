/**
 * Policy predictor s (SPEC §3; docs/inference-forward.md step 4.2): keep logits of every patch row of the
 * full token map, `(fc2 GELU(fc1 RMSNorm(x) + b1) + b2) ⊙ ls.gamma`, [B,Np,2], channel 0 = keep.
 * The keep score is softmax(logits)[0] (`keepScore`).
 */
import * as tf from '@tensorflow/tfjs';
import { gelu, linear, rmsNorm } from './layers.js';

/** Keep logits [B,Np,2] of the patch rows `patches` [B,Np,D]. */
export function predictorLogits(patches: tf.Tensor3D, s: number, w: Readonly<Record<string, tf.Tensor>>): tf.Tensor3D {
  const p = `selectors.${s}.`;
  const h = rmsNorm(patches, w[`${p}norm.weight`]!);
  const u = gelu(linear(h, w[`${p}fc1.weight`]!, w[`${p}fc1.bias`]!));
  return tf.mul(linear(u, w[`${p}fc2.weight`]!, w[`${p}fc2.bias`]!), w[`${p}ls.gamma`]!) as tf.Tensor3D;
}

/** softmax(logits)[..., 0] = sigmoid(l0 − l1): [B,Np,2] → [B,Np]. */
export function keepScore(logits: tf.Tensor3D): tf.Tensor2D {
  const [l0, l1] = tf.split(logits, 2, 2);
  return tf.sigmoid(tf.sub(l0!, l1!)).squeeze([2]) as tf.Tensor2D;
}
