/**
 * Useful FLOPs of one inference forward (docs/inference-forward.md), for throughput reports: the patch
 * embedding, every block's GEMMs and attention products over the tokens it sees, the policy predictors, and the
 * head (class head, mask MLP, the two ConvTranspose2d, the depthwise 3x3, the mask einsum). Elementwise work
 * (norms, softmax, GELU, resize) is not counted. Used by `reg4pru bench --device cuda` and the benchmarks.
 */
import { patchGrid, type ModelConfig } from '../model/config.js';

/**
 * FLOPs of one forward of one image (B = 1) at base keep ratio `keep` (null = unpruned); stage s keeps
 * floor(keep^(s+1)·Np + 0.5) patches (the SPEC §3 rounding option is not applied).
 */
export function forwardFlops(c: ModelConfig, keep: number | null): number {
  const { D, L, Q, Bq, R, patch: p, classes } = c;
  const F = D * c.mlpRatio, W = c.selectorWidth, P = 1 + R;
  const { Np } = patchGrid(c);
  let flops = 2 * Np * D * 3 * p * p; // patch embedding
  let active = Np, stage = 0;
  for (let i = 0; i < L; i++) {
    if (keep !== null && stage < c.stageBlocks.length && i === c.stageBlocks[stage]) {
      flops += 2 * Np * (D * W + W * 2); // policy predictor on the full map
      active = Math.max(1, Math.floor(keep ** (stage + 1) * Np + 0.5));
      stage++;
    }
    const T = (i >= L - Bq ? Q : 0) + P + active;
    flops += 2 * T * D * (3 * D + D + 2 * F) + 4 * T * T * D; // qkv, proj, fc1, fc2 + QK^T, AV
  }
  const h0 = Np, h1 = 4 * Np;
  flops += 2 * Q * D * (classes + 1) + 3 * 2 * Q * D * D; // class head, mask MLP
  flops += 2 * h0 * D * 4 * D + 2 * h1 * D * 4 * D; // ConvTranspose2d of the two scale blocks
  flops += 2 * 9 * D * (4 * h0 + 4 * h1); // depthwise 3x3
  flops += 2 * Q * D * 16 * Np; // mask einsum
  return flops;
}
