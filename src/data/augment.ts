/**
 * Training augmentation (SPEC §4 "Data augmentation", paper §4.1: the Albumentations pipeline redone
 * on typed arrays), seeded per sample. Order and defaults:
 *  1. horizontal flip (p .5), vertical flip (p .5)                         image + mask
 *  2. rot90 by k in {1, 2, 3} quarter turns counter-clockwise (p .75)      image + mask (H, W swap for odd k)
 *  3. colour jitter (p .5, the Albumentations default): brightness, contrast, saturation factors in
 *     [1 - .4, 1 + .4] and hue shift in [-.2, .2] turns, applied in a random order, clamped to [0, 1]
 *  4. sharpen (p .4): one of Sharpen (3x3 kernel, alpha in [.2, .5], lightness in [.5, 1]) or unsharp
 *     mask (Gaussian blur k in {3,5,7}, amount in [.5, 1])
 *  5. Gaussian noise (std in [.01, .05]) or Gaussian blur (odd kernel k in {3, 5, 7}, OpenCV's fixed
 *     binomial-like tables for these sizes), one of the two (p .4)
 *  6. gamma x^g, g in [.8, 1.2] (p .3; the paper's CLAHE alternative is not implemented)
 *  7. ImageNet normalisation ((x - mean) / std per channel), unless `normalize: false`
 * Colour ops act on the image only. Borders of the 3x3 / kxk filters use reflect-101 (OpenCV default).
 * Resizing to the model size happens at load time (fives.ts loadSample), before augmentation.
 *
 * Layouts: image [3, H, W] (CHW, RGB), mask [H, W]. Randomness: decisions and parameters from one
 * mulberry32 stream seeded with mixSeed(seed), noise from a second: the same seed gives the same bytes.
 * Use mixSeed(runSeed, epoch, index) for a per-sample seed.
 */
import { mulberry32, normalSampler } from '../model/rng.js';
import { checkSeed, mixSeed, type SegSample } from './sample.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/** Probabilities and strengths; every field optional (defaults in the file comment). */
export interface AugmentOptions {
  pHFlip?: number;
  pVFlip?: number;
  pRot90?: number;
  pColorJitter?: number;
  brightness?: number;
  contrast?: number;
  saturation?: number;
  hue?: number;
  pSharpen?: number;
  pNoiseBlur?: number;
  pGamma?: number;
  gammaRange?: readonly [number, number];
  /** Apply ImageNet normalisation at the end (default true). */
  normalize?: boolean;
}

/** What {@link augment} did (for logging and tests). */
export interface AugmentRecord {
  hflip: boolean;
  vflip: boolean;
  /** Quarter turns counter-clockwise, 0 when not rotated. */
  rot90: number;
  colorJitter: boolean;
  sharpen: 'none' | 'sharpen' | 'unsharp';
  noiseBlur: 'none' | 'noise' | 'blur';
  /** Blur kernel size (0 when no blur). */
  blurKernel: number;
  /** Gamma exponent (0 when not applied). */
  gamma: number;
}

export interface AugmentedSample extends SegSample {
  applied: AugmentRecord;
}

// ---- geometric ops (exact index maps; shared by image planes and the mask)

/** Flips one [H, W] plane (any typed array) left-right (horizontal) or top-bottom (vertical), into a new array. */
export function flipPlane<T extends Float32Array | Uint8Array>(src: T, H: number, W: number, horizontal: boolean): T {
  const out = new (src.constructor as new (n: number) => T)(H * W);
  for (let i = 0; i < H; i++)
    for (let j = 0; j < W; j++) out[i * W + j] = horizontal ? src[i * W + (W - 1 - j)]! : src[(H - 1 - i) * W + j]!;
  return out;
}

/**
 * Rotates one [H, W] plane by k quarter turns counter-clockwise (numpy rot90 convention): k = 1 gives
 * [W, H] with out[i][j] = src[j][W - 1 - i].
 */
export function rot90Plane<T extends Float32Array | Uint8Array>(src: T, H: number, W: number, k: number): T {
  const kk = ((k % 4) + 4) % 4;
  const out = new (src.constructor as new (n: number) => T)(H * W);
  if (kk === 0) out.set(src);
  else if (kk === 2) for (let p = 0; p < H * W; p++) out[p] = src[H * W - 1 - p]!;
  else if (kk === 1) for (let i = 0; i < W; i++) for (let j = 0; j < H; j++) out[i * H + j] = src[j * W + (W - 1 - i)]!;
  else for (let i = 0; i < W; i++) for (let j = 0; j < H; j++) out[i * H + j] = src[(H - 1 - j) * W + i]!;
  return out;
}

function mapPlanes(img: Float32Array, H: number, W: number, f: (p: Float32Array) => Float32Array): Float32Array {
  const HW = H * W, out = new Float32Array(3 * HW);
  for (let c = 0; c < 3; c++) out.set(f(img.subarray(c * HW, (c + 1) * HW)), c * HW);
  return out;
}

// ---- colour ops (in place on a [3, H, W] image)

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);
const gray = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;

function brightness(img: Float32Array, f: number): void {
  for (let p = 0; p < img.length; p++) img[p] = clamp01(img[p]! * f);
}

function contrast(img: Float32Array, HW: number, f: number): void {
  let m = 0;
  for (let p = 0; p < HW; p++) m += gray(img[p]!, img[HW + p]!, img[2 * HW + p]!);
  m /= HW;
  for (let p = 0; p < img.length; p++) img[p] = clamp01(m + (img[p]! - m) * f);
}

function saturation(img: Float32Array, HW: number, f: number): void {
  for (let p = 0; p < HW; p++) {
    const g = gray(img[p]!, img[HW + p]!, img[2 * HW + p]!);
    for (let c = 0; c < 3; c++) img[c * HW + p] = clamp01(g + (img[c * HW + p]! - g) * f);
  }
}

/** Hue rotation by `shift` turns through HSV (hue wraps, S and V kept). */
function hueShift(img: Float32Array, HW: number, shift: number): void {
  for (let p = 0; p < HW; p++) {
    const r = img[p]!, g = img[HW + p]!, b = img[2 * HW + p]!;
    const mx = Math.max(r, g, b), mn = Math.min(r, g, b), d = mx - mn;
    if (d <= 0) continue;
    let h = mx === r ? (g - b) / d : mx === g ? 2 + (b - r) / d : 4 + (r - g) / d;
    h = (h / 6 + shift) % 1;
    if (h < 0) h += 1;
    const h6 = h * 6, s = d / mx, v = mx;
    const sector = Math.floor(h6) % 6, fr = h6 - Math.floor(h6);
    const pp = v * (1 - s), qq = v * (1 - s * fr), tt = v * (1 - s * (1 - fr));
    let ro: number, go: number, bo: number;
    switch (sector) {
      case 0: ro = v; go = tt; bo = pp; break;
      case 1: ro = qq; go = v; bo = pp; break;
      case 2: ro = pp; go = v; bo = tt; break;
      case 3: ro = pp; go = qq; bo = v; break;
      case 4: ro = tt; go = pp; bo = v; break;
      default: ro = v; go = pp; bo = qq;
    }
    img[p] = ro;
    img[HW + p] = go;
    img[2 * HW + p] = bo;
  }
}

const reflect101 = (i: number, n: number): number => {
  if (n === 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i;
  return i;
};

/**
 * Separable 1D Gaussian kernel of odd size k in {1, 3, 5, 7}: OpenCV's fixed small-kernel tables, which
 * cv2.GaussianBlur (hence Albumentations with sigma 0) uses for these sizes.
 */
export function gaussianKernel(k: number): Float64Array {
  const tabs: Record<number, number[]> = {
    1: [1],
    3: [0.25, 0.5, 0.25],
    5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
    7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
  };
  const t = tabs[k];
  if (!t) throw new RangeError(`gaussianKernel: expected k in {1, 3, 5, 7}, received ${k}`);
  return Float64Array.from(t);
}

/** Reflect-101 source index for each (position, tap): table[x * k + t] = reflect101(x + t - r, n). */
function reflectTable(n: number, k: number): Int32Array {
  const r = (k - 1) / 2, t = new Int32Array(n * k);
  for (let x = 0; x < n; x++) for (let d = 0; d < k; d++) t[x * k + d] = reflect101(x + d - r, n);
  return t;
}

/** Gaussian blur of a [3, H, W] image (separable, reflect-101 borders), into a new array. */
export function gaussianBlur(img: Float32Array, H: number, W: number, k: number): Float32Array {
  const g = gaussianKernel(k), HW = H * W;
  const cols = reflectTable(W, k), rows = reflectTable(H, k);
  const tmp = new Float32Array(HW), out = new Float32Array(3 * HW);
  for (let c = 0; c < 3; c++) {
    const base = c * HW;
    for (let i = 0; i < H; i++) {
      const row = base + i * W;
      for (let j = 0; j < W; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += g[t]! * img[row + cols[j * k + t]!]!;
        tmp[i * W + j] = s;
      }
    }
    for (let i = 0; i < H; i++)
      for (let j = 0; j < W; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += g[t]! * tmp[rows[i * k + t]! * W + j]!;
        out[base + i * W + j] = s;
      }
  }
  return out;
}

/**
 * Albumentations Sharpen: 3x3 kernel (1 - alpha) I + alpha [[-1,-1,-1],[-1,8+L,-1],[-1,-1,-1]]. It sums to
 * 1 - alpha + alpha L, so the lightness L < 1 also darkens flat regions slightly (as in Albumentations).
 */
function sharpen(img: Float32Array, H: number, W: number, alpha: number, lightness: number): Float32Array {
  const HW = H * W, out = new Float32Array(3 * HW);
  const centre = 1 - alpha + alpha * (8 + lightness), nb = -alpha;
  const cols = reflectTable(W, 3), rows = reflectTable(H, 3);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < H; i++) {
      const base = c * HW, r0 = base + rows[i * 3]! * W, r1 = base + i * W, r2 = base + rows[i * 3 + 2]! * W;
      for (let j = 0; j < W; j++) {
        const j0 = cols[j * 3]!, j2 = cols[j * 3 + 2]!;
        const ring = img[r0 + j0]! + img[r0 + j]! + img[r0 + j2]! + img[r1 + j0]! + img[r1 + j2]! + img[r2 + j0]! + img[r2 + j]! + img[r2 + j2]!;
        out[r1 + j] = clamp01(centre * img[r1 + j]! + nb * ring);
      }
    }
  return out;
}

/**
 * ImageNet normalisation of a [3, H, W] image in [0, 1]: (x - mean[c]) / std[c], into a new array.
 * @param image Float32Array [3, H, W]
 * @returns Float32Array [3, H, W], the model input
 */
export function normalizeImageNet(image: Float32Array): Float32Array {
  if (!(image instanceof Float32Array) || image.length % 3 !== 0)
    throw new TypeError(`normalizeImageNet: expected image to be a Float32Array [3, H, W], received length ${String((image as { length?: unknown }).length)}`);
  const HW = image.length / 3, out = new Float32Array(image.length);
  for (let c = 0; c < 3; c++) {
    const m = IMAGENET_MEAN[c], s = IMAGENET_STD[c];
    for (let p = 0; p < HW; p++) out[c * HW + p] = (image[c * HW + p]! - m) / s;
  }
  return out;
}

function checkSample(s: SegSample): void {
  const { height: H, width: W } = s;
  if (!Number.isInteger(H) || !Number.isInteger(W) || H < 1 || W < 1) throw new RangeError(`augment: expected sample height/width to be positive integers, received ${H}x${W}`);
  if (!(s.image instanceof Float32Array) || s.image.length !== 3 * H * W)
    throw new RangeError(`augment: expected sample.image to be a Float32Array of 3*${H}*${W} = ${3 * H * W}, received length ${s.image?.length}`);
  if (!(s.mask instanceof Uint8Array) || s.mask.length !== H * W)
    throw new RangeError(`augment: expected sample.mask to be a Uint8Array of ${H}*${W} = ${H * W}, received length ${s.mask?.length}`);
}

/**
 * Applies the SPEC §4 augmentation pipeline to one sample (inputs are not modified).
 * @param sample image Float32Array [3, H, W] in [0, 1], mask Uint8Array [H, W]
 * @param seed non-negative safe integer; the same seed gives identical bytes
 * @param opts probabilities / strengths / normalize (see {@link AugmentOptions})
 * @returns image [3, H', W'] (ImageNet-normalised unless normalize is false), mask [H', W'], the new
 *   height/width (swapped by an odd rot90) and the record of applied ops
 * @throws RangeError for a bad seed or a sample whose arrays do not match height/width
 * @example
 * const x = augment(sample, mixSeed(runSeed, epoch, i)); // x.image is the model input
 */
export function augment(sample: SegSample, seed: number, opts: AugmentOptions = {}): AugmentedSample {
  checkSeed('augment', seed);
  checkSample(sample);
  const u = mulberry32(mixSeed(seed, 0xa06));
  const nrm = normalSampler(mulberry32(mixSeed(seed, 0xa07)));
  const uni = (a: number, b: number): number => a + (b - a) * u();
  const pick = <T>(xs: readonly T[]): T => xs[Math.min(xs.length - 1, Math.floor(u() * xs.length))]!;
  const rec: AugmentRecord = { hflip: false, vflip: false, rot90: 0, colorJitter: false, sharpen: 'none', noiseBlur: 'none', blurKernel: 0, gamma: 0 };
  let H = sample.height, W = sample.width;
  let img: Float32Array = sample.image.slice(), mask: Uint8Array = sample.mask.slice();

  // Geometry. Every decision is drawn whether or not it fires, so later draws do not shift.
  rec.hflip = u() < (opts.pHFlip ?? 0.5);
  rec.vflip = u() < (opts.pVFlip ?? 0.5);
  const rotOn = u() < (opts.pRot90 ?? 0.75), k = 1 + Math.min(2, Math.floor(u() * 3));
  rec.rot90 = rotOn ? k : 0;
  if (rec.hflip) {
    img = mapPlanes(img, H, W, (p) => flipPlane(p, H, W, true));
    mask = flipPlane(mask, H, W, true);
  }
  if (rec.vflip) {
    img = mapPlanes(img, H, W, (p) => flipPlane(p, H, W, false));
    mask = flipPlane(mask, H, W, false);
  }
  if (rec.rot90) {
    const h0 = H, w0 = W;
    img = mapPlanes(img, h0, w0, (p) => rot90Plane(p, h0, w0, k));
    mask = rot90Plane(mask, h0, w0, k);
    if (k % 2 === 1) [H, W] = [W, H];
  }
  const HW = H * W;

  // Colour jitter: factors and a random order of the four sub-ops.
  if (u() < (opts.pColorJitter ?? 0.5)) {
    rec.colorJitter = true;
    const b = opts.brightness ?? 0.4, c = opts.contrast ?? 0.4, s = opts.saturation ?? 0.4, h = opts.hue ?? 0.2;
    const fb = uni(Math.max(0, 1 - b), 1 + b), fc = uni(Math.max(0, 1 - c), 1 + c), fs = uni(Math.max(0, 1 - s), 1 + s), fh = uni(-h, h);
    const order = [0, 1, 2, 3];
    for (let i = 3; i > 0; i--) {
      const j = Math.floor(u() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const o of order) {
      if (o === 0) brightness(img, fb);
      else if (o === 1) contrast(img, HW, fc);
      else if (o === 2) saturation(img, HW, fs);
      else hueShift(img, HW, fh);
    }
  }

  // Sharpen or unsharp mask.
  if (u() < (opts.pSharpen ?? 0.4)) {
    if (u() < 0.5) {
      rec.sharpen = 'sharpen';
      img = sharpen(img, H, W, uni(0.2, 0.5), uni(0.5, 1));
    } else {
      rec.sharpen = 'unsharp';
      const kk = pick([3, 5, 7]), amount = uni(0.5, 1);
      const bl = gaussianBlur(img, H, W, kk);
      for (let p = 0; p < img.length; p++) img[p] = clamp01(img[p]! + amount * (img[p]! - bl[p]!));
    }
  }

  // Gaussian noise or Gaussian blur.
  if (u() < (opts.pNoiseBlur ?? 0.4)) {
    if (u() < 0.5) {
      rec.noiseBlur = 'noise';
      const sd = uni(0.01, 0.05);
      for (let p = 0; p < img.length; p++) img[p] = clamp01(img[p]! + sd * nrm());
    } else {
      rec.noiseBlur = 'blur';
      rec.blurKernel = pick([3, 5, 7]);
      img = gaussianBlur(img, H, W, rec.blurKernel);
    }
  }

  // Gamma.
  if (u() < (opts.pGamma ?? 0.3)) {
    const [g0, g1] = opts.gammaRange ?? [0.8, 1.2];
    rec.gamma = uni(g0, g1);
    for (let p = 0; p < img.length; p++) img[p] = Math.pow(img[p]!, rec.gamma);
  }

  const image = opts.normalize === false ? img : normalizeImageNet(img);
  return { image, mask, height: H, width: W, applied: rec };
}
