/**
 * The EoMT-style ViT segmenter in TF.js (SPEC §2–§4), built from a `ModelConfig` and SPEC §8 weights held
 * as tf.Variables (`EomtModel.create`; `exportWeights()` gives Float32Arrays back for `saveCheckpoint`).
 *
 * - `forwardInference`: exactly docs/inference-forward.md (what the native `InferenceSession` and the
 *   float64 `eomtForwardRef` compute): nested deterministic top-k pruning per stage
 *   (`tfops.gumbelTopK`, noise off, active mask), blocks on the active rows only (gather → block →
 *   scatter, or the fused `tfops.prunedBlock`), stale rows kept, decode points L−Bq−1 … L−1.
 * - `forwardTrain` (SPEC §4): every token stays in the forward; at each stage start the predictor's keep
 *   logits give a hard Gumbel-Softmax decision with a straight-through gradient (`tfops.gumbelSoftmaxST`),
 *   nested P_s = P_{s−1} ⊙ hard_s; from block S[0] on attention is `tfops.policyAttention` with the policy
 *   (prefix/query tokens 1). Reg4Pru routing (l, n): before block l the map is snapshotted, a uniform
 *   random subset of the patches (a Gumbel top-k over equal logits) plus every prefix/query row is
 *   gathered, blocks l..n run on it alone (policy restricted to the kept columns), then the rows are
 *   scattered back into the snapshot: routed rows keep their block l−1 value and get no gradient through
 *   blocks l..n. A predictor or a decode point inside the route sees the full map (kept rows scattered
 *   into the snapshot); queries prepended inside the route join the kept set.
 *
 * Token layout: `[queries (once prepended) | cls | registers (R) | patches (Np)]`, [B,T,D].
 * Randomness: stage s draws with seed mix(seed, s + 1), the route with mix(seed, ROUTE_SALT): the same
 * `seed` gives the same decisions on any backend and thread count (Philox inside the kernels).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, rangeError, typeError } from '../../errors.js';
import type { ModelConfig } from '../config.js';
import { patchGrid, validateConfig, weightShapes } from '../config.js';
import { randomWeights, type RandomWeightsOptions } from '../weights.js';
import { gatherTokens, gumbelSoftmaxST, gumbelTopK, prunedBlock, scatterTokens } from '../../tfjs/ops.js';
import { routeKeepCount } from '../../routing/schedule.js';
import { block, blockWeights } from './block.js';
import { decode, decodeLogits, type Decoded, type DecodedLogits } from './decoder.js';
import { patchEmbed } from './patchEmbed.js';
import { keepScore, predictorLogits } from './predictor.js';

export type { Decoded } from './decoder.js';

export type PolicyMode = 'ratio' | 'informed' | 'none';

export interface InferenceOptions {
  /**
   * Base keep ratio ρ in (0, 1] (stage s keeps floor(ρ^(s+1)·Np + 0.5) patches), 'dynamic' (per image: the
   * active patches with keep score >= `threshold`, at least min(`minKeep`, active); each image runs alone), or
   * null: no pruning.
   */
  keep?: number | 'dynamic' | null;
  /** keep 'dynamic': score threshold in [0, 1] (default 0.5) and floor, an integer >= 1 (default 1). */
  threshold?: number;
  minKeep?: number;
  /** Decode after each of blocks L−Bq−1 … L−1 too (default false). */
  perBlock?: boolean;
  /** Use the fused native `tfops.prunedBlock` for the blocks (default true; false: TF.js gather/block/scatter). */
  fused?: boolean;
}

export interface InferenceOutput {
  /** Semantic map of the final block [B,C,Himg,Wimg]. */
  semantic: tf.Tensor4D;
  /** Class logits of the final block [B,Q,C+1]. */
  classLogits: tf.Tensor3D;
  /** Mask logits of the final block [B,Q,4gh,4gw] (before the resize). */
  maskLogits: tf.Tensor4D;
  /** With perBlock: semantic maps of every decode point, blocks ascending. */
  perBlock?: Array<{ block: number; semantic: tf.Tensor4D }>;
  /** Active patch indices after each stage, int32 [B,k_s] ascending (empty when not pruning or with keep 'dynamic'). */
  keptPerStage: tf.Tensor2D[];
  /** Patches kept after each stage by each image, [S][B] (empty when not pruning). */
  keptCounts: number[][];
}

export interface TrainOptions {
  /** Reg4Pru route: blocks l..n (inclusive) run on the kept tokens only; `fraction` routed (default 0.5). null: none. */
  route?: { l: number; n: number; fraction?: number } | null;
  /** 'ratio' | 'informed': policy masking from block S[0] on (the two differ only in the loss); 'none': off. */
  policy?: PolicyMode;
  /** Gumbel-Softmax temperature (default 1). */
  tau?: number;
  /**
   * Keep threshold θ in (0, 1) of the hard decision (default 0.5: argmax): a patch is kept when l0 − l1 + g0 − g1 >=
   * logit(θ), i.e. the keep logit is shifted by −logit(θ) before the Gumbel-Softmax, so that without noise the
   * decision is the engine's keep 'dynamic' test softmax(l)[0] >= θ at any temperature.
   */
  threshold?: number;
  /** Seed of this forward's Gumbel noise and route subset (non-negative integer, default 0). */
  seed?: number;
  /** Also return the patch rows of the full map after every block (tests; default false). */
  trace?: boolean;
  /**
   * Also decode at image resolution (`maskLogitsFull`, `semantic`) at every decode point (default true).
   * The set loss reads `maskLogits` only, so the trainer passes false: the bilinear resize and the
   * semantic map of 5 decode points cost as much as the rest of the head.
   */
  fullResolution?: boolean;
}

/** One decode point of the training forward (see TrainOutput.decoded). */
export type TrainDecoded = DecodedLogits & { maskLogitsFull: tf.Tensor4D | null; semantic: tf.Tensor4D | null };

export interface TrainOutput {
  /**
   * Decoded outputs of every decode point L−Bq−1 … L−1 (deep supervision), blocks ascending;
   * `maskLogitsFull` and `semantic` are null when `fullResolution` was false.
   */
  decoded: TrainDecoded[];
  /** Hard nested keep decisions per stage [B,S,Np] (ST gradient); null when policy is 'none'. */
  keep: tf.Tensor3D | null;
  /** Predictor keep logits per stage [B,S,Np,2] (channel 0 = keep); null when policy is 'none'. */
  keepLogits: tf.Tensor4D | null;
  /** Patch indices (ascending) that ran through the route's blocks, int32 [B,k]; null without a route. */
  routeKept: tf.Tensor2D | null;
  /** With trace: entry i = patch rows of the full map after block i, [B,Np,D]. */
  patchTrace?: tf.Tensor3D[];
}

const ROUTE_SALT = 0x7f4a7c15;

/** A 32-bit mix of (seed, salt): independent-looking streams per stage and for the route. */
export function mixSeed(seed: number, salt: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ salt, 0x27d4eb2f);
  h ^= h >>> 16;
  return h >>> 0;
}

/** k_s = floor(ρ^(s+1)·Np + 0.5), at least 1 (docs/inference-forward.md step 4.2). */
export function stageKeepCount(rho: number, s: number, Np: number): number {
  return Math.max(1, Math.floor(rho ** (s + 1) * Np + 0.5));
}

let nextId = 0;

/** The per-image outputs of keep 'dynamic' concatenated along the batch (keptPerStage empty; counts per image). */
function concatOutputs(outs: InferenceOutput[]): InferenceOutput {
  const cat = <T extends tf.Tensor>(ts: T[]): T => tf.concat(ts, 0) as T;
  const out: InferenceOutput = {
    semantic: cat(outs.map((o) => o.semantic)),
    classLogits: cat(outs.map((o) => o.classLogits)),
    maskLogits: cat(outs.map((o) => o.maskLogits)),
    keptPerStage: [],
    keptCounts: outs[0]!.keptCounts.map((_, s) => outs.map((o) => o.keptCounts[s]![0]!)),
  };
  if (outs[0]!.perBlock) out.perBlock = outs[0]!.perBlock.map((p, i) => ({ block: p.block, semantic: cat(outs.map((o) => o.perBlock![i]!.semantic)) }));
  // the per-image tensors (a set: the last decode point's map is also `semantic`)
  tf.dispose([...new Set(outs.flatMap((o) => [o.semantic, o.classLogits, o.maskLogits, ...o.keptPerStage, ...(o.perBlock ?? []).map((p) => p.semantic)]))]);
  return out;
}

/**
 * The tensors a tf.tidy callback hands back (as a flat list: tidy moves them to the caller's scope, so
 * an enclosing tidy or variableGrads still cleans them up, unlike tf.keep).
 */
function escaping(ts: Array<tf.Tensor | null>): tf.Tensor[] {
  return [...new Set(ts)].filter((t): t is tf.Tensor => t !== null);
}

export class EomtModel {
  readonly config: ModelConfig;
  /** SPEC §8 name → trainable tf.Variable. */
  readonly weights: Readonly<Record<string, tf.Variable>>;
  readonly id = nextId++;

  private constructor(config: ModelConfig, weights: Record<string, tf.Variable>) {
    this.config = config;
    this.weights = weights;
  }

  /**
   * Builds the model's variables.
   * @param config model config (validated)
   * @param weights SPEC §8 name → Float32Array (e.g. `loadCheckpoint(...).weights`), or omitted: `randomWeights(config, seed)`
   * @param opts `seed` (default 0) and `init` for random weights; `trainable` (default true)
   * @throws {TypeError|RangeError} bad config, a missing weight or a length that does not match its shape
   * @example
   * const model = EomtModel.create(modelConfig('tiny'), undefined, { seed: 1 });
   */
  static create(config: ModelConfig, weights?: Record<string, Float32Array>, opts: RandomWeightsOptions & { seed?: number; trainable?: boolean } = {}): EomtModel {
    const cfg = validateConfig(config);
    const src = weights ?? randomWeights(cfg, opts.seed ?? 0, { init: opts.init ?? 'timm' });
    if (typeof src !== 'object' || src === null) throw typeError('EomtModel', `expected weights to be an object, received ${describe(src)}`);
    const vars: Record<string, tf.Variable> = {};
    const shapes = weightShapes(cfg);
    for (const [name, shape] of shapes) {
      const a = src[name];
      const count = shape.reduce((p, d) => p * d, 1);
      if (!(a instanceof Float32Array)) throw typeError('EomtModel', `expected weights['${name}'] to be a Float32Array [${shape}], received ${describe(a)}`);
      if (a.length !== count) throw rangeError('EomtModel', `expected weights['${name}'] to have ${count} elements [${shape}], received ${a.length}`);
    }
    for (const [name, shape] of shapes) vars[name] = tf.variable(tf.tensor(src[name]!, shape, 'float32'), opts.trainable ?? true);
    return new EomtModel(cfg, vars);
  }

  /** Copies every variable out (SPEC §8 names, row-major Float32Arrays), ready for `saveCheckpoint`. */
  exportWeights(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(this.weights)) out[name] = Float32Array.from(v.dataSync() as Float32Array);
    return out;
  }

  /** Overwrites the variables from Float32Arrays (same names and sizes). */
  loadWeights(weights: Record<string, Float32Array>): void {
    for (const [name, v] of Object.entries(this.weights)) {
      const a = weights[name];
      if (!(a instanceof Float32Array) || a.length !== v.size) throw rangeError('EomtModel.loadWeights', `expected weights['${name}'] to be a Float32Array of ${v.size} elements, received ${describe(a)}`);
      tf.tidy(() => v.assign(tf.tensor(a, v.shape, 'float32')));
    }
  }

  /** The variables as a list (for an optimiser's varList). */
  variables(): tf.Variable[] {
    return Object.values(this.weights);
  }

  dispose(): void {
    for (const v of Object.values(this.weights)) v.dispose();
  }

  private checkImages(op: string, images: unknown): tf.Tensor4D {
    const [Hi, Wi] = this.config.image;
    if (!(images instanceof tf.Tensor) || images.isDisposed) throw typeError(op, `expected images to be a tf.Tensor float32 [B,3,${Hi},${Wi}], received ${describe(images)}`);
    const s = images.shape;
    if (images.dtype !== 'float32' || s.length !== 4 || s[1] !== 3 || s[2] !== Hi || s[3] !== Wi || s[0]! < 1)
      throw rangeError(op, `expected images to be float32 [B,3,${Hi},${Wi}], received ${images.dtype} [${s.join(',')}]`);
    return images as tf.Tensor4D;
  }

  /** Initial map [B, 1+R+Np, D]: [cls | registers | patch embeddings]. */
  private embed(images: tf.Tensor4D): tf.Tensor3D {
    const { D, R } = this.config;
    const w = this.weights;
    const B = images.shape[0];
    const parts: tf.Tensor[] = [tf.tile(w['cls_token']!, [B, 1, 1])];
    if (R > 0) parts.push(tf.tile(w['reg_token']!, [B, 1, 1]));
    parts.push(patchEmbed(images, this.config, w));
    return tf.concat(parts, 1).reshape([B, -1, D]) as tf.Tensor3D;
  }

  private queries(B: number): tf.Tensor3D {
    const { Q, D } = this.config;
    return tf.tile(this.weights['q.weight']!.reshape([1, Q, D]), [B, 1, 1]) as tf.Tensor3D;
  }

  /**
   * The inference forward pass (docs/inference-forward.md).
   * @param images tf.Tensor float32 [B,3,Himg,Wimg] (ImageNet-normalised)
   * @param opts `{keep, perBlock, fused}`
   * @returns semantic [B,C,Himg,Wimg], classLogits [B,Q,C+1], maskLogits [B,Q,4gh,4gw], perBlock?, keptPerStage
   * @throws {TypeError|RangeError} bad images or keep
   */
  forwardInference(images: tf.Tensor4D, opts: InferenceOptions = {}): InferenceOutput {
    const op = 'EomtModel.forwardInference';
    this.checkImages(op, images);
    const keep = opts.keep ?? null;
    if (keep !== null && keep !== 'dynamic' && (typeof keep !== 'number' || !(keep > 0 && keep <= 1))) throw rangeError(op, `expected keep in (0, 1], 'dynamic' or null, received ${describe(keep)}`);
    const perBlock = opts.perBlock ?? false, fused = opts.fused ?? true;
    const { Np } = patchGrid(this.config);
    if (keep !== 'dynamic') return this.inferBatch(images, keep === null ? null : (s) => stageKeepCount(keep, s, Np), perBlock, fused);
    const threshold = opts.threshold ?? 0.5, minKeep = opts.minKeep ?? 1;
    if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) throw rangeError(op, `expected threshold in [0, 1], received ${describe(threshold)}`);
    if (!Number.isInteger(minKeep) || minKeep < 1) throw rangeError(op, `expected minKeep to be an integer >= 1, received ${describe(minKeep)}`);
    // k_b = max(#{active: score >= threshold}, min(minKeep, #active)), read back per stage
    const dynamicK = (_s: number, score: tf.Tensor2D, active: tf.Tensor2D | null): number => {
      const sc = score.dataSync(), act = active?.dataSync();
      let pass = 0, n = 0;
      for (let j = 0; j < sc.length; j++) {
        if (act && !act[j]) continue;
        n++;
        if (sc[j]! >= threshold) pass++;
      }
      return Math.max(pass, Math.min(minKeep, n));
    };
    // Each image alone (its own kept counts; the native engine runs them as variable-length rows of one batch).
    const outs = Array.from({ length: images.shape[0] }, (_, b) => {
      const one = images.slice([b, 0, 0, 0], [1, -1, -1, -1]);
      try {
        return this.inferBatch(one, dynamicK, perBlock, fused);
      } finally {
        one.dispose();
      }
    });
    return concatOutputs(outs);
  }

  /** The inference loop over one batch whose stage s keeps `keepK(s, score [B,Np], active)` patches per image (null: unpruned). */
  private inferBatch(images: tf.Tensor4D, keepK: ((s: number, score: tf.Tensor2D, active: tf.Tensor2D | null) => number) | null, perBlock: boolean, fused: boolean): InferenceOutput {
    const cfg = this.config, w = this.weights;
    const { L, Q, Bq, R, H } = cfg;
    const P = 1 + R;
    const { Np } = patchGrid(cfg);
    const firstDecode = Math.max(0, L - Bq - 1);
    let result!: InferenceOutput;
    tf.tidy(() => {
      const B = images.shape[0];
      let x = this.embed(images);
      let hasQ = false;
      const prependQueries = () => {
        x = tf.concat([this.queries(B), x], 1);
        hasQ = true;
      };
      let activeIdx: tf.Tensor2D | null = null;
      let active: tf.Tensor2D | null = null;
      const keptPerStage: tf.Tensor2D[] = [];
      const decodes: Decoded[] = [];
      for (let i = 0; i < L; i++) {
        if (i === L - Bq && !hasQ) prependQueries();
        const base = (hasQ ? Q : 0) + P;
        const s = keepK === null ? -1 : cfg.stageBlocks.indexOf(i);
        if (s >= 0) {
          const score = keepScore(predictorLogits(x.slice([0, base, 0], [B, Np, cfg.D]), s, w));
          activeIdx = gumbelTopK(score, keepK!(s, score, active), active === null ? { noise: false } : { noise: false, active });
          active = tf.oneHot(activeIdx, Np).sum(1).cast('float32') as tf.Tensor2D;
          keptPerStage.push(activeIdx);
        }
        const bw = blockWeights(w, i);
        const rows = activeIdx === null ? null : tf.concat([tf.tile(tf.range(0, base, 1, 'int32').reshape([1, base]), [B, 1]), tf.add(activeIdx, base)], 1) as tf.Tensor2D;
        if (fused) x = prunedBlock(x, rows, bw, { heads: H });
        else if (rows === null) x = block(x, bw, H);
        else x = scatterTokens(x, rows, block(gatherTokens(x, rows), bw, H));
        if (perBlock && i >= firstDecode) {
          if (!hasQ) prependQueries();
          decodes.push(decode(x, i, cfg, w));
        }
      }
      if (!perBlock) {
        if (!hasQ) prependQueries();
        decodes.push(decode(x, L - 1, cfg, w));
      }
      const last = decodes[decodes.length - 1]!;
      const keptCounts = keptPerStage.map((k) => Array.from({ length: B }, () => k.shape[1]));
      const out: InferenceOutput = { semantic: last.semantic, classLogits: last.classLogits, maskLogits: last.maskLogits, keptPerStage, keptCounts };
      if (perBlock) out.perBlock = decodes.map((d) => ({ block: d.block, semantic: d.semantic }));
      result = out;
      return escaping([out.semantic, out.classLogits, out.maskLogits, ...keptPerStage, ...(out.perBlock ?? []).map((p) => p.semantic)]);
    });
    return result;
  }

  /**
   * The training forward pass (SPEC §4): policy masking and Reg4Pru routing; see the file header.
   * Call inside `tf.variableGrads` / an optimiser's `minimize` to train.
   * @param images tf.Tensor float32 [B,3,Himg,Wimg]
   * @param opts `{route, policy, tau, seed, trace}`
   * @returns decoded outputs of every decode point, keep decisions [B,S,Np] and logits [B,S,Np,2], routeKept
   * @throws {TypeError|RangeError} bad images, route (0 <= l <= n < L, fraction in [0, 1)), policy, tau or seed
   */
  forwardTrain(images: tf.Tensor4D, opts: TrainOptions = {}): TrainOutput {
    const op = 'EomtModel.forwardTrain';
    this.checkImages(op, images);
    const cfg = this.config, w = this.weights;
    const { L, Q, Bq, R, H, D } = cfg;
    const route = opts.route ?? null;
    if (route !== null) {
      if (typeof route !== 'object') throw typeError(op, `expected route to be {l, n} or null, received ${describe(route)}`);
      const { l, n } = route;
      if (!Number.isInteger(l) || !Number.isInteger(n) || l < 0 || n < l || n >= L) throw rangeError(op, `expected route with integers 0 <= l <= n < L=${L}, received l=${describe(l)}, n=${describe(n)}`);
      const f = route.fraction ?? 0.5;
      if (typeof f !== 'number' || !(f >= 0 && f < 1)) throw rangeError(op, `expected route.fraction in [0, 1), received ${describe(f)}`);
    }
    const policy = opts.policy ?? 'ratio';
    if (policy !== 'ratio' && policy !== 'informed' && policy !== 'none') throw rangeError(op, `expected policy to be 'ratio', 'informed' or 'none', received ${describe(policy)}`);
    const tau = opts.tau ?? 1;
    if (typeof tau !== 'number' || !(tau > 0) || !Number.isFinite(tau)) throw rangeError(op, `expected tau to be a finite number > 0, received ${describe(tau)}`);
    const seed = opts.seed ?? 0;
    if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) throw rangeError(op, `expected seed to be a non-negative safe integer, received ${describe(seed)}`);
    const theta = opts.threshold ?? 0.5;
    if (typeof theta !== 'number' || !(theta > 0 && theta < 1)) throw rangeError(op, `expected threshold in (0, 1), received ${describe(theta)}`);
    const shift = Math.log(theta / (1 - theta)); // logit(θ); 0 at the default
    const P = 1 + R;
    const { Np } = patchGrid(cfg);
    const firstDecode = Math.max(0, L - Bq - 1);
    const usePolicy = policy !== 'none' && cfg.stageBlocks.length > 0;

    let result!: TrainOutput;
    tf.tidy(() => {
      const B = images.shape[0];
      let x = this.embed(images);        // the full map outside a route; the snapshot inside one
      let xk: tf.Tensor3D | null = null; // the kept rows inside a route
      let rows: tf.Tensor2D | null = null; // their row indices in the full map
      let routeKept: tf.Tensor2D | null = null;
      let hasQ = false;
      const ones = (n: number) => tf.ones([B, n], 'float32') as tf.Tensor2D;
      const prefixRange = (n: number) => tf.tile(tf.range(0, n, 1, 'int32').reshape([1, n]), [B, 1]) as tf.Tensor2D;
      const prependQueries = () => {
        x = tf.concat([this.queries(B), x], 1);
        if (xk !== null) {
          xk = tf.concat([this.queries(B), xk], 1);
          rows = tf.concat([prefixRange(Q), tf.add(rows!, Q)], 1) as tf.Tensor2D;
        }
        hasQ = true;
      };
      const fullMap = (): tf.Tensor3D => (xk === null ? x : scatterTokens(x, rows!, xk));
      let Pol: tf.Tensor2D | null = null;
      const keeps: tf.Tensor2D[] = [], logitsPerStage: tf.Tensor3D[] = [];
      const decoded: TrainDecoded[] = [];
      const full = opts.fullResolution ?? true;
      const patchTrace: tf.Tensor3D[] = [];
      for (let i = 0; i < L; i++) {
        if (route !== null && i === route.l) {
          const base = (hasQ ? Q : 0) + P;
          const k = routeKeepCount(route.fraction ?? 0.5, Np);
          routeKept = gumbelTopK(tf.zeros([B, Np]) as tf.Tensor2D, k, { seed: mixSeed(seed, ROUTE_SALT), noise: true });
          rows = tf.concat([prefixRange(base), tf.add(routeKept, base)], 1) as tf.Tensor2D;
          xk = gatherTokens(x, rows);
        }
        if (i === L - Bq && !hasQ) prependQueries();
        const base = (hasQ ? Q : 0) + P;
        const s = usePolicy ? cfg.stageBlocks.indexOf(i) : -1;
        if (s >= 0) {
          const logits = predictorLogits(fullMap().slice([0, base, 0], [B, Np, D]), s, w);
          const shifted = shift === 0 ? logits : (tf.sub(logits, tf.tensor1d([shift, 0])) as tf.Tensor3D);
          const hard = gumbelSoftmaxST(shifted, { tau, seed: mixSeed(seed, s + 1) });
          Pol = Pol === null ? hard : (tf.mul(Pol, hard) as tf.Tensor2D);
          keeps.push(Pol);
          logitsPerStage.push(logits);
        }
        let pol: tf.Tensor2D | null = null;
        if (Pol !== null) {
          const patchPol = xk === null ? Pol : (gatherTokens(Pol.expandDims(2) as tf.Tensor3D, routeKept!).squeeze([2]) as tf.Tensor2D);
          pol = tf.concat([ones(base), patchPol], 1) as tf.Tensor2D;
        }
        const bw = blockWeights(w, i);
        if (xk !== null) xk = block(xk, bw, H, pol);
        else x = block(x, bw, H, pol);
        if (route !== null && i === route.n) {
          x = scatterTokens(x, rows!, xk!);
          xk = null;
          rows = null;
        }
        if (opts.trace) patchTrace.push(fullMap().slice([0, base, 0], [B, Np, D]) as tf.Tensor3D);
        if (i >= firstDecode) {
          if (!hasQ) prependQueries();
          decoded.push(full ? decode(fullMap(), i, cfg, w) : { ...decodeLogits(fullMap(), i, cfg, w), maskLogitsFull: null, semantic: null });
        }
      }
      const out: TrainOutput = {
        decoded,
        keep: keeps.length ? (tf.stack(keeps, 1) as tf.Tensor3D) : null,
        keepLogits: logitsPerStage.length ? (tf.stack(logitsPerStage, 1) as tf.Tensor4D) : null,
        routeKept,
      };
      if (opts.trace) out.patchTrace = patchTrace;
      result = out;
      return escaping([
        ...decoded.flatMap((d) => [d.classLogits, d.maskLogits, d.maskLogitsFull, d.semantic]),
        out.keep, out.keepLogits, out.routeKept, ...patchTrace,
      ]);
    });
    return result;
  }
}
