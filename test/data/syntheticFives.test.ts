/**
 * The study's second data source (src/data/syntheticFives.ts): a FIVES-layout folder written by the
 * second generator style round-trips through the FIVES loader (every quadrant's pixels within 8-bit
 * rounding, masks exact); the folder is reused when complete and refused when it is something else;
 * the second style differs from the first in its vessel statistics; and the default style still gives the
 * bytes it gave before styles existed (known answer).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFives, loadSample, quadrantRegion } from '../../src/data/fives.js';
import { mixSeed } from '../../src/data/sample.js';
import { FUNDUS_STYLE, SECOND_STYLE, syntheticFundus } from '../../src/data/synthetic.js';
import { writeSyntheticFives } from '../../src/data/syntheticFives.js';

describe('writeSyntheticFives', () => {
  it('round-trips through the FIVES loader', async () => {
    const root = path.join(mkdtempSync(path.join(os.tmpdir(), 'r4p-sfives-')), 'second');
    const [H, W] = [70, 52]; // odd quadrant split in neither direction, not square
    const r = await writeSyntheticFives(root, { images: 10, size: [H, W], seed: 5 });
    expect(r).toEqual({ root, reused: false, train: 8, test: 2 });
    expect(readdirSync(path.join(root, 'test', 'Original')).sort()).toEqual(['8_S.png', '9_S.png']);
    const list = await listFives(root, { verify: true });
    expect(list.length).toBe(40);
    expect(list.filter((s) => s.split === 'test').length).toBe(4);
    for (const s of list.filter((_, i) => i % 3 === 0)) {
      const i = Number(s.name.split('_')[0]);
      const want = syntheticFundus(mixSeed(5, i), [H, W], SECOND_STYLE);
      const got = await loadSample(s);
      const q = quadrantRegion(s.quadrant, W, H);
      expect([got.height, got.width]).toEqual([q.height, q.width]);
      let maxErr = 0, maskDiff = 0;
      for (let y = 0; y < q.height; y++)
        for (let x = 0; x < q.width; x++) {
          const src = (q.top + y) * W + q.left + x, dst = y * q.width + x;
          for (let c = 0; c < 3; c++) maxErr = Math.max(maxErr, Math.abs(got.image[c * q.height * q.width + dst]! - want.image[c * H * W + src]!));
          if (got.mask[dst] !== want.mask[src]) maskDiff++;
        }
      expect(maxErr, s.id).toBeLessThanOrEqual(0.5 / 255 + 1e-6);
      expect(maskDiff, s.id).toBe(0);
    }
    expect((await writeSyntheticFives(root, { images: 10, size: [H, W], seed: 5 })).reused).toBe(true);
    await expect(writeSyntheticFives(root, { images: 10, size: [H, W], seed: 6 })).rejects.toThrow(/exists and is not this dataset/);
    const other = path.join(path.dirname(root), 'other');
    mkdirSync(other);
    await expect(writeSyntheticFives(other, { images: 10, size: [H, W], seed: 5 })).rejects.toThrow(/exists and is not this dataset/);
    await expect(writeSyntheticFives(root, { images: 1, size: [H, W], seed: 5 })).rejects.toThrow(/images/);
  }, 60_000);

  it('the second style has other vessel statistics: fewer vessel pixels per tree, more lesions, darker background', () => {
    const stats = (style: typeof FUNDUS_STYLE) => {
      let vessel = 0, green = 0, n = 0;
      for (let s = 0; s < 6; s++) {
        const x = syntheticFundus(100 + s, [128, 128], style);
        vessel += x.mask.reduce((a, v) => a + v, 0);
        for (let p = 0; p < 128 * 128; p++) green += x.image[128 * 128 + p]!;
        n += 128 * 128;
      }
      return { vessel: vessel / n, green: green / n };
    };
    const a = stats(FUNDUS_STYLE), b = stats(SECOND_STYLE);
    expect(b.green).toBeLessThan(a.green);
    expect(Math.abs(b.vessel - a.vessel) / a.vessel).toBeGreaterThan(0.1);
  });

  it('the default style keeps its bytes (known answer)', () => {
    const r = syntheticFundus(7, [96, 128]);
    const h = createHash('sha256').update(Buffer.from(r.image.buffer)).update(Buffer.from(r.mask.buffer)).digest('hex');
    expect(h).toBe('4930363d5c1c6625dc87ec90b240579372d8b045fe1e5dcee36c8e8627f08dc6');
  });
});
