/**
 * Initial weights for training from a file (`reg4pru train --init FILE`): either our own checkpoint
 * (SPEC §8 names, `reg4pru.config` in the safetensors metadata, written by `saveCheckpoint`) or a timm
 * DINOv2 state dict saved as safetensors (`importDinov2`: backbone copied, patch embedding and position
 * embedding resampled to the config's patch size and grid, the rest from `randomWeights(config, seed)`).
 * Which one is decided by the metadata: a file with `reg4pru.config` is ours, any other is timm's.
 */
import { loadCheckpoint, CONFIG_KEY } from './checkpoint.js';
import { importDinov2, type Dinov2ImportReport } from './dinov2.js';
import { readSafetensors } from './safetensors.js';
import { validateConfig, weightShapes, type ModelConfig } from '../model/config.js';
import { rangeError, summariseList } from '../errors.js';

export interface InitWeights {
  kind: 'reg4pru' | 'timm-dinov2';
  /** The model config: the checkpoint's own (reg4pru) or the one passed in (timm). */
  config: ModelConfig;
  weights: Record<string, Float32Array>;
  /** What importDinov2 did (timm only). */
  report?: Dinov2ImportReport;
}

/**
 * Reads initial weights from `file`.
 * @param file a reg4pru checkpoint or a timm DINOv2 `.safetensors` state dict
 * @param config the model to initialise; a reg4pru checkpoint must describe the same tensors, unless
 *   `opts.checkpointConfig` is set (then the checkpoint's own config is the model)
 * @param seed seed of `randomWeights` for the tensors a DINOv2 state dict lacks
 * @param opts `checkpointConfig`: take a reg4pru checkpoint's config instead of `config`
 * @returns the kind of file, the config, the weights (exactly `weightShapes(config)`) and the import report
 * @throws {RangeError} malformed file, a config mismatch (listed), or a DINOv2 dict that does not fit `config`
 * @example
 * const init = readInitWeights('dinov2_vits14_reg4.safetensors', modelConfig('small'), 0);
 * await train({ config: init.config, weights: init.weights, data: 'synthetic' });
 */
export function readInitWeights(file: string, config: ModelConfig, seed: number, opts: { checkpointConfig?: boolean } = {}): InitWeights {
  const { metadata } = readSafetensors(file);
  if (metadata[CONFIG_KEY] !== undefined) {
    const ck = loadCheckpoint(file);
    if (opts.checkpointConfig !== true) {
      const want = new Map(weightShapes(validateConfig(config)).map(([n, s]) => [n, s.join(',')]));
      const have = new Map(weightShapes(ck.config).map(([n, s]) => [n, s.join(',')]));
      const diffs: string[] = [];
      for (const [n, s] of want) if (have.get(n) !== s) diffs.push(have.has(n) ? `'${n}' [${s}] vs checkpoint [${have.get(n)}]` : `'${n}' [${s}] missing from checkpoint`);
      for (const n of have.keys()) if (!want.has(n)) diffs.push(`'${n}' only in checkpoint`);
      if (diffs.length > 0) throw rangeError('readInitWeights', `${file}: the checkpoint's model differs from the requested one: ${summariseList(diffs)}`);
      return { kind: 'reg4pru', config: validateConfig(config), weights: ck.weights };
    }
    return { kind: 'reg4pru', config: ck.config, weights: ck.weights };
  }
  const { weights, report } = importDinov2(file, config, { seed });
  return { kind: 'timm-dinov2', config: validateConfig(config), weights, report };
}
