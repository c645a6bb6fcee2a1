/**
 * gumbelTopK (SPEC §3, §4, §5): per batch row, the k tokens with the largest perturbed logits.
 *   logits [B,N] f32, active [B,N] (optional, nonzero = may be chosen) -> int32 [B,k], ascending.
 *   key[b,n] = logits[b,n] + g(seed, b, n)  (noise on),  key[b,n] = logits[b,n]  (noise off)
 * With noise this samples k tokens without replacement with probabilities following softmax(logits)
 * (the Gumbel top-k trick); equal logits give a uniform random k-subset (Reg4Pru's random routing).
 * Ties go to the lower index. g is counter-based (Philox4x32-10 keyed by seed, row and token; the exact
 * mapping is the contract at the top of native/common/philox.h), so the selection depends only on
 * (logits, active, k, seed): not on the thread count, the kernel variant or the device
 * (`{ device: 'cuda' }` runs the radix-select CUDA kernel on the same Philox keys: same indices).
 */
import { native, type Seed } from '../native.js';
import { describe } from '../errors.js';
import { expectInt, expectSeed, expectTensor, snapshot, type F32Tensor, type I32Tensor, type U8Tensor } from '../validate.js';
import { downloadI32, expectDevice, onCuda, type Device } from '../cuda/hostBridge.js';
import { upload } from '../cuda/deviceTensor.js';
import { gumbelTopK as cudaGumbelTopK } from '../cuda/tokenOps.js';

export interface GumbelTopKOptions {
  /** Philox seed: a non-negative safe integer or a bigint in [0, 2^64). Default 0. */
  seed?: Seed;
  /** Add Gumbel noise (sampling). false = plain deterministic top-k. Default true. */
  noise?: boolean;
  /** [B,N] mask of the tokens that may be chosen (nested stages); nonzero = active. Default: all. */
  active?: U8Tensor | F32Tensor;
  /** 'cpu' (default) or 'cuda' (upload -> GPU kernel -> download; identical indices). */
  device?: Device;
}

export interface GumbelTopKDims {
  B: number;
  N: number;
  k: number;
}

/**
 * Validates logits, k and the active mask (no NaN logits; every row has at least k active tokens)
 * and returns the sizes plus the mask as a Uint8Array (float masks converted, nonzero = 1).
 */
export function gumbelTopKDims(op: string, logits: F32Tensor, k: number, active?: U8Tensor | F32Tensor): GumbelTopKDims & { mask: Uint8Array | null } {
  const [B, N] = expectTensor(op, 'logits', logits, 'float32', ['B', 'N']) as [number, number];
  expectInt(op, 'k', k, 1, N);
  const d = logits.data;
  for (let i = 0; i < d.length; i++)
    if (Number.isNaN(d[i])) throw new RangeError(`${op}: expected logits to contain no NaN (the order is undefined), received logits[${Math.floor(i / N)}][${i % N}] = NaN`);
  let mask: Uint8Array | null = null;
  if (active !== undefined) {
    if (typeof active === 'object' && active !== null && 'data' in active && active.data instanceof Float32Array) {
      expectTensor(op, 'active', active, 'float32', ['B', 'N'], { B, N });
      const f = active.data;
      mask = new Uint8Array(f.length);
      for (let i = 0; i < f.length; i++) {
        if (Number.isNaN(f[i])) throw new RangeError(`${op}: expected active to contain no NaN, received active[${Math.floor(i / N)}][${i % N}] = NaN`);
        mask[i] = f[i] !== 0 ? 1 : 0;
      }
    } else {
      expectTensor(op, 'active', active, 'uint8', ['B', 'N'], { B, N });
      mask = (active as U8Tensor).data;
    }
    for (let b = 0; b < B; b++) {
      let count = 0;
      for (let n = 0; n < N; n++) count += mask[b * N + n] !== 0 ? 1 : 0;
      if (count < k) throw new RangeError(`${op}: active[${b}] has ${count} active tokens, fewer than k=${k}`);
    }
  }
  return { B, N, k, mask };
}

/**
 * Gumbel top-k token selection: the k largest `logits + Gumbel noise` per row, indices ascending.
 * @param logits float32 [B,N], no NaN (±Infinity is allowed and ranks first/last)
 * @param k number of tokens to keep, integer in [1, N] and at most the active count of every row
 * @param opts `seed` (number | bigint, default 0), `noise` (default true), `active` (uint8 or float32 [B,N] mask),
 *   `device` ('cpu' default, or 'cuda')
 * @returns int32 [B,k], each row strictly ascending
 * @throws TypeError for a wrong dtype/rank or option kind; RangeError for a shape mismatch, k out of
 *   range, a NaN logit, a bad seed, or a row with fewer than k active tokens; Error for `device: 'cuda'` without
 *   a usable device
 * @example
 * const keep = gumbelTopK({ data: scores, shape: [1, 4101] }, 2872, { seed: 42 }); // int32 [1,2872]
 */
export function gumbelTopK(logits: F32Tensor, k: number, opts: GumbelTopKOptions = {}): I32Tensor {
  const op = 'gumbelTopK';
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${op}: expected opts to be an object, received ${describe(opts)}`);
  const seed = expectSeed(op, 'seed', opts.seed ?? 0);
  const noise = opts.noise ?? true;
  if (typeof noise !== 'boolean') throw new TypeError(`${op}: expected noise to be a boolean, received ${describe(noise)}`);
  const device = expectDevice(op, opts.device);
  logits = snapshot(logits); // each input's data / shape read once
  const active = opts.active;
  const { B, N, mask } = gumbelTopKDims(op, logits, k, active === undefined ? undefined : snapshot(active));
  if (device === 'cuda') {
    const data = onCuda((own) => {
      const act = mask === null ? undefined : own(upload({ data: mask, shape: [B, N] }));
      return downloadI32(own(cudaGumbelTopK(own(upload(logits)), k, { seed, noise, active: act })));
    });
    return { data, shape: [B, k] };
  }
  const out = new Int32Array(B * k);
  native().gumbelTopK(logits.data, mask, out, B, N, k, seed, noise);
  return { data: out, shape: [B, k] };
}
