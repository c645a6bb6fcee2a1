/**
 * The TF.js `cpu` depthwise-convolution kernels on native code: DepthwiseConv2dNative and its two
 * gradients, DepthwiseConv2dNativeBackpropInput and DepthwiseConv2dNativeBackpropFilter. They run the
 * depthwise 3×3 conv of each EoMT upscale block (SPEC §2; src/model/tfjs/upscale.ts calls
 * `tf.depthwiseConv2d(y, w, 1, 'same')` on NHWC data). The stock filter gradient reads every element
 * through TensorBuffer.get (index arithmetic per MAC, channel-strided access) and took ~60% of a training
 * step; the native kernels (ops.h DepthwiseArgs: ref loops + AVX2 over the contiguous channel axis,
 * threaded over output rows) keep the channel axis innermost.
 *
 * Layouts: x, y, dy NHWC [B,H,W,C]; filter [fh,fw,C,1] (channel multiplier 1).
 *   forward        y[b,i,j,c]  = Σ_{r,s} x[b, i+r-top, j+s-left, c] · w[r,s,c]
 *   backprop input dx[b,p,q,c] = Σ_{r,s} dy[b, p-r+top, q-s+left, c] · w[r,s,c]
 *                              = the forward correlation of dy with the flipped filter, pads fh-1-top, fw-1-left
 *   backprop filt  dw[r,s,c]   = Σ_b Σ_i Σ_j x[b, i+r-top, j+s-left, c] · dy[b,i,j,c]
 * Out-of-range x / dy positions are zeros (padding). Padding follows TF.js's conv_util: 'same' with stride 1
 * puts floor((f-1)/2) before and the rest after; a number p pads p on every side; explicit pads are taken
 * from the H and W entries.
 *
 * Numerics: float32 sums (FMA, taps in (r, s) order; the filter gradient in fixed row chunks added in
 * order, independent of the thread count), where the stock kernels sum in float64: results agree with
 * stock to float32 rounding. Anything else (non-float32, NCHW, stride or dilation ≠ 1, channel
 * multiplier ≠ 1, empty tensors, malformed attrs) runs the stock kernel.
 */
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';
import { f32Values, isCpuBackend } from './cpuData.js';
import { native } from '../../native.js';
import { takeF32 } from '../../bufferPool.js';

type KernelArgs = Parameters<KernelFunc>[0];

/** True when a strides/dilations attribute means 1 along both spatial axes (absent counts as 1). */
function isOne(v: unknown): boolean {
  if (v === undefined || v === null) return true;
  if (typeof v === 'number') return v === 1;
  return Array.isArray(v) && v.length === 2 && v[0] === 1 && v[1] === 1;
}

function isNat(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/** Pads [top, bottom, left, right] for stride 1, dilation 1 and filter fh×fw, or undefined when unsupported. */
function padsOf(pad: unknown, fh: number, fw: number): [number, number, number, number] | undefined {
  if (pad === 'valid') return [0, 0, 0, 0];
  if (pad === 'same') {
    const t = Math.floor((fh - 1) / 2), l = Math.floor((fw - 1) / 2);
    return [t, fh - 1 - t, l, fw - 1 - l];
  }
  if (isNat(pad)) return [pad, pad, pad, pad];
  if (Array.isArray(pad) && pad.length === 4) {
    const h: unknown = pad[1], w: unknown = pad[2];
    if (Array.isArray(h) && Array.isArray(w) && h.length === 2 && w.length === 2 && isNat(h[0]) && isNat(h[1]) && isNat(w[0]) && isNat(w[1])) {
      return [h[0], h[1], w[0], w[1]];
    }
  }
  return undefined;
}

/** Common checks of the three kernels' attributes; the pads when this file handles them. */
function supportedPads(attrs: KernelArgs['attrs'], fh: number, fw: number): [number, number, number, number] | undefined {
  if (!attrs) return undefined;
  if (!isOne(attrs.strides) || !isOne(attrs.dilations)) return undefined;
  const df = attrs.dataFormat;
  if (df !== undefined && df !== null && df !== 'NHWC') return undefined;
  return padsOf(attrs.pad, fh, fw);
}

function isShape4(s: unknown): s is [number, number, number, number] {
  return Array.isArray(s) && s.length === 4 && s.every((d) => isNat(d) && d > 0);
}

/** Output spatial size for stride 1 / dilation 1, or undefined when empty. */
function outSize(n: number, f: number, before: number, after: number): number | undefined {
  const o = n + before + after - f + 1;
  return o > 0 ? o : undefined;
}

/** Sizes of one stride-1, dilation-1, multiplier-1 depthwise conv, or undefined for cases left to stock. */
interface DepthwisePlan {
  B: number; H: number; W: number; C: number;
  fh: number; fw: number;
  /** [top, bottom, left, right] */
  pads: [number, number, number, number];
  oh: number; ow: number;
}

/** Plans x [B,H,W,C] * filter [fh,fw,C,1] under the kernel's attrs; undefined when not handled here. */
function planDepthwise(xShape: readonly number[], fShape: readonly number[], attrs: KernelArgs['attrs']): DepthwisePlan | undefined {
  const [B, H, W, C] = xShape as [number, number, number, number];
  const [fh, fw, fc, mul] = fShape as [number, number, number, number];
  if (fc !== C || mul !== 1) return undefined;
  const pads = supportedPads(attrs, fh, fw);
  if (!pads) return undefined;
  const oh = outSize(H, fh, pads[0], pads[1]), ow = outSize(W, fw, pads[2], pads[3]);
  if (oh === undefined || ow === undefined) return undefined;
  return { B, H, W, C, fh, fw, pads, oh, ow };
}

/** DepthwiseConv2dNative (x NHWC, filter [fh,fw,C,1]); other cases run the stock kernel. */
export function makeDepthwiseConv2d(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const { x, filter } = inputs;
    if (!x || !filter || !isCpuBackend(backend) || !isShape4(x.shape) || !isShape4(filter.shape)) return stock(args);
    const p = planDepthwise(x.shape, filter.shape, attrs);
    const xv = f32Values(backend, x), wv = f32Values(backend, filter);
    if (!p || !xv || !wv) return stock(args);
    const out = takeF32(p.B * p.oh * p.ow * p.C);
    native().depthwiseConv(xv, wv, out, p.B, p.H, p.W, p.C, p.fh, p.fw, p.pads[0], p.pads[2], p.oh, p.ow, false);
    return backend.makeTensorInfo([p.B, p.oh, p.ow, p.C], 'float32', out);
  };
}

/** DepthwiseConv2dNativeBackpropInput (dy NHWC, filter [fh,fw,C,1], attr inputShape); else stock. */
export function makeDepthwiseBackpropInput(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs;
    const inShape: unknown = attrs?.inputShape;
    if (!dy || !filter || !isCpuBackend(backend) || !isShape4(dy.shape) || !isShape4(filter.shape) || !isShape4(inShape)) return stock(args);
    const p = planDepthwise(inShape, filter.shape, attrs);
    const dv = f32Values(backend, dy), wv = f32Values(backend, filter);
    if (!p || !dv || !wv || !sameShape(dy, [p.B, p.oh, p.ow, p.C])) return stock(args);
    // The input gradient is a correlation of dy with the flipped filter and the complementary padding.
    const out = takeF32(p.B * p.H * p.W * p.C);
    native().depthwiseConv(dv, wv, out, p.B, p.oh, p.ow, p.C, p.fh, p.fw, p.fh - 1 - p.pads[0], p.fw - 1 - p.pads[2], p.H, p.W, true);
    return backend.makeTensorInfo([p.B, p.H, p.W, p.C], 'float32', out);
  };
}

/** DepthwiseConv2dNativeBackpropFilter (x, dy NHWC, attr filterShape [fh,fw,C,1]); else stock. */
export function makeDepthwiseBackpropFilter(stock: KernelFunc): KernelFunc {
  return (args: KernelArgs) => {
    const { inputs, backend, attrs } = args;
    const { x, dy } = inputs;
    const fShape: unknown = attrs?.filterShape;
    if (!x || !dy || !isCpuBackend(backend) || !isShape4(x.shape) || !isShape4(dy.shape) || !isShape4(fShape)) return stock(args);
    const p = planDepthwise(x.shape, fShape, attrs);
    const xv = f32Values(backend, x), dv = f32Values(backend, dy);
    if (!p || !xv || !dv || !sameShape(dy, [p.B, p.oh, p.ow, p.C])) return stock(args);
    const out = takeF32(p.fh * p.fw * p.C);
    native().depthwiseFilterGrad(xv, dv, out, p.B, p.H, p.W, p.C, p.fh, p.fw, p.pads[0], p.pads[2], p.oh, p.ow);
    return backend.makeTensorInfo([p.fh, p.fw, p.C, 1], 'float32', out);
  };
}

function sameShape(t: TensorInfo, s: ReadonlyArray<number | undefined>): boolean {
  return t.shape.length === s.length && t.shape.every((d, i) => d === s[i]);
}
