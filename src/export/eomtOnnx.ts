/**
 * The unpruned EoMT forward (docs/inference-forward.md steps 1–6, no policy predictors) as an ONNX
 * graph, opset 17, float32, built with ./onnxGraph.ts. Letters as in the contract: B batch (a symbolic
 * graph dim), D width, H heads, Dh = D/H, L blocks, p patch, gh × gw grid, Np = gh·gw, R registers,
 * P = 1 + R, Q queries, C classes, Himg × Wimg image.
 *
 *   images [B,3,Himg,Wimg] -> semantic [B,C,Himg,Wimg], class_logits [B,Q,C+1],
 *   mask_logits [B,Q,4gh,4gw] (before the resize), and with `perBlock` one
 *   semantic_block<i> [B,C,Himg,Wimg] per decode point i = L-Bq-1 … L-1.
 *
 * Graph, per contract step:
 * 2. Conv p×p/p (+bias) -> Reshape [B,D,Np] -> Transpose [B,Np,D] -> Add pos_embed [1,Np,D].
 * 3. Concat along T with [cls | registers] [1,P,D] expanded to B (Shape -> Concat -> Expand).
 * 4. Block: LayerNormalization; q, k, v as three MatMul+Add (the qkv weight split by rows), each
 *    Reshape [B,T,H,Dh] -> Transpose (k straight to [B,H,Dh,T]); q·(1/√Dh); MatMul; Softmax(-1); MatMul;
 *    Transpose + Reshape [B,T,D]; proj; Mul ls1.gamma; Add; LayerNormalization; fc1; exact GELU
 *    (Div/Erf/Add/Mul/Mul); fc2; Mul ls2.gamma; Add. Queries [1,Q,D] are expanded and prepended before
 *    block L-Bq (or after block L-Bq-1 when decoding per block, as the engine does).
 * 5. Decode: LayerNormalization; Slice the Q query rows -> class head, mask MLP (GELU between);
 *    Slice the Np patch rows -> Transpose/Reshape [B,D,gh,gw] -> 2 × (ConvTranspose 2×2/2 + bias, GELU,
 *    depthwise Conv 3×3 group D pad 1, LayerNorm2d as Transpose NHWC -> LayerNormalization -> NCHW);
 *    mask logits = MatMul(e [B,Q,D], up [B,D,16Np]); Resize linear half_pixel by p/4 (an exact float,
 *    so sizes are exactly Himg × Wimg and the source coordinate is (dst + 0.5)·in/out − 0.5, clamped as
 *    in the engine); semantic = MatMul(softmax(class)[..., :C]^T [B,C,Q], sigmoid(resized) [B,Q,HW]).
 *
 * Numerics differ from the engine only by float32 summation order and the op implementations
 * (ONNX Runtime's Erf, Softmax, LayerNormalization), see docs/onnx.md for the measured difference.
 */
import { patchGrid, validateConfig, weightShapes, type ModelConfig } from '../model/config.js';
import { rangeError } from '../errors.js';
import { int, ints, str, float, OnnxGraphBuilder } from './onnxGraph.js';

export interface EomtOnnxOptions {
  /** Also output the semantic map of every decode point (`semantic_block<i>`). Default false. */
  perBlock?: boolean;
  /** producerVersion recorded in the model (the package version). */
  producerVersion?: string;
}

export interface EomtOnnxModel {
  /** The serialised ModelProto (the `.onnx` file's bytes). */
  bytes: Uint8Array;
  config: ModelConfig;
  inputs: Array<{ name: string; shape: Array<number | string> }>;
  outputs: Array<{ name: string; shape: Array<number | string> }>;
  /** Op types used (all from the default ONNX domain, opset 17). */
  opTypes: string[];
  nodes: number;
  initializers: number;
}

const EPS = 1e-6;

/** Checks that `weights` holds every tensor of `weightShapes(config)` at its size. */
function checkWeights(op: string, config: ModelConfig, weights: Record<string, Float32Array>): void {
  const problems: string[] = [];
  for (const [name, shape] of weightShapes(config)) {
    const t = weights[name];
    const count = shape.reduce((a, d) => a * d, 1);
    if (!(t instanceof Float32Array)) problems.push(`missing '${name}' [${shape}]`);
    else if (t.length !== count) problems.push(`'${name}' expected ${count} values ([${shape}]), received ${t.length}`);
  }
  if (problems.length) throw rangeError(op, `weights do not match the config: ${problems.join('; ')}`);
}

/**
 * Builds the ONNX model of the unpruned forward.
 * @param config model config (validated)
 * @param weights SPEC §8 name -> Float32Array (as `loadCheckpoint` / `randomWeights` give)
 * @param opts `{perBlock?: boolean}`
 * @returns the serialised model and a summary (inputs, outputs, op types)
 * @throws {RangeError} missing or wrong-sized weights (all listed)
 * @example
 * const { bytes } = eomtToOnnx(cfg, randomWeights(cfg, 0));
 */
export function eomtToOnnx(config: ModelConfig, weights: Record<string, Float32Array>, opts: EomtOnnxOptions = {}): EomtOnnxModel {
  const op = 'eomtToOnnx';
  const cfg = validateConfig(config);
  checkWeights(op, cfg, weights);
  const w = (name: string): Float32Array => weights[name]!;
  const { D, H, L, Q, Bq, R, classes: C, patch: p } = cfg;
  const Dh = D / H, F = D * cfg.mlpRatio, P = 1 + R;
  const { gh, gw, Np } = patchGrid(cfg);
  const [Hi, Wi] = cfg.image;
  const g = new OnnxGraphBuilder('eomt');

  // 1–2. patch embedding
  const images = g.input('images', ['B', 3, Hi, Wi]);
  let t = g.node('Conv', [images, g.f32('patch_embed.proj.weight', w('patch_embed.proj.weight'), [D, 3, p, p]), g.f32('patch_embed.proj.bias', w('patch_embed.proj.bias'), [D])],
    { kernel_shape: ints([p, p]), strides: ints([p, p]) }, 'patch_embed');
  t = g.transpose(g.reshape(t, [0, D, Np], 'patch_embed.flat'), [0, 2, 1], 'patch_embed.tokens');
  const patches = g.node('Add', [t, g.f32('pos_embed', w('pos_embed'), [1, Np, D])], {}, 'patch_embed.pos');

  // 3. [cls | registers | patches]; constant rows are broadcast to the batch with Expand
  const batch = g.node('Shape', [images], { start: int(0), end: int(1) }, 'batch');
  const expand = (rows: Float32Array, n: number, hint: string): string =>
    g.node('Expand', [g.f32(hint, rows, [1, n, D]), g.node('Concat', [batch, g.i64([n, D])], { axis: int(0) }, `${hint}.shape`)], {}, `${hint}.expand`);
  const prefixRows = new Float32Array(P * D);
  prefixRows.set(w('cls_token'));
  if (R > 0) prefixRows.set(w('reg_token'), D);
  let x = g.node('Concat', [expand(prefixRows, P, 'prefix_tokens'), patches], { axis: int(1) }, 'tokens');

  let hasQ = false;
  const prependQueries = () => {
    x = g.node('Concat', [expand(w('q.weight'), Q, 'queries'), x], { axis: int(1) }, 'tokens_with_queries');
    hasQ = true;
  };

  const block = (i: number) => {
    const b = `blocks.${i}.`;
    const a = g.layerNorm(x, w(`${b}norm1.weight`), w(`${b}norm1.bias`), EPS, `${b}norm1`);
    const qkvW = w(`${b}attn.qkv.weight`), qkvB = w(`${b}attn.qkv.bias`);
    const part = (j: number, name: string) => g.linear(a, qkvW.subarray(j * D * D, (j + 1) * D * D), qkvB.subarray(j * D, (j + 1) * D), D, D, `${b}attn.${name}`);
    const heads = (v: string, perm: number[], name: string) => g.transpose(g.reshape(v, [0, 0, H, Dh], `${b}attn.${name}.heads`), perm, `${b}attn.${name}.t`);
    const q = g.node('Mul', [heads(part(0, 'q'), [0, 2, 1, 3], 'q'), g.scalar('attn_scale', 1 / Math.sqrt(Dh))], {}, `${b}attn.q.scaled`);
    const kT = heads(part(1, 'k'), [0, 2, 3, 1], 'k'); // [B,H,Dh,T]
    const v = heads(part(2, 'v'), [0, 2, 1, 3], 'v');
    const s = g.node('Softmax', [g.node('MatMul', [q, kT], {}, `${b}attn.scores`)], { axis: int(-1) }, `${b}attn.probs`);
    const o = g.reshape(g.transpose(g.node('MatMul', [s, v], {}, `${b}attn.out`), [0, 2, 1, 3], `${b}attn.out.t`), [0, 0, D], `${b}attn.out.merged`);
    const pr = g.linear(o, w(`${b}attn.proj.weight`), w(`${b}attn.proj.bias`), D, D, `${b}attn.proj`);
    const z = g.node('Add', [x, g.node('Mul', [pr, g.f32(`${b}ls1.gamma`, w(`${b}ls1.gamma`), [D])], {}, `${b}ls1`)], {}, `${b}res1`);
    const c = g.layerNorm(z, w(`${b}norm2.weight`), w(`${b}norm2.bias`), EPS, `${b}norm2`);
    const h = g.gelu(g.linear(c, w(`${b}mlp.fc1.weight`), w(`${b}mlp.fc1.bias`), F, D, `${b}mlp.fc1`), `${b}mlp.gelu`);
    const m = g.linear(h, w(`${b}mlp.fc2.weight`), w(`${b}mlp.fc2.bias`), D, F, `${b}mlp.fc2`);
    x = g.node('Add', [z, g.node('Mul', [m, g.f32(`${b}ls2.gamma`, w(`${b}ls2.gamma`), [D])], {}, `${b}ls2`)], {}, `${b}out`);
  };

  // The head's weights are shared by every decode point: created once, on first use.
  let headW: Record<string, string> | undefined;
  const hw = (name: string, dims: number[], data?: Float32Array): string => {
    headW ??= {};
    return (headW[name] ??= g.f32(name, data ?? w(name), dims));
  };
  const linearShared = (v: string, name: string, out: number, hint: string): string => {
    const W = w(`${name}.weight`);
    const wt = new Float32Array(D * out);
    for (let o = 0; o < out; o++) for (let k = 0; k < D; k++) wt[k * out + o] = W[o * D + k]!;
    const mm = g.node('MatMul', [v, hw(`${name}.weight_t`, [D, out], wt)], {}, `${hint}.matmul`);
    return g.node('Add', [mm, hw(`${name}.bias`, [out])], {}, hint);
  };
  const layerNormShared = (v: string, name: string, hint: string): string =>
    g.node('LayerNormalization', [v, hw(`${name}.weight`, [D]), hw(`${name}.bias`, [D])], { axis: int(-1), epsilon: float(EPS) }, hint);

  /** 5. Decode the current x (queries in rows 0..Q-1). */
  const decode = (tag: string) => {
    const y = layerNormShared(x, 'norm', `${tag}.norm`);
    const yq = g.slice(y, 1, 0, Q, `${tag}.queries`);
    const cls = linearShared(yq, 'class_head', C + 1, `${tag}.class_logits`);
    let e = g.gelu(linearShared(yq, 'mask_head.0', D, `${tag}.mask_head.0`), `${tag}.mask_head.1`);
    e = g.gelu(linearShared(e, 'mask_head.2', D, `${tag}.mask_head.2`), `${tag}.mask_head.3`);
    e = linearShared(e, 'mask_head.4', D, `${tag}.mask_embed`);
    let f = g.slice(y, 1, Q + P, Q + P + Np, `${tag}.patches`);
    f = g.reshape(g.transpose(f, [0, 2, 1], `${tag}.patches.t`), [0, D, gh, gw], `${tag}.feature_map`);
    for (const j of [0, 1]) {
      const u = `upscale.${j}.`;
      f = g.node('ConvTranspose', [f, hw(`${u}conv1.weight`, [D, D, 2, 2]), hw(`${u}conv1.bias`, [D])],
        { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, `${tag}.${u}conv1`);
      f = g.gelu(f, `${tag}.${u}gelu`);
      f = g.node('Conv', [f, hw(`${u}conv2.weight`, [D, 1, 3, 3])],
        { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), group: int(D) }, `${tag}.${u}conv2`);
      f = g.transpose(f, [0, 2, 3, 1], `${tag}.${u}nhwc`);
      f = layerNormShared(f, `${u}norm`, `${tag}.${u}norm`);
      f = g.transpose(f, [0, 3, 1, 2], `${tag}.${u}nchw`);
    }
    const HW = 16 * Np;
    const flat = g.reshape(f, [0, D, HW], `${tag}.up_flat`);
    const mask = g.reshape(g.node('MatMul', [e, flat], {}, `${tag}.mask_flat`), [0, Q, 4 * gh, 4 * gw], `${tag}.mask_logits`);
    const scales = hw('resize_scales', [4], Float32Array.of(1, 1, Hi / (4 * gh), Wi / (4 * gw)));
    const big = g.node('Resize', [mask, '', scales], { mode: str('linear'), coordinate_transformation_mode: str('half_pixel') }, `${tag}.mask_resized`);
    const sig = g.reshape(g.node('Sigmoid', [big], {}, `${tag}.mask_probs`), [0, Q, Hi * Wi], `${tag}.mask_probs_flat`);
    const probs = g.slice(g.node('Softmax', [cls], { axis: int(-1) }, `${tag}.class_probs`), 2, 0, C, `${tag}.class_probs_c`);
    const semFlat = g.node('MatMul', [g.transpose(probs, [0, 2, 1], `${tag}.class_probs_t`), sig], {}, `${tag}.semantic_flat`);
    const sem = g.reshape(semFlat, [0, C, Hi, Wi], `${tag}.semantic`);
    return { sem, cls, mask };
  };

  const semShape = ['B', C, Hi, Wi];
  const perBlock = opts.perBlock === true;
  const firstDecode = Math.max(0, L - Bq - 1);
  const outputs: EomtOnnxModel['outputs'] = [];
  const out = (value: string, name: string, shape: Array<number | string>) => {
    g.output(value, name, shape);
    outputs.push({ name, shape });
  };
  let last: ReturnType<typeof decode> | undefined;
  for (let i = 0; i < L; i++) {
    if (i === L - Bq && !hasQ) prependQueries();
    block(i);
    if (perBlock && i >= firstDecode) {
      if (!hasQ) prependQueries();
      last = decode(`decode${i}`);
      if (i < L - 1) out(last.sem, `semantic_block${i}`, semShape);
    }
  }
  if (!last) {
    if (!hasQ) prependQueries();
    last = decode('decode');
  }
  out(last.sem, 'semantic', semShape);
  out(last.cls, 'class_logits', ['B', Q, C + 1]);
  out(last.mask, 'mask_logits', ['B', Q, 4 * gh, 4 * gw]);

  const doc = `reg4pru EoMT unpruned forward (docs/inference-forward.md): ${JSON.stringify(cfg)}`;
  return {
    bytes: g.encode(doc, opts.producerVersion ?? '0'),
    config: cfg,
    inputs: [{ name: 'images', shape: ['B', 3, Hi, Wi] }],
    outputs,
    opTypes: [...g.opTypes],
    nodes: g.nodeCount,
    initializers: g.initializerCount,
  };
}
