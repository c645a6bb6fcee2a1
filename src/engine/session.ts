/**
 * InferenceSession: the native inference forward of the EoMT-style pruned segmenter (SPEC §2, §3;
 * exact contract in docs/inference-forward.md), float32 on the CPU or (device 'cuda') on the GPU, no TF.js on this path.
 *
 *   images [B,3,Himg,Wimg] (ImageNet-normalised) -> semantic [B,C,Himg,Wimg], classLogits [B,Q,C+1],
 *   maskLogits [B,Q,4gh,4gw] (before the bilinear resize), optional per-block semantic maps
 *   (decode points L-Bq-1 … L-1, paper Fig. 5).
 *
 * Weights are read in place (zero-copy) by the native engine and kept alive by the session; do not
 * mutate them while it lives. Scratch memory is allocated on the first run for a batch size and reused.
 * Runs are serialised: calling `run` again before the previous promise settles queues the call.
 */
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import { describe, rangeError, typeError } from '../errors.js';
import { patchGrid, validateConfig, type ModelConfig } from '../model/config.js';
import { randomWeights } from '../model/weights.js';
import { native, type NativeInferenceSession, type NativeSessionOptions } from '../native.js';
import type { F32Tensor, I32Tensor } from '../validate.js';

export type ToMeMode = 'mhsa' | 'mhsa+mlp';

export interface InferenceSessionOptions {
  /**
   * Base keep ratio ρ in (0, 1] (stage s keeps round(ρ^(s+1)·Np) patches), or 'dynamic' (SViT's per-image
   * keep: each stage keeps, per image, the still-active patches whose keep score is >= `threshold`, at least
   * min(`minKeep`, active) of them; images of a batch run as variable-length rows), or null/omitted: no pruning.
   */
  keep?: number | 'dynamic' | null;
  /** keep 'dynamic' only: the keep-score threshold τ in [0, 1] (default 0.5, the policy's argmax; 0 keeps all). */
  threshold?: number;
  /** keep 'dynamic' only: the floor, an integer >= 1 (default 1): a stage keeps at least min(minKeep, active) patches. */
  minKeep?: number;
  /**
   * SPEC §3 optional rounding of the kept counts: with m > 1 each stage's k moves to the nearest value
   * (ties up) for which prefix + k (prefix = cls + registers) is a multiple of m, kept in [1, Np]; better
   * GEMM / tensor-core row counts. Integer in [1, 1024]; 1 or omitted = off; only affects pruning.
   * `session.stageKeep` shows the counts in use; `roundKeepCount` computes one.
   */
  roundKeep?: number;
  /**
   * 'cpu' (default) or 'cuda': the whole forward on the CUDA device (native/engine/cuda_engine.h), weights
   * uploaded once, FP32 only so far (precision 'bf16' and `tome` throw on 'cuda'). Without a usable device
   * (a CPU-only build, no GPU, no driver) create() throws an Error saying why; never a CPU fallback.
   * Checked on the CUDA emulator against the CPU engine; not yet run on a GPU.
   */
  device?: 'cpu' | 'cuda';
  /**
   * ToMe baseline (SPEC §6): merge then unmerge around MHSA or MHSA+MLP in every block. `mergeRatio` is
   * the fraction of patch tokens merged away (ToMe for Stable Diffusion's convention; the paper compares
   * 0.7…0.4), destinations one per 2x2 window of the patch grid, cls/registers/queries never merged.
   */
  tome?: { mode: ToMeMode; mergeRatio: number };
  /**
   * 'fp32' (default), or 'bf16': every GEMM (patch embedding, the blocks' Linear layers, the decoder) rounds
   * its operands to BF16 and sums in FP32 (vdpbf16ps); LayerNorm, softmax, attention and epilogues stay FP32.
   * Needs a CPU with AVX-512 BF16 (`info().cpu.bf16`); elsewhere create() throws.
   */
  precision?: 'fp32' | 'bf16';
}

/** An in-memory model: config plus weights (omitted: `randomWeights(config, seed ?? 0)`). */
export interface InferenceSource {
  config: ModelConfig;
  weights?: Record<string, Float32Array>;
  seed?: number;
}

export interface RunOptions {
  /** Also decode after each of blocks L-Bq-1 … L-1 (default false). */
  perBlock?: boolean;
}

export interface InferenceResult {
  /** Semantic map of the final block, [B,C,Himg,Wimg]: Σ_q sigmoid(mask_q)·softmax(class_q)[c]. */
  semantic: F32Tensor & { shape: [number, number, number, number] };
  /** With `perBlock`: one map per decode point, blocks ascending (the last equals `semantic`). */
  perBlock?: Array<{ block: number; semantic: F32Tensor & { shape: [number, number, number, number] } }>;
  /** Class logits of the final block [B,Q,C+1] (no-object last). */
  classLogits: F32Tensor & { shape: [number, number, number] };
  /** Mask logits of the final block [B,Q,4gh,4gw], before the bilinear resize. */
  maskLogits: F32Tensor & { shape: [number, number, number, number] };
  /** When pruning: patches kept after each stage s by each image b, int32 [S,B] (fixed keep: `stageKeep[s]` everywhere). */
  kept?: I32Tensor & { shape: [number, number] };
}

/** The keep mode of a session: a base ratio, dynamic with its threshold and floor, or null (unpruned). */
export type KeepMode = number | 'dynamic' | null;

const OP = 'InferenceSession';

function parseOptions(opts: unknown): { keep: KeepMode; dynamic: { threshold: number; minKeep: number } | null; native: NativeSessionOptions } {
  if (opts === undefined || opts === null) return { keep: null, dynamic: null, native: { keep: null } };
  if (typeof opts !== 'object' || Array.isArray(opts)) throw typeError(OP, `expected options to be an object, received ${describe(opts)}`);
  const o = opts as Record<string, unknown>;
  const device = o.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw rangeError(OP, `expected options.device to be 'cpu' or 'cuda', received ${describe(device)}`);
  let keep: KeepMode = null;
  let dynamic: { threshold: number; minKeep: number } | null = null;
  if (o.keep === 'dynamic') {
    keep = 'dynamic';
    const threshold = o.threshold ?? 0.5, minKeep = o.minKeep ?? 1;
    if (typeof threshold !== 'number') throw typeError(OP, `expected options.threshold to be a number, received ${describe(threshold)}`);
    if (!(threshold >= 0 && threshold <= 1)) throw rangeError(OP, `expected options.threshold in [0, 1], received ${threshold}`);
    if (typeof minKeep !== 'number') throw typeError(OP, `expected options.minKeep to be a number, received ${describe(minKeep)}`);
    if (!(Number.isInteger(minKeep) && minKeep >= 1 && minKeep <= 2147483647)) throw rangeError(OP, `expected options.minKeep to be an integer >= 1, received ${minKeep}`);
    dynamic = { threshold, minKeep };
  } else if (o.keep !== undefined && o.keep !== null) {
    if (typeof o.keep === 'string') throw rangeError(OP, `expected options.keep to be a number in (0, 1], 'dynamic' or null, received ${describe(o.keep)}`);
    if (typeof o.keep !== 'number') throw typeError(OP, `expected options.keep to be a number, 'dynamic' or null, received ${describe(o.keep)}`);
    if (!(o.keep > 0 && o.keep <= 1)) throw rangeError(OP, `expected options.keep in (0, 1], received ${o.keep}`);
    keep = o.keep;
  }
  if (dynamic === null && ((o.threshold ?? null) !== null || (o.minKeep ?? null) !== null))
    throw rangeError(OP, "options.threshold and options.minKeep apply to keep 'dynamic' only");
  const out: NativeSessionOptions = dynamic ? { keep, threshold: dynamic.threshold, minKeep: dynamic.minKeep } : { keep };
  if (device === 'cuda') out.device = 'cuda';
  if (o.precision !== undefined && o.precision !== null) {
    if (o.precision !== 'fp32' && o.precision !== 'bf16') throw rangeError(OP, `expected options.precision to be 'fp32' or 'bf16', received ${describe(o.precision)}`);
    out.precision = o.precision;
  }
  if (o.roundKeep !== undefined && o.roundKeep !== null) {
    if (typeof o.roundKeep !== 'number') throw typeError(OP, `expected options.roundKeep to be a number, received ${describe(o.roundKeep)}`);
    if (!(Number.isInteger(o.roundKeep) && o.roundKeep >= 1 && o.roundKeep <= 1024)) throw rangeError(OP, `expected options.roundKeep to be an integer in [1, 1024], received ${o.roundKeep}`);
    out.roundKeep = o.roundKeep;
  }
  if (o.tome !== undefined && o.tome !== null) {
    if (typeof o.tome !== 'object' || Array.isArray(o.tome)) throw typeError(OP, `expected options.tome to be an object, received ${describe(o.tome)}`);
    const t = o.tome as Record<string, unknown>;
    if (t.mode !== 'mhsa' && t.mode !== 'mhsa+mlp') throw rangeError(OP, `expected options.tome.mode to be 'mhsa' or 'mhsa+mlp', received ${describe(t.mode)}`);
    if (typeof t.mergeRatio !== 'number') throw typeError(OP, `expected options.tome.mergeRatio to be a number, received ${describe(t.mergeRatio)}`);
    if (!(t.mergeRatio >= 0 && t.mergeRatio < 1)) throw rangeError(OP, `expected options.tome.mergeRatio in [0, 1), received ${t.mergeRatio}`);
    if (keep !== null) throw rangeError(OP, 'options.tome and options.keep cannot be combined (ToMe is a baseline for unpruned runs)');
    out.tome = { mode: t.mode, mergeRatio: t.mergeRatio };
  }
  if (dynamic && out.roundKeep !== undefined && out.roundKeep > 1)
    throw rangeError(OP, `options.roundKeep applies to fixed keep ratios, not keep 'dynamic' (received roundKeep ${out.roundKeep})`);
  return { keep, dynamic, native: out };
}

/**
 * The SPEC §3 rounding of one stage's kept-patch count (the engine's `round_keep_count`, for reports and
 * tests): the nearest k' with (P + k') % m === 0 (ties up), raised by m while k' < 1, capped at Np.
 * @param k kept patches before rounding, P prefix tokens (1 + R), Np patches, m the multiple (1 = off)
 * @example roundKeepCount(717, 5, 1024, 8) // 715: 5 + 715 = 720
 */
export function roundKeepCount(k: number, P: number, Np: number, m: number): number {
  if (m <= 1) return k;
  let r = Math.floor((P + k + Math.floor(m / 2)) / m) * m - P;
  while (r < 1) r += m;
  return Math.min(Np, r);
}

export class InferenceSession {
  /** The validated model config. */
  readonly config: ModelConfig;
  /** Base keep ratio, 'dynamic', or null when not pruning. */
  readonly keep: KeepMode;
  /** keep 'dynamic': its threshold τ and floor; null otherwise. */
  readonly dynamic: { readonly threshold: number; readonly minKeep: number } | null;
  /** Patches kept after each pruning stage (empty when not pruning, or with keep 'dynamic': see a run's `kept`). */
  readonly stageKeep: readonly number[];
  /** Block index of each per-block decode point (L-Bq-1 … L-1, clamped at 0). */
  readonly decodeBlocks: readonly number[];

  #native: NativeInferenceSession | null;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(config: ModelConfig, keep: KeepMode, dynamic: { threshold: number; minKeep: number } | null, session: NativeInferenceSession) {
    this.config = config;
    this.keep = keep;
    this.dynamic = dynamic === null ? null : Object.freeze({ ...dynamic });
    this.#native = session;
    const d = session.describe();
    this.stageKeep = Object.freeze([...d.stageKeep]);
    this.decodeBlocks = Object.freeze(Array.from({ length: d.decodePoints }, (_, i) => d.firstDecodeBlock + i));
  }

  /**
   * Builds a session from a checkpoint or an in-memory model.
   * @param source a SPEC §8 `.safetensors` path (loaded with `loadCheckpoint`), or
   *   `{config, weights?: name -> Float32Array, seed?}` (weights omitted: `randomWeights(config, seed ?? 0)`)
   * @param opts `{keep?: number | 'dynamic' | null, threshold?, minKeep?, device?: 'cpu' | 'cuda', tome?: {mode, ratio}, precision?, roundKeep?}`
   * @returns a ready session (native weights bound, shapes checked)
   * @throws {TypeError|RangeError} bad config / weights / options (message names the argument);
   *   Error for device 'cuda' when CUDA is not available (the message says why), or for an option the CUDA
   *   engine does not implement yet (bf16, tome); or a ToMe request while the ToMe op is not built
   * @example
   * const s = await InferenceSession.create({ config: modelConfig('small') }, { keep: 0.7 });
   * const { semantic } = await s.run(new Float32Array(3 * 512 * 512));
   * s.dispose();
   */
  static async create(source: string | InferenceSource, opts?: InferenceSessionOptions): Promise<InferenceSession> {
    const { keep, dynamic, native: nopts } = parseOptions(opts);
    let config: ModelConfig;
    let weights: Record<string, Float32Array>;
    if (typeof source === 'string') {
      const ckpt = loadCheckpoint(source);
      config = ckpt.config;
      weights = ckpt.weights;
    } else if (typeof source === 'object' && source !== null && !Array.isArray(source)) {
      config = validateConfig(source.config);
      if (source.weights !== undefined && source.weights !== null) {
        if (typeof source.weights !== 'object') throw typeError(OP, `expected source.weights to be an object, received ${describe(source.weights)}`);
        weights = source.weights;
      } else {
        const seed = source.seed ?? 0;
        if (typeof seed !== 'number' || !Number.isInteger(seed)) throw typeError(OP, `expected source.seed to be an integer, received ${describe(seed)}`);
        weights = randomWeights(config, seed);
      }
    } else {
      throw typeError(OP, `expected source to be a checkpoint path or {config, weights?}, received ${describe(source)}`);
    }
    const Ctor = native().InferenceSession;
    return new InferenceSession(config, keep, dynamic, new Ctor(JSON.stringify(config), weights, nopts));
  }

  /**
   * Runs the forward pass on a batch of images.
   * @param images float32 [B,3,Himg,Wimg] (`{data, shape}`), or a bare Float32Array of B·3·Himg·Wimg values
   * @param opts `{perBlock?: boolean}`
   * @returns semantic [B,C,Himg,Wimg], classLogits [B,Q,C+1], maskLogits [B,Q,4gh,4gw], perBlock?
   * @throws {TypeError|RangeError} wrong dtype, shape or non-finite input; Error after dispose()
   * @example
   * const { semantic } = await session.run({ data, shape: [2, 3, 512, 512] });
   */
  async run(images: Float32Array | F32Tensor, opts: RunOptions = {}): Promise<InferenceResult> {
    const op = `${OP}.run`;
    const err = new Error();  // created here so an async failure's stack points at the caller
    if (!this.#native) throw new Error(`${op}: the session was disposed`);
    const [Hi, Wi] = this.config.image;
    const per = 3 * Hi * Wi;
    let data: Float32Array;
    let B: number;
    if (images instanceof Float32Array) {
      data = images;
      B = data.length / per;
      if (!Number.isInteger(B) || B < 1) throw rangeError(op, `expected images to have B*3*${Hi}*${Wi} elements (B >= 1), received ${data.length}`);
    } else if (typeof images === 'object' && images !== null && 'data' in images && 'shape' in images) {
      if (!(images.data instanceof Float32Array)) throw typeError(op, `expected images.data to be a Float32Array, received ${describe(images.data)}`);
      const s = images.shape;
      if (!Array.isArray(s) || s.length !== 4) throw typeError(op, `expected images.shape to be [B,3,H,W], received ${describe(s)}`);
      if (!Number.isInteger(s[0]) || s[0]! < 1 || s[1] !== 3 || s[2] !== Hi || s[3] !== Wi)
        throw rangeError(op, `expected images.shape [B,3,${Hi},${Wi}] (B >= 1), received [${s.join(',')}]`);
      B = s[0]!;
      data = images.data;
      if (data.length !== B * per) throw rangeError(op, `expected images.data to have ${B * per} elements ([${s.join(',')}]), received ${data.length}`);
    } else {
      throw typeError(op, `expected images to be a Float32Array or {data, shape}, received ${describe(images)}`);
    }
    if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
    const perBlock = opts.perBlock ?? false;
    if (typeof perBlock !== 'boolean') throw typeError(op, `expected opts.perBlock to be a boolean, received ${describe(perBlock)}`);

    // serialise: the native session runs one forward at a time
    const prev = this.#queue;
    let release!: () => void;
    this.#queue = new Promise<void>((r) => { release = r; });
    try {
      await prev.catch(() => undefined);
      const s = this.#native;
      if (!s) throw new Error(`${op}: the session was disposed`);
      const r = await s.run(data, B, perBlock).catch((e: unknown) => {
        if (e instanceof Error) {
          err.message = e.message;
          err.name = e.name;
          Object.setPrototypeOf(err, Object.getPrototypeOf(e));
        }
        throw err;
      });
      const { Q, classes: C } = this.config;
      const { gh, gw } = patchGrid(this.config);
      const semShape: [number, number, number, number] = [B, C, Hi, Wi];
      const out: InferenceResult = {
        semantic: { data: r.semantic, shape: semShape },
        classLogits: { data: r.classLogits, shape: [B, Q, C + 1] },
        maskLogits: { data: r.maskLogits, shape: [B, Q, 4 * gh, 4 * gw] },
      };
      if (r.kept) out.kept = { data: r.kept, shape: [r.kept.length / B, B] };
      if (r.perBlock) out.perBlock = r.perBlock.map((d, i) => ({ block: this.decodeBlocks[i]!, semantic: { data: d, shape: [...semShape] } }));
      return out;
    } finally {
      release();
    }
  }

  /** Frees the native engine (after a run in flight settles). Later runs throw. Idempotent. */
  dispose(): void {
    this.#native?.dispose();
    this.#native = null;
  }
}
