/**
 * Loader for the FIVES retinal vessel dataset (paper §4.1; Jin et al., 2022) in its published folder
 * layout:
 * ```
 * <root>/train/Original/<name>.png       <root>/train/Ground truth/<name>.png
 * <root>/test/Original/<name>.png        <root>/test/Ground truth/<name>.png
 * ```
 * Each 2048x2048 image is cut into its 4 quadrants (q = 0 top-left, 1 top-right, 2 bottom-left,
 * 3 bottom-right; for odd sizes the top/left part has floor(H/2) rows / floor(W/2) columns); every
 * quadrant is one sample, image and mask cropped alike. The paper's 70:20:10 train/val/test split is
 * redone over ALL source images of both folders (the published train/test folders are pooled): the
 * split is BY SOURCE IMAGE (a seeded Fisher-Yates shuffle of the sorted image keys, then the first
 * round(.7 n) images -> train, the next round(.2 n) -> val, the rest -> test), so the 4 quadrants of one
 * image always land in the same split. `splitBy: 'quadrant'` shuffles quadrant samples instead.
 *
 * Lazy: {@link listFives} only reads directory listings (and, with `verify`, image headers);
 * {@link loadSample} decodes one quadrant on demand with sharp: image -> RGB float [0, 1] CHW
 * (grey replicated, alpha dropped; sharp's raw output is 8-bit, so 16-bit files are read at 8 bits),
 * mask -> 1 where any colour channel > 127; optional resize to the model size, bilinear for the image and
 * nearest-neighbour for the mask. Every problem throws a {@link DatasetError} naming the file or folder.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadSharp } from './sharp.js';
import { mulberry32 } from '../model/rng.js';
import { checkSeed, checkSize, mixSeed, type SegSample } from './sample.js';

/** A dataset problem; `path` is the offending file or folder (also in the message). */
export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(`${message}: ${path}`);
  }
}

export type Split = 'train' | 'val' | 'test';
export const FIVES_FOLDERS = ['train', 'test'] as const;
export const IMAGE_DIR = 'Original';
export const MASK_DIR = 'Ground truth';

/** One quadrant of one FIVES image (not decoded). */
export interface FivesSample {
  /** `<folder>/<name>#q<quadrant>`, unique. */
  id: string;
  /** The published folder the image came from. */
  folder: 'train' | 'test';
  /** File name, e.g. `1_A.png`. */
  name: string;
  imagePath: string;
  maskPath: string;
  /** 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right. */
  quadrant: 0 | 1 | 2 | 3;
  /** The split this sample belongs to (see the file comment). */
  split: Split;
}

export interface ListFivesOptions {
  /** Seed of the split shuffle (default 0). */
  seed?: number;
  /** Split fractions train:val:test (default [0.7, 0.2, 0.1]); normalised to sum 1. */
  ratios?: readonly [number, number, number];
  /** Keep quadrants of one image together ('image', default) or shuffle quadrants independently. */
  splitBy?: 'image' | 'quadrant';
  /** Also read every image's and mask's header now: unreadable files and size mismatches throw here. */
  verify?: boolean;
}

export interface LoadSampleOptions {
  /** Output [H, W]; default the quadrant's own size (no resampling). */
  size?: readonly [number, number];
}

const isPng = (f: string): boolean => f.toLowerCase().endsWith('.png');

async function listDir(dir: string, what: string): Promise<string[]> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new DatasetError(`FIVES: missing ${what} folder`, dir);
  }
  if (!st.isDirectory()) throw new DatasetError(`FIVES: ${what} is not a folder`, dir);
  const names = (await readdir(dir)).filter(isPng);
  // Code-unit order, not localeCompare: the listing (and so the split) must not depend on the locale.
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function shuffle<T>(items: T[], seed: number): T[] {
  const u = mulberry32(mixSeed(seed, 0xf1e5));
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}

/** Split sizes for n items: round(.7 n), round(.2 n), rest (for the default ratios). */
export function splitCounts(n: number, ratios: readonly [number, number, number] = [0.7, 0.2, 0.1]): [number, number, number] {
  const sum = ratios[0] + ratios[1] + ratios[2];
  if (!ratios.every((r) => Number.isFinite(r) && r >= 0) || !(sum > 0))
    throw new RangeError(`listFives: expected ratios to be 3 non-negative numbers with a positive sum, received [${ratios.join(', ')}]`);
  const a = Math.round((n * ratios[0]) / sum);
  const b = Math.min(n - a, Math.round((n * ratios[1]) / sum));
  return [a, b, n - a - b];
}

async function header(file: string): Promise<{ width: number; height: number }> {
  try {
    const sharp = await loadSharp();
    const m = await sharp(file).metadata();
    if (!m.width || !m.height) throw new Error('no size');
    return { width: m.width, height: m.height };
  } catch (e) {
    throw new DatasetError(`FIVES: unreadable image (${(e as Error).message})`, file);
  }
}

/**
 * Lists the quadrant samples of a FIVES folder and assigns the seeded 70:20:10 split.
 * @param root dataset root holding `train/` and `test/`
 * @param opts seed, ratios, splitBy, verify (see {@link ListFivesOptions})
 * @returns 4 samples per image, ordered by (folder, name, quadrant)
 * @throws DatasetError for a missing/empty folder, an image without mask (or a mask without image)
 *   and, with `verify`, unreadable files and mask/image size mismatches; RangeError for bad options
 * @example
 * const samples = await listFives('/data/FIVES', { seed: 1 });
 * const train = samples.filter((s) => s.split === 'train');
 */
export async function listFives(root: string, opts: ListFivesOptions = {}): Promise<FivesSample[]> {
  const seed = checkSeed('listFives', opts.seed ?? 0);
  const ratios = opts.ratios ?? [0.7, 0.2, 0.1];
  const splitBy = opts.splitBy ?? 'image';
  if (splitBy !== 'image' && splitBy !== 'quadrant') throw new RangeError(`listFives: expected splitBy to be 'image' or 'quadrant', received ${String(splitBy)}`);
  await listDir(root, 'dataset root');
  const images: { folder: 'train' | 'test'; name: string; imagePath: string; maskPath: string }[] = [];
  for (const folder of FIVES_FOLDERS) {
    const imgDir = join(root, folder, IMAGE_DIR), maskDir = join(root, folder, MASK_DIR);
    const imgs = await listDir(imgDir, `${folder} image`);
    const masks = await listDir(maskDir, `${folder} mask`);
    if (imgs.length === 0) throw new DatasetError('FIVES: no .png images in folder', imgDir);
    const maskSet = new Set(masks);
    const imgSet = new Set(imgs);
    for (const name of imgs) if (!maskSet.has(name)) throw new DatasetError('FIVES: missing mask for image', join(imgDir, name));
    for (const name of masks) if (!imgSet.has(name)) throw new DatasetError('FIVES: mask without image', join(maskDir, name));
    for (const name of imgs) images.push({ folder, name, imagePath: join(imgDir, name), maskPath: join(maskDir, name) });
  }
  if (opts.verify) {
    for (const im of images) {
      const a = await header(im.imagePath), b = await header(im.maskPath);
      if (a.width !== b.width || a.height !== b.height)
        throw new DatasetError(`FIVES: mask size ${b.width}x${b.height} differs from image size ${a.width}x${a.height}`, im.maskPath);
    }
  }
  const samples: FivesSample[] = [];
  for (const im of images)
    for (const q of [0, 1, 2, 3] as const) samples.push({ id: `${im.folder}/${im.name}#q${q}`, ...im, quadrant: q, split: 'train' });
  const splitOf = (rank: number, counts: [number, number, number]): Split => (rank < counts[0] ? 'train' : rank < counts[0] + counts[1] ? 'val' : 'test');
  if (splitBy === 'image') {
    const counts = splitCounts(images.length, ratios);
    const order = shuffle(images.map((_, i) => i), seed);
    const rank = new Int32Array(images.length);
    order.forEach((img, r) => (rank[img] = r));
    samples.forEach((s, i) => (s.split = splitOf(rank[i >> 2]!, counts)));
  } else {
    const counts = splitCounts(samples.length, ratios);
    shuffle(samples.map((_, i) => i), seed).forEach((si, r) => (samples[si]!.split = splitOf(r, counts)));
  }
  return samples;
}

/** Decoded 8-bit pixels, HWC. */
interface Raw {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

type Region = { left: number; top: number; width: number; height: number };

/** The pixel rectangle of quadrant q of a width x height image (top/left parts get the floor). */
export function quadrantRegion(q: number, width: number, height: number): Region {
  const h2 = Math.floor(height / 2), w2 = Math.floor(width / 2);
  return { left: q % 2 === 1 ? w2 : 0, top: q >= 2 ? h2 : 0, width: q % 2 === 1 ? width - w2 : w2, height: q >= 2 ? height - h2 : h2 };
}

async function decodeRegion(file: string, region: Region, size: readonly [number, number] | undefined, kernel: 'linear' | 'nearest'): Promise<Raw> {
  try {
    const sharp = await loadSharp();
    let pipe = sharp(file, { failOn: 'error' }).extract(region);
    if (size && (size[0] !== region.height || size[1] !== region.width))
      pipe = pipe.resize({ width: size[1], height: size[0], fit: 'fill', kernel, fastShrinkOnLoad: false });
    const { data, info } = await pipe.raw().toBuffer({ resolveWithObject: true });
    const n = info.width * info.height * info.channels;
    return { data: new Uint8Array(data.buffer, data.byteOffset, n), width: info.width, height: info.height, channels: info.channels };
  } catch (e) {
    throw new DatasetError(`FIVES: cannot decode image (${(e as Error).message})`, file);
  }
}

/**
 * Decodes one quadrant sample.
 * @param sample a {@link FivesSample} from {@link listFives}
 * @param opts `size: [H, W]` to resize to (bilinear image, nearest mask); default the quadrant size
 * @returns `{image: Float32Array [3, H, W] RGB in [0, 1], mask: Uint8Array [H, W] in {0, 1}, height, width}`
 * @throws DatasetError naming the file: unreadable/undecodable image or mask, mask/image size mismatch
 */
export async function loadSample(sample: FivesSample, opts: LoadSampleOptions = {}): Promise<SegSample> {
  const size = opts.size === undefined ? undefined : checkSize('loadSample', opts.size);
  const [a, b] = await Promise.all([header(sample.imagePath), header(sample.maskPath)]);
  if (a.width !== b.width || a.height !== b.height)
    throw new DatasetError(`FIVES: mask size ${b.width}x${b.height} differs from image size ${a.width}x${a.height}`, sample.maskPath);
  if (a.width < 2 || a.height < 2) throw new DatasetError(`FIVES: image ${a.width}x${a.height} too small to split into quadrants`, sample.imagePath);
  const region = quadrantRegion(sample.quadrant, a.width, a.height);
  const [im, mk] = await Promise.all([
    decodeRegion(sample.imagePath, region, size, 'linear'),
    decodeRegion(sample.maskPath, region, size, 'nearest'),
  ]);
  const H = im.height, W = im.width, HW = H * W;
  const image = new Float32Array(3 * HW);
  const ci = im.channels >= 3 ? 1 : 0; // 1-2 channels: grey (+ alpha), replicated to RGB
  for (let p = 0; p < HW; p++) for (let c = 0; c < 3; c++) image[c * HW + p] = im.data[p * im.channels + c * ci]! / 255;
  const mask = new Uint8Array(HW);
  const colours = mk.channels === 2 || mk.channels === 4 ? mk.channels - 1 : mk.channels; // alpha is not a colour
  for (let p = 0; p < HW; p++) {
    let on = 0;
    for (let c = 0; c < colours; c++) if (mk.data[p * mk.channels + c]! > 127) on = 1;
    mask[p] = on;
  }
  return { image, mask, height: H, width: W };
}
