/**
 * Float64 oracle of the superpatch policy CNN (src/model/superpatch.ts), written from its formulas with plain loops:
 * patch means, conv 3x3 pad 1 + ReLU, conv 2x2 stride 2 + ReLU, conv 1x1 -> one merge logit per 2x2 window.
 */
export type PolicyWeights = Record<string, ArrayLike<number>>;

/** Mean of every p x p patch of a CHW image [3,H,W] -> [3, H/p, W/p], in float64. */
export function patchMeansRef(img: ArrayLike<number>, H: number, W: number, p: number): Float64Array {
  const gh = H / p, gw = W / p, out = new Float64Array(3 * gh * gw);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < gh; y++)
      for (let x = 0; x < gw; x++) {
        let s = 0;
        for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) s += img[(c * H + y * p + i) * W + x * p + j]!;
        out[(c * gh + y) * gw + x] = s / (p * p);
      }
  return out;
}

/** Conv2d (PyTorch semantics) of x [Ci,h,w] with weight [Co,Ci,k,k], bias [Co], stride s, zero padding pad. */
function conv(x: Float64Array, Ci: number, h: number, w: number, wt: ArrayLike<number>, bias: ArrayLike<number>, Co: number, k: number, s: number, pad: number): { y: Float64Array; oh: number; ow: number } {
  const oh = Math.floor((h + 2 * pad - k) / s) + 1, ow = Math.floor((w + 2 * pad - k) / s) + 1;
  const y = new Float64Array(Co * oh * ow);
  for (let o = 0; o < Co; o++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        let acc = bias[o]!;
        for (let c = 0; c < Ci; c++)
          for (let i = 0; i < k; i++)
            for (let j = 0; j < k; j++) {
              const iy = oy * s + i - pad, ix = ox * s + j - pad;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += wt[((o * Ci + c) * k + i) * k + j]! * x[(c * h + iy) * w + ix]!;
            }
        y[(o * oh + oy) * ow + ox] = acc;
      }
  return { y, oh, ow };
}

const relu = (a: Float64Array) => a.map((v) => (v > 0 ? v : 0));

/** Merge logits [floor(gh/2), floor(gw/2)] of one image's patch means u [3, gh, gw]; c = hidden width. */
export function policyLogitsRef(u: ArrayLike<number>, gh: number, gw: number, w: PolicyWeights, c: number): Float64Array {
  const h1 = conv(Float64Array.from(u), 3, gh, gw, w['conv1.weight']!, w['conv1.bias']!, c, 3, 1, 1);
  const h2 = conv(relu(h1.y), c, gh, gw, w['conv2.weight']!, w['conv2.bias']!, c, 2, 2, 0);
  return conv(relu(h2.y), c, h2.oh, h2.ow, w['conv3.weight']!, w['conv3.bias']!, 1, 1, 1, 0).y;
}
