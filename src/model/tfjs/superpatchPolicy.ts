/**
 * The superpatch policy CNN (src/model/superpatch.ts) in TF.js, for training (`reg4pru train-policy`): the same three
 * convolutions on NCHW inputs, PyTorch weight layouts converted to TF.js filters ([kh, kw, in, out]) on the fly.
 */
import * as tf from '@tensorflow/tfjs';

/** PyTorch Conv2d weight [out, in, kh, kw] -> TF.js filter [kh, kw, in, out]. */
const filter = (w: tf.Tensor): tf.Tensor4D => tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D;

/**
 * Merge logits of every 2x2 window.
 * @param w the policy tensors by name (conv1/2/3 .weight/.bias, PyTorch layouts)
 * @param u patch means float32 [B, 3, gh, gw]
 * @returns [B, floor(gh/2), floor(gw/2)]
 */
export function policyLogits(w: Readonly<Record<string, tf.Tensor>>, u: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => {
    const x = tf.transpose(u, [0, 2, 3, 1]) as tf.Tensor4D; // NHWC
    const h1 = tf.relu(tf.add(tf.conv2d(x, filter(w['conv1.weight']!), 1, 'same'), w['conv1.bias']!)) as tf.Tensor4D;
    const h2 = tf.relu(tf.add(tf.conv2d(h1, filter(w['conv2.weight']!), 2, 'valid'), w['conv2.bias']!)) as tf.Tensor4D;
    const l = tf.add(tf.conv2d(h2, filter(w['conv3.weight']!), 1, 'valid'), w['conv3.bias']!);
    return tf.squeeze(l, [3]) as tf.Tensor3D;
  });
}
