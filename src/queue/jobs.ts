/**
 * What one queue job carries (one image), and its id. A job names the image by absolute path plus the
 * SHA-256 of its bytes (workers on other machines read it from shared storage and check the hash), the
 * model (a checkpoint path + its SHA-256, or a preset's full config + seed) and the options that change
 * the outputs (keep ratio, threshold, tile/resize rule, output name).
 *
 * Job id = 'r4p-' + SHA-256 over (image hash, output name, model identity, options), 40 hex digits.
 * BullMQ ignores an add whose id already exists, so submitting the same folder twice adds nothing;
 * changing the model, an option, or an image's bytes gives new ids. The output name is part of the id
 * so that two files with equal bytes but different names each get their outputs.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { FitMode } from '../cli/images.js';
import type { ModelConfig } from '../model/config.js';

/** The model a job runs: a checkpoint file (checked by hash on the worker) or preset random weights. */
export type ModelSpec =
  | { kind: 'checkpoint'; path: string; sha256: string }
  | { kind: 'preset'; preset: string; config: ModelConfig; seed: number };

/** Everything that changes the outputs besides the image and the model. */
export interface SegmentOptions {
  /** Base keep ratio in (0, 1], or null for the unpruned model. */
  keep: number | null;
  /** Mask threshold on the probability, [0, 1]. */
  threshold: number;
  /** Force tiling or resizing (default: tile images larger than the model input). */
  fit?: FitMode;
}

/** The payload of one job (JSON in Redis). */
export interface ImageJobData {
  /** Absolute path of the input image, as seen by the submitter (workers need the same path). */
  file: string;
  /** Output base name: `<name>_prob.png`, `<name>_mask.png`. */
  name: string;
  /** SHA-256 (hex) of the image bytes at submit time. */
  sha256: string;
  /** Size in bytes at submit time. */
  bytes: number;
  model: ModelSpec;
  options: SegmentOptions;
}

/** What a completed job returns (kept with the job in Redis). */
export interface ImageJobResult {
  outputs: string[];
  /** Output files that already existed with identical bytes (left untouched). */
  unchanged: number;
  width: number;
  height: number;
  tiles: number;
  /** Worker id (`host:pid`) that did it. */
  worker: string;
  ms: number;
}

/** SHA-256 (hex) of a file, streamed. */
export function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('error', reject)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** The part of a model spec that identifies the weights (a checkpoint's path may differ per machine). */
export function modelIdentity(m: ModelSpec): string {
  return m.kind === 'checkpoint' ? `ckpt:${m.sha256}` : `preset:${m.preset}:${m.seed}:${stableJson(m.config)}`;
}

/** JSON with object keys sorted, so equal values give equal strings. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The job id of an image: see the file comment. */
export function jobId(sha256: string, name: string, model: ModelSpec, options: SegmentOptions): string {
  const key = stableJson({ image: sha256, name, model: modelIdentity(model), keep: options.keep, threshold: options.threshold, fit: options.fit ?? 'auto' });
  return 'r4p-' + createHash('sha256').update(key).digest('hex').slice(0, 40);
}
