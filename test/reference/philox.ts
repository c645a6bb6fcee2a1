/**
 * Independent TS Philox4x32-10 (Salmon et al. 2011) and the Gumbel mapping of the contract at the top
 * of native/common/philox.h, for checking the native draws. The 32x32 -> 64-bit product is built from
 * 16-bit halves in doubles (every partial sum stays below 2^53, so it is exact).
 */

const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;

/** [hi, lo] of the 64-bit product a*b of two uint32. */
export function mulhilo32(a: number, b: number): [number, number] {
  const ah = a >>> 16, al = a & 0xffff, bh = b >>> 16, bl = b & 0xffff;
  const ll = al * bl;
  const mid = ah * bl + al * bh + Math.floor(ll / 65536); // < 2^34, exact
  const hi = (ah * bh + Math.floor(mid / 65536)) >>> 0;
  const lo = Math.imul(a, b) >>> 0;
  return [hi, lo];
}

/** Philox4x32-10 of counter c under key k; returns four uint32. */
export function philox4x32ref(c: ArrayLike<number>, k: ArrayLike<number>): [number, number, number, number] {
  let c0 = c[0]! >>> 0, c1 = c[1]! >>> 0, c2 = c[2]! >>> 0, c3 = c[3]! >>> 0;
  let k0 = k[0]! >>> 0, k1 = k[1]! >>> 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const [hi0, lo0] = mulhilo32(M0, c0);
    const [hi1, lo1] = mulhilo32(M1, c2);
    const n0 = (hi1 ^ c1 ^ k0) >>> 0, n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

/** The contract's key words for a seed: (low 32 bits, high 32 bits). */
export function seedKey(seed: number | bigint): [number, number] {
  const s = BigInt(seed);
  return [Number(s & 0xffffffffn), Number((s >> 32n) & 0xffffffffn)];
}

/** u = ((x >> 8) + 0.5) * 2^-24. */
export function uniform24(x: number): number {
  return ((x >>> 8) + 0.5) / 16777216;
}

/** Gumbel(0,1) from one word: -log(-log(u)). */
export function gumbelOf(x: number): number {
  return -Math.log(-Math.log(uniform24(x)));
}

export const STREAM_TOPK = 0, STREAM_SOFTMAX = 1;

/** The two Gumbel draws (words 0 and 1) for token n of row b in a stream. */
export function gumbelPair(seed: number | bigint, b: number, n: number, stream: number): [number, number] {
  const x = philox4x32ref([n, b, stream, 0], seedKey(seed));
  return [gumbelOf(x[0]), gumbelOf(x[1])];
}
