/**
 * Float64 oracle of the whole inference forward pass (SPEC §2, §3; exact contract in
 * docs/inference-forward.md), written from the contract's formulas, independent of the native engine.
 *
 * Letters: B batch, D width, H heads, L blocks, p patch, gh x gw patch grid, Np = gh*gw, R registers,
 * P = 1 + R prefix, Q queries, C classes, Himg x Wimg image.
 * Layouts: images [B,3,Himg,Wimg]; token map per batch row x [T,D] with rows
 * `[queries (once prepended) | cls | registers | patches]`; decoder feature maps channel-major [D,h,w];
 * mask logits [B,Q,4gh,4gw]; semantic [B,C,Himg,Wimg]. Weights: SPEC §8 names, Linear [out,in],
 * ConvTranspose2d [in,out,2,2], depthwise [D,1,3,3].
 *
 * Every batch row is independent (no op mixes rows), so the forward runs row by row on [T,D] maps.
 * Numerics: LayerNorm/LayerNorm2d eps 1e-6 biased variance, RMSNorm eps 1e-6, exact erf GELU, softmax
 * with max subtraction, attention scale 1/sqrt(Dh). Pruning: k_s = max(1, floor(rho^(s+1) Np + 0.5)),
 * top-k among still-active patches by score desc, ties to the lower index, indices ascending.
 * Shared float64 pieces (erf, LayerNorm, Linear, MHSA) come from ./prunedBlock.ts; with `tome` every block is
 * ./tomeBlock.ts's tomeBlockRef (SPEC §6 baseline).
 */
import type { ModelConfig } from '../../src/model/config.js';
import { patchGrid } from '../../src/model/config.js';
import { geluRef, layerNormRef, linearRef, mhsaRef } from './prunedBlock.js';
import { tomeBlockRef, type TomeModeRef } from './tomeBlock.js';
import type { PrunedBlockWeights } from '../../src/ops/prunedBlock.js';

export type Weights = Record<string, ArrayLike<number>>;

export interface EomtRefOptions {
  /**
   * Base keep ratio rho in (0, 1], 'dynamic' (per image: the active patches with score >= threshold, at least
   * min(minKeep, active) of them by score), or null for no pruning (policy predictors not run).
   */
  keep: number | 'dynamic' | null;
  /** keep 'dynamic': the score threshold (default 0.5) and the floor (default 1). */
  threshold?: number;
  minKeep?: number;
  /** Decode after each of blocks L-Bq-1 ... L-1 (paper Fig. 5) as well. */
  perBlock: boolean;
  /** Also return the patch rows of the full map after every block (tests of stale rows). */
  trace?: boolean;
  /** SPEC §3 optional rounding: prefix + k a multiple of this (1 / omitted = off), see roundKeepRef. */
  roundKeep?: number;
  /**
   * SPEC §6 ToMe baseline instead of plain blocks (keep must be null): every block is tomeBlockRef over the
   * whole map, protected = queries + cls + registers, m = round(mergeRatio Np) merged on the 2x2 grid split.
   */
  tome?: { mode: TomeModeRef; mergeRatio: number };
}

/**
 * SPEC §3 rounding, written out by search: the multiple t of m nearest to P + k (the larger on a tie),
 * k' = t - P; if k' < 1, the smallest c >= 1 with P + c a multiple of m; finally at most Np.
 */
export function roundKeepRef(k: number, P: number, Np: number, m: number): number {
  if (m <= 1) return k;
  let t = 0;
  for (let c = 0; c <= P + k + m; c += m) if (Math.abs(c - (P + k)) <= Math.abs(t - (P + k))) t = c;
  let r = t - P;
  if (r < 1) for (r = 1; (P + r) % m !== 0; r++);
  return Math.min(Np, r);
}

export interface EomtRefResult {
  /** Semantic map of the final block [B,C,Himg,Wimg]. */
  semantic: Float64Array;
  /** With `perBlock`: one semantic map per decode point, blocks ascending (the last equals `semantic`). */
  perBlock?: Array<{ block: number; semantic: Float64Array }>;
  /** Class logits of the final block [B,Q,C+1]. */
  classLogits: Float64Array;
  /** Low-resolution mask logits of the final block [B,Q,4gh,4gw] (before the bilinear resize). */
  maskLogits: Float64Array;
  /** Per stage s: active patch indices (0..Np-1, ascending) [B,k_s] flattened; empty when keep is null or 'dynamic'. */
  keptPerStage: Int32Array[];
  /** Per stage s and image b: its active patch indices (ascending); every pruning mode. */
  keptLists: Int32Array[][];
  /** keep 'dynamic': the smallest |score - threshold| over every scored active patch (near 0: float32 may decide otherwise). */
  thresholdMargin?: number;
  /** With `trace`: entry i = patch rows of the full map after block i, [B,Np,D]. */
  patchTrace?: Float64Array[];
  /** With `tome`: the smallest matching margin over all blocks (near 0 = a float32 run may merge differently). */
  tomeMargin?: number;
}

const EPS = 1e-6;

function W(w: Weights, name: string): ArrayLike<number> {
  const t = w[name];
  if (t === undefined) throw new Error(`eomtForwardRef: missing weight '${name}'`);
  return t;
}

/** k_s = floor(rho^(s+1) * Np + 0.5), at least 1 (docs/inference-forward.md step 4.2). */
export function keepCount(rho: number, s: number, Np: number): number {
  return Math.max(1, Math.floor(rho ** (s + 1) * Np + 0.5));
}

/** Conv2d p x p stride p of one image [3,Himg,Wimg] -> patch tokens [Np,D] with pos_embed added. */
export function patchEmbedRef(img: ArrayLike<number>, imgOff: number, cfg: ModelConfig, w: Weights): Float64Array {
  const { D, patch: p } = cfg;
  const [Hi, Wi] = cfg.image;
  const { gh, gw, Np } = patchGrid(cfg);
  const Wp = W(w, 'patch_embed.proj.weight'), bp = W(w, 'patch_embed.proj.bias'), pos = W(w, 'pos_embed');
  const out = new Float64Array(Np * D);
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      const n = gy * gw + gx;
      for (let d = 0; d < D; d++) {
        let s = bp[d]!;
        for (let c = 0; c < 3; c++) {
          for (let i = 0; i < p; i++) {
            const row = imgOff + (c * Hi + gy * p + i) * Wi + gx * p;
            const wr = ((d * 3 + c) * p + i) * p;
            for (let j = 0; j < p; j++) s += Wp[wr + j]! * img[row + j]!;
          }
        }
        out[n * D + d] = s + pos[n * D + d]!;
      }
    }
  }
  return out;
}

/** One pre-norm block on X [K,D] (the gathered active rows) with the `blocks.{i}.` weights -> [K,D]. */
export function blockF64(X: Float64Array, K: number, cfg: ModelConfig, w: Weights, i: number): Float64Array {
  const { D, H } = cfg;
  const F = D * cfg.mlpRatio;
  const b = `blocks.${i}.`;
  const a = layerNormRef(X, K, D, W(w, `${b}norm1.weight`), W(w, `${b}norm1.bias`), EPS);
  const qkv = linearRef(a, K, D, 3 * D, W(w, `${b}attn.qkv.weight`), W(w, `${b}attn.qkv.bias`));
  const att = mhsaRef(qkv, K, D, H);
  const pr = linearRef(att, K, D, D, W(w, `${b}attn.proj.weight`), W(w, `${b}attn.proj.bias`));
  const g1 = W(w, `${b}ls1.gamma`), g2 = W(w, `${b}ls2.gamma`);
  const z = new Float64Array(K * D);
  for (let t = 0; t < K * D; t++) z[t] = X[t]! + g1[t % D]! * pr[t]!;
  const c = layerNormRef(z, K, D, W(w, `${b}norm2.weight`), W(w, `${b}norm2.bias`), EPS);
  const h = linearRef(c, K, D, F, W(w, `${b}mlp.fc1.weight`), W(w, `${b}mlp.fc1.bias`));
  for (let t = 0; t < h.length; t++) h[t] = geluRef(h[t]!);
  const m = linearRef(h, K, F, D, W(w, `${b}mlp.fc2.weight`), W(w, `${b}mlp.fc2.bias`));
  for (let t = 0; t < K * D; t++) z[t] = z[t]! + g2[t % D]! * m[t]!;
  return z;
}

/** Block i's weights in the shape tomeBlockRef takes (`blocks.{i}.` prefix dropped). */
function blockWeights(cfg: ModelConfig, w: Weights, i: number): PrunedBlockWeights {
  const { D } = cfg, F = D * cfg.mlpRatio;
  const t = (name: string, shape: number[]) => ({ data: Float32Array.from(W(w, `blocks.${i}.${name}`)), shape });
  return {
    'norm1.weight': t('norm1.weight', [D]), 'norm1.bias': t('norm1.bias', [D]),
    'attn.qkv.weight': t('attn.qkv.weight', [3 * D, D]), 'attn.qkv.bias': t('attn.qkv.bias', [3 * D]),
    'attn.proj.weight': t('attn.proj.weight', [D, D]), 'attn.proj.bias': t('attn.proj.bias', [D]),
    'ls1.gamma': t('ls1.gamma', [D]),
    'norm2.weight': t('norm2.weight', [D]), 'norm2.bias': t('norm2.bias', [D]),
    'mlp.fc1.weight': t('mlp.fc1.weight', [F, D]), 'mlp.fc1.bias': t('mlp.fc1.bias', [F]),
    'mlp.fc2.weight': t('mlp.fc2.weight', [D, F]), 'mlp.fc2.bias': t('mlp.fc2.bias', [D]),
    'ls2.gamma': t('ls2.gamma', [D]),
  };
}

/** Policy predictor s on `N` rows of x starting at row `row0` -> keep scores softmax(logits)[0], [N]. */
export function policyScoresRef(x: Float64Array, row0: number, N: number, cfg: ModelConfig, w: Weights, s: number): Float64Array {
  const { D, selectorWidth: Wd } = cfg;
  const pre = `selectors.${s}.`;
  const nw = W(w, `${pre}norm.weight`), g = W(w, `${pre}ls.gamma`);
  const h = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    const o = (row0 + n) * D;
    let ms = 0;
    for (let d = 0; d < D; d++) ms += x[o + d]! ** 2;
    const r = 1 / Math.sqrt(ms / D + EPS);
    for (let d = 0; d < D; d++) h[n * D + d] = x[o + d]! * r * nw[d]!;
  }
  const u = linearRef(h, N, D, Wd, W(w, `${pre}fc1.weight`), W(w, `${pre}fc1.bias`));
  for (let t = 0; t < u.length; t++) u[t] = geluRef(u[t]!);
  const lg = linearRef(u, N, Wd, 2, W(w, `${pre}fc2.weight`), W(w, `${pre}fc2.bias`));
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const l0 = lg[2 * n]! * g[0]!, l1 = lg[2 * n + 1]! * g[1]!;
    const m = Math.max(l0, l1);
    const e0 = Math.exp(l0 - m), e1 = Math.exp(l1 - m);
    out[n] = e0 / (e0 + e1);
  }
  return out;
}

/** Top-k of `scores` among `active` (nonzero) entries; ties to the lower index; ascending indices. */
export function topKActiveRef(scores: ArrayLike<number>, active: ArrayLike<number>, k: number): Int32Array {
  const cand: number[] = [];
  for (let n = 0; n < scores.length; n++) if (active[n]) cand.push(n);
  if (cand.length < k) throw new Error(`topKActiveRef: ${cand.length} active < k=${k}`);
  cand.sort((a, b) => (scores[a]! !== scores[b]! ? (scores[a]! > scores[b]! ? -1 : 1) : a - b));
  return Int32Array.from(cand.slice(0, k)).sort();
}

/** ConvTranspose2d 2x2 stride 2: x [C,h,w], weight [C,O,2,2], bias [O] -> [O,2h,2w]. */
export function convTranspose2x2Ref(x: ArrayLike<number>, C: number, O: number, h: number, w: number, wt: ArrayLike<number>, bias: ArrayLike<number>): Float64Array {
  const H2 = 2 * h, W2 = 2 * w;
  const out = new Float64Array(O * H2 * W2);
  for (let o = 0; o < O; o++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        for (let i = 0; i < 2; i++) {
          for (let j = 0; j < 2; j++) {
            let s = bias[o]!;
            for (let c = 0; c < C; c++) s += wt[((c * O + o) * 2 + i) * 2 + j]! * x[(c * h + y) * w + xx]!;
            out[(o * H2 + 2 * y + i) * W2 + 2 * xx + j] = s;
          }
        }
      }
    }
  }
  return out;
}

/** Depthwise 3x3 conv, zero padding 1, no bias: x [C,h,w], weight [C,1,3,3] -> [C,h,w]. */
export function depthwise3x3Ref(x: ArrayLike<number>, C: number, h: number, w: number, wt: ArrayLike<number>): Float64Array {
  const out = new Float64Array(C * h * w);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        let s = 0;
        for (let i = 0; i < 3; i++) {
          const yy = y + i - 1;
          if (yy < 0 || yy >= h) continue;
          for (let j = 0; j < 3; j++) {
            const xj = xx + j - 1;
            if (xj < 0 || xj >= w) continue;
            s += wt[c * 9 + i * 3 + j]! * x[(c * h + yy) * w + xj]!;
          }
        }
        out[(c * h + y) * w + xx] = s;
      }
    }
  }
  return out;
}

/** LayerNorm2d: per pixel over the C channels of x [C,h,w] (eps 1e-6), affine weight/bias [C]. */
export function layerNorm2dRef(x: ArrayLike<number>, C: number, h: number, w: number, wt: ArrayLike<number>, bias: ArrayLike<number>): Float64Array {
  const HW = h * w;
  const out = new Float64Array(C * HW);
  for (let q = 0; q < HW; q++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[c * HW + q]!;
    mean /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[c * HW + q]! - mean) ** 2;
    const r = 1 / Math.sqrt(v / C + EPS);
    for (let c = 0; c < C; c++) out[c * HW + q] = (x[c * HW + q]! - mean) * r * wt[c]! + bias[c]!;
  }
  return out;
}

/** Bilinear resize of one plane [ih,iw] -> [oh,ow], half-pixel centres (PyTorch align_corners=False). */
export function bilinearResizeRef(x: ArrayLike<number>, ih: number, iw: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(oh * ow);
  const src = (d: number, n: number, o: number) => Math.min(Math.max((d + 0.5) * (n / o) - 0.5, 0), n - 1);
  for (let y = 0; y < oh; y++) {
    const sy = src(y, ih, oh), y0 = Math.floor(sy), y1 = Math.min(y0 + 1, ih - 1), ly = sy - y0;
    for (let xx = 0; xx < ow; xx++) {
      const sx = src(xx, iw, ow), x0 = Math.floor(sx), x1 = Math.min(x0 + 1, iw - 1), lx = sx - x0;
      out[y * ow + xx] =
        (1 - ly) * ((1 - lx) * x[y0 * iw + x0]! + lx * x[y0 * iw + x1]!) + ly * ((1 - lx) * x[y1 * iw + x0]! + lx * x[y1 * iw + x1]!);
    }
  }
  return out;
}

interface Decoded {
  cls: Float64Array; // [Q,C+1]
  mask: Float64Array; // [Q,4gh,4gw]
  sem: Float64Array; // [C,Himg,Wimg]
}

/** Decode one batch row's full map x [T,D] (queries at rows 0..Q-1) (contract step 5). */
export function decodeRef(x: Float64Array, T: number, cfg: ModelConfig, w: Weights): Decoded {
  const { D, Q, R, classes: C } = cfg;
  const P = 1 + R;
  const { gh, gw, Np } = patchGrid(cfg);
  const [Hi, Wi] = cfg.image;
  const y = layerNormRef(x, T, D, W(w, 'norm.weight'), W(w, 'norm.bias'), EPS);
  const yq = y.subarray(0, Q * D);
  const cls = linearRef(yq, Q, D, C + 1, W(w, 'class_head.weight'), W(w, 'class_head.bias'));
  let e: Float64Array = linearRef(yq, Q, D, D, W(w, 'mask_head.0.weight'), W(w, 'mask_head.0.bias'));
  for (let t = 0; t < e.length; t++) e[t] = geluRef(e[t]!);
  e = linearRef(e, Q, D, D, W(w, 'mask_head.2.weight'), W(w, 'mask_head.2.bias'));
  for (let t = 0; t < e.length; t++) e[t] = geluRef(e[t]!);
  e = linearRef(e, Q, D, D, W(w, 'mask_head.4.weight'), W(w, 'mask_head.4.bias'));

  let f: Float64Array = new Float64Array(D * Np);
  for (let n = 0; n < Np; n++) for (let d = 0; d < D; d++) f[d * Np + n] = y[(Q + P + n) * D + d]!;
  let h = gh, wd = gw;
  for (const j of [0, 1]) {
    const u = `upscale.${j}.`;
    f = convTranspose2x2Ref(f, D, D, h, wd, W(w, `${u}conv1.weight`), W(w, `${u}conv1.bias`));
    h *= 2;
    wd *= 2;
    for (let t = 0; t < f.length; t++) f[t] = geluRef(f[t]!);
    f = depthwise3x3Ref(f, D, h, wd, W(w, `${u}conv2.weight`));
    f = layerNorm2dRef(f, D, h, wd, W(w, `${u}norm.weight`), W(w, `${u}norm.bias`));
  }
  const HW = h * wd;
  const mask = new Float64Array(Q * HW);
  for (let q = 0; q < Q; q++) {
    for (let px = 0; px < HW; px++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += e[q * D + d]! * f[d * HW + px]!;
      mask[q * HW + px] = s;
    }
  }
  const sem = new Float64Array(C * Hi * Wi);
  for (let q = 0; q < Q; q++) {
    const big = bilinearResizeRef(mask.subarray(q * HW, (q + 1) * HW), h, wd, Hi, Wi);
    let mx = -Infinity;
    for (let c = 0; c <= C; c++) mx = Math.max(mx, cls[q * (C + 1) + c]!);
    let den = 0;
    for (let c = 0; c <= C; c++) den += Math.exp(cls[q * (C + 1) + c]! - mx);
    for (let c = 0; c < C; c++) {
      const pc = Math.exp(cls[q * (C + 1) + c]! - mx) / den;
      for (let t = 0; t < Hi * Wi; t++) sem[c * Hi * Wi + t] += pc / (1 + Math.exp(-big[t]!));
    }
  }
  return { cls, mask, sem };
}

/**
 * The inference forward pass in float64 (docs/inference-forward.md).
 * @param cfg model config
 * @param w SPEC §8 weights (name -> data)
 * @param images [B,3,Himg,Wimg]
 * @param B batch size
 * @param opts keep ratio (null = unpruned) and per-block decoding
 */
export function eomtForwardRef(cfg: ModelConfig, w: Weights, images: ArrayLike<number>, B: number, opts: EomtRefOptions): EomtRefResult {
  const { D, L, Q, Bq, R, classes: C } = cfg;
  const P = 1 + R;
  const { gh, gw, Np } = patchGrid(cfg);
  const [Hi, Wi] = cfg.image;
  const keep = opts.keep;
  const dynamic = keep === 'dynamic';
  if (keep !== null && !dynamic && !(keep > 0 && keep <= 1)) throw new Error(`eomtForwardRef: keep must be in (0, 1] or 'dynamic', got ${keep}`);
  const threshold = opts.threshold ?? 0.5, minKeep = opts.minKeep ?? 1;
  let thresholdMargin = Infinity;
  if (images.length !== B * 3 * Hi * Wi) throw new Error(`eomtForwardRef: images length ${images.length} != B*3*${Hi}*${Wi}`);
  const S = keep === null ? 0 : cfg.stageBlocks.length;
  const ks = dynamic ? [] : Array.from({ length: S }, (_, s) => roundKeepRef(keepCount(keep as number, s, Np), 1 + cfg.R, Np, opts.roundKeep ?? 1));
  const keptPerStage = ks.map((k) => new Int32Array(B * k));
  const keptLists: Int32Array[][] = Array.from({ length: S }, () => []);
  const M = 4 * gh * 4 * gw;
  const semantic = new Float64Array(B * C * Hi * Wi);
  const classLogits = new Float64Array(B * Q * (C + 1));
  const maskLogits = new Float64Array(B * Q * M);
  const firstDecode = Math.max(0, L - Bq - 1);
  const perBlock = opts.perBlock
    ? Array.from({ length: L - firstDecode }, (_, t) => ({ block: firstDecode + t, semantic: new Float64Array(B * C * Hi * Wi) }))
    : undefined;
  const patchTrace = opts.trace ? Array.from({ length: L }, () => new Float64Array(B * Np * D)) : undefined;
  const qw = W(w, 'q.weight'), cw = W(w, 'cls_token'), rw = R > 0 ? W(w, 'reg_token') : [];
  if (opts.tome && keep !== null) throw new Error('eomtForwardRef: tome and keep cannot be combined');
  let tomeMargin = Infinity;

  for (let b = 0; b < B; b++) {
    // Sequence [cls | registers | patches].
    let T = P + Np;
    let x: Float64Array = new Float64Array(T * D);
    for (let d = 0; d < D; d++) x[d] = cw[d]!;
    for (let t = 0; t < R * D; t++) x[D + t] = rw[t]!;
    x.set(patchEmbedRef(images, b * 3 * Hi * Wi, cfg, w), P * D);
    let hasQ = false;
    const prependQueries = () => {
      const y = new Float64Array((T + Q) * D);
      for (let t = 0; t < Q * D; t++) y[t] = qw[t]!;
      y.set(x, Q * D);
      x = y;
      T += Q;
      hasQ = true;
    };
    const active = new Uint8Array(Np).fill(1);
    const decodeInto = (sem: Float64Array, last: boolean) => {
      const dec = decodeRef(x, T, cfg, w);
      sem.set(dec.sem, b * C * Hi * Wi);
      if (last) {
        classLogits.set(dec.cls, b * Q * (C + 1));
        maskLogits.set(dec.mask, b * Q * M);
      }
    };

    for (let i = 0; i < L; i++) {
      if (i === L - Bq && !hasQ) prependQueries();
      const s = keep === null ? -1 : cfg.stageBlocks.indexOf(i);
      const base = (hasQ ? Q : 0) + P; // first patch row
      if (s >= 0) {
        const scores = policyScoresRef(x, base, Np, cfg, w, s);
        let k: number, pass = -1;
        if (dynamic) {
          // the patches passing the threshold, or the floor's top ones when fewer pass
          let act = 0;
          pass = 0;
          for (let n = 0; n < Np; n++) {
            if (!active[n]) continue;
            act++;
            if (scores[n]! >= threshold) pass++;
            thresholdMargin = Math.min(thresholdMargin, Math.abs(scores[n]! - threshold));
          }
          k = Math.max(pass, Math.min(minKeep, act));
        } else {
          k = ks[s]!;
        }
        // dynamic with enough passing patches: exactly those, written as the filter it is
        const pick = dynamic && k === pass
          ? Int32Array.from({ length: Np }, (_, n) => n).filter((n) => active[n] && scores[n]! >= threshold)
          : topKActiveRef(scores, active, k);
        active.fill(0);
        for (const n of pick) active[n] = 1;
        if (!dynamic) keptPerStage[s]!.set(pick, b * k);
        keptLists[s]!.push(pick);
      }
      // idx: queries, cls, registers, active patches, ascending in sequence order.
      const idx: number[] = [];
      for (let t = 0; t < base; t++) idx.push(t);
      for (let n = 0; n < Np; n++) if (active[n]) idx.push(base + n);
      const K = idx.length;
      if (opts.tome) {
        const t = tomeBlockRef(x, 1, T, D, cfg.H, base, opts.tome.mode, { merged: opts.tome.mergeRatio }, blockWeights(cfg, w, i), EPS, undefined, [gh, gw]);
        x = t.out;
        tomeMargin = Math.min(tomeMargin, t.plan.margin);
      } else {
        const X = new Float64Array(K * D);
        idx.forEach((r, k) => X.set(x.subarray(r * D, (r + 1) * D), k * D));
        const Y = blockF64(X, K, cfg, w, i);
        idx.forEach((r, k) => x.set(Y.subarray(k * D, (k + 1) * D), r * D));
      }
      patchTrace?.[i]!.set(x.subarray(base * D, (base + Np) * D), b * Np * D);

      if (perBlock && i >= firstDecode) {
        if (!hasQ) prependQueries();
        decodeInto(perBlock[i - firstDecode]!.semantic, i === L - 1);
      }
    }
    if (!perBlock) {
      if (!hasQ) prependQueries();
      decodeInto(semantic, true);
    }
  }
  if (perBlock) semantic.set(perBlock[perBlock.length - 1]!.semantic);
  return { semantic, ...(perBlock ? { perBlock } : {}), classLogits, maskLogits, keptPerStage, keptLists, ...(dynamic ? { thresholdMargin } : {}), ...(patchTrace ? { patchTrace } : {}), ...(opts.tome ? { tomeMargin } : {}) };
}
