/**
 * Image I/O and geometry for `reg4pru infer`: decode PNG/JPEG/TIFF (recognised by content through
 * sharp, not by extension) to RGB in [0, 1]; cut into model-sized tiles or resize to the model size;
 * ImageNet normalisation (docs/inference-forward.md step 1); stitch/resize the probability maps back
 * to the original size (PNG encoding: src/cli/segment.ts).
 *
 * Layouts: decoded images are HWC (row-major, 3 channels); model inputs are CHW per tile ([3, h, w]);
 * probability maps are CHW ([C, H, W]) with C = classes.
 */
import { statSync } from 'node:fs';
import type { Metadata, OutputInfo } from 'sharp';
import { loadSharp } from '../data/sharp.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
export const SUPPORTED_FORMATS = ['png', 'jpeg', 'tiff'] as const;

/** A decoded RGB image, values in [0, 1], HWC. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Float32Array;
  format: string;
}

/** An input that cannot be used; the message says why (shown next to the file name). */
export class BadInputError extends Error {
  override name = 'BadInputError';
}

/**
 * Decodes the first page/frame of a PNG, JPEG or TIFF (a file path, or the file's bytes). Grey is replicated to RGB, alpha dropped, CMYK
 * converted to sRGB, 16-bit scaled by 1/65535. EXIF orientation is not applied: outputs keep the stored
 * pixel grid, so they overlay the input pixel for pixel.
 * @throws BadInputError for empty files, other formats, undecodable data
 */
export async function decodeImage(file: string | Buffer): Promise<RgbImage> {
  const size = typeof file === 'string' ? statSync(file).size : file.length;
  if (size === 0) throw new BadInputError('empty file (0 bytes)');
  const sharp = await loadSharp();
  let meta: Metadata;
  try {
    meta = await sharp(file).metadata();
  } catch (e) {
    throw new BadInputError(`not a readable image (${(e as Error).message})`);
  }
  const format = meta.format ?? 'unknown';
  if (!(SUPPORTED_FORMATS as readonly string[]).includes(format)) throw new BadInputError(`unsupported format '${format}' (expected PNG, JPEG or TIFF)`);
  if (!meta.width || !meta.height) throw new BadInputError('image has zero width or height');
  const wide = meta.depth === 'ushort';
  let pipe = sharp(file, { failOn: 'error' });
  if (meta.space === 'cmyk') pipe = pipe.toColourspace('srgb');
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipe.raw(wide && meta.space !== 'cmyk' ? { depth: 'ushort' } : {}).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new BadInputError(`cannot decode ${format} data (${(e as Error).message})`);
  }
  const { width, height, channels } = raw.info;
  const n = width * height;
  const sixteen = raw.data.length === n * channels * 2;
  const src = sixteen ? new Uint16Array(raw.data.buffer, raw.data.byteOffset, n * channels) : raw.data;
  const scale = sixteen ? 1 / 65535 : 1 / 255;
  const colour = channels >= 3; // 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGBA
  const rgb = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = src[i * channels + (colour ? c : 0)]! * scale;
  }
  return { width, height, rgb, format };
}

export type FitMode = 'tile' | 'resize';

/** One model input and where its output goes: tile origin (tile mode) or the whole image (resize). */
export interface Piece {
  /** [3, h, w], normalised. */
  chw: Float32Array;
  y0: number;
  x0: number;
}

/** Default rule: tile when the image is larger than the model input in either direction, else resize. */
export function chooseMode(img: { width: number; height: number }, modelH: number, modelW: number, forced?: FitMode): FitMode {
  return forced ?? (img.height > modelH || img.width > modelW ? 'tile' : 'resize');
}

function normaliseInto(dst: Float32Array, plane: number, p: number, r: number, g: number, b: number): void {
  dst[p] = (r - IMAGENET_MEAN[0]) / IMAGENET_STD[0];
  dst[plane + p] = (g - IMAGENET_MEAN[1]) / IMAGENET_STD[1];
  dst[2 * plane + p] = (b - IMAGENET_MEAN[2]) / IMAGENET_STD[2];
}

/**
 * Non-overlapping h×w tiles in row-major order; edge tiles are padded with 0 after normalisation (the
 * ImageNet mean colour), and only their valid part is stitched back.
 */
export function tileImage(img: RgbImage, h: number, w: number): Piece[] {
  const pieces: Piece[] = [];
  const plane = h * w;
  for (let y0 = 0; y0 < img.height; y0 += h) {
    for (let x0 = 0; x0 < img.width; x0 += w) {
      const chw = new Float32Array(3 * plane);
      const vh = Math.min(h, img.height - y0), vw = Math.min(w, img.width - x0);
      for (let y = 0; y < vh; y++) {
        for (let x = 0; x < vw; x++) {
          const s = ((y0 + y) * img.width + x0 + x) * 3;
          normaliseInto(chw, plane, y * w + x, img.rgb[s]!, img.rgb[s + 1]!, img.rgb[s + 2]!);
        }
      }
      pieces.push({ chw, y0, x0 });
    }
  }
  return pieces;
}

/**
 * Bilinear resize of a planar float image [C, inH, inW] -> [C, outH, outW] with half-pixel centres
 * (src = (dst + 0.5)·in/out − 0.5, clamped to [0, in − 1]; PyTorch align_corners=False).
 */
export function resizeBilinear(src: Float32Array, C: number, inH: number, inW: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(C * outH * outW);
  const axis = (o: number, inN: number, outN: number) => {
    const s = Math.min(Math.max((o + 0.5) * (inN / outN) - 0.5, 0), inN - 1);
    const i0 = Math.floor(s), i1 = Math.min(i0 + 1, inN - 1);
    return [i0, i1, s - i0] as const;
  };
  const xs = Array.from({ length: outW }, (_, x) => axis(x, inW, outW));
  for (let c = 0; c < C; c++) {
    const base = c * inH * inW;
    for (let y = 0; y < outH; y++) {
      const [y0, y1, fy] = axis(y, inH, outH);
      for (let x = 0; x < outW; x++) {
        const [x0, x1, fx] = xs[x]!;
        const a = src[base + y0 * inW + x0]!, b = src[base + y0 * inW + x1]!;
        const cc = src[base + y1 * inW + x0]!, d = src[base + y1 * inW + x1]!;
        out[(c * outH + y) * outW + x] = (a * (1 - fx) + b * fx) * (1 - fy) + (cc * (1 - fx) + d * fx) * fy;
      }
    }
  }
  return out;
}

/** The whole image resized (bilinear, half-pixel) to h×w and normalised: one piece at the origin. */
export function resizeImage(img: RgbImage, h: number, w: number): Piece {
  // HWC -> CHW first so the resize works plane by plane.
  const n = img.width * img.height;
  const planar = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planar[c * n + i] = img.rgb[i * 3 + c]!;
  const small = resizeBilinear(planar, 3, img.height, img.width, h, w);
  const plane = h * w;
  const chw = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) normaliseInto(chw, plane, p, small[p]!, small[plane + p]!, small[2 * plane + p]!);
  return { chw, y0: 0, x0: 0 };
}

/** Copies the valid part of a tile's output [C, h, w] into the full map [C, H, W] at (y0, x0). */
export function stitchTile(full: Float32Array, H: number, W: number, tile: Float32Array, C: number, h: number, w: number, y0: number, x0: number): void {
  const vh = Math.min(h, H - y0), vw = Math.min(w, W - x0);
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < vh; y++) {
      const s = (c * h + y) * w, d = (c * H + y0 + y) * W + x0;
      full.set(tile.subarray(s, s + vw), d);
    }
  }
}

/** Probability in [0, 1] -> round(255·p) (clamped; NaN -> 0). */
export function probToBytes(prob: Float32Array, offset = 0, n = prob.length - offset): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = prob[offset + i]!;
    out[i] = p > 0 ? Math.min(255, Math.round(p * 255)) : 0;
  }
  return out;
}
