/**
 * TF.js kernel names of the reg4pru ops (SPEC §5), with the inputs and attributes each kernel takes, in the
 * shape of TF.js's own `kernel_names.ts`. Every name carries the `Reg4pru` prefix so that it can never
 * collide with a built-in TF.js kernel (STYLE §3).
 *
 * Attributes are TF.js `NamedAttrMap` values (numbers, booleans, strings): a seed travels as a number
 * when it is a safe integer and as its decimal string when the caller gave a bigint.
 */
import type { NamedTensorInfoMap } from '@tensorflow/tfjs';

export const GatherTokens = 'Reg4pruGatherTokens';
/** x float32 [B,N,D], idx int32 [B,K] -> float32 [B,K,D] */
export type GatherTokensInputs = Pick<NamedTensorInfoMap, 'x' | 'idx'>;

export const GatherTokensGrad = 'Reg4pruGatherTokensGrad';
/** dy float32 [B,K,D], idx int32 [B,K] -> dx float32 [B,N,D] */
export type GatherTokensGradInputs = Pick<NamedTensorInfoMap, 'dy' | 'idx'>;
export interface GatherTokensGradAttrs {
  N: number;
}

export const ScatterTokens = 'Reg4pruScatterTokens';
/** base float32 [B,N,D], idx int32 [B,K], src float32 [B,K,D] -> float32 [B,N,D] */
export type ScatterTokensInputs = Pick<NamedTensorInfoMap, 'base' | 'idx' | 'src'>;

export const ScatterTokensGrad = 'Reg4pruScatterTokensGrad';
/** dy float32 [B,N,D], idx int32 [B,K] -> [dbase float32 [B,N,D], dsrc float32 [B,K,D]] */
export type ScatterTokensGradInputs = Pick<NamedTensorInfoMap, 'dy' | 'idx'>;

export const PolicyAttention = 'Reg4pruPolicyAttention';
/** q,k,v float32 [B,H,N,Dh], policy float32 [B,N] -> float32 [B,H,N,Dh] */
export type PolicyAttentionInputs = Pick<NamedTensorInfoMap, 'q' | 'k' | 'v' | 'policy'>;
export interface PolicyAttentionAttrs {
  eps: number;
}

export const PolicyAttentionGrad = 'Reg4pruPolicyAttentionGrad';
/** dy, q, k, v float32 [B,H,N,Dh], policy [B,N] -> [dq, dk, dv [B,H,N,Dh], dpolicy [B,N]]; attrs as the forward */
export type PolicyAttentionGradInputs = Pick<NamedTensorInfoMap, 'dy' | 'q' | 'k' | 'v' | 'policy'>;

export const PrunedBlock = 'Reg4pruPrunedBlock';
/**
 * x float32 [B,N,D], idx int32 [B,K] (absent = all tokens), and the 14 block weights under their SPEC §8
 * names without the `blocks.{i}.` prefix (`norm1.weight`, `attn.qkv.weight`, ...) -> float32 [B,N,D]
 */
export type PrunedBlockInputs = NamedTensorInfoMap;
export interface PrunedBlockAttrs {
  heads: number;
  lnEps: number;
}

export const GumbelTopK = 'Reg4pruGumbelTopK';
/** logits float32 [B,N], active (optional) bool | int32 | float32 [B,N] -> int32 [B,k] ascending */
export type GumbelTopKInputs = Pick<NamedTensorInfoMap, 'logits' | 'active'>;
export interface GumbelTopKAttrs {
  k: number;
  seed: number | string;
  noise: boolean;
}

export const GumbelSoftmaxST = 'Reg4pruGumbelSoftmaxST';
/** logits float32 [B,N,2] -> [hard float32 [B,N] in {0,1}, soft float32 [B,N]] */
export type GumbelSoftmaxSTInputs = Pick<NamedTensorInfoMap, 'logits'>;
export interface GumbelSoftmaxSTAttrs {
  tau: number;
  seed: number | string;
}

export const GumbelSoftmaxSTGrad = 'Reg4pruGumbelSoftmaxSTGrad';
/** dy float32 [B,N] (upstream gradient of hard + soft), soft float32 [B,N] -> dlogits float32 [B,N,2] */
export type GumbelSoftmaxSTGradInputs = Pick<NamedTensorInfoMap, 'dy' | 'soft'>;
export interface GumbelSoftmaxSTGradAttrs {
  tau: number;
}

// ---- layerNorm / gelu (the TF.js training graph's LayerNorm and exact GELU)
export const LayerNorm = 'Reg4pruLayerNorm';
/**
 * x float32 [..., C] (rank >= 1), w float32 [C], b float32 [C] -> [y float32 (x's shape), mean float32 [R],
 * rstd float32 [R]], R = x.size / C. mean and rstd are saved for the gradient (outputsToSave).
 */
export type LayerNormInputs = Pick<NamedTensorInfoMap, 'x' | 'w' | 'b'>;
export interface LayerNormAttrs {
  eps: number;
}

export const LayerNormGrad = 'Reg4pruLayerNormGrad';
/** dy, x float32 [..., C], w float32 [C], mean, rstd float32 [R] -> [dx (x's shape), dw [C], db [C]] */
export type LayerNormGradInputs = Pick<NamedTensorInfoMap, 'dy' | 'x' | 'w' | 'mean' | 'rstd'>;

export const Gelu = 'Reg4pruGelu';
/** x float32, any shape -> float32 of x's shape: 0.5 x (1 + erf(x / sqrt 2)) */
export type GeluInputs = Pick<NamedTensorInfoMap, 'x'>;

export const GeluGrad = 'Reg4pruGeluGrad';
/** dy, x float32 of one shape -> dx = dy (Phi(x) + x phi(x)) */
export type GeluGradInputs = Pick<NamedTensorInfoMap, 'dy' | 'x'>;

export const VitBlock = 'Reg4pruVitBlock';
/**
 * x float32 [B,N,D], policy float32 [B,N] (optional), the 14 block weights by SPEC §8 name -> [y float32 [B,N,D],
 * saved float32 [B*N*(6D+F)]]; saved is kept for the gradient (outputsToSave).
 */
export type VitBlockInputs = NamedTensorInfoMap;
export interface VitBlockAttrs {
  heads: number;
  lnEps: number;
  attnEps: number;
}

export const VitBlockGrad = 'Reg4pruVitBlockGrad';
/** dy, x, policy?, weights, saved -> [dx, ...the 14 weight gradients in PRUNED_BLOCK_WEIGHT_NAMES order, dpolicy?] */
export type VitBlockGradInputs = NamedTensorInfoMap;

export const UpscaleBlock = 'Reg4pruUpscaleBlock';
/**
 * x float32 [B,h,w,C], the five scale-block weights by SPEC §8 name ('conv1.weight' [C,O,2,2], 'conv1.bias' [O],
 * 'conv2.weight' [O,1,3,3], 'norm.weight' [O], 'norm.bias' [O]) -> [y float32 [B,2h,2w,O], saved float32
 * [B*2h*2w*(O+2)]]; saved is kept for the gradient (outputsToSave).
 */
export type UpscaleBlockInputs = NamedTensorInfoMap;
export interface UpscaleBlockAttrs {
  lnEps: number;
}

export const UpscaleBlockGrad = 'Reg4pruUpscaleBlockGrad';
/** dy, x, the five weights, saved -> [dx, ...the five weight gradients in UPSCALE_WEIGHT_NAMES order] */
export type UpscaleBlockGradInputs = NamedTensorInfoMap;
