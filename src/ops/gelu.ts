/**
 * gelu / geluBackward: the exact (erf) GELU of the TF.js training graph (SPEC §2 numerics, as timm/DINOv2)
 * as one native elementwise op (ops.h GeluArgs / GeluBwdArgs), on a tensor of any shape:
 *   y = 0.5 x (1 + erf(x / sqrt 2)) = x Phi(x)
 *   dx = dy (Phi(x) + x phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
 * The ref variant uses the double-precision libm erf / exp. The avx2 variant uses the Abramowitz & Stegun
 * 7.1.26 erf (|error| <= 1.5e-7 absolute, the formula TF.js's own cpu Erf kernel uses) and a polynomial
 * exp, so |y - exact| <= ~1e-7 |x|. Elementwise: no dependence on the thread count.
 */
import { native } from '../native.js';
import { expectTensor, outputF32, snapshot, snapshotAll, type F32Tensor } from '../validate.js';

// One letter per axis (d0, d1, ...) so that any rank passes expectTensor's rank check; a tensor whose
// shape is not an array gets [] and expectTensor reports it.
function axisLetters(t: unknown): string[] {
  const shape: unknown = typeof t === 'object' && t !== null && 'shape' in t ? t.shape : undefined;
  return Array.isArray(shape) ? shape.map((_: unknown, i: number) => `d${i}`) : [];
}

/**
 * Exact GELU, elementwise.
 * @param x float32, any shape
 * @param out optional Float32Array of x's element count to write into (may be x.data itself: in place)
 * @returns float32 of x's shape
 * @throws TypeError when x is not a float32 tensor or out is not a Float32Array; RangeError for a
 *   length mismatch or an out that partly overlaps x
 * @example
 *   const y = gelu({ data: new Float32Array([-1, 0, 1]), shape: [3] }); // [-0.1587, 0, 0.8413]
 */
export function gelu(x: F32Tensor, out?: Float32Array): F32Tensor {
  const op = 'gelu';
  x = snapshot(x); // read x.data / x.shape once: validation and the kernel see the same arrays
  const shape = expectTensor(op, 'x', x, 'float32', axisLetters(x));
  const y = outputF32(op, 'out', out, x.data.length);
  native().gelu(x.data, y, x.data.length);
  return { data: y, shape };
}

/**
 * Gradient of gelu w.r.t. x (overwritten, not accumulated).
 * @param dy float32, any shape: upstream gradient of y
 * @param x float32 of dy's shape: the forward's input
 * @param out optional Float32Array of the element count to write dx into (may be dy.data or x.data itself)
 * @returns float32 dx of x's shape
 * @throws TypeError for a wrong dtype or a non-Float32Array out; RangeError for a shape / length mismatch or
 *   an out that partly overlaps an input
 * @example
 *   const dx = geluBackward({ data: dy, shape: [2, 277, 768] }, { data: x, shape: [2, 277, 768] });
 */
export function geluBackward(dy: F32Tensor, x: F32Tensor, out?: Float32Array): F32Tensor {
  const op = 'geluBackward';
  [dy, x] = snapshotAll(dy, x);
  const letters = axisLetters(dy);
  const shape = expectTensor(op, 'dy', dy, 'float32', letters);
  expectTensor(op, 'x', x, 'float32', letters, Object.fromEntries(letters.map((l, i) => [l, shape[i]])));
  const dx = outputF32(op, 'out', out, dy.data.length);
  native().geluBackward(dy.data, x.data, dx, dy.data.length);
  return { data: dx, shape };
}
