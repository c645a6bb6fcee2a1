/**
 * STEP's early exits: per-token heads after chosen blocks. Head j, after block `blocks[j]`, classifies every active
 * patch token, `p = softmax(fc(LayerNorm(x)))` over the C + 1 classes (no-object / background last, as the class head),
 * and the token's confidence is max_c p_c. Tokens with confidence > τ leave the sequence (they keep their state for
 * the decoder, as pruned tokens do), except that at least min(minActive, active) tokens of the image stay: the least
 * confident (ties to the lower index). Images then hold different token counts (variable-length rows).
 * Weights per head j: `exits.{j}.norm.weight` [D], `exits.{j}.norm.bias` [D] (LayerNorm eps 1e-6),
 * `exits.{j}.fc.weight` [C+1, D], `exits.{j}.fc.bias` [C+1]; files: safetensors with the config in metadata
 * 'reg4pru.exits' (`saveExitHeads` / `loadExitHeads`).
 */
import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors.js';
import { describe, rangeError, typeError } from '../errors.js';
import { mulberry32, normalSampler } from './rng.js';
import { checkWeight } from './superpatch.js';

export interface ExitHeadsConfig {
  /** Blocks after which a head runs (ascending, in [0, L)). */
  blocks: number[];
  /** Width D and class-head outputs C + 1 of the backbone they serve. */
  D: number;
  classes: number;
}

export const EXITS_KEY = 'reg4pru.exits';

/** @throws TypeError/RangeError naming the field */
export function validateExitConfig(c: unknown, L?: number): ExitHeadsConfig {
  const op = 'exitHeads';
  if (typeof c !== 'object' || c === null) throw typeError(op, `expected config to be {blocks, D, classes}, received ${describe(c)}`);
  const { blocks, D, classes } = c as Record<string, unknown>;
  if (!Array.isArray(blocks) || blocks.length < 1 || !blocks.every((b, i) => Number.isInteger(b) && b >= 0 && (L === undefined || b < L) && (i === 0 || b > blocks[i - 1])))
    throw rangeError(op, `expected config.blocks to be ascending block indices${L === undefined ? '' : ` in [0, ${L})`}, received ${describe(blocks)}`);
  if (typeof D !== 'number' || !Number.isInteger(D) || D < 1) throw rangeError(op, `expected config.D to be an integer >= 1, received ${describe(D)}`);
  if (typeof classes !== 'number' || !Number.isInteger(classes) || classes < 1) throw rangeError(op, `expected config.classes to be an integer >= 1, received ${describe(classes)}`);
  return { blocks: [...blocks] as number[], D, classes };
}

/** Every head tensor with its shape, head by head. */
export function exitWeightShapes(c: ExitHeadsConfig): Array<[string, number[]]> {
  return c.blocks.flatMap((_, j): Array<[string, number[]]> => [
    [`exits.${j}.norm.weight`, [c.D]], [`exits.${j}.norm.bias`, [c.D]], [`exits.${j}.fc.weight`, [c.classes + 1, c.D]], [`exits.${j}.fc.bias`, [c.classes + 1]],
  ]);
}

/** Seeded heads: LayerNorm weight 1 and bias 0, fc ~ scale · N(0, 1/D) with bias 0. */
export function randomExitHeads(c: ExitHeadsConfig, seed: number, scale = 1): Record<string, Float32Array> {
  const normal = normalSampler(mulberry32(seed));
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of exitWeightShapes(c)) {
    const n = shape.reduce((p, d) => p * d, 1);
    out[name] = name.endsWith('norm.weight') ? new Float32Array(n).fill(1) : name.endsWith('fc.weight') ? Float32Array.from({ length: n }, () => (scale * normal()) / Math.sqrt(c.D)) : new Float32Array(n);
  }
  return out;
}

export function saveExitHeads(file: string, c: ExitHeadsConfig, weights: Record<string, Float32Array>, metadata: Record<string, string> = {}): void {
  const cfg = validateExitConfig(c);
  const tensors: Record<string, { data: Float32Array; shape: number[] }> = {};
  for (const [name, shape] of exitWeightShapes(cfg)) tensors[name] = { data: checkWeight(weights, name, shape, 'exitHeads'), shape };
  writeSafetensors(file, tensors, { ...metadata, [EXITS_KEY]: JSON.stringify(cfg) });
}

/** @throws RangeError naming the file and what is missing */
export function loadExitHeads(file: string): { config: ExitHeadsConfig; weights: Record<string, Float32Array> } {
  const f = readSafetensors(file);
  const raw = f.metadata[EXITS_KEY];
  if (raw === undefined) throw rangeError('loadExitHeads', `'${file}' has no '${EXITS_KEY}' metadata (not a set of exit heads)`);
  const config = validateExitConfig(JSON.parse(raw));
  const weights: Record<string, Float32Array> = {};
  for (const [name, shape] of exitWeightShapes(config)) {
    const t = f.tensors[name];
    if (t === undefined) throw rangeError('loadExitHeads', `'${file}' lacks tensor '${name}' [${shape}]`);
    weights[name] = checkWeight({ [name]: t.data }, name, shape, 'loadExitHeads');
  }
  return { config, weights };
}
