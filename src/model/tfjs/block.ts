/**
 * One pre-norm ViT block in TF.js (SPEC §2): `z = x + ls1 ⊙ proj(MHSA(LN1 x)); x' = z + ls2 ⊙ fc2(GELU(fc1 LN2 z))`.
 * qkv Linear [3D,D] → [B,T,3,H,Dh] → q,k,v [B,H,T,Dh]. Attention is softmax(q kᵀ/sqrt(Dh)) v, or with a
 * policy [B,T] the masked self-loop attention of SPEC §4 (`tfops.policyAttention`, differentiable in
 * q, k, v and the policy). `blockWeights` picks one block's 14 tensors (names without `blocks.{i}.`,
 * the `tfops.prunedBlock` convention).
 *
 * On TF.js's pure-JS `cpu` backend `block` runs as the fused native training op `tfops.vitBlock` (one kernel
 * forward, one backward, differentiable in x, the policy and every weight); elsewhere it is the composition
 * `blockComposed` (stock TF.js ops, which those backends run natively). Both compute the same function.
 */
import * as tf from '@tensorflow/tfjs';
import type { PrunedBlockWeightName } from '../../ops/prunedBlock.js';
import { PRUNED_BLOCK_WEIGHT_NAMES } from '../../ops/prunedBlock.js';
import { policyAttention, vitBlock } from '../../tfjs/ops.js';
import { gelu, layerNorm, linear, modelFusion, prefixedWeights } from './layers.js';

export type BlockWeights = Readonly<Record<PrunedBlockWeightName, tf.Tensor>>;

/** Block i's tensors keyed without the `blocks.{i}.` prefix. */
export function blockWeights(w: Readonly<Record<string, tf.Tensor>>, i: number): BlockWeights {
  return prefixedWeights(w, `blocks.${i}.`, PRUNED_BLOCK_WEIGHT_NAMES);
}

/** MHSA of `h` [B,T,D] with H heads; `policy` [B,T] switches to SPEC §4 policy attention. */
export function attention(h: tf.Tensor3D, w: BlockWeights, H: number, policy: tf.Tensor2D | null): tf.Tensor3D {
  const [B, T, D] = h.shape;
  const Dh = D / H;
  const qkv = linear(h, w['attn.qkv.weight'], w['attn.qkv.bias']).reshape([B, T, 3, H, Dh]).transpose([2, 0, 3, 1, 4]);
  const [q, k, v] = tf.unstack(qkv, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
  let o: tf.Tensor4D;
  if (policy === null) {
    const a = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(Dh)));
    o = tf.matMul(a, v) as tf.Tensor4D;
  } else {
    o = policyAttention(q, k, v, policy);
  }
  const merged = o.transpose([0, 2, 1, 3]).reshape([B, T, D]);
  return linear(merged, w['attn.proj.weight'], w['attn.proj.bias']) as tf.Tensor3D;
}

/** Whether `block` takes the fused native op: on (setModelFusion), the cpu backend, float32 everywhere. */
export function useFusedBlock(x: tf.Tensor, w: BlockWeights, policy: tf.Tensor | null): boolean {
  if (!modelFusion().block || tf.getBackend() !== 'cpu' || x.dtype !== 'float32' || (policy !== null && policy.dtype !== 'float32')) return false;
  return PRUNED_BLOCK_WEIGHT_NAMES.every((n) => w[n].dtype === 'float32');
}

/** The block on every row of x [B,T,D]; `policy` [B,T] switches to SPEC §4 policy attention. */
export function block(x: tf.Tensor3D, w: BlockWeights, H: number, policy: tf.Tensor2D | null = null): tf.Tensor3D {
  if (useFusedBlock(x, w, policy)) return vitBlock(x, w, { heads: H, policy });
  return blockComposed(x, w, H, policy);
}

/** The block as a composition of differentiable TF.js ops (the reference of tfops.vitBlock; non-cpu backends). */
export function blockComposed(x: tf.Tensor3D, w: BlockWeights, H: number, policy: tf.Tensor2D | null = null): tf.Tensor3D {
  const z = tf.add(x, tf.mul(attention(layerNorm(x, w['norm1.weight'], w['norm1.bias']) as tf.Tensor3D, w, H, policy), w['ls1.gamma']));
  const m = linear(gelu(linear(layerNorm(z, w['norm2.weight'], w['norm2.bias']), w['mlp.fc1.weight'], w['mlp.fc1.bias'])), w['mlp.fc2.weight'], w['mlp.fc2.bias']);
  return tf.add(z, tf.mul(m, w['ls2.gamma'])) as tf.Tensor3D;
}
