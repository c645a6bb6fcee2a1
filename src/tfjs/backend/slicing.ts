/**
 * Fast TS paths for the TF.js `cpu` kernels that move boxes of a tensor: Slice, SplitV (slices along one
 * axis) and PadV2 (Slice's gradient). In the training graph (SPEC §4) they cut the patch rows out of the
 * token map at every decode point and predictor, and split queries / prefix / patches; the stock kernels
 * take the general path (one index → coordinates → offset conversion per element) whenever the box is not
 * one contiguous range, about 60 ms for a [2,277,192] → [2,256,192] slice.
 *
 * Here a box is copied as runs: the trailing axes along which the box covers the whole input merge with
 * the last partial axis into one contiguous run (`subarray` + `set`), and only the leading axes need an
 * odometer. Values are copied, never computed, so results are bit-identical to the stock kernels.
 * Non-float32 tensors and malformed attributes run the stock kernel.
 */
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { f32Values, isCpuBackend, sizeOf, stridesOf } from './cpuData.js';
import { takeF32 } from '../../bufferPool.js';

type KernelArgs = Parameters<KernelFunc>[0];

/** Walks the box `begin`/`size` of a tensor of shape `shape`, calling run(srcOffset, dstOffset, n) per contiguous run. */
function forEachRun(shape: readonly number[], begin: readonly number[], size: readonly number[], run: (src: number, dst: number, n: number) => void): void {
  const r = shape.length;
  const total = sizeOf(size);
  if (total === 0) return;
  if (r === 0) {
    run(0, 0, 1);
    return;
  }
  const st = stridesOf(shape);
  // The run: the last axis plus every earlier axis while all later axes are taken whole.
  let k = r - 1;
  let n = size[k]!;
  while (k > 0 && size[k] === shape[k]) {
    k--;
    n *= size[k]!;
  }
  // Axes 0..k-1 form the odometer; axis k (partial or whole) starts the run.
  let src = 0;
  for (let i = 0; i < r; i++) src += begin[i]! * st[i]!;
  const idx = new Array<number>(k).fill(0);
  const runs = total / n;
  for (let j = 0; j < runs; j++) {
    run(src, j * n, n);
    for (let i = k - 1; i >= 0; i--) {
      idx[i]++;
      src += st[i]!;
      if (idx[i]! < size[i]!) break;
      src -= st[i]! * size[i]!;
      idx[i] = 0;
    }
  }
}

/** The box begin/size of x (shape) as a new Float32Array. */
export function sliceF32(x: Float32Array, shape: readonly number[], begin: readonly number[], size: readonly number[]): Float32Array {
  const out = takeF32(sizeOf(size));
  forEachRun(shape, begin, size, (s, d, n) => out.set(x.subarray(s, s + n), d));
  return out;
}

/** Resolved begin/size (size -1 = to the end), or undefined when out of range or malformed. */
function resolveBox(shape: readonly number[], begin: unknown, size: unknown): { b: number[]; s: number[] } | undefined {
  const r = shape.length;
  if (!Array.isArray(begin) || !Array.isArray(size) || begin.length !== r || size.length !== r) return undefined;
  const b: number[] = [], s: number[] = [];
  for (let i = 0; i < r; i++) {
    const bi = begin[i], si = size[i];
    if (typeof bi !== 'number' || typeof si !== 'number' || !Number.isInteger(bi) || !Number.isInteger(si)) return undefined;
    const sz = si === -1 ? shape[i]! - bi : si;
    if (bi < 0 || sz < 0 || bi + sz > shape[i]!) return undefined;
    b.push(bi);
    s.push(sz);
  }
  return { b, s };
}

/** Slice of a float32 tensor (attrs begin, size; size -1 = rest of the axis). */
export function makeSlice(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x;
    if (!x || !isCpuBackend(backend)) return stock(args);
    const xv = f32Values(backend, x);
    const box = resolveBox(x.shape, attrs?.begin, attrs?.size);
    if (!xv || !box) return stock(args);
    return backend.makeTensorInfo(box.s, 'float32', sliceF32(xv, x.shape, box.b, box.s));
  };
}

/** SplitV of a float32 tensor along one axis (numOrSizeSplits: a count, or sizes with at most one -1). */
export function makeSplitV(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x;
    if (!x || !isCpuBackend(backend)) return stock(args);
    const xv = f32Values(backend, x);
    const r = x.shape.length;
    const ax = attrs?.axis;
    const axis0 = Array.isArray(ax) ? ax[0] : ax;
    if (!xv || typeof axis0 !== 'number' || !Number.isInteger(axis0) || axis0 < -r || axis0 >= r) return stock(args);
    const axis = axis0 < 0 ? axis0 + r : axis0;
    const dim = x.shape[axis]!;
    const spec = attrs?.numOrSizeSplits;
    let sizes: number[];
    if (typeof spec === 'number') {
      if (!Number.isInteger(spec) || spec <= 0 || dim % spec !== 0) return stock(args);
      sizes = new Array<number>(spec).fill(dim / spec);
    } else if (Array.isArray(spec) && spec.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= -1)) {
      sizes = spec as number[];
      const free = sizes.filter((v) => v === -1).length;
      const known = sizes.reduce((a, v) => (v === -1 ? a : a + v), 0);
      if (free > 1 || (free === 0 && known !== dim) || known > dim) return stock(args);
      sizes = sizes.map((v) => (v === -1 ? dim - known : v));
    } else {
      return stock(args);
    }
    const begin = new Array<number>(r).fill(0);
    const outs: TensorInfo[] = [];
    for (const s of sizes) {
      const size = [...x.shape];
      size[axis] = s;
      outs.push(backend.makeTensorInfo(size, 'float32', sliceF32(xv, x.shape, begin, size)));
      begin[axis] += s;
    }
    return outs;
  };
}

/** PadV2 of a float32 tensor: a constant-filled output with x copied into its box. */
export function makePadV2(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const x = inputs.x;
    if (!x || !isCpuBackend(backend)) return stock(args);
    const xv = f32Values(backend, x);
    const pads = attrs?.paddings;
    const value = attrs?.constantValue;
    const r = x.shape.length;
    if (!xv || r === 0 || typeof value !== 'number' || !Array.isArray(pads) || pads.length !== r) return stock(args);
    const begin: number[] = [], outShape: number[] = [];
    for (let i = 0; i < r; i++) {
      const p: unknown = pads[i];
      if (!Array.isArray(p) || p.length !== 2) return stock(args);
      const [lo, hi] = p as unknown[];
      if (typeof lo !== 'number' || typeof hi !== 'number' || !Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi < 0) return stock(args);
      begin.push(lo);
      outShape.push(lo + x.shape[i]! + hi);
    }
    const out = takeF32(sizeOf(outShape)).fill(value);
    // The input box inside the output: the same runs as a slice of the output, with src/dst swapped.
    forEachRun(outShape, begin, x.shape, (o, i, n) => out.set(xv.subarray(i, i + n), o));
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}
