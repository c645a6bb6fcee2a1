/**
 * The EoMT head (SPEC §2; docs/inference-forward.md step 5) in TF.js, differentiable end to end:
 * final LayerNorm; queries → class logits [B,Q,C+1] and a 3-layer GELU MLP → mask embeddings [B,Q,D];
 * patch rows as an NHWC grid [B,gh,gw,D] → two upscale blocks (`upscale.ts`) → [B,4gh,4gw,D];
 * mask logits = einsum(e, up) [B,Q,4gh,4gw]; bilinear resize to the image (half-pixel centres, as a
 * separable pair of constant interpolation matrices, so its gradient is two matmuls); semantic map
 * `Σ_q sigmoid(mask_q) · softmax(class_q)[c]` for c < C, [B,C,Himg,Wimg].
 * Token layout of x: `[queries (Q) | cls | registers (R) | patches (Np)]`.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config.js';
import { patchGrid } from '../config.js';
import { gelu, layerNorm, linear } from './layers.js';
import { upscale } from './upscale.js';

/** What one decode point produces. */
export interface Decoded {
  /** The block after which the map was decoded. */
  block: number;
  /** Class logits [B,Q,C+1] (no-object last). */
  classLogits: tf.Tensor3D;
  /** Mask logits at 4× the patch grid [B,Q,4gh,4gw]. */
  maskLogits: tf.Tensor4D;
  /** Mask logits resized to the image [B,Q,Himg,Wimg]. */
  maskLogitsFull: tf.Tensor4D;
  /** Semantic map [B,C,Himg,Wimg]. */
  semantic: tf.Tensor4D;
}

/** A decode point without the image-resolution outputs (training: the loss reads `maskLogits` only). */
export type DecodedLogits = Pick<Decoded, 'block' | 'classLogits' | 'maskLogits'>;

/** Interpolation matrix [out, in] of a half-pixel-centre bilinear resize along one axis. */
export function bilinearMatrix(inSize: number, outSize: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  for (let d = 0; d < outSize; d++) {
    const s = Math.min(Math.max((d + 0.5) * (inSize / outSize) - 0.5, 0), inSize - 1);
    const i0 = Math.floor(s), i1 = Math.min(i0 + 1, inSize - 1), f = s - i0;
    m[d * inSize + i0] += 1 - f;
    m[d * inSize + i1] += f;
  }
  return m;
}

/** Bilinear resize of x [B,Q,h,w] to [B,Q,oh,ow] (PyTorch align_corners=False). */
export function resizeBilinear(x: tf.Tensor4D, oh: number, ow: number): tf.Tensor4D {
  const [B, Q, h, w] = x.shape;
  const rx = tf.tensor2d(bilinearMatrix(w, ow), [ow, w]);
  const ry = tf.tensor2d(bilinearMatrix(h, oh), [oh, h]);
  const t = tf.matMul(x.reshape([B * Q * h, w]), rx, false, true).reshape([B * Q, h, ow]).transpose([0, 2, 1]);
  const u = tf.matMul(t.reshape([B * Q * ow, h]), ry, false, true).reshape([B * Q, ow, oh]).transpose([0, 2, 1]);
  return u.reshape([B, Q, oh, ow]);
}

/**
 * Decodes a full token map x [B,Q+1+R+Np,D] (queries first) to class and mask logits at 4× the patch
 * grid, without the image-resolution outputs.
 */
export function decodeLogits(x: tf.Tensor3D, block: number, cfg: ModelConfig, w: Readonly<Record<string, tf.Tensor>>): DecodedLogits {
  const { D, Q, R } = cfg;
  const P = 1 + R;
  const { gh, gw, Np } = patchGrid(cfg);
  const B = x.shape[0];
  const y = layerNorm(x, w['norm.weight']!, w['norm.bias']!) as tf.Tensor3D;
  const yq = y.slice([0, 0, 0], [B, Q, D]);
  const classLogits = linear(yq, w['class_head.weight']!, w['class_head.bias']!) as tf.Tensor3D;
  let e = gelu(linear(yq, w['mask_head.0.weight']!, w['mask_head.0.bias']!));
  e = gelu(linear(e, w['mask_head.2.weight']!, w['mask_head.2.bias']!));
  e = linear(e, w['mask_head.4.weight']!, w['mask_head.4.bias']!);
  let f = y.slice([0, Q + P, 0], [B, Np, D]).reshape([B, gh, gw, D]) as tf.Tensor4D;
  for (const j of [0, 1]) f = upscale(f, j, w);
  const [, h, wd] = f.shape;
  const maskLogits = tf.matMul(e, f.reshape([B, h * wd, D]), false, true).reshape([B, Q, h, wd]) as tf.Tensor4D;
  return { block, classLogits, maskLogits };
}

/**
 * Decodes a full token map x [B,Q+1+R+Np,D] (queries first).
 * @returns class/mask logits and the semantic map (see `Decoded`)
 */
export function decode(x: tf.Tensor3D, block: number, cfg: ModelConfig, w: Readonly<Record<string, tf.Tensor>>): Decoded {
  const { Q, classes: C } = cfg;
  const [Hi, Wi] = cfg.image;
  const B = x.shape[0];
  const { classLogits, maskLogits } = decodeLogits(x, block, cfg, w);
  const maskLogitsFull = resizeBilinear(maskLogits, Hi, Wi);
  const probs = tf.softmax(classLogits).slice([0, 0, 0], [B, Q, C]); // [B,Q,C]
  const semantic = tf.matMul(probs, tf.sigmoid(maskLogitsFull).reshape([B, Q, Hi * Wi]), true, false).reshape([B, C, Hi, Wi]) as tf.Tensor4D;
  return { block, classLogits, maskLogits, maskLogitsFull, semantic };
}
