/**
 * Float64 oracle for the SPEC §6 ToMe baseline block (semantics at TomeBlockArgs in native/kernels/ops.h and in
 * src/ops/tomeBlock.ts), written from the ToMe formulas (bipartite soft matching on head-averaged keys,
 * size-weighted merge, unmerge by copying the destination's update), not ported from the C++:
 *   kbar_t = mean_h (LN1(x_t) W_k^T + b_k)_h;  A = unprotected offsets u even, B = u odd;  cos(kbar_a, kbar_b)
 *   best(a) = argmax_b (first max), top m = tomeMergeCount(Tu, r) a's by score (ties: lower a) merge into best(a)
 *   x_m = survivors in token order, destination rows averaged with their sources (sizes from 1)
 *   'mhsa':     z = x + U(attn(x_m) - x_m);  out = mlp(z)          'mhsa+mlp': out = x + U(mlp(attn(x_m)) - x_m)
 * Also returns the plan's margins (how far the matching is from a tie) so tests can tell whether a
 * float32 kernel must reproduce the same plan.
 */
import type { PrunedBlockWeights } from '../../src/ops/prunedBlock.js';
import { tomeMergeCount } from '../../src/ops/tomeBlock.js';
import { geluRef, layerNormRef, linearRef, mhsaRef } from './prunedBlock.js';

export type TomeModeRef = 'mhsa' | 'mhsa+mlp';

export interface TomePlanRef {
  /** [B*T] merged row of every token. */
  map: Int32Array;
  /** Tokens merged away per row. */
  m: number;
  /** Smallest gap between the chosen similarity and the runner-up over all merged a's, and at the top-m cut. */
  margin: number;
}

/** attn(X) = X + ls1 * proj(MHSA(LN1(X))) over T tokens (SPEC §2). */
export function attnHalfRef(X: ArrayLike<number>, T: number, D: number, H: number, w: PrunedBlockWeights, eps: number): Float64Array {
  const a = layerNormRef(X, T, D, w['norm1.weight'].data, w['norm1.bias'].data, eps);
  const qkv = linearRef(a, T, D, 3 * D, w['attn.qkv.weight'].data, w['attn.qkv.bias'].data);
  const p = linearRef(mhsaRef(qkv, T, D, H), T, D, D, w['attn.proj.weight'].data, w['attn.proj.bias'].data);
  const z = new Float64Array(T * D);
  for (let i = 0; i < T * D; i++) z[i] = X[i]! + w['ls1.gamma'].data[i % D]! * p[i]!;
  return z;
}

/** mlp(Z) = Z + ls2 * fc2(GELU(fc1(LN2(Z)))) over T tokens (SPEC §2). */
export function mlpHalfRef(Z: ArrayLike<number>, T: number, D: number, w: PrunedBlockWeights, eps: number): Float64Array {
  const F = w['mlp.fc1.bias'].data.length;
  const c = layerNormRef(Z, T, D, w['norm2.weight'].data, w['norm2.bias'].data, eps);
  const h = linearRef(c, T, D, F, w['mlp.fc1.weight'].data, w['mlp.fc1.bias'].data);
  for (let i = 0; i < h.length; i++) h[i] = geluRef(h[i]!);
  const m = linearRef(h, T, F, D, w['mlp.fc2.weight'].data, w['mlp.fc2.bias'].data);
  const y = new Float64Array(T * D);
  for (let i = 0; i < T * D; i++) y[i] = Z[i]! + w['ls2.gamma'].data[i % D]! * m[i]!;
  return y;
}

/** The merge plan of one batch row xb [T,D]: dst[u] = offset of the b that offset u merges into, or -1. */
function planRow(xb: ArrayLike<number>, T: number, D: number, H: number, P0: number, m: number, w: PrunedBlockWeights, eps: number): { dst: Int32Array; margin: number } {
  const Tu = T - P0, Dh = D / H;
  const dst = new Int32Array(Tu).fill(-1);
  if (m === 0) return { dst, margin: Infinity };
  const xu = Array.from({ length: Tu * D }, (_, i) => xb[P0 * D + i]!);
  const ln = layerNormRef(xu, Tu, D, w['norm1.weight'].data, w['norm1.bias'].data, eps);
  const keys = linearRef(ln, Tu, D, 3 * D, w['attn.qkv.weight'].data, w['attn.qkv.bias'].data);
  const kn: Float64Array[] = [];
  for (let u = 0; u < Tu; u++) {
    const k = new Float64Array(Dh);
    for (let h = 0; h < H; h++) for (let e = 0; e < Dh; e++) k[e]! += keys[u * 3 * D + D + h * Dh + e]! / H;
    const n = Math.max(Math.hypot(...k), 1e-12);
    kn.push(k.map((v) => v / n));
  }
  const nA = Math.ceil(Tu / 2), nB = Math.floor(Tu / 2);
  const score: number[] = [], best: number[] = [], second: number[] = [];
  for (let i = 0; i < nA; i++) {
    let bs = -Infinity, bj = 0, s2 = -Infinity;
    for (let j = 0; j < nB; j++) {
      let s = 0;
      for (let e = 0; e < Dh; e++) s += kn[2 * i]![e]! * kn[2 * j + 1]![e]!;
      if (s > bs) {
        s2 = bs;
        bs = s;
        bj = j;
      } else if (s > s2) s2 = s;
    }
    score.push(bs);
    best.push(bj);
    second.push(s2);
  }
  const order = Array.from({ length: nA }, (_, i) => i).sort((p, q) => score[q]! - score[p]! || p - q);
  let margin = m < nA ? score[order[m - 1]!]! - score[order[m]!]! : Infinity;
  for (let r = 0; r < m; r++) {
    const i = order[r]!;
    dst[2 * i] = 2 * best[i]! + 1;
    margin = Math.min(margin, score[i]! - second[i]!);
  }
  return { dst, margin };
}

/** The merge plan of x [B,T,D] (see TomePlanRef). */
export function tomePlanRef(x: ArrayLike<number>, B: number, T: number, D: number, H: number, P0: number, ratio: number, w: PrunedBlockWeights, eps = 1e-6): TomePlanRef {
  const m = tomeMergeCount(T - P0, ratio);
  const map = new Int32Array(B * T);
  let margin = Infinity;
  for (let b = 0; b < B; b++) {
    const xb = Array.from({ length: T * D }, (_, i) => x[b * T * D + i]!);
    const { dst, margin: mg } = planRow(xb, T, D, H, P0, m, w, eps);
    margin = Math.min(margin, mg);
    let next = 0;
    for (let t = 0; t < T; t++) if (t < P0 || dst[t - P0]! < 0) map[b * T + t] = next++;
    for (let u = 0; u < T - P0; u++) if (dst[u]! >= 0) map[b * T + P0 + u] = map[b * T + P0 + dst[u]!]!;
  }
  return { map, m, margin };
}

/** Merge: x [T,D] and a row's map -> x_m [Tm,D], the mean of the tokens mapped to each row. */
export function mergeRef(x: ArrayLike<number>, map: ArrayLike<number>, T: number, Tm: number, D: number): Float64Array {
  const xm = new Float64Array(Tm * D), size = new Float64Array(Tm);
  for (let t = 0; t < T; t++) {
    size[map[t]!]! += 1;
    for (let d = 0; d < D; d++) xm[map[t]! * D + d]! += x[t * D + d]!;
  }
  for (let r = 0; r < Tm; r++) for (let d = 0; d < D; d++) xm[r * D + d]! /= size[r]!;
  return xm;
}

/** Unmerge: every token takes its row's value: u [T,D] = ym[map[t]]. */
export function unmergeRef(ym: ArrayLike<number>, map: ArrayLike<number>, T: number, D: number): Float64Array {
  const u = new Float64Array(T * D);
  for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) u[t * D + d] = ym[map[t]! * D + d]!;
  return u;
}

/** x [B,T,D] -> tomeBlock output [B,T,D] in float64, and the plan used. */
export function tomeBlockRef(x: ArrayLike<number>, B: number, T: number, D: number, H: number, P0: number, mode: TomeModeRef, ratio: number, w: PrunedBlockWeights, eps = 1e-6, plan?: TomePlanRef): { out: Float64Array; plan: TomePlanRef } {
  const p = plan ?? tomePlanRef(x, B, T, D, H, P0, ratio, w, eps);
  const Tm = T - p.m;
  const out = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++) {
    const xb = Array.from({ length: T * D }, (_, i) => x[b * T * D + i]!);
    const map = p.map.subarray(b * T, (b + 1) * T);
    const xm = mergeRef(xb, map, T, Tm, D);
    const zm = attnHalfRef(xm, Tm, D, H, w, eps);
    const upd = mode === 'mhsa' ? zm : mlpHalfRef(zm, Tm, D, w, eps);
    const delta = upd.map((v, i) => v - xm[i]!);
    const u = unmergeRef(delta, map, T, D);
    const z = u.map((v, i) => xb[i]! + v);
    out.set(mode === 'mhsa' ? mlpHalfRef(z, T, D, w, eps) : z, b * T * D);
  }
  return { out, plan: p };
}
