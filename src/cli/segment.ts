/**
 * One image through the segmenter, shared by `reg4pru infer` (one process, a folder) and the queue
 * worker (src/queue/worker.ts, one job per image): cut a decoded image into model inputs (tiles or one
 * resized copy, src/cli/images.ts), gather the model outputs back into a probability map [C, H, W] at
 * the original size, and encode `<name>_prob.png` / `<name>_mask.png` (C = 1) or
 * `<name>_prob_c<k>.png` per class plus a label mask (C > 1).
 *
 * Encoding is separate from writing so the worker can write each PNG atomically (temp file + rename)
 * while `infer` writes in place; both produce the same bytes for the same image, model and options.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadSharp } from '../data/sharp.js';
import { IMAGENET_MEAN, IMAGENET_STD, chooseMode, probToBytes, resizeBilinear, resizeImage, stitchTile, tileImage, type FitMode, type Piece, type RgbImage } from './images.js';

/** The output file names of one input (`name` = input file name without its extension). */
export function outputNames(name: string, classes: number): string[] {
  return classes === 1 ? [`${name}_prob.png`, `${name}_mask.png`] : [...Array.from({ length: classes }, (_, k) => `${name}_prob_c${k}.png`), `${name}_mask.png`];
}

/**
 * One image in flight: its model inputs and the map their outputs are gathered into.
 * Layout: `prob` is [C, H, W] in tile mode (stitched as tiles arrive), [C, h, w] in resize mode.
 */
export class ImageJob {
  readonly H: number;
  readonly W: number;
  readonly mode: FitMode;
  readonly pieces: Piece[];
  readonly prob: Float32Array;
  #pending: number;

  /**
   * @param img decoded RGB image
   * @param model model input size h×w and number of classes C
   * @param forced 'tile' / 'resize' to force one rule (default: tile when larger than the model input)
   */
  constructor(img: RgbImage, readonly model: { h: number; w: number; C: number }, forced?: FitMode) {
    const { h, w, C } = model;
    this.H = img.height;
    this.W = img.width;
    this.mode = chooseMode(img, h, w, forced);
    this.pieces = this.mode === 'tile' ? tileImage(img, h, w) : [resizeImage(img, h, w)];
    this.prob = new Float32Array(this.mode === 'tile' ? C * img.height * img.width : C * h * w);
    this.#pending = this.pieces.length;
  }

  /** Model inputs still missing an output. */
  get pending(): number {
    return this.#pending;
  }

  /**
   * Takes the model output [C, h, w] of `piece` (one of `this.pieces`).
   * @returns true when this was the last missing piece
   */
  accept(piece: Piece, out: Float32Array): boolean {
    const { h, w, C } = this.model;
    if (this.mode === 'tile') stitchTile(this.prob, this.H, this.W, out, C, h, w, piece.y0, piece.x0);
    else this.prob.set(out);
    return --this.#pending === 0;
  }

  /** The full-size probability map [C, H, W] (resize mode: resized back, bilinear, half-pixel). */
  fullMap(): Float32Array {
    const { h, w, C } = this.model;
    return this.mode === 'resize' ? resizeBilinear(this.prob, C, h, w, this.H, this.W) : this.prob;
  }
}

/** 8-bit probability planes and the mask of a full map [C, H, W], in `outputNames` order. */
export function renderPlanes(full: Float32Array, C: number, H: number, W: number, threshold: number): Uint8Array[] {
  const plane = H * W;
  const planes: Uint8Array[] = [];
  for (let k = 0; k < C; k++) planes.push(probToBytes(full, k * plane, plane));
  const mask = new Uint8Array(plane);
  for (let p = 0; p < plane; p++) {
    if (C === 1) mask[p] = full[p]! >= threshold ? 255 : 0;
    else {
      let best = 0;
      for (let k = 1; k < C; k++) if (full[k * plane + p]! > full[best * plane + p]!) best = k;
      mask[p] = full[best * plane + p]! >= threshold ? best + 1 : 0;
    }
  }
  planes.push(mask);
  return planes;
}

/** Encodes a single-channel 8-bit PNG. */
export async function encodeGreyPng(pixels: Uint8Array, width: number, height: number): Promise<Buffer> {
  const sharp = await loadSharp();
  return sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.length), { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

/** The encoded outputs of a finished image: `[{file, data}]` in `outputNames` order. */
export async function encodeOutputs(job: ImageJob, name: string, threshold: number): Promise<Array<{ file: string; data: Buffer }>> {
  const { C } = job.model;
  const names = outputNames(name, C);
  const planes = renderPlanes(job.fullMap(), C, job.H, job.W, threshold);
  return Promise.all(planes.map(async (p, i) => ({ file: names[i]!, data: await encodeGreyPng(p, job.W, job.H) })));
}

/** Writes a finished image's outputs into `dir` in place (what `infer` does). @returns the file names */
export async function writeOutputs(job: ImageJob, dir: string, name: string, threshold: number): Promise<string[]> {
  const files = await encodeOutputs(job, name, threshold);
  for (const f of files) await writeFile(path.join(dir, f.file), f.data);
  return files.map((f) => f.file);
}

/**
 * `infer --debug` with superpatches: the model input (ImageNet normalisation undone) with every merged 2x2 window
 * tinted green and outlined, as an RGB PNG of the model input size.
 * @param chw model input [3, h, w] (normalised); merged [floor(h/p/2) * floor(w/p/2)], 1 = one token; p the patch
 */
export async function encodeMergedOverlay(chw: Float32Array, h: number, w: number, merged: Uint8Array, patch: number): Promise<Buffer> {
  const rgb = new Uint8Array(h * w * 3);
  const ww = Math.floor(w / patch / 2), s = 2 * patch;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const win = Math.floor(y / s) * ww + Math.floor(x / s);
      const inWin = Math.floor(x / s) < ww && Math.floor(y / s) < Math.floor(h / patch / 2);
      const on = inWin && merged[win] === 1;
      const edge = on && (y % s === 0 || x % s === 0 || y % s === s - 1 || x % s === s - 1);
      for (let c = 0; c < 3; c++) {
        const v = Math.min(1, Math.max(0, chw[(c * h + y) * w + x]! * IMAGENET_STD[c]! + IMAGENET_MEAN[c]!)) * 255;
        const tint = c === 1 ? 255 : 0;
        rgb[(y * w + x) * 3 + c] = Math.round(edge ? tint : on ? 0.6 * v + 0.4 * tint : v);
      }
    }
  const sharp = await loadSharp();
  return sharp(Buffer.from(rgb.buffer), { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}
