/**
 * Batching (SPEC §4 training input): stacks samples of equal size into the model's batch layout,
 * images [B, 3, H, W] (float32, usually ImageNet-normalised by augment) and masks [B, H, W] (uint8), and
 * yields seeded epoch orders of sample indices.
 */
import { mulberry32 } from '../model/rng.js';
import { checkSeed, mixSeed, type SegSample } from './sample.js';

export interface Batch {
  /** [B, 3, H, W] */
  images: Float32Array;
  /** [B, H, W] */
  masks: Uint8Array;
  /** [B, 3, H, W] */
  shape: [number, number, number, number];
}

/**
 * Stacks samples into one batch.
 * @param samples at least one; all with the same height and width, image [3, H, W], mask [H, W]
 * @returns {@link Batch}
 * @throws RangeError for an empty list, differing sizes or arrays whose length does not match
 */
export function makeBatch(samples: readonly SegSample[]): Batch {
  if (!Array.isArray(samples) || samples.length === 0) throw new RangeError('makeBatch: expected a non-empty array of samples');
  const { height: H, width: W } = samples[0]!;
  const HW = H * W, B = samples.length;
  const images = new Float32Array(B * 3 * HW), masks = new Uint8Array(B * HW);
  samples.forEach((s, b) => {
    if (s.height !== H || s.width !== W) throw new RangeError(`makeBatch: sample ${b} is ${s.height}x${s.width}, expected ${H}x${W} (as sample 0)`);
    if (s.image.length !== 3 * HW) throw new RangeError(`makeBatch: sample ${b} image has length ${s.image.length}, expected 3*${H}*${W} = ${3 * HW}`);
    if (s.mask.length !== HW) throw new RangeError(`makeBatch: sample ${b} mask has length ${s.mask.length}, expected ${H}*${W} = ${HW}`);
    images.set(s.image, b * 3 * HW);
    masks.set(s.mask, b * HW);
  });
  return { images, masks, shape: [B, 3, H, W] };
}

/**
 * Index batches of one epoch: a seeded permutation of 0..n-1 (seed mixed with the epoch), cut into
 * batches of `batchSize`; the last short batch is dropped when `dropLast`.
 */
export function epochBatches(n: number, batchSize: number, seed: number, epoch = 0, dropLast = false): number[][] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`epochBatches: expected n to be a non-negative integer, received ${n}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`epochBatches: expected batchSize to be a positive integer, received ${batchSize}`);
  checkSeed('epochBatches', seed);
  const u = mulberry32(mixSeed(seed, epoch, 0xba7c));
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  const out: number[][] = [];
  for (let s = 0; s < n; s += batchSize) {
    const b = idx.slice(s, s + batchSize);
    if (b.length === batchSize || !dropLast) out.push(b);
  }
  return out;
}
