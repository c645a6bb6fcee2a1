/**
 * Model configuration (SPEC §2, §3, §8): the EoMT-style ViT segmenter's sizes, shared by training, the
 * native engine, checkpoints (stored as JSON under `__metadata__["reg4pru.config"]`) and the CLI.
 */
import { rangeError, typeError, describe } from '../errors.js';

export interface ModelConfig {
  /** 'tiny' | 'small' | 'custom' (informational; the numbers below are what counts). */
  preset: string;
  /** Width D. */
  D: number;
  /** Attention heads H (D % H === 0). */
  H: number;
  /** Blocks L. */
  L: number;
  /** Patch size p. */
  patch: number;
  /** Input image size [height, width], multiples of patch. */
  image: [number, number];
  /** Register tokens R (prefix = 1 + R). */
  R: number;
  /** Learned query tokens Q, prepended before block L - Bq. */
  Q: number;
  /** Number of final blocks that see the queries. */
  Bq: number;
  /** Classes C (the class head has C + 1 outputs: C classes and no-object). */
  classes: number;
  /** Zero-indexed blocks where pruning stages start (ascending, each in [1, L - 1]). */
  stageBlocks: number[];
  /** Hidden width of each policy predictor (D/4 by default). */
  selectorWidth: number;
  /** MLP hidden width as a multiple of D (4). */
  mlpRatio: number;
}

export const PRESETS: Readonly<Record<'tiny' | 'small', ModelConfig>> = {
  tiny: { preset: 'tiny', D: 192, H: 3, L: 12, patch: 16, image: [256, 256], R: 4, Q: 16, Bq: 4, classes: 1, stageBlocks: [3, 6, 9], selectorWidth: 48, mlpRatio: 4 },
  small: { preset: 'small', D: 384, H: 6, L: 12, patch: 16, image: [512, 512], R: 4, Q: 16, Bq: 4, classes: 1, stageBlocks: [3, 6, 9], selectorWidth: 96, mlpRatio: 4 },
};

/** A preset with overrides; `selectorWidth` follows D/4 unless given. Validated. */
export function modelConfig(preset: 'tiny' | 'small' | ModelConfig, overrides: Partial<ModelConfig> = {}): ModelConfig {
  const base = typeof preset === 'string' ? PRESETS[preset] : preset;
  if (!base) throw rangeError('modelConfig', `expected preset to be 'tiny' or 'small', received ${describe(preset)}`);
  const D = overrides.D ?? base.D;
  const cfg: ModelConfig = {
    ...base,
    ...overrides,
    selectorWidth: overrides.selectorWidth ?? (overrides.D !== undefined ? Math.max(1, Math.floor(D / 4)) : base.selectorWidth),
    image: [...(overrides.image ?? base.image)] as [number, number],
    stageBlocks: [...(overrides.stageBlocks ?? base.stageBlocks)],
  };
  if (typeof preset === 'string' && Object.keys(overrides).length > 0) cfg.preset = overrides.preset ?? 'custom';
  return validateConfig(cfg);
}

function posInt(name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number') throw typeError('modelConfig', `expected ${name} to be an integer, received ${describe(v)}`);
  if (!Number.isInteger(v) || v < min || v > 1 << 20) throw rangeError('modelConfig', `expected ${name} to be an integer >= ${min}, received ${v}`);
  return v;
}

/** Checks every field and the relations between them; returns the config (a clean copy). */
export function validateConfig(c: unknown): ModelConfig {
  if (typeof c !== 'object' || c === null) throw typeError('modelConfig', `expected a config object, received ${describe(c)}`);
  const o = c as Record<string, unknown>;
  const D = posInt('D', o.D), H = posInt('H', o.H), L = posInt('L', o.L), patch = posInt('patch', o.patch);
  const R = posInt('R', o.R, 0), Q = posInt('Q', o.Q), Bq = posInt('Bq', o.Bq), classes = posInt('classes', o.classes);
  const selectorWidth = posInt('selectorWidth', o.selectorWidth), mlpRatio = posInt('mlpRatio', o.mlpRatio);
  if (D % H !== 0) throw rangeError('modelConfig', `expected D % H === 0, received D=${D}, H=${H}`);
  if (Bq > L) throw rangeError('modelConfig', `expected Bq <= L, received Bq=${Bq}, L=${L}`);
  if (!Array.isArray(o.image) || o.image.length !== 2) throw typeError('modelConfig', `expected image to be [height, width], received ${describe(o.image)}`);
  const image: [number, number] = [posInt('image[0]', o.image[0]), posInt('image[1]', o.image[1])];
  if (image[0] % patch !== 0 || image[1] % patch !== 0)
    throw rangeError('modelConfig', `expected image [${image}] to be multiples of patch=${patch}`);
  if (!Array.isArray(o.stageBlocks)) throw typeError('modelConfig', `expected stageBlocks to be an array, received ${describe(o.stageBlocks)}`);
  const stageBlocks = o.stageBlocks.map((s, i) => posInt(`stageBlocks[${i}]`, s));
  for (let i = 0; i < stageBlocks.length; i++) {
    if (stageBlocks[i]! >= L) throw rangeError('modelConfig', `expected stageBlocks[${i}] < L=${L}, received ${stageBlocks[i]}`);
    if (i > 0 && stageBlocks[i]! <= stageBlocks[i - 1]!) throw rangeError('modelConfig', `expected stageBlocks ascending, received [${stageBlocks}]`);
  }
  return { preset: typeof o.preset === 'string' ? o.preset : 'custom', D, H, L, patch, image, R, Q, Bq, classes, stageBlocks, selectorWidth, mlpRatio };
}

/** Patch grid [rows, cols] and patch token count. */
export function patchGrid(c: ModelConfig): { gh: number; gw: number; Np: number } {
  const gh = c.image[0] / c.patch, gw = c.image[1] / c.patch;
  return { gh, gw, Np: gh * gw };
}

/**
 * Every tensor of a SPEC §8 checkpoint with its shape, in a stable order. Linear weights [out, in];
 * ConvTranspose2d weight [in, out, 2, 2]; depthwise conv [D, 1, 3, 3]; two upscale blocks (x4).
 */
export function weightShapes(c: ModelConfig): Array<[string, number[]]> {
  const { D, R, Q, classes, selectorWidth: W, patch: p } = c;
  const F = D * c.mlpRatio;
  const { Np } = patchGrid(c);
  const out: Array<[string, number[]]> = [
    ['patch_embed.proj.weight', [D, 3, p, p]], ['patch_embed.proj.bias', [D]],
    ['cls_token', [1, 1, D]], ['reg_token', [1, R, D]], ['pos_embed', [1, Np, D]], ['q.weight', [Q, D]],
  ];
  if (R === 0) out.splice(out.findIndex(([n]) => n === 'reg_token'), 1);
  for (let i = 0; i < c.L; i++) {
    const b = `blocks.${i}.`;
    out.push(
      [`${b}norm1.weight`, [D]], [`${b}norm1.bias`, [D]], [`${b}attn.qkv.weight`, [3 * D, D]], [`${b}attn.qkv.bias`, [3 * D]],
      [`${b}attn.proj.weight`, [D, D]], [`${b}attn.proj.bias`, [D]], [`${b}ls1.gamma`, [D]],
      [`${b}norm2.weight`, [D]], [`${b}norm2.bias`, [D]], [`${b}mlp.fc1.weight`, [F, D]], [`${b}mlp.fc1.bias`, [F]],
      [`${b}mlp.fc2.weight`, [D, F]], [`${b}mlp.fc2.bias`, [D]], [`${b}ls2.gamma`, [D]],
    );
  }
  out.push(['norm.weight', [D]], ['norm.bias', [D]], ['class_head.weight', [classes + 1, D]], ['class_head.bias', [classes + 1]]);
  for (const j of [0, 2, 4]) out.push([`mask_head.${j}.weight`, [D, D]], [`mask_head.${j}.bias`, [D]]);
  for (const j of [0, 1]) {
    out.push([`upscale.${j}.conv1.weight`, [D, D, 2, 2]], [`upscale.${j}.conv1.bias`, [D]], [`upscale.${j}.conv2.weight`, [D, 1, 3, 3]],
      [`upscale.${j}.norm.weight`, [D]], [`upscale.${j}.norm.bias`, [D]]);
  }
  c.stageBlocks.forEach((_, s) => {
    out.push([`selectors.${s}.norm.weight`, [D]], [`selectors.${s}.fc1.weight`, [W, D]], [`selectors.${s}.fc1.bias`, [W]],
      [`selectors.${s}.fc2.weight`, [2, W]], [`selectors.${s}.fc2.bias`, [2]], [`selectors.${s}.ls.gamma`, [2]]);
  });
  return out;
}
