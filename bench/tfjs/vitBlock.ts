/**
 * A small pre-norm ViT block in plain TF.js ops (SPEC §2), for profiling and benchmarking the TF.js
 * `cpu` backend with and without the native kernels (src/tfjs/backend/), and as a test workload:
 *   z  = x + ls1 * proj(MHSA(LN1(x)));   out = z + ls2 * fc2(GELU(fc1(LN2(z))))
 * x [B,N,D]; LayerNorm eps 1e-6 over D (explicit mean / centred second moment); qkv Linear with bias
 * [D,3D]; heads H, Dh = D/H, scale 1/sqrt(Dh), softmax over keys; MLP width 4D with the exact erf GELU
 * 0.5*x*(1+erf(x/sqrt2)); Linear weights stored [in, out] (TF.js matMul layout) and applied with
 * tf.fused.matMul + bias, which dispatches to _FusedMatMul. Preset `tiny`: D=192, H=3, N = 256 patches
 * + 5 prefix (cls + 4 registers) = 261, B = 2.
 */
import * as tf from '@tensorflow/tfjs';

export interface VitBlockConfig {
  /** Batch B. */
  B: number;
  /** Tokens N (prefix + patches). */
  N: number;
  /** Width D. */
  D: number;
  /** Heads H (D % H == 0). */
  H: number;
}

/** SPEC §2 `tiny` geometry with 256 patch tokens + cls + 4 registers, batch 2. */
export const TINY_BLOCK: VitBlockConfig = { B: 2, N: 261, D: 192, H: 3 };

export type VitBlockParams = Record<string, tf.Variable>;

/** Seeded parameters (timm names); LayerScale 0.1 so both branches matter in gradients. */
export function makeBlockParams(cfg: VitBlockConfig, seed = 1): VitBlockParams {
  const { D } = cfg;
  const F = 4 * D;
  let s = seed;
  const rn = (shape: number[], std: number) => tf.variable(tf.randomNormal(shape, 0, std, 'float32', s++));
  return {
    norm1_w: tf.variable(tf.add(tf.ones([D]), tf.randomNormal([D], 0, 0.1, 'float32', s++))),
    norm1_b: rn([D], 0.1),
    qkv_w: rn([D, 3 * D], 1 / Math.sqrt(D)),
    qkv_b: rn([3 * D], 0.1),
    proj_w: rn([D, D], 1 / Math.sqrt(D)),
    proj_b: rn([D], 0.1),
    ls1: tf.variable(tf.fill([D], 0.1)),
    norm2_w: tf.variable(tf.add(tf.ones([D]), tf.randomNormal([D], 0, 0.1, 'float32', s++))),
    norm2_b: rn([D], 0.1),
    fc1_w: rn([D, F], 1 / Math.sqrt(D)),
    fc1_b: rn([F], 0.1),
    fc2_w: rn([F, D], 1 / Math.sqrt(F)),
    fc2_b: rn([D], 0.1),
    ls2: tf.variable(tf.fill([D], 0.1)),
  };
}

function p(params: VitBlockParams, name: string): tf.Variable {
  const v = params[name];
  if (!v) throw new Error(`vitBlock: missing parameter ${name}`);
  return v;
}

/** LayerNorm over the last axis, eps 1e-6. */
export function layerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps = 1e-6): tf.Tensor {
  return tf.tidy(() => {
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    return tf.add(tf.mul(tf.mul(xc, tf.rsqrt(tf.add(variance, eps))), w), b);
  });
}

/** Exact (erf) GELU. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)));
}

/** x [rows, in] @ w [in, out] + b, through _FusedMatMul. */
function linear(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b }) as tf.Tensor2D;
}

/** One pre-norm block: x [B,N,D] -> [B,N,D]. */
export function vitBlock(x: tf.Tensor, params: VitBlockParams, cfg: VitBlockConfig): tf.Tensor {
  const { B, N, D, H } = cfg;
  const Dh = D / H;
  return tf.tidy(() => {
    const h1 = tf.reshape(layerNorm(x, p(params, 'norm1_w'), p(params, 'norm1_b')), [B * N, D]) as tf.Tensor2D;
    const qkv = tf.transpose(tf.reshape(linear(h1, p(params, 'qkv_w'), p(params, 'qkv_b')), [B, N, 3, H, Dh]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv, 0) as [tf.Tensor, tf.Tensor, tf.Tensor];
    const att = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(Dh)));
    const o = tf.reshape(tf.transpose(tf.matMul(att, v), [0, 2, 1, 3]), [B * N, D]) as tf.Tensor2D;
    const a = tf.mul(linear(o, p(params, 'proj_w'), p(params, 'proj_b')), p(params, 'ls1'));
    const z = tf.add(x, tf.reshape(a, [B, N, D]));
    const h2 = tf.reshape(layerNorm(z, p(params, 'norm2_w'), p(params, 'norm2_b')), [B * N, D]) as tf.Tensor2D;
    const m = gelu(linear(h2, p(params, 'fc1_w'), p(params, 'fc1_b'))) as tf.Tensor2D;
    const f = tf.mul(linear(m, p(params, 'fc2_w'), p(params, 'fc2_b')), p(params, 'ls2'));
    return tf.add(z, tf.reshape(f, [B, N, D]));
  });
}

/** Scalar training loss: mean(out^2). */
export function blockLoss(x: tf.Tensor, params: VitBlockParams, cfg: VitBlockConfig): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.square(vitBlock(x, params, cfg))) as tf.Scalar);
}

/**
 * One forward + backward step: loss and the gradient of every parameter, keyed by parameter name.
 * The caller owns (and must dispose) the returned tensors.
 */
export function blockStep(x: tf.Tensor, params: VitBlockParams, cfg: VitBlockConfig): { loss: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const { value, grads } = tf.variableGrads(() => blockLoss(x, params, cfg), Object.values(params));
  // variableGrads keys by variable name; re-key by parameter name.
  const byParam: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(params)) {
    const g = grads[v.name];
    if (g) byParam[k] = g;
  }
  return { loss: value, grads: byParam };
}

/** Disposes every parameter. */
export function disposeParams(params: VitBlockParams): void {
  for (const v of Object.values(params)) v.dispose();
}
