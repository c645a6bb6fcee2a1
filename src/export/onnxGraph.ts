/**
 * A small ONNX graph builder over the `onnx-proto` message classes (protobufjs static code of onnx.proto,
 * ONNX 1.10 schema): named values, float32 / int64 initializers stored as little-endian `raw_data`,
 * nodes of the default domain, graph inputs/outputs with static or symbolic dims, and the serialised
 * ModelProto. The layer helpers at the end emit the op patterns a PyTorch export produces (Linear =
 * MatMul + Add with the weight stored transposed; exact GELU = Div √2 → Erf → Add 1 → Mul x → Mul 0.5,
 * the pattern ONNX Runtime fuses into one Gelu kernel; LayerNormalization of opset 17).
 *
 * Value names are made unique by the builder (`hint`, `hint_1`, ...), so callers pass readable hints
 * (`blocks.3.attn.q`) and use the returned names.
 */
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';

const { onnx } = onnxProto;

/** The opset the exporter targets (LayerNormalization needs 17). */
export const OPSET = 17;
/** IR version 8 = ONNX 1.12, the first release with opset 17. */
export const IR_VERSION = 8;

/** A node attribute: tagged so ints and floats stay distinct (`axis: int(-1)`, `epsilon: float(1e-6)`). */
export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'string'; value: string };

export const int = (value: number): Attr => ({ kind: 'int', value });
export const float = (value: number): Attr => ({ kind: 'float', value });
export const ints = (value: number[]): Attr => ({ kind: 'ints', value });
export const str = (value: string): Attr => ({ kind: 'string', value });

/** A graph input/output dimension: a size, or a symbolic name (dynamic, e.g. 'B'). */
export type Dim = number | string;

const AttrType = onnx.AttributeProto.AttributeType;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

function attrProto(name: string, a: Attr): Onnx.IAttributeProto {
  switch (a.kind) {
    case 'int': return { name, type: AttrType.INT, i: a.value };
    case 'float': return { name, type: AttrType.FLOAT, f: a.value };
    case 'ints': return { name, type: AttrType.INTS, ints: a.value };
    case 'string': return { name, type: AttrType.STRING, s: new TextEncoder().encode(a.value) };
  }
}

function valueInfo(name: string, dims: readonly Dim[]): Onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Little-endian bytes of a typed array (a copy, so later changes to the source do not leak in). */
function leBytes(a: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(a.byteLength);
  const dv = new DataView(out.buffer);
  if (a instanceof Float32Array) for (let i = 0; i < a.length; i++) dv.setFloat32(4 * i, a[i]!, true);
  else for (let i = 0; i < a.length; i++) dv.setBigInt64(8 * i, a[i]!, true);
  return out;
}

export class OnnxGraphBuilder {
  readonly #names = new Set<string>();
  readonly #nodes: Onnx.INodeProto[] = [];
  readonly #inits: Onnx.ITensorProto[] = [];
  readonly #inputs: Onnx.IValueInfoProto[] = [];
  readonly #outputs: Onnx.IValueInfoProto[] = [];
  /** Scalar and int64 constants by value, shared (Reshape targets, axes, 0.5, √2). */
  readonly #constCache = new Map<string, string>();
  /** Op types used, in first-use order (for docs and tests). */
  readonly opTypes = new Set<string>();

  constructor(readonly graphName: string) {}

  /** A fresh value name from a hint. */
  fresh(hint: string): string {
    let name = hint, k = 0;
    while (this.#names.has(name)) name = `${hint}_${++k}`;
    this.#names.add(name);
    return name;
  }

  /** Declares a float32 graph input. */
  input(name: string, dims: readonly Dim[]): string {
    if (this.#names.has(name)) throw new Error(`OnnxGraphBuilder: value '${name}' already exists`);
    this.#names.add(name);
    this.#inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Marks `value` as a float32 graph output called `name` (an Identity node renames it when needed). */
  output(value: string, name: string, dims: readonly Dim[]): void {
    if (value !== name) {
      if (this.#names.has(name)) throw new Error(`OnnxGraphBuilder: output name '${name}' already exists`);
      this.#names.add(name);
      this.#nodes.push({ opType: 'Identity', input: [value], output: [name], name: `${name}/Identity` });
      this.opTypes.add('Identity');
    }
    this.#outputs.push(valueInfo(name, dims));
  }

  /** A float32 initializer (weights), stored as raw little-endian bytes. */
  f32(hint: string, data: Float32Array, dims: readonly number[]): string {
    const count = dims.reduce((a, d) => a * d, 1);
    if (count !== data.length) throw new Error(`OnnxGraphBuilder: initializer '${hint}' has ${data.length} values, dims [${dims}] need ${count}`);
    const name = this.fresh(hint);
    this.#inits.push({ name, dataType: FLOAT, dims: [...dims], rawData: leBytes(data) });
    return name;
  }

  /** A float32 scalar constant (rank 0), shared between uses of the same value. */
  scalar(hint: string, v: number): string {
    const key = `f:${Math.fround(v)}`;
    const hit = this.#constCache.get(key);
    if (hit !== undefined) return hit;
    const name = this.f32(hint, Float32Array.of(v), []);
    this.#constCache.set(key, name);
    return name;
  }

  /** An int64 1-D constant (or a scalar with `scalar: true`), shared between uses of the same value. */
  i64(values: readonly number[], scalar = false): string {
    const key = `${scalar ? 's' : 'v'}:${values.join(',')}`;
    const hit = this.#constCache.get(key);
    if (hit !== undefined) return hit;
    const name = this.fresh(`const_i64_${scalar ? 's' : ''}${values.join('_').replace(/-/g, 'm')}`);
    this.#inits.push({ name, dataType: INT64, dims: scalar ? [] : [values.length], rawData: leBytes(BigInt64Array.from(values.map(BigInt))) });
    this.#constCache.set(key, name);
    return name;
  }

  /** Adds one node with a single output; '' in `inputs` marks an omitted optional input. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, hint = opType): string {
    const out = this.fresh(hint);
    this.#nodes.push({
      opType,
      input: [...inputs],
      output: [out],
      name: `${out}/${opType}`,
      attribute: Object.entries(attrs).map(([k, a]) => attrProto(k, a)),
    });
    this.opTypes.add(opType);
    return out;
  }

  get nodeCount(): number {
    return this.#nodes.length;
  }

  get initializerCount(): number {
    return this.#inits.length;
  }

  /** The ModelProto as a plain message object (for inspection). */
  model(docString: string, producerVersion: string): Onnx.IModelProto {
    return {
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'reg4pru',
      producerVersion,
      docString,
      graph: { name: this.graphName, node: this.#nodes, initializer: this.#inits, input: this.#inputs, output: this.#outputs },
    };
  }

  /** Serialises the ModelProto (protobuf binary, the `.onnx` file format). */
  encode(docString: string, producerVersion: string): Uint8Array {
    return onnx.ModelProto.encode(this.model(docString, producerVersion)).finish();
  }

  // ---- layer helpers (PyTorch-export op patterns)

  /** y = x W^T + b for a Linear weight W [out,in] (stored transposed, [in,out]) and bias [out]. */
  linear(x: string, W: Float32Array, b: Float32Array, out: number, inDim: number, hint: string): string {
    const wt = new Float32Array(inDim * out);
    for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) wt[i * out + o] = W[o * inDim + i]!;
    const mm = this.node('MatMul', [x, this.f32(`${hint}.weight_t`, wt, [inDim, out])], {}, `${hint}.matmul`);
    return this.node('Add', [mm, this.f32(`${hint}.bias`, b, [out])], {}, hint);
  }

  /** Exact GELU, 0.5·x·(1 + erf(x/√2)), as Div → Erf → Add → Mul → Mul (fused by ONNX Runtime). */
  gelu(x: string, hint: string): string {
    const d = this.node('Div', [x, this.scalar('sqrt2', Math.SQRT2)], {}, `${hint}.div`);
    const e = this.node('Erf', [d], {}, `${hint}.erf`);
    const a = this.node('Add', [e, this.scalar('one', 1)], {}, `${hint}.add`);
    const m = this.node('Mul', [x, a], {}, `${hint}.mul`);
    return this.node('Mul', [m, this.scalar('half', 0.5)], {}, hint);
  }

  /** LayerNormalization over the last axis (opset 17), affine weight/bias [D]. */
  layerNorm(x: string, w: Float32Array, b: Float32Array, eps: number, hint: string): string {
    const D = w.length;
    return this.node('LayerNormalization', [x, this.f32(`${hint}.weight`, w, [D]), this.f32(`${hint}.bias`, b, [D])], { axis: int(-1), epsilon: float(eps) }, hint);
  }

  /** Reshape to `shape` (0 = keep that input dim, -1 = infer). */
  reshape(x: string, shape: readonly number[], hint: string): string {
    return this.node('Reshape', [x, this.i64(shape)], {}, hint);
  }

  transpose(x: string, perm: readonly number[], hint: string): string {
    return this.node('Transpose', [x], { perm: ints([...perm]) }, hint);
  }

  /** x[start:end] along `axis`. */
  slice(x: string, axis: number, start: number, end: number, hint: string): string {
    return this.node('Slice', [x, this.i64([start]), this.i64([end]), this.i64([axis])], {}, hint);
  }
}
