/**
 * Float64 plain-TS oracle of one EoMT mask-head scale block (SPEC §2; ops.h UpscaleBlockArgs), transcribed from
 * the PyTorch layers it stands for, not from the C++ (NHWC, weights in PyTorch layout):
 *   ConvTranspose2d(C, O, 2, stride 2): z[b, 2p+i, 2q+j, o] = Σ_c x[b,p,q,c] W1[c,o,i,j] + b1[o]
 *   GELU (exact erf);  Conv2d(O, O, 3, padding 1, groups O, bias False): d[b,y,x,o] = Σ_{r,s} g[b,y+r-1,x+s-1,o] W2[o,0,r,s]
 *   LayerNorm2d: per pixel over o, biased variance, (d - mean) / sqrt(var + eps) · nw[o] + nb[o]
 * Used as the scalar function of float64 central differences (its gradients are not written out here).
 */
import { normalCdf } from './pointwise.js';

export interface UpscaleRefWeights {
  w1: ArrayLike<number>; // [C,O,2,2]
  b1: ArrayLike<number>; // [O]
  w2: ArrayLike<number>; // [O,1,3,3]
  nw: ArrayLike<number>; // [O]
  nb: ArrayLike<number>; // [O]
}

/** y [B,2h,2w,O] of x [B,h,w,C] in float64. */
export function upscaleBlockRef(x: ArrayLike<number>, wt: UpscaleRefWeights, B: number, h: number, w: number, C: number, O: number, eps: number): Float64Array {
  const H = 2 * h, W = 2 * w;
  const g = new Float64Array(B * H * W * O);
  for (let b = 0; b < B; b++)
    for (let p = 0; p < h; p++)
      for (let q = 0; q < w; q++)
        for (let i = 0; i < 2; i++)
          for (let j = 0; j < 2; j++)
            for (let o = 0; o < O; o++) {
              let z = wt.b1[o]!;
              for (let c = 0; c < C; c++) z += x[((b * h + p) * w + q) * C + c]! * wt.w1[((c * O + o) * 2 + i) * 2 + j]!;
              g[((b * H + 2 * p + i) * W + 2 * q + j) * O + o] = z * normalCdf(z);
            }
  const y = new Float64Array(B * H * W * O), d = new Float64Array(O);
  for (let b = 0; b < B; b++)
    for (let py = 0; py < H; py++)
      for (let px = 0; px < W; px++) {
        for (let o = 0; o < O; o++) {
          let acc = 0;
          for (let r = 0; r < 3; r++)
            for (let s = 0; s < 3; s++) {
              const yy = py + r - 1, xx = px + s - 1;
              if (yy >= 0 && yy < H && xx >= 0 && xx < W) acc += g[((b * H + yy) * W + xx) * O + o]! * wt.w2[o * 9 + r * 3 + s]!;
            }
          d[o] = acc;
        }
        let mean = 0;
        for (let o = 0; o < O; o++) mean += d[o]!;
        mean /= O;
        let v = 0;
        for (let o = 0; o < O; o++) v += (d[o]! - mean) ** 2;
        const rstd = 1 / Math.sqrt(v / O + eps);
        for (let o = 0; o < O; o++) y[((b * H + py) * W + px) * O + o] = (d[o]! - mean) * rstd * wt.nw[o]! + wt.nb[o]!;
      }
  return y;
}
