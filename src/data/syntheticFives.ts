/**
 * A FIVES-layout folder written by a second synthetic generator (the reproduction study's second data
 * source, issue 15): `syntheticFundus` with {@link SECOND_STYLE} (thinner, more tortuous, more numerous,
 * fainter vessels, lesion spots, another background) at its own image size, saved as the FIVES loader
 * (./fives.ts) expects it:
 * ```
 * <root>/train/Original/<i>_S.png   <root>/train/Ground truth/<i>_S.png   (RGB 8-bit; mask 0/255 grey)
 * <root>/test/Original/<i>_S.png    <root>/test/Ground truth/<i>_S.png
 * ```
 * Image i uses seed mixSeed(seed, i); the first round(trainShare · n) go to train/, the rest to test/
 * (the loader pools both and redoes its own 70:20:10 split by image). The folder is built in a sibling
 * temporary folder and renamed into place at the end, with a `synthetic-fives.json` manifest (the options):
 * a writer killed halfway leaves no partial dataset, and a complete folder with the same manifest is
 * reused as is.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadSharp } from './sharp.js';
import { IMAGE_DIR, MASK_DIR } from './fives.js';
import { checkSeed, checkSize, mixSeed } from './sample.js';
import { SECOND_STYLE, syntheticFundus, type FundusStyle } from './synthetic.js';

export const SYNTHETIC_FIVES_MANIFEST = 'synthetic-fives.json';

export interface SyntheticFivesOptions {
  /** Number of source images (each gives 4 quadrant samples through the loader). */
  images: number;
  /** Image size [H, W] (FIVES: 2048x2048). */
  size: readonly [number, number];
  seed: number;
  /** Share of the images written to train/ (default 0.8). */
  trainShare?: number;
  /** Generator statistics (default {@link SECOND_STYLE}). */
  style?: FundusStyle;
}

export interface SyntheticFivesResult {
  root: string;
  /** True when an existing complete folder with the same options was kept. */
  reused: boolean;
  train: number;
  test: number;
}

/** CHW float [0, 1] → HWC 8-bit. */
function toHwc(image: Float32Array, H: number, W: number): Buffer {
  const HW = H * W, out = Buffer.alloc(3 * HW);
  for (let p = 0; p < HW; p++) for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(image[c * HW + p]! * 255);
  return out;
}

/**
 * Writes (or reuses) the FIVES-layout folder.
 * @param root the dataset root to create
 * @param opts image count, size, seed, train share, style
 * @returns the root, whether it was reused, and the train/test image counts
 * @throws {RangeError} bad options; fs and sharp errors
 * @example await writeSyntheticFives('data/second', { images: 80, size: [512, 512], seed: 7 });
 */
export async function writeSyntheticFives(root: string, opts: SyntheticFivesOptions): Promise<SyntheticFivesResult> {
  const op = 'writeSyntheticFives';
  if (!Number.isInteger(opts.images) || opts.images < 2) throw new RangeError(`${op}: expected images to be an integer >= 2, received ${String(opts.images)}`);
  const [H, W] = checkSize(op, opts.size, 16);
  const seed = checkSeed(op, opts.seed);
  const share = opts.trainShare ?? 0.8;
  if (!(share > 0 && share < 1)) throw new RangeError(`${op}: expected trainShare in (0, 1), received ${share}`);
  const style = opts.style ?? SECOND_STYLE;
  const nTrain = Math.min(opts.images - 1, Math.max(1, Math.round(share * opts.images)));
  const manifest = JSON.stringify({ images: opts.images, size: [H, W], seed, trainShare: share, style }, null, 2) + '\n';
  const result = { root, reused: false, train: nTrain, test: opts.images - nTrain };
  const mfile = path.join(root, SYNTHETIC_FIVES_MANIFEST);
  if (existsSync(mfile) && readFileSync(mfile, 'utf8') === manifest) return { ...result, reused: true };
  if (existsSync(root)) throw new RangeError(`${op}: '${root}' exists and is not this dataset (no or another ${SYNTHETIC_FIVES_MANIFEST}); remove it first`);
  const tmp = `${root}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const sharp = await loadSharp();
  for (const folder of ['train', 'test']) for (const d of [IMAGE_DIR, MASK_DIR]) mkdirSync(path.join(tmp, folder, d), { recursive: true });
  for (let i = 0; i < opts.images; i++) {
    const s = syntheticFundus(mixSeed(seed, i), [H, W], style);
    const folder = i < nTrain ? 'train' : 'test', name = `${i}_S.png`;
    const mask = Buffer.from(s.mask.map((v) => (v ? 255 : 0)));
    await sharp(toHwc(s.image, H, W), { raw: { width: W, height: H, channels: 3 } }).png().toFile(path.join(tmp, folder, IMAGE_DIR, name));
    await sharp(mask, { raw: { width: W, height: H, channels: 1 } }).png().toFile(path.join(tmp, folder, MASK_DIR, name));
  }
  writeFileSync(path.join(tmp, SYNTHETIC_FIVES_MANIFEST), manifest);
  mkdirSync(path.dirname(path.resolve(root)), { recursive: true });
  renameSync(tmp, root);
  return result;
}
