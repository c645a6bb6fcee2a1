/**
 * Import of a timm DINOv2 ViT state dict (`vit_small_patch14_dinov2`, `vit_small_patch14_reg4_dinov2`,
 * or any width/depth of the family) into SPEC §8 weights for a `ModelConfig` (SPEC §8, last paragraph:
 * the patch embedding is resampled 14→16 and the position embedding interpolated to the new grid).
 *
 * Names. timm's backbone names are ours (SPEC §8 follows timm): `patch_embed.proj.*`, `cls_token`
 * [1,1,D], `reg_token` [1,R,D], `pos_embed`, `blocks.{i}.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,
 * mlp.fc1,mlp.fc2,ls2.gamma}.*`, `norm.*`. Copied bit-exact unless listed below. `mask_token` and `head.*`
 * are ignored; any other unknown tensor is ignored with a warning. What DINOv2 lacks (`q.weight`, the
 * heads, upscalers, selectors, and `reg_token` for the no-register variant) comes from
 * `randomWeights(config, seed)`.
 *
 * Position embedding. timm stores `pos_embed` [1, k + gh·gw, D] where the k leading rows are position
 * embeddings of prefix tokens: k = 1 (cls) for `vit_*_dinov2` (`no_embed_class=False`, grid 37x37 at
 * 518 px), k = 0 for `vit_*_reg4_dinov2` (`no_embed_class=True`: prefix tokens get no position). k is
 * inferred: the k in {0, 1, 1+R} that leaves a square grid (or `sourceGrid`'s cell count). Our forward
 * adds `pos_embed` to the patch tokens only (docs/inference-forward.md step 2), so a leading row is
 * folded into its token (`cls_token += pos_embed[0, 0]`, `reg_token[r] += pos_embed[0, 1 + r]`): timm
 * adds it to that token before block 0 and nothing else reads it, so folding keeps the function exact
 * (`prefixPos: 'drop'` discards it instead). The grid part is resized gh x gw -> config grid the way
 * timm's `resample_abs_pos_embed` does inside its `checkpoint_filter_fn`: `F.interpolate(mode='bicubic',
 * align_corners=False, antialias=True)`. Antialias matters even here: 37→32 (512 px / 16) downsamples,
 * and PyTorch's antialiased path also differs at the borders when upsampling (it truncates the filter
 * support and renormalises instead of clamping indices) and uses Keys' a = -0.5 where the plain path
 * uses a = -0.75. Both paths are implemented (`posResize`), as 1D resize matrices transcribing PyTorch's
 * CPU formulas; the 2D resize is separable (PyTorch computes it per axis too).
 *
 * Patch embedding: FlexiViT's pseudo-inverse resize (PI-resize). With B [n_new, n_old] the linear map of
 * a resize of an old-size patch x to the new size, we want <B x, W_new> = <x, W_old> for all x, i.e.
 * B^T W_new = W_old; the minimum-norm least-squares solution is W_new = pinv(B^T) W_old (exact when
 * upsampling and B has full column rank, as 14→16). A 2D resize is separable, B = Bh ⊗ Bw, and
 * pinv(Bh^T ⊗ Bw^T) = pinv(Bh^T) ⊗ pinv(Bw^T), so per (out, in) channel W_new = Ph W_old Pw^T with the
 * small 1D pseudo-inverses Ph [16,14] (no 256x196 system). Each 1D pinv uses the Gram matrix of the
 * full-rank side and a float64 Cholesky solve. The resize basis defaults to timm's `resample_patch_embed`
 * (bicubic, antialias=True), so the result equals timm loading the checkpoint with `patch_size=16`;
 * FlexiViT's bilinear basis is `patchResize: {mode: 'bilinear', antialias: false}`.
 *
 * Not checkable from a state dict: the head count H (qkv is [3D, D] for any H); it is taken from the config.
 */
import type { ModelConfig } from '../model/config.js';
import { patchGrid, validateConfig, weightShapes } from '../model/config.js';
import { randomWeights, type InitScheme } from '../model/weights.js';
import { readSafetensors } from './safetensors.js';
import { describe, rangeError, summariseList, typeError } from '../errors.js';

const OP = 'importDinov2';

/** A timm state dict as float32 tensors (what `readSafetensors(...).tensors` returns). */
export type TimmStateDict = Record<string, { data: Float32Array; shape: number[] }>;

/** One axis of a PyTorch `F.interpolate` (align_corners=False). */
export interface ResizeMode {
  mode: 'bilinear' | 'bicubic';
  antialias: boolean;
}

export interface Dinov2ImportOptions {
  /** Seed of `randomWeights` for the tensors DINOv2 lacks. */
  seed: number;
  /** Init scheme of those tensors (default 'timm'). */
  init?: InitScheme;
  /** Position-embedding resize (default timm's: bicubic, antialias). */
  posResize?: ResizeMode;
  /** Basis of the patch-embedding PI-resize (default timm's: bicubic, antialias). */
  patchResize?: ResizeMode;
  /** Prefix rows of `pos_embed`: folded into cls/reg tokens (default) or dropped. */
  prefixPos?: 'fold' | 'drop';
  /** Source grid [gh, gw] when `pos_embed` is not square (DINOv2 is 37x37). */
  sourceGrid?: [number, number];
}

export interface Dinov2ImportReport {
  /** Copied bit-exact. */
  imported: string[];
  /** Computed from checkpoint tensors: `patch_embed.proj.weight` (PI-resize), `pos_embed` (interpolated),
   * `cls_token` / `reg_token` when a prefix position row was folded in. */
  resampled: string[];
  /** From `randomWeights(config, seed)`. */
  initialised: string[];
  /** Checkpoint tensors not used (`mask_token`, `head.*`, and unknown ones). */
  ignored: string[];
  /** One line per unknown checkpoint tensor (also in `ignored`). */
  warnings: string[];
}

export interface Dinov2Import {
  weights: Record<string, Float32Array>;
  report: Dinov2ImportReport;
}

const TIMM_BICUBIC_AA: ResizeMode = { mode: 'bicubic', antialias: true };
const shapeStr = (s: readonly number[]) => `[${s.join(',')}]`;

// ---------------------------------------------------------------------------------------------------
// 1D resize matrices (PyTorch CPU upsample formulas, align_corners=False)

/** Keys cubic convolution kernel with parameter a. */
function cubic(x: number, a: number): number {
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/**
 * The [outSize, inSize] matrix M of a 1D PyTorch `F.interpolate` (align_corners=False): y = M x.
 * Identity when the sizes agree (PyTorch copies). Float64.
 * @param inSize input length (>= 1)
 * @param outSize output length (>= 1)
 * @param mode `{mode: 'bilinear'|'bicubic', antialias}`
 * @returns row-major Float64Array(outSize * inSize)
 * @throws {RangeError} sizes not positive integers
 * @example
 * resizeMatrix(14, 16, { mode: 'bilinear', antialias: false }); // rows sum to 1
 */
export function resizeMatrix(inSize: number, outSize: number, mode: ResizeMode): Float64Array {
  if (!Number.isInteger(inSize) || inSize < 1 || !Number.isInteger(outSize) || outSize < 1)
    throw rangeError('resizeMatrix', `expected positive integer sizes, received ${inSize} -> ${outSize}`);
  const M = new Float64Array(outSize * inSize);
  if (inSize === outSize) {
    for (let i = 0; i < inSize; i++) M[i * inSize + i] = 1;
    return M;
  }
  const scale = inSize / outSize;
  const cubicMode = mode.mode === 'bicubic';
  if (mode.antialias) {
    // PIL-style: filter stretched by the scale when downsampling, support truncated to the input and the
    // weights renormalised. Bicubic uses a = -0.5 here (PyTorch, for PIL compatibility).
    const interp = cubicMode ? 4 : 2;
    const support = scale >= 1 ? interp * 0.5 * scale : interp * 0.5;
    const inv = scale >= 1 ? 1 / scale : 1;
    const filt = cubicMode ? (x: number) => cubic(x, -0.5) : (x: number) => Math.max(0, 1 - Math.abs(x));
    for (let i = 0; i < outSize; i++) {
      const center = scale * (i + 0.5);
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
      let total = 0;
      const w: number[] = [];
      for (let j = xmin; j < xmax; j++) {
        const v = filt((j - center + 0.5) * inv);
        w.push(v);
        total += v;
      }
      if (total !== 0) for (let j = xmin; j < xmax; j++) M[i * inSize + j] = w[j - xmin]! / total;
    }
    return M;
  }
  for (let i = 0; i < outSize; i++) {
    if (cubicMode) {
      // Source index not clamped for cubic; the four taps i0-1..i0+2 are clamped to the input (edge
      // replication), weights Keys a = -0.75.
      const real = scale * (i + 0.5) - 0.5;
      const i0 = Math.min(Math.floor(real), inSize - 1);
      const t = Math.min(Math.max(real - i0, 0), 1);
      const coeffs = [cubic(t + 1, -0.75), cubic(t, -0.75), cubic(1 - t, -0.75), cubic(2 - t, -0.75)];
      for (let k = 0; k < 4; k++) {
        const j = Math.max(Math.min(i0 + k - 1, inSize - 1), 0);
        M[i * inSize + j] += coeffs[k]!;
      }
    } else {
      const real = Math.max(scale * (i + 0.5) - 0.5, 0);
      const i0 = Math.trunc(real);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const l1 = Math.min(Math.max(real - i0, 0), 1);
      M[i * inSize + i0] += 1 - l1;
      M[i * inSize + i1] += l1;
    }
  }
  return M;
}

/** Solves G X = Y for SPD G [n,n] (Cholesky, float64); Y [n,m] is overwritten with X. False if not SPD. */
function choleskySolve(G: Float64Array, n: number, Y: Float64Array, m: number): boolean {
  const Lm = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = G[i * n + j]!;
      for (let k = 0; k < j; k++) s -= Lm[i * n + k]! * Lm[j * n + k]!;
      if (i === j) {
        if (!(s > 1e-12 * Math.max(1, G[i * n + i]!))) return false;
        Lm[i * n + i] = Math.sqrt(s);
      } else Lm[i * n + j] = s / Lm[j * n + j]!;
    }
  }
  for (let c = 0; c < m; c++) {
    for (let i = 0; i < n; i++) {
      let s = Y[i * m + c]!;
      for (let k = 0; k < i; k++) s -= Lm[i * n + k]! * Y[k * m + c]!;
      Y[i * m + c] = s / Lm[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = Y[i * m + c]!;
      for (let k = i + 1; k < n; k++) s -= Lm[k * n + i]! * Y[k * m + c]!;
      Y[i * m + c] = s / Lm[i * n + i]!;
    }
  }
  return true;
}

/**
 * P = pinv(B^T) [nNew, nOld] for a full-rank B [nNew, nOld]: B (B^T B)^-1 when nNew >= nOld,
 * (B B^T)^-1 B otherwise.
 */
function pinvTransposed(B: Float64Array, nNew: number, nOld: number): Float64Array {
  if (nNew >= nOld) {
    // Solve (B^T B) X = B^T  ->  X = (B^T B)^-1 B^T [nOld, nNew]; P = X^T (Gram symmetric).
    const G = new Float64Array(nOld * nOld);
    for (let a = 0; a < nOld; a++) for (let b = 0; b < nOld; b++) {
      let s = 0;
      for (let r = 0; r < nNew; r++) s += B[r * nOld + a]! * B[r * nOld + b]!;
      G[a * nOld + b] = s;
    }
    const X = new Float64Array(nOld * nNew);
    for (let a = 0; a < nOld; a++) for (let r = 0; r < nNew; r++) X[a * nNew + r] = B[r * nOld + a]!;
    if (!choleskySolve(G, nOld, X, nNew)) throw rangeError(OP, `patch resize ${nOld} -> ${nNew}: resize matrix is rank deficient`);
    const P = new Float64Array(nNew * nOld);
    for (let r = 0; r < nNew; r++) for (let a = 0; a < nOld; a++) P[r * nOld + a] = X[a * nNew + r]!;
    return P;
  }
  const G = new Float64Array(nNew * nNew);
  for (let r = 0; r < nNew; r++) for (let q = 0; q < nNew; q++) {
    let s = 0;
    for (let a = 0; a < nOld; a++) s += B[r * nOld + a]! * B[q * nOld + a]!;
    G[r * nNew + q] = s;
  }
  const P = Float64Array.from(B);
  if (!choleskySolve(G, nNew, P, nOld)) throw rangeError(OP, `patch resize ${nOld} -> ${nNew}: resize matrix is rank deficient`);
  return P;
}

/** out[c][y][x] = sum_{a,b} Mh[y,a] Mw[x,b] in[c][a][b] for `channels` planes [h,w] -> [H,W], float64. */
function separable(src: ArrayLike<number>, channels: number, h: number, w: number, Mh: Float64Array, H: number, Mw: Float64Array, W: number): Float64Array {
  const tmp = new Float64Array(h * W);
  const out = new Float64Array(channels * H * W);
  for (let c = 0; c < channels; c++) {
    const base = c * h * w;
    for (let a = 0; a < h; a++) for (let x = 0; x < W; x++) {
      let s = 0;
      for (let b = 0; b < w; b++) s += Mw[x * w + b]! * src[base + a * w + b]!;
      tmp[a * W + x] = s;
    }
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      let s = 0;
      for (let a = 0; a < h; a++) s += Mh[y * h + a]! * tmp[a * W + x]!;
      out[c * H * W + y * W + x] = s;
    }
  }
  return out;
}

/**
 * PI-resize of a patch-embedding kernel (FlexiViT; timm `resample_patch_embed`): W_new = pinv(B^T) W_old
 * per (out, in) channel, B the resize of an old patch to the new size.
 * @param weight float32 [O, I, ph, pw]
 * @param shape [O, I, ph, pw]
 * @param size new [PH, PW]
 * @param mode resize basis (default bicubic + antialias, as timm)
 * @returns float32 [O, I, PH, PW] (a copy when the size is unchanged)
 * @throws {RangeError} rank-deficient resize
 * @example
 * const w16 = resamplePatchEmbed(w14, [384, 3, 14, 14], [16, 16]);
 */
export function resamplePatchEmbed(weight: Float32Array, shape: readonly number[], size: [number, number], mode: ResizeMode = TIMM_BICUBIC_AA): Float32Array {
  const [O, I, ph, pw] = shape as [number, number, number, number];
  const [PH, PW] = size;
  if (ph === PH && pw === PW) return Float32Array.from(weight);
  const Ph = pinvTransposed(resizeMatrix(ph, PH, mode), PH, ph);
  const Pw = pinvTransposed(resizeMatrix(pw, PW, mode), PW, pw);
  return Float32Array.from(separable(weight, O * I, ph, pw, Ph, PH, Pw, PW));
}

/**
 * Resizes a patch position embedding [1, gh*gw, D] (rows n = y*gw + x) to [1, GH*GW, D] like
 * `F.interpolate` on its [1, D, gh, gw] view (align_corners=False).
 * @param pos float32 [gh*gw*D] (no prefix rows)
 * @param grid [gh, gw]
 * @param D channels
 * @param newGrid [GH, GW]
 * @param mode default bicubic + antialias (timm `resample_abs_pos_embed` in `checkpoint_filter_fn`)
 * @returns float32 [GH*GW*D] (a copy when the grid is unchanged)
 * @example
 * const p = resamplePosEmbed(pos37, [37, 37], 384, [32, 32]);
 */
export function resamplePosEmbed(pos: Float32Array, grid: [number, number], D: number, newGrid: [number, number], mode: ResizeMode = TIMM_BICUBIC_AA): Float32Array {
  const [gh, gw] = grid, [GH, GW] = newGrid;
  if (gh === GH && gw === GW) return Float32Array.from(pos);
  // Channel-major planes [D, gh, gw] for the separable resize, then back to token-major.
  const planes = new Float64Array(D * gh * gw);
  for (let n = 0; n < gh * gw; n++) for (let d = 0; d < D; d++) planes[d * gh * gw + n] = pos[n * D + d]!;
  const r = separable(planes, D, gh, gw, resizeMatrix(gh, GH, mode), GH, resizeMatrix(gw, GW, mode), GW);
  const out = new Float32Array(GH * GW * D);
  for (let n = 0; n < GH * GW; n++) for (let d = 0; d < D; d++) out[n * D + d] = r[d * GH * GW + n]!;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The import

const BLOCK_PARTS: ReadonlyArray<string> = [
  'norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias', 'attn.proj.weight', 'attn.proj.bias', 'ls1.gamma',
  'norm2.weight', 'norm2.bias', 'mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias', 'ls2.gamma',
];

function checkState(state: unknown): TimmStateDict {
  if (typeof state === 'string') return readSafetensors(state).tensors;
  if (typeof state !== 'object' || state === null) throw typeError(OP, `expected state to be a state dict or a .safetensors path, received ${describe(state)}`);
  const out: TimmStateDict = {};
  for (const [name, t] of Object.entries(state as Record<string, unknown>)) {
    const o = t as { data?: unknown; shape?: unknown } | null;
    if (typeof o !== 'object' || o === null || !(o.data instanceof Float32Array))
      throw typeError(OP, `expected state['${name}'].data to be a Float32Array, received ${describe(o?.data)}`);
    const shape = o.shape;
    if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0))
      throw typeError(OP, `expected state['${name}'].shape to be an array of non-negative integers, received ${describe(shape)}`);
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (count !== o.data.length) throw rangeError(OP, `state['${name}']: shape ${shapeStr(shape as number[])} has ${count} elements, data has ${o.data.length}`);
    out[name] = { data: o.data, shape: shape as number[] };
  }
  return out;
}

/**
 * Maps a timm DINOv2 state dict onto the SPEC §8 weights of `config` (see the file header for the
 * mapping, the position-embedding prefix rows and the resize conventions).
 * @param state timm state dict (name -> {data: Float32Array, shape}) or a `.safetensors` path
 * @param config target model config; D, L, the MLP width and (if the checkpoint has registers) R must match
 * @param opts `{seed, init?, posResize?, patchResize?, prefixPos?, sourceGrid?}`
 * @returns `{weights, report: {imported, resampled, initialised, ignored, warnings}}`; weights hold exactly
 *   the tensors of `weightShapes(config)`, ready for `saveCheckpoint`
 * @throws {TypeError} malformed state / options
 * @throws {RangeError} D / L / R / MLP mismatch, missing tensors, wrong shapes (all listed in one message)
 * @example
 * const { weights, report } = importDinov2('dinov2_vits14_reg4.safetensors', modelConfig('small'), { seed: 0 });
 * saveCheckpoint('init.safetensors', modelConfig('small'), weights);
 */
export function importDinov2(state: TimmStateDict | string, config: ModelConfig, opts: Dinov2ImportOptions): Dinov2Import {
  const cfg = validateConfig(config);
  if (typeof opts !== 'object' || opts === null) throw typeError(OP, `expected opts to be {seed, ...}, received ${describe(opts)}`);
  if (typeof opts.seed !== 'number' || !Number.isInteger(opts.seed)) throw typeError(OP, `expected opts.seed to be an integer, received ${describe(opts.seed)}`);
  const prefixPos = opts.prefixPos ?? 'fold';
  if (prefixPos !== 'fold' && prefixPos !== 'drop') throw rangeError(OP, `expected opts.prefixPos to be 'fold' or 'drop', received ${describe(prefixPos)}`);
  const posMode = checkMode(opts.posResize, 'posResize');
  const patchMode = checkMode(opts.patchResize, 'patchResize');
  const sg = opts.sourceGrid;
  if (sg !== undefined && (!Array.isArray(sg) || sg.length !== 2 || !sg.every((g) => Number.isInteger(g) && g >= 1)))
    throw typeError(OP, `expected opts.sourceGrid to be [gh, gw] positive integers, received ${describe(sg)}`);
  const sd = checkState(state);

  const { D, L } = cfg;
  const F = D * cfg.mlpRatio;
  const problems: string[] = [];
  const used = new Set<string>();
  const get = (name: string, shape: readonly number[] | null): Float32Array | null => {
    const t = sd[name];
    if (t === undefined) {
      problems.push(`missing '${name}'${shape ? ' ' + shapeStr(shape) : ''}`);
      return null;
    }
    used.add(name);
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
      problems.push(`'${name}' expected ${shapeStr(shape)}, received ${shapeStr(t.shape)}`);
      return null;
    }
    return t.data;
  };

  // Sizes found in the checkpoint.
  const srcD = sd['cls_token']?.shape[2] ?? sd['norm.weight']?.shape[0];
  if (srcD !== undefined && srcD !== D) problems.push(`D: checkpoint ${srcD}, config ${D}`);
  let srcL = 0;
  for (const name of Object.keys(sd)) {
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m) srcL = Math.max(srcL, Number(m[1]) + 1);
  }
  if (srcL !== L) problems.push(`L: checkpoint ${srcL} blocks, config ${L}`);
  const fc1 = sd['blocks.0.mlp.fc1.weight'];
  if (fc1 && fc1.shape.length === 2 && fc1.shape[0] !== F) problems.push(`MLP width: checkpoint ${fc1.shape[0]}, config ${F} (D * mlpRatio)`);
  const reg = sd['reg_token'];
  const srcR = reg ? (reg.shape[1] ?? 0) : 0;
  if (reg && srcR !== cfg.R) problems.push(`R: checkpoint has ${srcR} register tokens, config R=${cfg.R}`);
  // A width mismatch makes every tensor's shape wrong: report the sizes alone.
  if (srcD !== undefined && srcD !== D) throw rangeError(OP, `checkpoint does not match the config: ${summariseList(problems, 8, '; ')}`);

  const out: Record<string, Float32Array> = {};
  const report: Dinov2ImportReport = { imported: [], resampled: [], initialised: [], ignored: [], warnings: [] };
  const copy = (name: string, shape: readonly number[]) => {
    const d = get(name, shape);
    if (d) {
      out[name] = Float32Array.from(d);
      report.imported.push(name);
    }
  };

  // Patch embedding.
  const pe = sd['patch_embed.proj.weight'];
  if (!pe) problems.push(`missing 'patch_embed.proj.weight' [${D},3,p,p]`);
  else if (pe.shape.length !== 4 || pe.shape[0] !== D || pe.shape[1] !== 3 || pe.shape[2]! < 1 || pe.shape[3]! < 1)
    problems.push(`'patch_embed.proj.weight' expected [${D},3,p,p], received ${shapeStr(pe.shape)}`);
  copy('patch_embed.proj.bias', [D]);

  // Tokens and position embedding.
  const cls = get('cls_token', [1, 1, D]);
  let posRows: { prefix: number; grid: [number, number] } | null = null;
  const pos = sd['pos_embed'];
  if (!pos) problems.push(`missing 'pos_embed' [1,N,${D}]`);
  else if (pos.shape.length !== 3 || pos.shape[0] !== 1 || pos.shape[2] !== D) problems.push(`'pos_embed' expected [1,N,${D}], received ${shapeStr(pos.shape)}`);
  else {
    posRows = posLayout(pos.shape[1]!, srcR, opts.sourceGrid);
    if (!posRows) problems.push(`'pos_embed' ${shapeStr(pos.shape)}: no prefix count in {0, 1, 1+R=${1 + srcR}} leaves ${opts.sourceGrid ? `the ${opts.sourceGrid.join('x')} sourceGrid` : 'a square grid'}`);
  }
  if (reg && srcR === cfg.R) get('reg_token', [1, cfg.R, D]);

  // Blocks and final norm.
  for (let i = 0; i < L; i++) {
    const shapes: Record<string, number[]> = {
      'attn.qkv.weight': [3 * D, D], 'attn.qkv.bias': [3 * D], 'attn.proj.weight': [D, D],
      'mlp.fc1.weight': [F, D], 'mlp.fc1.bias': [F], 'mlp.fc2.weight': [D, F],
    };
    for (const part of BLOCK_PARTS) copy(`blocks.${i}.${part}`, shapes[part] ?? [D]);
  }
  copy('norm.weight', [D]);
  copy('norm.bias', [D]);

  for (const name of Object.keys(sd)) {
    if (used.has(name) || name === 'patch_embed.proj.weight' || name === 'pos_embed' || name === 'reg_token') continue;
    const m = /^blocks\.(\d+)\.(.*)$/.exec(name);
    if (m && BLOCK_PARTS.includes(m[2]!)) continue; // a block beyond L: reported as the L mismatch
    report.ignored.push(name);
    if (name !== 'mask_token' && !name.startsWith('head.')) report.warnings.push(`unknown tensor '${name}' ${shapeStr(sd[name]!.shape)} ignored`);
  }
  if (problems.length > 0)
    throw rangeError(OP, `checkpoint does not match the config (D=${D}, L=${L}, R=${cfg.R}, mlpRatio=${cfg.mlpRatio}): ${summariseList(problems, 8, '; ')}`);

  // Resampled tensors.
  const p = cfg.patch;
  out['patch_embed.proj.weight'] = resamplePatchEmbed(pe!.data, pe!.shape, [p, p], patchMode);
  (pe!.shape[2] === p && pe!.shape[3] === p ? report.imported : report.resampled).push('patch_embed.proj.weight');
  const { gh, gw } = patchGrid(cfg);
  const { prefix, grid } = posRows!;
  out['pos_embed'] = resamplePosEmbed(pos!.data.subarray(prefix * D), grid, D, [gh, gw], posMode);
  (prefix === 0 && grid[0] === gh && grid[1] === gw ? report.imported : report.resampled).push('pos_embed');
  const clsOut = Float32Array.from(cls!);
  let regOut = reg ? Float32Array.from(reg.data) : null;
  if (prefix > 0 && prefixPos === 'fold') {
    for (let d = 0; d < D; d++) clsOut[d] = clsOut[d]! + pos!.data[d]!;
    report.resampled.push('cls_token');
    if (prefix > 1 && regOut) {
      for (let i = 0; i < srcR * D; i++) regOut[i] = regOut[i]! + pos!.data[D + i]!;
      report.resampled.push('reg_token');
    }
  }
  if (!report.resampled.includes('cls_token')) report.imported.push('cls_token');
  out['cls_token'] = clsOut;
  if (regOut && !report.resampled.includes('reg_token')) report.imported.push('reg_token');
  if (regOut) out['reg_token'] = regOut;

  // The rest: random init; keep weightShapes order.
  const rnd = randomWeights(cfg, opts.seed, { init: opts.init ?? 'timm' });
  const weights: Record<string, Float32Array> = {};
  for (const [name] of weightShapes(cfg)) {
    if (out[name]) weights[name] = out[name]!;
    else {
      weights[name] = rnd[name]!;
      report.initialised.push(name);
    }
  }
  return { weights, report };
}

function checkMode(m: ResizeMode | undefined, what: string): ResizeMode {
  if (m === undefined) return TIMM_BICUBIC_AA;
  if (typeof m !== 'object' || m === null || (m.mode !== 'bilinear' && m.mode !== 'bicubic') || typeof m.antialias !== 'boolean')
    throw typeError(OP, `expected opts.${what} to be {mode: 'bilinear'|'bicubic', antialias: boolean}, received ${describe(m)}`);
  return { mode: m.mode, antialias: m.antialias };
}

/** Prefix row count and grid of a pos_embed with N rows. */
function posLayout(N: number, R: number, sourceGrid?: [number, number]): { prefix: number; grid: [number, number] } | null {
  for (const k of R > 0 ? [0, 1, 1 + R] : [0, 1]) {
    const cells = N - k;
    if (cells < 1) continue;
    if (sourceGrid) {
      if (sourceGrid[0] * sourceGrid[1] === cells) return { prefix: k, grid: [sourceGrid[0], sourceGrid[1]] };
      continue;
    }
    const g = Math.round(Math.sqrt(cells));
    if (g * g === cells) return { prefix: k, grid: [g, g] };
  }
  return null;
}
