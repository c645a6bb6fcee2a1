/**
 * Differentiable TF.js building blocks of the EoMT-style model (SPEC §2 numerics, as timm/DINOv2):
 * Linear with weights [out, in] (SPEC §8 layout), LayerNorm (biased variance, eps 1e-6), RMSNorm
 * (eps 1e-6), exact erf GELU. Every function works on the last axis of any-rank input.
 *
 * On TF.js's pure-JS `cpu` backend, LayerNorm and GELU run as the fused native ops tfops.layerNorm /
 * tfops.gelu (one kernel forward, one backward; the stock composition costs ~8 kernels each way there).
 * Other backends (tfjs-node, webgl, wasm) keep the stock composition, which they run natively; so do
 * inputs the fused ops do not take (non-float32, broadcast-shaped w / b). `setModelFusion` switches the fused
 * ops off (benchmarks compare the paths; tests compare the fused block and scale block with their compositions).
 */
import * as tf from '@tensorflow/tfjs';
import { gelu as fusedGelu, layerNorm as fusedLayerNorm } from '../../tfjs/ops.js';

export const LN_EPS = 1e-6;

/** Which fused native ops the model takes on the `cpu` backend (all on by default). */
export interface ModelFusion {
  /** tfops.layerNorm / tfops.gelu instead of their stock compositions. */
  layers: boolean;
  /** tfops.vitBlock (one op per ViT block, forward and backward) instead of the block's composition (block.ts). */
  block: boolean;
  /** tfops.upscaleBlock (one op per mask-head scale block, forward and backward) instead of its composition (upscale.ts). */
  upscale: boolean;
}
const fusion: ModelFusion = { layers: true, block: true, upscale: true };

/** The current fusion switches. */
export function modelFusion(): Readonly<ModelFusion> {
  return { ...fusion };
}

/**
 * Switches fused ops on or off for the whole process; returns the previous setting (to restore it).
 * @example const prev = setModelFusion({ block: false }); try { ... } finally { setModelFusion(prev); }
 */
export function setModelFusion(f: Partial<ModelFusion>): ModelFusion {
  const prev = { ...fusion };
  for (const k of ['layers', 'block', 'upscale'] as const) {
    const v = f[k];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw new TypeError(`setModelFusion: expected ${k} to be a boolean, received ${typeof v}`);
    fusion[k] = v;
  }
  return prev;
}

/**
 * The tensors `prefix + name` of the model's weights keyed by `name` (one block's or scale block's weights, the
 * convention of the fused ops); throws naming the first missing weight.
 */
export function prefixedWeights<N extends string>(w: Readonly<Record<string, tf.Tensor>>, prefix: string, names: readonly N[]): Record<N, tf.Tensor> {
  const out = {} as Record<N, tf.Tensor>;
  for (const n of names) {
    const t = w[`${prefix}${n}`];
    if (t === undefined) throw new Error(`EomtModel: missing weight '${prefix}${n}'`);
    out[n] = t;
  }
  return out;
}

/** `x W^T + b` over the last axis; W [out, in]. */
export function linear(x: tf.Tensor, W: tf.Tensor, b: tf.Tensor | null): tf.Tensor {
  const shape = x.shape;
  const din = shape[shape.length - 1]!, dout = W.shape[0]!;
  const x2 = x.reshape([-1, din]);
  let y = tf.matMul(x2, W, false, true);
  if (b !== null) y = tf.add(y, b);
  return y.reshape([...shape.slice(0, -1), dout]);
}

/** LayerNorm over the last axis: (x − mean) / sqrt(var + eps) ⊙ w + b (biased variance). */
export function layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps = LN_EPS): tf.Tensor {
  const C = x.shape[x.rank - 1];
  if (fusion.layers && tf.getBackend() === 'cpu' && x.dtype === 'float32' && w.dtype === 'float32' && b.dtype === 'float32' && x.rank >= 1 && w.rank === 1 && b.rank === 1 && w.shape[0] === C && b.shape[0] === C)
    return fusedLayerNorm(x, w, b, { eps });
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), w), b);
}

/** RMSNorm over the last axis: x / sqrt(mean(x²) + eps) ⊙ w. */
export function rmsNorm(x: tf.Tensor, w: tf.Tensor, eps = LN_EPS): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
}

/** Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (fusion.layers && tf.getBackend() === 'cpu' && x.dtype === 'float32') return fusedGelu(x);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}
