/**
 * Fast TS paths for the TF.js `cpu` kernels that dominate a ViT block once the matmuls are native
 * (SPEC §2 training graph; measured with bench/tfjs/profileBlock.ts): Add, Sub, Multiply, RealDiv with
 * broadcasting, Sum over a contiguous block of axes, Transpose; and Softmax through the native kernel
 * (src/tfjs/backend/softmax.ts; float32 exp, so Softmax agrees with stock to float32 tolerance only).
 *
 * The stock kernels walk every output element through an index -> coordinates -> offset conversion
 * (util.indexToLoc) whenever shapes differ, which costs ~50x a plain loop. Here the broadcast is
 * collapsed to runs: adjacent axes along which both operands are either full or broadcast merge into
 * one, the last merged axis becomes a tight inner loop with input strides 0 or 1, and only the outer
 * axes need an odometer. Arithmetic is the stock one (float64 JS arithmetic on float32 values, one
 * rounding on store; Sum accumulates in float64 in the same element order), so results are bit-identical
 * to the stock kernels. Anything else (other dtypes, non-contiguous reduction axes) runs the stock kernel.
 */
import type { KernelFunc } from '@tensorflow/tfjs';
import { broadcastShape, f32Values, isCpuBackend, sizeOf, stridesOf } from './cpuData.js';
import { softmaxRows } from '../../ops/softmaxRows.js';
import { native } from '../../native.js';
import { takeF32 } from '../../bufferPool.js';

type KernelArgs = Parameters<KernelFunc>[0];

/** Operation codes shared with the native kernel (ops.h BinaryOp). */
export const enum BinOp { Add = 0, Sub = 1, Mul = 2, Div = 3 }

/** o[oOff + i] = a[aOff + i*sa] (op) b[bOff + i*sb], i < n. */
function binaryRun(op: BinOp, o: Float32Array, oOff: number, a: Float32Array, aOff: number, sa: number, b: Float32Array, bOff: number, sb: number, n: number): void {
  switch (op) {
    case BinOp.Add: for (let i = 0; i < n; i++) o[oOff + i] = a[aOff + i * sa]! + b[bOff + i * sb]!; break;
    case BinOp.Sub: for (let i = 0; i < n; i++) o[oOff + i] = a[aOff + i * sa]! - b[bOff + i * sb]!; break;
    case BinOp.Mul: for (let i = 0; i < n; i++) o[oOff + i] = a[aOff + i * sa]! * b[bOff + i * sb]!; break;
    case BinOp.Div: for (let i = 0; i < n; i++) o[oOff + i] = a[aOff + i * sa]! / b[bOff + i * sb]!; break;
  }
}

interface Run {
  size: number;
  /** Element strides of a and b along this merged axis (0 where broadcast). */
  sa: number;
  sb: number;
}

/** Merged broadcast axes of a and b against out (all padded to out's rank). */
function mergedRuns(aShape: readonly number[], bShape: readonly number[], out: readonly number[]): Run[] {
  const r = out.length;
  const pa = [...new Array<number>(r - aShape.length).fill(1), ...aShape];
  const pb = [...new Array<number>(r - bShape.length).fill(1), ...bShape];
  // Merge left to right: consecutive axes with the same (aFull, bFull) pattern form one axis.
  const dims: Array<{ size: number; af: boolean; bf: boolean }> = [];
  for (let i = 0; i < r; i++) {
    if (out[i] === 1) continue;
    const af = pa[i] !== 1, bf = pb[i] !== 1;
    const last = dims[dims.length - 1];
    if (last && last.af === af && last.bf === bf) last.size *= out[i]!;
    else dims.push({ size: out[i]!, af, bf });
  }
  if (dims.length === 0) dims.push({ size: 1, af: true, bf: true });
  // Strides in each operand: product of the sizes of the later axes it is full along.
  const runs: Run[] = new Array<Run>(dims.length);
  let accA = 1, accB = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    const d = dims[i]!;
    runs[i] = { size: d.size, sa: d.af ? accA : 0, sb: d.bf ? accB : 0 };
    if (d.af) accA *= d.size;
    if (d.bf) accB *= d.size;
  }
  return runs;
}

/** Outputs from this size on go to the native kernel (below it the JS loop beats the call overhead). */
export const NATIVE_BINARY_MIN = 4096;

/**
 * a (op) b with NumPy broadcasting over float32 arrays: the native threaded kernel (ops.h BinaryArgs)
 * for outputs of NATIVE_BINARY_MIN elements or more, the JS loops below otherwise; both give the
 * correctly rounded float32 result of each operation, so they agree bit for bit.
 */
export function binaryBroadcast(op: BinOp, a: Float32Array, aShape: readonly number[], b: Float32Array, bShape: readonly number[], outShape: readonly number[], useNative = true): Float32Array {
  const out = takeF32(sizeOf(outShape));
  if (out.length === 0) return out;
  const runs = mergedRuns(aShape, bShape, outShape);
  if (useNative && out.length >= NATIVE_BINARY_MIN && runs.length <= 8) {
    native().binaryBroadcast(op, a, b, out, runs.map((r) => r.size), runs.map((r) => r.sa), runs.map((r) => r.sb));
    return out;
  }
  const inner = runs[runs.length - 1]!;
  const outer = runs.slice(0, -1);
  const nOuter = out.length / inner.size;
  const idx = new Array<number>(outer.length).fill(0);
  let aOff = 0, bOff = 0;
  for (let r = 0; r < nOuter; r++) {
    binaryRun(op, out, r * inner.size, a, aOff, inner.sa, b, bOff, inner.sb, inner.size);
    for (let i = outer.length - 1; i >= 0; i--) {
      const d = outer[i]!;
      idx[i]++;
      aOff += d.sa;
      bOff += d.sb;
      if (idx[i]! < d.size) break;
      aOff -= d.sa * d.size;
      bOff -= d.sb * d.size;
      idx[i] = 0;
    }
  }
  return out;
}

function makeBinary(op: BinOp) {
  return (stock: KernelFunc): KernelFunc => (args: KernelArgs) => {
    const { inputs, backend } = args;
    const { a, b } = inputs;
    if (!a || !b || !isCpuBackend(backend)) return stock(args);
    const av = f32Values(backend, a), bv = f32Values(backend, b);
    const shape = broadcastShape(a.shape, b.shape);
    if (!av || !bv || !shape) return stock(args);
    return backend.makeTensorInfo(shape, 'float32', binaryBroadcast(op, av, a.shape, bv, b.shape, shape));
  };
}

export const makeAdd = makeBinary(BinOp.Add);
export const makeSub = makeBinary(BinOp.Sub);
export const makeMultiply = makeBinary(BinOp.Mul);
export const makeRealDiv = makeBinary(BinOp.Div);

/** Sorted, non-negative reduction axes, or undefined when the attribute is malformed. */
function parseAxes(axis: unknown, rank: number): number[] | undefined {
  const list = axis === undefined || axis === null ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis];
  const out: number[] = [];
  for (const v of list) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -rank || v >= Math.max(rank, 1)) return undefined;
    const a = v < 0 ? v + rank : v;
    if (!out.includes(a)) out.push(a);
  }
  return out.sort((x, y) => x - y);
}

/** Sum over a contiguous block of axes [first, last]: x viewed as [outer, red, inner]. */
function sumBlock(x: Float32Array, outer: number, red: number, inner: number): Float32Array {
  const out = takeF32(outer * inner);
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let s = 0;
      const base = o * red;
      for (let j = 0; j < red; j++) s += x[base + j]!;
      out[o] = s;
    }
    return out;
  }
  // Column sums in float64, rows in ascending order (the stock kernel's order after its transpose).
  const acc = new Float64Array(inner);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    for (let j = 0; j < red; j++) {
      const base = (o * red + j) * inner;
      for (let i = 0; i < inner; i++) acc[i]! += x[base + i]!;
    }
    for (let i = 0; i < inner; i++) out[o * inner + i] = acc[i]!;
  }
  return out;
}

/** Reduction box of x for attrs.axis: [outer, red, inner] and the output shape, or undefined (stock path). */
function reductionBox(x: { shape: number[] }, attrs: KernelArgs['attrs']): { outer: number; red: number; inner: number; shape: number[] } | undefined {
  const rank = x.shape.length;
  const axes = parseAxes(attrs?.axis, rank);
  if (!axes || axes.length === 0 || rank === 0 || sizeOf(x.shape) === 0) return undefined;
  const first = axes[0]!, last = axes[axes.length - 1]!;
  if (last - first + 1 !== axes.length) return undefined;
  const keep = attrs?.keepDims === true;
  return {
    outer: sizeOf(x.shape.slice(0, first)),
    red: sizeOf(x.shape.slice(first, last + 1)),
    inner: sizeOf(x.shape.slice(last + 1)),
    shape: keep ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : x.shape.filter((_, i) => i < first || i > last),
  };
}

/**
 * Mean over contiguous axes of a float32 tensor, as the stock kernel computes it: every element divided
 * by the reduction size (rounded to float32), then summed as Sum does; so bit-identical to stock.
 */
export function makeMean(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x;
    if (!x || !isCpuBackend(backend)) return stock(args);
    const xv = f32Values(backend, x);
    const box = reductionBox(x, attrs);
    if (!xv || !box) return stock(args);
    const scaled = new Float32Array(xv.length);
    for (let i = 0; i < xv.length; i++) scaled[i] = xv[i]! / box.red;
    return backend.makeTensorInfo(box.shape, 'float32', sumBlock(scaled, box.outer, box.red, box.inner));
  };
}

/** Sum over contiguous axes of a float32 tensor; other cases run the stock kernel. */
export function makeSum(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x;
    if (!x || !isCpuBackend(backend)) return stock(args);
    const xv = f32Values(backend, x);
    const box = reductionBox(x, attrs);
    if (!xv || !box) return stock(args);
    return backend.makeTensorInfo(box.shape, 'float32', sumBlock(xv, box.outer, box.red, box.inner));
  };
}

/** out = x permuted by perm; the last output axis is a tight loop (a contiguous copy when it is x's last). */
export function transposeF32(x: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const r = shape.length;
  const out = takeF32(x.length);
  if (x.length === 0) return out;
  const xs = stridesOf(shape);
  const oShape = perm.map((p) => shape[p]!);
  const st = perm.map((p) => xs[p]!);
  const n = oShape[r - 1]!, s = st[r - 1]!;
  const nOuter = x.length / n;
  const idx = new Array<number>(r - 1).fill(0);
  let off = 0;
  for (let row = 0; row < nOuter; row++) {
    const o = row * n;
    if (s === 1) out.set(x.subarray(off, off + n), o);
    else for (let i = 0; i < n; i++) out[o + i] = x[off + i * s]!;
    for (let i = r - 2; i >= 0; i--) {
      idx[i]++;
      off += st[i]!;
      if (idx[i]! < oShape[i]!) break;
      off -= st[i]! * oShape[i]!;
      idx[i] = 0;
    }
  }
  return out;
}

/** Transpose of a float32 tensor; other dtypes run the stock kernel. */
export function makeTranspose(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x;
    const perm = attrs?.perm;
    if (!x || !isCpuBackend(backend) || !Array.isArray(perm) || perm.length !== x.shape.length || x.shape.length === 0) return stock(args);
    const xv = f32Values(backend, x);
    const p: number[] = [];
    for (const v of perm) if (typeof v === 'number') p.push(v);
    if (!xv || p.length !== x.shape.length || new Set(p).size !== p.length || p.some((v) => v < 0 || v >= p.length)) return stock(args);
    return backend.makeTensorInfo(p.map((i) => x.shape[i]!), 'float32', transposeF32(xv, x.shape, p));
  };
}

/** Last-axis Softmax (the only axis TF.js's cpu backend supports) through the native kernel. */
export function makeSoftmax(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.logits;
    if (!x || !isCpuBackend(backend)) return stock(args);
    const xv = f32Values(backend, x);
    const rank = x.shape.length;
    const dim = typeof attrs?.dim === 'number' ? attrs.dim : -1;
    if (!xv || rank === 0 || (dim !== -1 && dim !== rank - 1) || xv.length === 0) return stock(args);
    const C = x.shape[rank - 1]!;
    return backend.makeTensorInfo([...x.shape], 'float32', softmaxRows({ data: xv, shape: [xv.length / C, C] }).data);
  };
}
