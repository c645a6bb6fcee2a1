import { describe, expect, it } from 'vitest';
import { syntheticDataset, syntheticFundus, syntheticSamples } from '../../src/data/synthetic.js';

/** Sizes of the 8-connected components of a binary mask, largest first. */
function components(mask: Uint8Array, H: number, W: number): number[] {
  const seen = new Uint8Array(H * W), sizes: number[] = [], stack: number[] = [];
  for (let s = 0; s < H * W; s++) {
    if (!mask[s] || seen[s]) continue;
    let n = 0;
    seen[s] = 1;
    stack.push(s);
    while (stack.length) {
      const p = stack.pop()!, i = Math.floor(p / W), j = p % W;
      n++;
      for (let di = -1; di <= 1; di++)
        for (let dj = -1; dj <= 1; dj++) {
          const a = i + di, b = j + dj;
          if (a < 0 || b < 0 || a >= H || b >= W) continue;
          const q = a * W + b;
          if (mask[q] && !seen[q]) {
            seen[q] = 1;
            stack.push(q);
          }
        }
    }
    sizes.push(n);
  }
  return sizes.sort((x, y) => y - x);
}

describe('syntheticFundus', () => {
  it('is deterministic: same seed same bytes, different seeds differ', () => {
    const a = syntheticFundus(42, [96, 128]), b = syntheticFundus(42, [96, 128]), c = syntheticFundus(43, [96, 128]);
    expect(Buffer.from(a.image.buffer).equals(Buffer.from(b.image.buffer))).toBe(true);
    expect(Buffer.from(a.mask.buffer).equals(Buffer.from(b.mask.buffer))).toBe(true);
    expect(Buffer.from(a.image.buffer).equals(Buffer.from(c.image.buffer))).toBe(false);
    expect(Buffer.from(a.mask.buffer).equals(Buffer.from(c.mask.buffer))).toBe(false);
    expect([a.height, a.width, a.image.length, a.mask.length]).toEqual([96, 128, 3 * 96 * 128, 96 * 128]);
  });

  it('has plausible masks and image values over many seeds', () => {
    const H = 192, W = 192;
    for (let seed = 0; seed < 12; seed++) {
      const s = syntheticFundus(seed, [H, W]);
      let inField = 0, vessel = 0, vesselOutside = 0, nb = 0, outOfRange = 0;
      const vSum = [0, 0, 0], bSum = [0, 0, 0];
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          const p = i * W + j, r = Math.hypot(i + 0.5 - H / 2, j + 0.5 - W / 2);
          for (let c = 0; c < 3; c++) {
            const v = s.image[c * H * W + p]!;
            if (!(v >= 0 && v <= 1)) outOfRange++;
          }
          if (r < 0.4 * H) {
            inField++;
            vessel += s.mask[p]!;
            for (let c = 0; c < 3; c++) (s.mask[p] ? vSum : bSum)[c]! += s.image[c * H * W + p]!;
            if (!s.mask[p]) nb++;
          } else if (r > 0.5 * H) vesselOutside += s.mask[p]!;
        }
      expect(outOfRange).toBe(0);
      const frac = vessel / inField;
      expect(frac).toBeGreaterThan(0.03);
      expect(frac).toBeLessThan(0.25);
      expect(vesselOutside).toBe(0);
      // Vessels are darker than the background in every channel, and reddish (R > G).
      for (let c = 0; c < 3; c++) expect(vSum[c]! / vessel).toBeLessThan(bSum[c]! / nb);
      expect(vSum[0]! / vessel).toBeGreaterThan(vSum[1]! / vessel);
      // Corners (outside the field) are dark.
      expect(s.image[0]!).toBeLessThan(0.15);
      const comps = components(s.mask, H, W);
      expect(comps[0]! / vessel).toBeGreaterThan(0.9);
    }
  });

  it('keeps thin vessels (~1 px) and thick roots (~H/60)', () => {
    const H = 240, s = syntheticFundus(5, [H, H]);
    // Width by run length along rows: the longest horizontal-ish runs are far shorter than the image,
    // single-pixel runs exist.
    const runs: number[] = [];
    for (let i = 0; i < H; i++) {
      let n = 0;
      for (let j = 0; j <= H; j++) {
        if (j < H && s.mask[i * H + j]) n++;
        else if (n) {
          runs.push(n);
          n = 0;
        }
      }
    }
    expect(runs.filter((n) => n === 1).length).toBeGreaterThan(20);
    expect(runs.filter((n) => n >= 4).length).toBeGreaterThan(10);
  });

  it('generates datasets lazily and by index', () => {
    const all = syntheticDataset(3, 9, [32, 32]);
    const it2 = [...syntheticSamples(2, 9, [32, 32])];
    expect(all).toHaveLength(3);
    expect(Buffer.from(all[1]!.image.buffer).equals(Buffer.from(it2[1]!.image.buffer))).toBe(true);
    expect(Buffer.from(all[0]!.image.buffer).equals(Buffer.from(all[1]!.image.buffer))).toBe(false);
  });

  it('rejects bad arguments', () => {
    expect(() => syntheticFundus(-1, [32, 32])).toThrow(/seed/);
    expect(() => syntheticFundus(1.5, [32, 32])).toThrow(/seed/);
    expect(() => syntheticFundus(1, [8, 32])).toThrow(/height/);
    expect(() => syntheticFundus(1, [32] as unknown as [number, number])).toThrow(TypeError);
    expect(() => syntheticDataset(-1, 0, [32, 32])).toThrow(/n/);
  });
});
