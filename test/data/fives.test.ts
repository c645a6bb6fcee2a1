import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetError, listFives, loadSample, quadrantRegion, splitCounts } from '../../src/data/fives.js';

const S = 64;
const dirs: string[] = [];

/** Pixel (i, j) channel c of fake image `k`: distinct per position so crops can be checked exactly. */
const pix = (k: number, i: number, j: number, c: number): number => (i * 3 + j * 5 + c * 70 + k * 11) % 256;
const maskPix = (k: number, i: number, j: number): number => ((i + j + k) % 7 === 0 ? 255 : 0);

async function writeRgb(file: string, W: number, H: number, f: (i: number, j: number, c: number) => number): Promise<void> {
  const buf = Buffer.alloc(W * H * 3);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let c = 0; c < 3; c++) buf[(i * W + j) * 3 + c] = f(i, j, c);
  await sharp(buf, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
}

async function writeGrey(file: string, W: number, H: number, f: (i: number, j: number) => number): Promise<void> {
  const buf = Buffer.alloc(W * H);
  for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) buf[i * W + j] = f(i, j);
  await sharp(buf, { raw: { width: W, height: H, channels: 1 } }).png().toFile(file);
}

/** Builds <root>/{train,test}/{Original,Ground truth} with nTrain + nTest images. */
async function fakeFives(nTrain: number, nTest: number): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'r4p-fives-'));
  dirs.push(root);
  let k = 0;
  for (const [folder, n] of [['train', nTrain], ['test', nTest]] as const) {
    mkdirSync(join(root, folder, 'Original'), { recursive: true });
    mkdirSync(join(root, folder, 'Ground truth'), { recursive: true });
    for (let t = 0; t < n; t++, k++) {
      const name = `${t + 1}_${folder === 'train' ? 'A' : 'N'}.png`;
      const kk = k;
      await writeRgb(join(root, folder, 'Original', name), S, S, (i, j, c) => pix(kk, i, j, c));
      await writeGrey(join(root, folder, 'Ground truth', name), S, S, (i, j) => maskPix(kk, i, j));
    }
  }
  return root;
}

let root = '';
beforeAll(async () => {
  root = await fakeFives(3, 2);
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('listFives', () => {
  it('lists 4 quadrant samples per image in a stable order', async () => {
    const s = await listFives(root);
    expect(s).toHaveLength(20);
    expect(s.slice(0, 4).map((x) => x.id)).toEqual(['train/1_A.png#q0', 'train/1_A.png#q1', 'train/1_A.png#q2', 'train/1_A.png#q3']);
    expect(s[12]!.folder).toBe('test');
    expect(s[12]!.maskPath).toBe(join(root, 'test', 'Ground truth', '1_N.png'));
    expect(new Set(s.map((x) => x.id)).size).toBe(20);
  });

  it('splits by source image, deterministically, with 70:20:10 proportions', async () => {
    const big = await fakeFives(14, 6); // 20 images -> 14 / 4 / 2 images
    const a = await listFives(big, { seed: 3 }), b = await listFives(big, { seed: 3 }), c = await listFives(big, { seed: 4 });
    expect(a.map((x) => x.split)).toEqual(b.map((x) => x.split));
    expect(a.map((x) => x.split)).not.toEqual(c.map((x) => x.split));
    const count = (sp: string): number => a.filter((x) => x.split === sp).length;
    expect([count('train'), count('val'), count('test')]).toEqual([56, 16, 8]);
    const splitOfImage = new Map<string, Set<string>>();
    for (const x of a) {
      const set = splitOfImage.get(x.imagePath) ?? new Set<string>();
      set.add(x.split);
      splitOfImage.set(x.imagePath, set);
    }
    for (const set of splitOfImage.values()) expect(set.size).toBe(1);
    // Quadrant split: 80 quadrants -> 56 / 16 / 8; quadrants of one image may straddle.
    const q = await listFives(big, { seed: 3, splitBy: 'quadrant' });
    expect(['train', 'val', 'test'].map((sp) => q.filter((x) => x.split === sp).length)).toEqual([56, 16, 8]);
    expect(splitCounts(800)).toEqual([560, 160, 80]);
    expect(splitCounts(3)).toEqual([2, 1, 0]);
  });

  it('verify mode reads all headers', async () => {
    await expect(listFives(root, { verify: true })).resolves.toHaveLength(20);
  });
});

describe('loadSample', () => {
  it('crops the quadrants exactly (image and mask alike)', async () => {
    const s = await listFives(root);
    for (const idx of [0, 1, 2, 3, 13]) {
      const sm = s[idx]!;
      const k = Math.floor(idx / 4);
      const { image, mask, height, width } = await loadSample(sm);
      expect([height, width]).toEqual([32, 32]);
      const r = quadrantRegion(sm.quadrant, S, S);
      let bad = 0;
      for (let i = 0; i < 32; i++)
        for (let j = 0; j < 32; j++) {
          for (let c = 0; c < 3; c++) if (Math.round(image[c * 1024 + i * 32 + j]! * 255) !== pix(k, r.top + i, r.left + j, c)) bad++;
          if (mask[i * 32 + j] !== (maskPix(k, r.top + i, r.left + j) ? 1 : 0)) bad++;
        }
      expect(bad).toBe(0);
    }
  });

  it('resizes to the model size (nearest mask stays binary)', async () => {
    const s = await listFives(root);
    const { image, mask, height, width } = await loadSample(s[3]!, { size: [16, 24] });
    expect([height, width, image.length, mask.length]).toEqual([16, 24, 3 * 16 * 24, 16 * 24]);
    expect(mask.every((v) => v === 0 || v === 1)).toBe(true);
    expect(mask.some((v) => v === 1)).toBe(true);
    expect(image.every((v) => v >= 0 && v <= 1)).toBe(true);
  });

  it('thresholds any mask channel > 127', async () => {
    const r = await fakeFives(1, 1);
    await writeRgb(join(r, 'train', 'Ground truth', '1_A.png'), S, S, (i, _j, c) => (c === 2 && i < 10 ? 200 : 100));
    const s = await listFives(r);
    const { mask } = await loadSample(s[0]!);
    expect(mask[0]).toBe(1);
    expect(mask[10 * 32]).toBe(0);
  });
});

describe('quadrants and channels', () => {
  it('quadrant regions tile odd-sized images exactly', () => {
    const cover = new Uint8Array(65 * 63);
    for (const q of [0, 1, 2, 3]) {
      const r = quadrantRegion(q, 63, 65);
      for (let i = r.top; i < r.top + r.height; i++) for (let j = r.left; j < r.left + r.width; j++) cover[i * 63 + j]!++;
    }
    expect(cover.every((v) => v === 1)).toBe(true);
    expect(quadrantRegion(3, 63, 65)).toEqual({ left: 31, top: 32, width: 32, height: 33 });
  });

  it('grey images are replicated to RGB; mask alpha is not a colour', async () => {
    const r = await fakeFives(1, 1);
    await writeGrey(join(r, 'train', 'Original', '1_A.png'), S, S, (i, j) => (i * 4 + j) % 256);
    const rgba = Buffer.alloc(S * S * 4);
    for (let p = 0; p < S * S; p++) rgba[p * 4 + 3] = 255; // black, opaque
    rgba[0] = 255; // red at (0, 0)
    await sharp(rgba, { raw: { width: S, height: S, channels: 4 } }).png().toFile(join(r, 'train', 'Ground truth', '1_A.png'));
    const s = await listFives(r);
    const { image, mask } = await loadSample(s[0]!);
    expect(Math.round(image[5]! * 255)).toBe(5);
    expect(image[1024 + 5]).toBe(image[5]);
    expect(image[2048 + 5]).toBe(image[5]);
    expect(mask[0]).toBe(1);
    expect(mask.reduce((a, b) => a + b, 0)).toBe(1);
  });
});

describe('errors name the file', () => {
  const err = async (p: Promise<unknown>, re: RegExp, path: string): Promise<void> => {
    const e = await p.then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(DatasetError);
    expect((e as Error).message).toMatch(re);
    expect((e as Error).message).toContain(path);
    expect((e as DatasetError).path).toBe(path);
  };

  it('missing root / folders / empty folder', async () => {
    const missing = join(tmpdir(), 'r4p-no-such-dir-xyz');
    await err(listFives(missing), /missing dataset root/, missing);
    const r = await fakeFives(1, 1);
    rmSync(join(r, 'test', 'Ground truth'), { recursive: true });
    await err(listFives(r), /missing test mask folder/, join(r, 'test', 'Ground truth'));
    const e = await fakeFives(1, 0);
    await err(listFives(e), /no \.png images/, join(e, 'test', 'Original'));
  });

  it('missing mask, orphan mask', async () => {
    const r = await fakeFives(2, 1);
    rmSync(join(r, 'train', 'Ground truth', '2_A.png'));
    await err(listFives(r), /missing mask/, join(r, 'train', 'Original', '2_A.png'));
    const o = await fakeFives(1, 1);
    await writeGrey(join(o, 'test', 'Ground truth', '9_N.png'), S, S, () => 0);
    await err(listFives(o), /mask without image/, join(o, 'test', 'Ground truth', '9_N.png'));
  });

  it('size mismatch and unreadable image (at load and with verify)', async () => {
    const r = await fakeFives(1, 1);
    const m = join(r, 'train', 'Ground truth', '1_A.png');
    await writeGrey(m, S, S / 2, () => 0);
    const s = await listFives(r);
    await err(loadSample(s[0]!), /mask size 64x32 differs from image size 64x64/, m);
    await err(listFives(r, { verify: true }), /differs/, m);
    const u = await fakeFives(1, 1);
    const img = join(u, 'test', 'Original', '1_N.png');
    writeFileSync(img, 'not a png');
    const su = await listFives(u);
    await err(loadSample(su[4]!), /unreadable image/, img);
    await err(listFives(u, { verify: true }), /unreadable image/, img);
    const t = await fakeFives(1, 1);
    const tm = join(t, 'train', 'Ground truth', '1_A.png');
    const bytes = readFileSync(tm);
    writeFileSync(tm, bytes.subarray(0, Math.floor(bytes.length / 2))); // header intact, data cut
    const st = await listFives(t);
    await err(loadSample(st[0]!), /cannot decode|unreadable/, tm);
  });
});
