/**
 * Training targets computed from a binary vessel mask, in plain TS on typed arrays (no TF.js):
 *   - `resizeArea`: exact area-average (box) resampling of a [H,W] map to [h,w] — the "bilinear
 *     downsampling" of SPEC §4's policy targets, done as the area average (the anti-aliased version of a
 *     bilinear downsample: each output cell is the mean of the input it covers, fractional overlaps
 *     weighted by their area). Also used to bring a mask to the mask-logit resolution for the set loss.
 *   - `distanceTransform`: exact Euclidean distance transform (Felzenszwalb–Huttenlocher: two passes of
 *     the 1-D squared-distance lower envelope of parabolas, columns then rows), O(H·W).
 *   - `morphologicalGradient`: dilation − erosion with a 3x3 square structuring element.
 *   - `policyTargets`: SPEC §4 eq. 6's informed-policy target T on the token grid [gh, gw]:
 *       'mask'     area-average of the mask (fraction of vessel pixels per token);
 *       'distance' proximity to the vessels, 1 − d/d_max, where d = Euclidean distance of each pixel to
 *                  the NEAREST VESSEL pixel (0 on vessels) and d_max its maximum over the image; so T = 1
 *                  on vessels and falls to 0 at the pixel farthest from any vessel. We chose this over
 *                  the distance of vessel pixels to the background because vessels are 1–10 pixels
 *                  wide: an inside distance is ~0 everywhere after downsampling to 16x16 tokens, while
 *                  an informed policy must keep tokens ON and NEAR vessels (high T = keep);
 *       'edges'    area-average of the morphological gradient (boundary pixels on both sides).
 *     Edge cases: an empty mask gives T = 0 everywhere for every kind; a full mask gives T = 1 for
 *     'mask' and 'distance' and 0 for 'edges'.
 * Layouts: row-major [H, W] (row y, column x), index y·W + x.
 */
import { rangeError, typeError } from '../errors.js';

/** The kinds of informed-policy target (SPEC §4 eq. 6). */
export type PolicyTargetKind = 'mask' | 'distance' | 'edges';

function checkMap(op: string, name: string, a: ArrayLike<number>, H: number, W: number): void {
  if (!Number.isInteger(H) || H < 1 || !Number.isInteger(W) || W < 1) throw rangeError(op, `${name} size must be positive integers, got H=${H}, W=${W}`);
  if (a.length !== H * W) throw rangeError(op, `${name} must have H*W = ${H * W} elements, got ${a.length}`);
}

/**
 * Exact area-average resampling of a [H,W] map to [h,w] (works for up- and downsampling and
 * non-integer factors: output cell (i,j) covers input rows [i·H/h, (i+1)·H/h) and columns likewise).
 * @param src [H·W] values. @returns float32 [h·w].
 * @throws {RangeError} on sizes that are not positive integers or a length mismatch.
 */
export function resizeArea(src: ArrayLike<number>, H: number, W: number, h: number, w: number): Float32Array {
  checkMap('resizeArea', 'src', src, H, W);
  if (!Number.isInteger(h) || h < 1 || !Number.isInteger(w) || w < 1) throw rangeError('resizeArea', `output size must be positive integers, got h=${h}, w=${w}`);
  const ry = overlaps(H, h);
  const rx = overlaps(W, w);
  // Separable: rows first into [h, W], then columns into [h, w]; float64 accumulation.
  const tmp = new Float64Array(h * W);
  for (let i = 0; i < h; i++) {
    for (const [y, wy] of ry[i]) {
      const o = y * W;
      for (let x = 0; x < W; x++) tmp[i * W + x] += wy * src[o + x];
    }
  }
  const out = new Float32Array(h * w);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      let s = 0;
      for (const [x, wx] of rx[j]) s += wx * tmp[i * W + x];
      out[i * w + j] = s;
    }
  }
  return out;
}

/** For each of n output cells, the input cells of [0, N) it covers with normalised overlap weights. */
function overlaps(N: number, n: number): Array<Array<[number, number]>> {
  const res: Array<Array<[number, number]>> = [];
  for (let i = 0; i < n; i++) {
    // Exact rational bounds in units of 1/n input cells: [i·N, (i+1)·N) / n.
    const a = i * N;
    const b = (i + 1) * N;
    const cells: Array<[number, number]> = [];
    for (let y = Math.floor(a / n); y * n < b; y++) {
      const lo = Math.max(a, y * n);
      const hi = Math.min(b, (y + 1) * n);
      if (hi > lo) cells.push([y, (hi - lo) / N]);
    }
    res.push(cells);
  }
  return res;
}

/**
 * 1-D squared distance transform of f (Felzenszwalb & Huttenlocher 2012): d[q] = min_p (q−p)² + f[p],
 * over the sites with finite f only (so "no site" stays +Infinity instead of overflowing a large
 * sentinel). Scratch arrays v (site positions) and z (envelope boundaries) are passed in.
 */
function dt1d(f: Float64Array, n: number, d: Float64Array, v: Int32Array, z: Float64Array): void {
  let k = -1;
  for (let q = 0; q < n; q++) {
    if (f[q] === Infinity) continue;
    if (k < 0) {
      k = 0;
      v[0] = q;
      z[0] = -Infinity;
      z[1] = Infinity;
      continue;
    }
    let s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    while (s <= z[k]) {
      k--;
      s = (f[q] + q * q - (f[v[k]] + v[k] * v[k])) / (2 * q - 2 * v[k]);
    }
    k++;
    v[k] = q;
    z[k] = s;
    z[k + 1] = Infinity;
  }
  if (k < 0) {
    d.fill(Infinity, 0, n);
    return;
  }
  let j = 0;
  for (let q = 0; q < n; q++) {
    while (z[j + 1] < q) j++;
    const dq = q - v[j];
    d[q] = dq * dq + f[v[j]];
  }
}

/**
 * Exact Euclidean distance of every pixel to the nearest pixel with `mask != 0` (0 on those pixels,
 * +Infinity everywhere when the mask is empty).
 * @param mask uint8 [H·W]. @returns float64 [H·W] distances in pixels.
 * @throws {RangeError} on a size mismatch. {TypeError} when mask is not a Uint8Array.
 */
export function distanceTransform(mask: Uint8Array, H: number, W: number): Float64Array {
  if (!(mask instanceof Uint8Array)) throw typeError('distanceTransform', 'mask must be a Uint8Array');
  checkMap('distanceTransform', 'mask', mask, H, W);
  const M = Math.max(H, W);
  const f = new Float64Array(M);
  const d = new Float64Array(M);
  const v = new Int32Array(M);
  const z = new Float64Array(M + 1);
  const g = new Float64Array(H * W);
  // Columns: squared distance along y to the nearest site in the same column.
  for (let x = 0; x < W; x++) {
    for (let y = 0; y < H; y++) f[y] = mask[y * W + x] !== 0 ? 0 : Infinity;
    dt1d(f, H, d, v, z);
    for (let y = 0; y < H; y++) g[y * W + x] = d[y];
  }
  // Rows: combine the column results (the squared EDT is separable).
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) f[x] = g[y * W + x];
    dt1d(f, W, d, v, z);
    for (let x = 0; x < W; x++) g[y * W + x] = Math.sqrt(d[x]);
  }
  return g;
}

/**
 * Binary morphological gradient: dilation − erosion with a 3x3 square (8-neighbourhood). Pixels outside
 * the image are ignored (not treated as background), so the image border is not an edge.
 * @param mask uint8 [H·W] (nonzero = 1). @returns uint8 [H·W] with 1 on boundary pixels (both sides).
 */
export function morphologicalGradient(mask: Uint8Array, H: number, W: number): Uint8Array {
  if (!(mask instanceof Uint8Array)) throw typeError('morphologicalGradient', 'mask must be a Uint8Array');
  checkMap('morphologicalGradient', 'mask', mask, H, W);
  const out = new Uint8Array(H * W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let dil = 0;
      let ero = 1;
      for (let dy = -1; dy <= 1; dy++) {
        const yy = y + dy;
        if (yy < 0 || yy >= H) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          if (xx < 0 || xx >= W) continue;
          const m = mask[yy * W + xx] !== 0 ? 1 : 0;
          dil |= m;
          ero &= m;
        }
      }
      out[y * W + x] = dil - ero;
    }
  }
  return out;
}

/**
 * Informed-policy target T on the token grid (SPEC §4 eq. 6), see the file header for the three kinds.
 * @param mask uint8 [H·W] vessel mask (nonzero = vessel). @param H,W its size.
 * @param grid [gh, gw] the patch-token grid (e.g. `patchGrid(config)`).
 * @param kind 'mask' | 'distance' | 'edges'.
 * @returns float32 [gh·gw] in [0, 1], row-major over the grid (the token order of the patch tokens).
 * @throws {RangeError} on a size mismatch or an unknown kind.
 * @example policyTargets(mask, 512, 512, [32, 32], 'distance')
 */
export function policyTargets(mask: Uint8Array, H: number, W: number, grid: readonly [number, number], kind: PolicyTargetKind): Float32Array {
  if (!(mask instanceof Uint8Array)) throw typeError('policyTargets', 'mask must be a Uint8Array');
  checkMap('policyTargets', 'mask', mask, H, W);
  const [gh, gw] = grid;
  let full: ArrayLike<number>;
  if (kind === 'mask') {
    full = mask.map((m) => (m !== 0 ? 1 : 0));
  } else if (kind === 'edges') {
    full = morphologicalGradient(mask, H, W);
  } else if (kind === 'distance') {
    const d = distanceTransform(mask, H, W);
    let dMax = 0;
    for (let k = 0; k < d.length; k++) if (d[k] > dMax) dMax = d[k];
    const t = new Float64Array(H * W);
    if (dMax === Infinity) {
      // empty mask: nothing to be near
    } else if (dMax === 0) {
      t.fill(1); // full mask
    } else {
      for (let k = 0; k < d.length; k++) t[k] = 1 - d[k] / dMax;
    }
    full = t;
  } else {
    throw rangeError('policyTargets', `kind must be 'mask', 'distance' or 'edges', got ${String(kind)}`);
  }
  return resizeArea(full, H, W, gh, gw);
}

/**
 * `policyTargets` for a batch, stacked row-major as the [B, N] target of `policyLoss` (N = gh·gw).
 * @param masks B uint8 masks [H·W], all of the same size.
 * @returns float32 [B·gh·gw].
 */
export function policyTargetsBatch(masks: readonly Uint8Array[], H: number, W: number, grid: readonly [number, number], kind: PolicyTargetKind): Float32Array {
  const N = grid[0] * grid[1];
  const out = new Float32Array(masks.length * N);
  masks.forEach((m, b) => out.set(policyTargets(m, H, W, grid, kind), b * N));
  return out;
}
