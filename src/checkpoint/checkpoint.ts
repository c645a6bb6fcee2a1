/**
 * Model checkpoints (SPEC §8): one safetensors file holding every tensor of `weightShapes(config)` and
 * the config as JSON under `__metadata__["reg4pru.config"]` (plus `"format": "pt"`, which lets the
 * Hugging Face / PyTorch tooling open the file as a PyTorch state dict).
 *
 * Loading validates the config (`validateConfig`) and the tensor set against it: every missing tensor,
 * every unexpected tensor and every wrong shape is listed in one RangeError naming the file.
 */
import type { ModelConfig } from '../model/config.js';
import { validateConfig, weightShapes } from '../model/config.js';
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from './safetensors.js';
import { describe, rangeError, summariseList, typeError } from '../errors.js';

/** Metadata key of the JSON model config. */
export const CONFIG_KEY = 'reg4pru.config';

export interface Checkpoint {
  config: ModelConfig;
  /** SPEC §8 name -> float32 data (row-major, shapes as `weightShapes(config)`). */
  weights: Record<string, Float32Array>;
  /** The file's whole `__metadata__` (includes `reg4pru.config`). */
  metadata: Record<string, string>;
}

const shapeStr = (s: readonly number[]) => `[${s.join(',')}]`;

/**
 * Saves a model checkpoint atomically (see `writeSafetensors`).
 * @param path destination `.safetensors` path
 * @param config model config (validated; stored as JSON)
 * @param weights name -> Float32Array for exactly the tensors of `weightShapes(config)`
 * @param metadata extra string metadata (e.g. training step); `reg4pru.config` is always ours
 * @throws {TypeError|RangeError} bad config, or missing / unexpected / wrong-sized tensors (all listed)
 * @example
 * saveCheckpoint('m.safetensors', cfg, randomWeights(cfg, 0));
 */
export function saveCheckpoint(path: string, config: ModelConfig, weights: Record<string, Float32Array>, metadata: Record<string, string> = {}): void {
  const cfg = validateConfig(config);
  if (typeof weights !== 'object' || weights === null) throw typeError('saveCheckpoint', `expected weights to be an object, received ${describe(weights)}`);
  const tensors: Record<string, SafetensorsTensor> = {};
  const problems: string[] = [];
  const expected = weightShapes(cfg);
  const known = new Set(expected.map(([n]) => n));
  for (const [name, shape] of expected) {
    const data = weights[name];
    let count = 1;
    for (const d of shape) count *= d;
    if (data === undefined) problems.push(`missing '${name}' ${shapeStr(shape)}`);
    else if (!(data instanceof Float32Array)) problems.push(`'${name}' must be a Float32Array, received ${describe(data)}`);
    else if (data.length !== count) problems.push(`'${name}' expected ${count} elements (shape ${shapeStr(shape)}), received ${data.length}`);
    else tensors[name] = { data, shape };
  }
  for (const name of Object.keys(weights)) if (!known.has(name)) problems.push(`unexpected '${name}'`);
  if (problems.length > 0) throw rangeError('saveCheckpoint', `${path}: weights do not match the config: ${summariseList(problems, 8, '; ')}`);
  writeSafetensors(path, tensors, { format: 'pt', ...metadata, [CONFIG_KEY]: JSON.stringify(cfg) });
}

/**
 * Loads and validates a model checkpoint.
 * @param path `.safetensors` file written by `saveCheckpoint` (or any SPEC §8 file with the config metadata)
 * @returns `{config, weights, metadata}`; F16/BF16/F64 tensors are converted to float32
 * @throws {RangeError} malformed file, missing/invalid config, missing / unexpected / wrong-shaped tensors
 *   (each listed by name, wrong shapes as expected vs received)
 * @example
 * const { config, weights } = loadCheckpoint('m.safetensors');
 */
export function loadCheckpoint(path: string): Checkpoint {
  const op = 'loadCheckpoint';
  const { tensors, metadata } = readSafetensors(path);
  const raw = metadata[CONFIG_KEY];
  if (raw === undefined) throw rangeError(op, `${path}: __metadata__ has no "${CONFIG_KEY}" entry (not a reg4pru checkpoint?)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw rangeError(op, `${path}: "${CONFIG_KEY}" is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  let config: ModelConfig;
  try {
    config = validateConfig(parsed);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw e instanceof TypeError ? typeError(op, `${path}: invalid "${CONFIG_KEY}": ${msg}`) : rangeError(op, `${path}: invalid "${CONFIG_KEY}": ${msg}`);
  }
  const expected = weightShapes(config);
  const known = new Set(expected.map(([n]) => n));
  const missing: string[] = [], unexpected: string[] = [], wrong: string[] = [];
  const weights: Record<string, Float32Array> = {};
  for (const [name, shape] of expected) {
    const t = tensors[name];
    if (t === undefined) missing.push(name);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) wrong.push(`'${name}' expected ${shapeStr(shape)}, received ${shapeStr(t.shape)}`);
    else weights[name] = t.data;
  }
  for (const name of Object.keys(tensors)) if (!known.has(name)) unexpected.push(name);
  const parts: string[] = [];
  if (missing.length) parts.push(`missing tensors: ${summariseList(missing)}`);
  if (unexpected.length) parts.push(`unexpected tensors: ${summariseList(unexpected)}`);
  if (wrong.length) parts.push(`wrong shapes: ${summariseList(wrong, 8, '; ')}`);
  if (parts.length) throw rangeError(op, `${path}: tensors do not match the config (D=${config.D}, L=${config.L}, ...): ${parts.join(' | ')}`);
  return { config, weights, metadata };
}
