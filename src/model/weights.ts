/**
 * Deterministic random weights for a ModelConfig (SPEC §8 names and shapes from `weightShapes`), for
 * tests, benchmarks and training from scratch.
 *
 * Every tensor draws from its own stream, seeded by (seed, FNV-1a hash of its name), so a tensor's values
 * do not depend on which other tensors exist (e.g. the number of blocks or stages).
 *
 * Two schemes:
 * - `'timm'` (default; timm/DINOv2 ViT init): trunc-normal std 0.02 (cut at +-2 std) for every Linear,
 *   conv and ConvTranspose weight, the patch embedding, position embedding, cls/register/query tokens
 *   and the class/mask heads; zeros for all biases; ones/zeros for Layer/RMS-norm weight/bias;
 *   LayerScale gamma 0.1 (timm uses 1e-5 for fine-tuning stability; 0.1 keeps the blocks' contribution
 *   visible in tests while pre-norm + residual keep activations O(1) through 12 blocks); the policy
 *   predictors' `ls.gamma` 1.
 * - `'test'`: every tensor non-trivial, so a forward-pass comparison exercises every parameter:
 *   weights trunc-normal with std 1/sqrt(fan_in) (unit-scale pre-activations, attention neither flat
 *   nor one-hot, policy scores well spread), biases and norm biases std 0.1, norm weights 1 + 0.1 n,
 *   tokens std 0.5, LayerScale gamma uniform in [0.1, 0.5], predictor `ls.gamma` 1 + 0.1 n.
 */
import type { ModelConfig } from './config.js';
import { validateConfig, weightShapes } from './config.js';
import { fillTruncNormal, mulberry32, normalSampler } from './rng.js';
import { describe, rangeError, typeError } from '../errors.js';

export type InitScheme = 'timm' | 'test';

export interface RandomWeightsOptions {
  /** 'timm' (default) or 'test' (see the file header). */
  init?: InitScheme;
}

/** FNV-1a over the UTF-16 code units of `s`, mixed with `seed`. */
function streamSeed(seed: number, s: string): number {
  let h = (0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

type Kind = 'weight' | 'bias' | 'normW' | 'normB' | 'token' | 'ls' | 'selLs';

/** Which init family a SPEC §8 tensor name belongs to, and its fan-in for the 'test' scheme. */
function kindOf(name: string, shape: number[]): { kind: Kind; fanIn: number } {
  const last = name.slice(name.lastIndexOf('.') + 1);
  if (name === 'cls_token' || name === 'reg_token' || name === 'pos_embed' || name === 'q.weight') return { kind: 'token', fanIn: 1 };
  if (/(^|\.)(norm\d?)\.weight$/.test(name)) return { kind: 'normW', fanIn: 1 };
  if (/(^|\.)(norm\d?)\.bias$/.test(name)) return { kind: 'normB', fanIn: 1 };
  if (name.startsWith('selectors.') && name.endsWith('.ls.gamma')) return { kind: 'selLs', fanIn: 1 };
  if (last === 'gamma') return { kind: 'ls', fanIn: 1 };
  if (last === 'bias') return { kind: 'bias', fanIn: 1 };
  // Linear [out, in]: fan-in = in. Conv [out, in, kh, kw]: in*kh*kw (depthwise: 1*3*3).
  // ConvTranspose2d [in, out, 2, 2], stride 2: each output pixel sees one tap of every input channel.
  if (/\.conv1\.weight$/.test(name)) return { kind: 'weight', fanIn: shape[0]! };
  let fanIn = 1;
  for (let i = 1; i < shape.length; i++) fanIn *= shape[i]!;
  return { kind: 'weight', fanIn };
}

/**
 * Deterministic random weights for every SPEC §8 tensor of `config`.
 * @param config model config (validated)
 * @param seed integer seed (low 32 bits used)
 * @param opts `{init: 'timm' | 'test'}`
 * @returns name -> Float32Array (row-major, shapes as `weightShapes(config)`)
 * @throws {TypeError|RangeError} bad config, seed or init
 * @example
 * const w = randomWeights(modelConfig('tiny'), 0);
 * w['blocks.0.attn.qkv.weight'].length; // 3*192*192
 */
export function randomWeights(config: ModelConfig, seed: number, opts: RandomWeightsOptions = {}): Record<string, Float32Array> {
  const cfg = validateConfig(config);
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw typeError('randomWeights', `expected seed to be an integer, received ${describe(seed)}`);
  const init = opts.init ?? 'timm';
  if (init !== 'timm' && init !== 'test') throw rangeError('randomWeights', `expected init to be 'timm' or 'test', received ${describe(init)}`);
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of weightShapes(cfg)) {
    let count = 1;
    for (const d of shape) count *= d;
    const a = new Float32Array(count);
    const u = mulberry32(streamSeed(seed, name));
    const n = normalSampler(u);
    const { kind, fanIn } = kindOf(name, shape);
    if (init === 'timm') {
      switch (kind) {
        case 'weight': case 'token': fillTruncNormal(a, n, 0.02); break;
        case 'bias': case 'normB': break;
        case 'normW': case 'selLs': a.fill(1); break;
        case 'ls': a.fill(0.1); break;
      }
    } else {
      switch (kind) {
        case 'weight': fillTruncNormal(a, n, 1 / Math.sqrt(fanIn)); break;
        case 'token': fillTruncNormal(a, n, 0.5); break;
        case 'bias': case 'normB': fillTruncNormal(a, n, 0.1); break;
        case 'normW': case 'selLs': fillTruncNormal(a, n, 0.1, 1); break;
        case 'ls': for (let i = 0; i < count; i++) a[i] = 0.1 + 0.4 * u(); break;
      }
    }
    out[name] = a;
  }
  return out;
}
