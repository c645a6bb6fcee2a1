import { describe, expect, it } from 'vitest';
import { augment, flipPlane, type AugmentOptions, gaussianBlur, gaussianKernel, IMAGENET_MEAN, IMAGENET_STD, normalizeImageNet, rot90Plane } from '../../src/data/augment.js';
import { epochBatches, makeBatch } from '../../src/data/batch.js';
import { mixSeed, type SegSample } from '../../src/data/sample.js';
import { syntheticFundus } from '../../src/data/synthetic.js';

/** A sample whose image planes encode the pixel position: R = i, G = j (scaled), B = constant. */
function coordSample(H: number, W: number): SegSample {
  const image = new Float32Array(3 * H * W), mask = new Uint8Array(H * W);
  for (let i = 0; i < H; i++)
    for (let j = 0; j < W; j++) {
      image[i * W + j] = i / 64;
      image[H * W + i * W + j] = j / 64;
      image[2 * H * W + i * W + j] = 0.5;
    }
  mask[1 * W + 2] = 1; // marker pixel
  return { image, mask, height: H, width: W };
}

/** A colourful image, R and G in [0.2, 0.7], B in [0.25, 0.55]: no jitter sub-op with a factor <= 1.4 clamps it. */
function colourSample(H: number, W: number): SegSample {
  const HW = H * W, image = new Float32Array(3 * HW);
  for (let i = 0; i < H; i++)
    for (let j = 0; j < W; j++) {
      image[i * W + j] = 0.2 + 0.5 * (i / (H - 1));
      image[HW + i * W + j] = 0.2 + 0.5 * (j / (W - 1));
      image[2 * HW + i * W + j] = 0.25 + 0.3 * (((i + j) % 5) / 4);
    }
  return { image, mask: new Uint8Array(HW), height: H, width: W };
}

/** Mid-grey with a small seeded random texture (0.5 ± 0.04): sharpening it stays inside (0, 1). */
function textureSample(H: number, W: number, seed: number): SegSample {
  const image = new Float32Array(3 * H * W);
  let st = seed >>> 0;
  for (let p = 0; p < image.length; p++) {
    st = (Math.imul(st, 1664525) + 1013904223) >>> 0;
    image[p] = 0.5 + 0.08 * (st / 2 ** 32 - 0.5);
  }
  return { image, mask: new Uint8Array(H * W), height: H, width: W };
}

const planeMean = (img: Float32Array, HW: number, c: number): number => {
  let m = 0;
  for (let p = 0; p < HW; p++) m += img[c * HW + p]!;
  return m / HW;
};
const grayAt = (img: Float32Array, HW: number, p: number): number => 0.299 * img[p]! + 0.587 * img[HW + p]! + 0.114 * img[2 * HW + p]!;
const meanGray = (img: Float32Array, HW: number): number => {
  let m = 0;
  for (let p = 0; p < HW; p++) m += grayAt(img, HW, p);
  return m / HW;
};

/** High-frequency energy: mean squared discrete Laplacian over interior pixels of all planes. */
function hfEnergy(img: Float32Array, H: number, W: number): number {
  let e = 0, n = 0;
  for (let c = 0; c < 3; c++)
    for (let i = 1; i < H - 1; i++)
      for (let j = 1; j < W - 1; j++) {
        const q = c * H * W + i * W + j;
        const lap = 4 * img[q]! - img[q - 1]! - img[q + 1]! - img[q - W]! - img[q + W]!;
        e += lap * lap;
        n++;
      }
  return e / n;
}

const geomOnly = { pColorJitter: 0, pSharpen: 0, pNoiseBlur: 0, pGamma: 0, normalize: false } as const;

describe('geometric primitives', () => {
  it('flip and rot90 on a 2x3 array match numpy', () => {
    const a = Uint8Array.from([1, 2, 3, 4, 5, 6]); // [[1,2,3],[4,5,6]]
    expect([...flipPlane(a, 2, 3, true)]).toEqual([3, 2, 1, 6, 5, 4]);
    expect([...flipPlane(a, 2, 3, false)]).toEqual([4, 5, 6, 1, 2, 3]);
    expect([...rot90Plane(a, 2, 3, 1)]).toEqual([3, 6, 2, 5, 1, 4]); // np.rot90: [[3,6],[2,5],[1,4]]
    expect([...rot90Plane(a, 2, 3, 2)]).toEqual([6, 5, 4, 3, 2, 1]);
    expect([...rot90Plane(a, 2, 3, 3)]).toEqual([4, 1, 5, 2, 6, 3]); // [[4,1],[5,2],[6,3]]
    expect([...rot90Plane(rot90Plane(a, 2, 3, 1), 3, 2, 3)]).toEqual([...a]);
    const f = Float32Array.from([0.5, 1.5, 2.5, 3.5]);
    expect(rot90Plane(f, 2, 2, 1)).toBeInstanceOf(Float32Array);
  });

  it('gaussian kernels match OpenCV tables', () => {
    expect([...gaussianKernel(3)]).toEqual([0.25, 0.5, 0.25]);
    expect([...gaussianKernel(7)].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(() => gaussianKernel(4)).toThrow(RangeError);
    // A delta at (2, 2) of a 5x5 plane blurred with k = 3 gives the outer product of the taps.
    const d = new Float32Array(3 * 25);
    d[12] = 1;
    const b = gaussianBlur(d, 5, 5, 3);
    expect(b[12]!).toBeCloseTo(0.25, 7);
    expect(b[6]!).toBeCloseTo(0.0625, 7);
    expect(b[7]!).toBeCloseTo(0.125, 7);
    const flat = new Float32Array(3 * 5 * 5).fill(0.3);
    for (const v of gaussianBlur(flat, 5, 5, 7)) expect(v).toBeCloseTo(0.3, 6);
  });
});

describe('augment', () => {
  it('is deterministic per seed and does not modify its input', () => {
    const s = syntheticFundus(1, [48, 40]);
    const copy = s.image.slice();
    const a = augment(s, 11), b = augment(s, 11);
    expect(Buffer.from(a.image.buffer).equals(Buffer.from(b.image.buffer))).toBe(true);
    expect(Buffer.from(a.mask.buffer).equals(Buffer.from(b.mask.buffer))).toBe(true);
    expect(a.applied).toEqual(b.applied);
    expect(s.image).toEqual(copy);
    let differ = 0;
    for (let seed = 0; seed < 8; seed++) if (!Buffer.from(augment(s, seed).image.buffer).equals(Buffer.from(a.image.buffer))) differ++;
    expect(differ).toBeGreaterThanOrEqual(7);
  });

  it('keeps image and mask aligned under flips and rotations', () => {
    const H = 5, W = 7, s = coordSample(H, W);
    const seen = new Set<string>();
    for (let seed = 0; seed < 64; seed++) {
      const o = augment(s, seed, geomOnly);
      seen.add(`${o.applied.hflip}${o.applied.vflip}${o.applied.rot90}`);
      expect([o.height, o.width]).toEqual(o.applied.rot90 % 2 ? [W, H] : [H, W]);
      const m = o.mask.indexOf(1);
      expect(o.mask.reduce((x, y) => x + y, 0)).toBe(1);
      // The image pixel at the marker's new place still carries the marker's source coordinates (1, 2).
      const HW = o.height * o.width;
      expect(Math.round(o.image[m]! * 64)).toBe(1);
      expect(Math.round(o.image[HW + m]! * 64)).toBe(2);
      // Every pixel's (i, j) code is a permutation of the source coordinates.
      const codes = new Set<number>();
      for (let p = 0; p < HW; p++) codes.add(Math.round(o.image[p]! * 64) * 100 + Math.round(o.image[HW + p]! * 64));
      expect(codes.size).toBe(H * W);
    }
    expect(seen.size).toBeGreaterThanOrEqual(12); // most of the 16 combinations occur
  });

  it('applies each op with roughly its probability', () => {
    const s = coordSample(6, 6);
    const n = 1500, c = { h: 0, v: 0, rot: 0, k: [0, 0, 0, 0], cj: 0, sh: 0, nb: 0, noise: 0, g: 0 };
    for (let seed = 0; seed < n; seed++) {
      const a = augment(s, mixSeed(99, seed)).applied;
      c.h += +a.hflip;
      c.v += +a.vflip;
      c.rot += +(a.rot90 > 0);
      c.k[a.rot90]!++;
      c.cj += +a.colorJitter;
      c.sh += +(a.sharpen !== 'none');
      c.nb += +(a.noiseBlur !== 'none');
      c.noise += +(a.noiseBlur === 'noise');
      c.g += +(a.gamma > 0);
      if (a.gamma > 0) expect(a.gamma >= 0.8 && a.gamma <= 1.2).toBe(true);
      if (a.noiseBlur === 'blur') expect([3, 5, 7]).toContain(a.blurKernel);
    }
    const near = (x: number, p: number): void => expect(Math.abs(x / n - p)).toBeLessThan(0.05);
    near(c.h, 0.5);
    near(c.v, 0.5);
    near(c.rot, 0.75);
    for (const k of [1, 2, 3]) near(c.k[k]!, 0.25);
    near(c.cj, 0.5);
    near(c.sh, 0.4);
    near(c.nb, 0.4);
    near(c.noise, 0.2);
    near(c.g, 0.3);
  });

  it('colour ops keep values in [0, 1] and leave the mask alone', () => {
    const s = syntheticFundus(3, [32, 32]);
    for (let seed = 0; seed < 20; seed++) {
      const o = augment(s, seed, { pHFlip: 0, pVFlip: 0, pRot90: 0, pColorJitter: 1, pSharpen: 1, pNoiseBlur: 1, pGamma: 1, normalize: false });
      expect(o.mask).toEqual(s.mask);
      expect(o.image.every((v) => v >= 0 && v <= 1)).toBe(true);
      expect(o.applied.colorJitter && o.applied.sharpen !== 'none' && o.applied.noiseBlur !== 'none' && o.applied.gamma > 0).toBe(true);
    }
  });

  // The tests below isolate one colour op each (p = 1, every other op off, no normalisation) and check
  // what the op does to pixels, so a no-op or a wrong formula fails.
  const only = (o: AugmentOptions): AugmentOptions => ({ pHFlip: 0, pVFlip: 0, pRot90: 0, pColorJitter: 0, pSharpen: 0, pNoiseBlur: 0, pGamma: 0, normalize: false, ...o });

  it('colour jitter: brightness scales every pixel by one factor, contrast keeps the mean grey, saturation keeps each pixel\'s grey, hue keeps max/min', () => {
    const H = 16, W = 16, HW = H * W, s = colourSample(H, W);
    const factors: number[] = [], satFactors: number[] = [], hueMoves: number[] = [];
    for (let seed = 0; seed < 8; seed++) {
      // brightness only (contrast / saturation / hue strength 0 make those factors exactly 1 / 0)
      const b = augment(s, seed, only({ pColorJitter: 1, brightness: 0.4, contrast: 0, saturation: 0, hue: 0 }));
      expect(b.applied.colorJitter).toBe(true);
      const f = b.image[0]! / s.image[0]!;
      for (let p = 0; p < 3 * HW; p++) expect(b.image[p]!).toBeCloseTo(s.image[p]! * f, 5);
      factors.push(f);
      // contrast only: the mean grey is kept, every deviation from it scales by one factor
      const c = augment(s, seed, only({ pColorJitter: 1, brightness: 0, contrast: 0.4, saturation: 0, hue: 0 }));
      const m0 = meanGray(s.image, HW), m1 = meanGray(c.image, HW);
      expect(m1).toBeCloseTo(m0, 5);
      const fc = (c.image[0]! - m0) / (s.image[0]! - m0);
      for (let p = 0; p < 3 * HW; p++) expect(c.image[p]! - m0).toBeCloseTo((s.image[p]! - m0) * fc, 5);
      // saturation only: per-pixel grey kept, chroma scaled by one factor
      const sa = augment(s, seed, only({ pColorJitter: 1, brightness: 0, contrast: 0, saturation: 0.4, hue: 0 }));
      const fs = (sa.image[0]! - grayAt(s.image, HW, 0)) / (s.image[0]! - grayAt(s.image, HW, 0));
      for (let p = 0; p < HW; p++) {
        const g = grayAt(s.image, HW, p);
        expect(grayAt(sa.image, HW, p)).toBeCloseTo(g, 5);
        for (let ch = 0; ch < 3; ch++) expect(sa.image[ch * HW + p]! - g).toBeCloseTo((s.image[ch * HW + p]! - g) * fs, 5);
      }
      satFactors.push(fs);
      // hue only: each pixel's max and min (V and S) kept, channels permuted / mixed
      const h = augment(s, seed, only({ pColorJitter: 1, brightness: 0, contrast: 0, saturation: 0, hue: 0.2 }));
      for (let p = 0; p < HW; p++) {
        const a = [s.image[p]!, s.image[HW + p]!, s.image[2 * HW + p]!], o = [h.image[p]!, h.image[HW + p]!, h.image[2 * HW + p]!];
        expect(Math.max(...o)).toBeCloseTo(Math.max(...a), 5);
        expect(Math.min(...o)).toBeCloseTo(Math.min(...a), 5);
      }
      hueMoves.push(Math.max(...[0, 1, 2].map((ch) => Math.abs(planeMean(h.image, HW, ch) - planeMean(s.image, HW, ch)))));
    }
    // factors drawn from [0.6, 1.4], and actually spread over it
    expect(Math.min(...factors)).toBeGreaterThanOrEqual(0.6 - 1e-6);
    expect(Math.max(...factors)).toBeLessThanOrEqual(1.4 + 1e-6);
    expect(Math.max(...factors) - Math.min(...factors)).toBeGreaterThan(0.3);
    expect(Math.max(...satFactors) - Math.min(...satFactors)).toBeGreaterThan(0.3);
    expect(hueMoves.filter((d) => d > 0.005).length).toBeGreaterThanOrEqual(6); // a hue shift moves the channel means
    // the default jitter moves the channel means (the hue shift moves them apart)
    let moved = 0;
    for (let seed = 0; seed < 12; seed++) {
      const o = augment(s, seed, only({ pColorJitter: 1 }));
      const d = [0, 1, 2].map((c) => Math.abs(planeMean(o.image, HW, c) - planeMean(s.image, HW, c)));
      if (Math.max(...d) > 0.01) moved++;
    }
    expect(moved).toBeGreaterThanOrEqual(10);
  });

  it('sharpen and unsharp mask raise the high-frequency energy of a textured image; blur lowers it', () => {
    const H = 24, W = 24, s = textureSample(H, W, 7);
    const e0 = hfEnergy(s.image, H, W);
    const kinds = new Set<string>();
    for (let seed = 0; seed < 16; seed++) {
      const o = augment(s, seed, only({ pSharpen: 1 }));
      kinds.add(o.applied.sharpen);
      expect(o.applied.sharpen).not.toBe('none');
      expect(o.image.every((v) => v > 0 && v < 1)).toBe(true); // the gain below is not a clamping artefact
      expect(hfEnergy(o.image, H, W), `seed ${seed} ${o.applied.sharpen}`).toBeGreaterThan(1.5 * e0);
    }
    expect(kinds).toEqual(new Set(['sharpen', 'unsharp']));
    let blurs = 0;
    for (let seed = 0; seed < 16; seed++) {
      const o = augment(s, seed, only({ pNoiseBlur: 1 }));
      if (o.applied.noiseBlur !== 'blur') continue;
      blurs++;
      expect(hfEnergy(o.image, H, W)).toBeLessThan(0.7 * e0);
    }
    expect(blurs).toBeGreaterThan(0);
  });

  it('Gaussian noise: zero-mean, independent per pixel, std within the configured [0.01, 0.05]', () => {
    const H = 48, W = 48, HW = H * W;
    const flat: SegSample = { image: new Float32Array(3 * HW).fill(0.5), mask: new Uint8Array(HW), height: H, width: W };
    const stds: number[] = [];
    for (let seed = 0; seed < 24 && stds.length < 6; seed++) {
      const o = augment(flat, seed, only({ pNoiseBlur: 1 }));
      if (o.applied.noiseBlur !== 'noise') continue;
      let m = 0;
      for (const v of o.image) m += v;
      m /= o.image.length;
      let v2 = 0, lag = 0;
      for (let p = 0; p < o.image.length; p++) v2 += (o.image[p]! - m) ** 2;
      for (let p = 0; p + 1 < o.image.length; p++) lag += (o.image[p]! - m) * (o.image[p + 1]! - m);
      const sd = Math.sqrt(v2 / o.image.length);
      expect(Math.abs(m - 0.5)).toBeLessThan(3 * sd / Math.sqrt(o.image.length) + 1e-4);
      expect(sd).toBeGreaterThan(0.01 * 0.95);
      expect(sd).toBeLessThan(0.05 * 1.05);
      expect(Math.abs(lag / v2)).toBeLessThan(0.06); // white noise, not a blur or a shifted copy
      stds.push(sd);
    }
    expect(stds.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...stds) - Math.min(...stds)).toBeGreaterThan(0.005); // the std is drawn per sample
  });

  it('gamma: x^g exactly, mid-tones brighter for g < 1 and darker for g > 1, 0 and 1 fixed', () => {
    const H = 4, W = 8, HW = H * W;
    const image = new Float32Array(3 * HW);
    for (let p = 0; p < image.length; p++) image[p] = p / (image.length - 1);
    const s: SegSample = { image, mask: new Uint8Array(HW), height: H, width: W };
    for (const [g, brighter] of [[0.8, true], [1.2, false]] as const) {
      const o = augment(s, 3, only({ pGamma: 1, gammaRange: [g, g] }));
      expect(o.applied.gamma).toBeCloseTo(g, 12);
      expect(o.image[0]).toBe(0);
      expect(o.image[image.length - 1]).toBe(1);
      for (let p = 1; p < image.length - 1; p++) {
        expect(o.image[p]!).toBeCloseTo(image[p]! ** g, 6);
        expect(o.image[p]! > image[p]!).toBe(brighter);
      }
      // mid-tone 0.5 moves by a visible amount (0.5^0.8 = 0.574, 0.5^1.2 = 0.435)
      const mid = augment({ ...s, image: new Float32Array(3 * HW).fill(0.5) }, 3, only({ pGamma: 1, gammaRange: [g, g] }));
      expect(Math.abs(mid.image[0]! - 0.5)).toBeGreaterThan(0.06);
    }
    const drawn = new Set<number>();
    for (let seed = 0; seed < 8; seed++) drawn.add(augment(s, seed, only({ pGamma: 1 })).applied.gamma);
    expect(drawn.size).toBe(8);
  });

  it('normalises with ImageNet statistics', () => {
    const img = Float32Array.from([0, 1, 0.5, 0.5, 0.406, 1]); // [3, 1, 2]
    const n = normalizeImageNet(img);
    expect(n[0]!).toBeCloseTo(-0.485 / 0.229, 6);
    expect(n[1]!).toBeCloseTo((1 - 0.485) / 0.229, 6);
    expect(n[2]!).toBeCloseTo((0.5 - 0.456) / 0.224, 6);
    expect(n[4]!).toBeCloseTo(0, 6);
    expect(IMAGENET_MEAN).toEqual([0.485, 0.456, 0.406]);
    expect(IMAGENET_STD).toEqual([0.229, 0.224, 0.225]);
    const s = coordSample(4, 4);
    const o = augment(s, 5, { ...geomOnly, normalize: true });
    expect(o.image[2 * 16]!).toBeCloseTo((0.5 - 0.406) / 0.225, 6);
  });

  it('rejects bad input', () => {
    const s = coordSample(4, 4);
    expect(() => augment(s, -1)).toThrow(/seed/);
    expect(() => augment({ ...s, height: 5 }, 1)).toThrow(/image/);
    expect(() => augment({ ...s, mask: new Uint8Array(3) }, 1)).toThrow(/mask/);
    expect(() => normalizeImageNet(new Float32Array(4))).toThrow(TypeError);
  });
});

describe('batch', () => {
  it('stacks samples in [B, 3, H, W] / [B, H, W]', () => {
    const a = coordSample(3, 4), b = syntheticFundus(2, [16, 16]);
    const c = { ...b, image: b.image.subarray(0, 3 * 12), mask: b.mask.subarray(0, 12), height: 3, width: 4 };
    const batch = makeBatch([a, c]);
    expect(batch.shape).toEqual([2, 3, 3, 4]);
    expect([...batch.images.subarray(0, 36)]).toEqual([...a.image]);
    expect([...batch.images.subarray(36)]).toEqual([...c.image]);
    expect([...batch.masks.subarray(12)]).toEqual([...c.mask]);
    expect(() => makeBatch([])).toThrow(RangeError);
    expect(() => makeBatch([a, b])).toThrow(/sample 1 is 16x16, expected 3x4/);
  });

  it('epochBatches: seeded permutations cut into batches', () => {
    const e0 = epochBatches(10, 4, 1, 0), e0b = epochBatches(10, 4, 1, 0), e1 = epochBatches(10, 4, 1, 1);
    expect(e0).toEqual(e0b);
    expect(e0).not.toEqual(e1);
    expect(e0.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(e0.flat().sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
    expect(epochBatches(10, 4, 1, 0, true).map((b) => b.length)).toEqual([4, 4]);
  });
});

describe('filters', () => {
  it('sharpen / unsharp keep a flat image flat (borders included)', () => {
    const H = 6, W = 5, image = new Float32Array(3 * H * W).fill(0.4);
    for (let seed = 0; seed < 12; seed++) {
      const o = augment({ image, mask: new Uint8Array(H * W), height: H, width: W }, seed, {
        pHFlip: 0, pVFlip: 0, pRot90: 0, pColorJitter: 0, pSharpen: 1, pNoiseBlur: 0, pGamma: 0, normalize: false,
      });
      const v0 = o.image[0]!;
      expect(o.image.every((v) => Math.abs(v - v0) < 1e-6)).toBe(true);
      if (o.applied.sharpen === 'unsharp') expect(v0).toBeCloseTo(0.4, 6);
    }
  });
});
