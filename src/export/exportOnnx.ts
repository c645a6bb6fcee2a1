/**
 * `exportOnnx`: a checkpoint (or an in-memory model) -> an `.onnx` file of the unpruned EoMT forward
 * (./eomtOnnx.ts). Optionally at another input size: the patch grid changes, so `pos_embed` is resampled
 * as the DINOv2 import does (timm's bicubic + antialias, `resamplePosEmbed`); every other weight is
 * size-independent. `withInputSize` is exported so callers (tests, the engine) can run the very same
 * resized model.
 *
 * The file is written atomically: a temporary file in the target's directory, fsynced, then renamed
 * over the target, so a failure leaves the old file (or none), never a torn one.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../io/atomicFile.js';
import path from 'node:path';
import { loadCheckpoint } from '../checkpoint/checkpoint.js';
import { resamplePosEmbed } from '../checkpoint/dinov2.js';
import { describe, rangeError, typeError } from '../errors.js';
import { patchGrid, validateConfig, type ModelConfig } from '../model/config.js';
import { randomWeights } from '../model/weights.js';
import { eomtToOnnx, type EomtOnnxModel } from './eomtOnnx.js';

export interface ExportOnnxOptions {
  /** Input size: N (square) or [height, width], multiples of the patch size. Default: the model's. */
  image?: number | [number, number];
  /** Also output `semantic_block<i>` for every decode point but the last (see docs/onnx.md). */
  perBlock?: boolean;
}

export interface ExportOnnxResult extends Omit<EomtOnnxModel, 'bytes'> {
  /** Absolute path of the written file. */
  file: string;
  bytes: number;
  /** True when pos_embed was resampled to a new input size. */
  resized: boolean;
}

/** A model source as `InferenceSession.create` takes it: a checkpoint path or `{config, weights?, seed?}`. */
export type ExportSource = string | { config: ModelConfig; weights?: Record<string, Float32Array>; seed?: number };

const OP = 'exportOnnx';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0';
  } catch {
    return '0';
  }
}

/**
 * The same model at another input size: config.image replaced and pos_embed resampled to the new grid
 * (other weights shared, not copied).
 * @param config model config
 * @param weights SPEC §8 weights
 * @param image [height, width], multiples of config.patch
 * @returns `{config, weights}` (the inputs themselves when the size is unchanged)
 * @throws {RangeError} image not a multiple of the patch size
 */
export function withInputSize(config: ModelConfig, weights: Record<string, Float32Array>, image: [number, number]): { config: ModelConfig; weights: Record<string, Float32Array> } {
  if (image[0] === config.image[0] && image[1] === config.image[1]) return { config, weights };
  const next = validateConfig({ ...config, image: [...image] });
  const from = patchGrid(config), to = patchGrid(next);
  const pos = weights['pos_embed'];
  if (!(pos instanceof Float32Array)) throw rangeError(OP, "weights have no 'pos_embed'");
  return { config: next, weights: { ...weights, pos_embed: resamplePosEmbed(pos, [from.gh, from.gw], config.D, [to.gh, to.gw]) } };
}

function parseImage(v: unknown, patch: number): [number, number] | undefined {
  if (v === undefined) return undefined;
  const hw = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(hw) || hw.length !== 2 || !hw.every((n) => typeof n === 'number' && Number.isInteger(n) && n >= 1))
    throw typeError(OP, `expected opts.image to be a positive integer or [height, width], received ${describe(v)}`);
  if (hw[0] % patch !== 0 || hw[1] % patch !== 0) throw rangeError(OP, `expected opts.image [${hw.join(',')}] to be multiples of the patch size ${patch}`);
  return [hw[0], hw[1]];
}

/** Writes `bytes` to `file` atomically (src/io/atomicFile.ts); a failure names the path. */
export function writeFileAtomic(file: string, bytes: Uint8Array): void {
  try {
    writeFileAtomicSync(file, bytes);
  } catch (e) {
    throw new Error(`${OP}: cannot write '${file}': ${(e as Error).message}`);
  }
}

/**
 * Exports the unpruned forward as an ONNX model (opset 17) and writes it atomically.
 * @param source `.safetensors` checkpoint path, or `{config, weights?, seed?}` (weights omitted:
 *   `randomWeights(config, seed ?? 0)`, the same weights `InferenceSession.create` would use)
 * @param file destination `.onnx` path (its directory must exist)
 * @param opts `{image?: N | [h, w], perBlock?: boolean}`
 * @returns the file, its size, inputs/outputs and the op types used
 * @throws {TypeError|RangeError} bad checkpoint, config, weights or options; Error when the file
 *   cannot be written (the message names the path)
 * @example
 * const r = exportOnnx('m.safetensors', 'm.onnx', { image: 512 });
 * // r.outputs: semantic [B,1,512,512], class_logits [B,16,2], mask_logits [B,16,128,128]
 */
export function exportOnnx(source: ExportSource, file: string, opts: ExportOnnxOptions = {}): ExportOnnxResult {
  if (typeof file !== 'string' || file === '') throw typeError(OP, `expected file to be a non-empty path, received ${describe(file)}`);
  if (typeof opts !== 'object' || opts === null) throw typeError(OP, `expected opts to be an object, received ${describe(opts)}`);
  let config: ModelConfig;
  let weights: Record<string, Float32Array>;
  if (typeof source === 'string') {
    ({ config, weights } = loadCheckpoint(source));
  } else if (typeof source === 'object' && source !== null && !Array.isArray(source)) {
    config = validateConfig(source.config);
    weights = source.weights ?? randomWeights(config, source.seed ?? 0);
  } else {
    throw typeError(OP, `expected source to be a checkpoint path or {config, weights?}, received ${describe(source)}`);
  }
  const image = parseImage(opts.image, config.patch);
  const resized = image !== undefined && (image[0] !== config.image[0] || image[1] !== config.image[1]);
  if (image) ({ config, weights } = withInputSize(config, weights, image));
  const { bytes, ...model } = eomtToOnnx(config, weights, { perBlock: opts.perBlock === true, producerVersion: packageVersion() });
  const abs = path.resolve(file);
  writeFileAtomic(abs, bytes);
  return { ...model, file: abs, bytes: bytes.length, resized };
}
