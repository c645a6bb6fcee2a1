/**
 * Shared shapes of the data pipeline (SPEC §4, paper §4.1): one segmentation sample is an RGB image
 * in CHW layout ([3, H, W], float32 in [0, 1] before normalisation) and a binary vessel mask
 * ([H, W], 1 = vessel). Also the seed mixing used to derive independent per-sample seeds, so that
 * sample i of a seeded dataset or epoch does not depend on how many samples came before it.
 */

/** An image/mask pair. `image` is [3, height, width] (channel planes R, G, B); `mask` is [height, width]. */
export interface SegSample {
  image: Float32Array;
  mask: Uint8Array;
  height: number;
  width: number;
}

/**
 * Mixes a seed with up to two extra integers (e.g. epoch and sample index) into a 32-bit seed
 * (murmur3-style finaliser over each word). Consecutive inputs give unrelated outputs, which a raw
 * `seed + i` into mulberry32 would not guarantee for the first few draws.
 * @param seed non-negative safe integer (the high bits above 2^32 are folded in)
 * @param a first extra word (default 0)
 * @param b second extra word (default 0)
 * @returns an unsigned 32-bit integer
 */
export function mixSeed(seed: number, a = 0, b = 0): number {
  const hi = Math.floor(seed / 4294967296) >>> 0;
  let h = 0x9e3779b9;
  for (const w of [seed >>> 0, hi, a >>> 0, b >>> 0]) {
    let k = Math.imul(w, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Throws a RangeError unless `seed` is a non-negative safe integer. */
export function checkSeed(op: string, seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)
    throw new RangeError(`${op}: expected seed to be a non-negative safe integer, received ${String(seed)}`);
  return seed;
}

/** Throws unless `size` is [H, W] with integers in [min, 65536]. */
export function checkSize(op: string, size: unknown, min = 1): [number, number] {
  if (!Array.isArray(size) || size.length !== 2)
    throw new TypeError(`${op}: expected size to be [height, width], received ${Array.isArray(size) ? `Array(${size.length})` : typeof size}`);
  const [h, w] = size as unknown[];
  for (const [name, v] of [['height', h], ['width', w]] as const) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 65536)
      throw new RangeError(`${op}: expected size ${name} to be an integer in [${min}, 65536], received ${String(v)}`);
  }
  return [h as number, w as number];
}
