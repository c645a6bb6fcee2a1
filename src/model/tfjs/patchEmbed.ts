/**
 * Patch embedding (SPEC §2; docs/inference-forward.md step 2): Conv2d p×p stride p as one matmul.
 * images [B,3,Himg,Wimg] → [B,3,gh,p,gw,p] → [B,gh,gw,3,p,p] → [B·Np, 3p²] · W[D,3p²]^T + bias → [B,Np,D],
 * then `+ pos_embed`; patch n = gy·gw + gx. Exact (non-overlapping windows) and differentiable.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../config.js';
import { patchGrid } from '../config.js';
import { linear } from './layers.js';

export function patchEmbed(images: tf.Tensor4D, cfg: ModelConfig, w: Readonly<Record<string, tf.Tensor>>): tf.Tensor3D {
  const p = cfg.patch;
  const { gh, gw, Np } = patchGrid(cfg);
  const B = images.shape[0];
  const cols = images.reshape([B, 3, gh, p, gw, p]).transpose([0, 2, 4, 1, 3, 5]).reshape([B, Np, 3 * p * p]);
  const Wp = w['patch_embed.proj.weight']!.reshape([cfg.D, 3 * p * p]);
  return tf.add(linear(cols, Wp, w['patch_embed.proj.bias']!), w['pos_embed']!) as tf.Tensor3D;
}
