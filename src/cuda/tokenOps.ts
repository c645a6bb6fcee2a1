/**
 * CUDA token ops over DeviceTensors (SPEC §3-§5; issue 6 part A): the same semantics as the host
 * ops of the same name (src/ops/), FP32 or BF16 data with FP32 math, int32 indices, uint8 masks.
 * Results are new DeviceTensors in the input's dtype (indices: int32). Calls enqueue work on the
 * library stream and return at once.
 *
 * Index values live on the device and are not checked on the host: an out-of-range index is never
 * dereferenced (its gathered row is zeroed, its scattered row skipped) and the first one is reported
 * as a RangeError at the next synchronisation (`synchronize()`, `download()`, `downloadSync()`).
 * Likewise a NaN logit or a row with fewer than k active tokens in `gumbelTopK` (that row is -1).
 * Duplicate indices: `gatherTokensBackward` sums them (ascending k, as the CPU); `scatterTokens`
 * keeps the last k (as the CPU ref; the host op rejects duplicates, the device cannot cheaply).
 */
import { native, type Seed } from '../native.js';
import { describe, typeError } from '../errors.js';
import { expectEps, expectInt, expectSeed } from '../validate.js';
import { DeviceTensor, nativeOf } from './deviceTensor.js';

function opts<T extends object>(op: string, o: unknown): Partial<T> {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw typeError(op, `expected opts to be an object, received ${describe(o)}`);
  return o as Partial<T>;
}

function bool(op: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw typeError(op, `expected ${name} to be a boolean, received ${describe(v)}`);
  return v;
}

// finite and > 0, also as float32: the host op's rule (the kernels take a float tau)
function tau(op: string, v: unknown): number {
  return expectEps(op, 'tau', v ?? 1);
}

/**
 * `out[b,k,:] = x[b, idx[b,k], :]` on the device.
 * @param x float32 | bfloat16 [B,N,D]
 * @param idx int32 [B,K], each in [0, N)
 * @returns [B,K,D] in x's dtype
 * @throws TypeError for a non-DeviceTensor, wrong dtype or rank; RangeError for a shape mismatch; Error without a device
 * @example
 * const y = cuda.gatherTokens(cuda.upload(x), cuda.upload(idx));
 */
export function gatherTokens(x: DeviceTensor, idx: DeviceTensor): DeviceTensor {
  const op = 'cudaGatherTokens';
  return DeviceTensor.fromNative(native().cudaGatherTokens(nativeOf(op, 'x', x), nativeOf(op, 'idx', idx)));
}

/**
 * Gradient of gatherTokens: `dx = 0; dx[b, idx[b,k], :] += dout[b,k,:]` (duplicates summed in ascending k, FP32).
 * @param dout float32 | bfloat16 [B,K,D]
 * @param idx int32 [B,K]
 * @param N token count of x
 * @returns [B,N,D] in dout's dtype
 */
export function gatherTokensBackward(dout: DeviceTensor, idx: DeviceTensor, N: number): DeviceTensor {
  const op = 'cudaGatherTokensBackward';
  expectInt(op, 'N', N, 1);
  return DeviceTensor.fromNative(native().cudaGatherTokensBackward(nativeOf(op, 'dout', dout), nativeOf(op, 'idx', idx), N));
}

/**
 * base with rows idx replaced by src, on the device.
 * @param base float32 | bfloat16 [B,N,D]
 * @param idx int32 [B,K], each in [0, N), no duplicates within a row (else the last k wins)
 * @param src [B,K,D] in base's dtype
 * @param o `inPlace` (default false): write into base and return it
 * @returns [B,N,D]
 */
export function scatterTokens(base: DeviceTensor, idx: DeviceTensor, src: DeviceTensor, o?: { inPlace?: boolean }): DeviceTensor {
  const op = 'cudaScatterTokens';
  const inPlace = bool(op, 'inPlace', opts<{ inPlace: boolean }>(op, o).inPlace, false);
  const r = native().cudaScatterTokens(nativeOf(op, 'base', base), nativeOf(op, 'idx', idx), nativeOf(op, 'src', src), inPlace);
  return inPlace ? base : DeviceTensor.fromNative(r);
}

/**
 * Gradients of scatterTokens: `dbase` = dout with rows idx zeroed, `dsrc` = dout gathered at idx.
 * @param dout float32 | bfloat16 [B,N,D]
 * @param idx int32 [B,K]
 * @param o which gradients to compute (`dbase`, `dsrc`, both default true)
 * @returns `{dbase: [B,N,D] | null, dsrc: [B,K,D] | null}`
 */
export function scatterTokensBackward(dout: DeviceTensor, idx: DeviceTensor, o?: { dbase?: boolean; dsrc?: boolean }): { dbase: DeviceTensor | null; dsrc: DeviceTensor | null } {
  const op = 'cudaScatterTokensBackward';
  const p = opts<{ dbase: boolean; dsrc: boolean }>(op, o);
  const [db, ds] = native().cudaScatterTokensBackward(nativeOf(op, 'dout', dout), nativeOf(op, 'idx', idx), bool(op, 'dbase', p.dbase, true), bool(op, 'dsrc', p.dsrc, true));
  return { dbase: db ? DeviceTensor.fromNative(db) : null, dsrc: ds ? DeviceTensor.fromNative(ds) : null };
}

export interface CudaGumbelTopKOptions {
  /** Philox seed (number | bigint), default 0: the same seed picks the same tokens as the CPU op. */
  seed?: Seed;
  /** Add Gumbel noise; false = plain top-k (ties to the lower index). Default true. */
  noise?: boolean;
  /** uint8 [B,N] DeviceTensor, nonzero = may be chosen. */
  active?: DeviceTensor;
}

/**
 * Gumbel top-k on the device: the k largest `logits + g(seed, b, n)` per row, ascending int32 indices,
 * identical to the CPU op for the same seed (common/philox.h contract).
 * @param logits float32 | bfloat16 [B,N]
 * @param k integer in [1, N]
 * @returns int32 [B,k]
 */
export function gumbelTopK(logits: DeviceTensor, k: number, o?: CudaGumbelTopKOptions): DeviceTensor {
  const op = 'cudaGumbelTopK';
  const p = opts<CudaGumbelTopKOptions>(op, o);
  const seed = expectSeed(op, 'seed', p.seed ?? 0);
  const noise = bool(op, 'noise', p.noise, true);
  const active = p.active === undefined ? null : nativeOf(op, 'active', p.active);
  expectInt(op, 'k', k, 1);
  return DeviceTensor.fromNative(native().cudaGumbelTopK(nativeOf(op, 'logits', logits), active, k, seed, noise));
}

/**
 * Two-channel Gumbel-Softmax straight-through on the device (channel 0 = keep).
 * @param logits float32 | bfloat16 [B,N,2]
 * @param o `tau` (finite > 0, default 1), `seed` (default 0)
 * @returns `{hard, soft}`, each [B,N] in logits' dtype
 */
export function gumbelSoftmaxST(logits: DeviceTensor, o?: { tau?: number; seed?: Seed }): { hard: DeviceTensor; soft: DeviceTensor } {
  const op = 'cudaGumbelSoftmaxST';
  const p = opts<{ tau: number; seed: Seed }>(op, o);
  const t = tau(op, p.tau);
  const seed = expectSeed(op, 'seed', p.seed ?? 0);
  const [hard, soft] = native().cudaGumbelSoftmaxST(nativeOf(op, 'logits', logits), t, seed);
  return { hard: DeviceTensor.fromNative(hard), soft: DeviceTensor.fromNative(soft) };
}

/**
 * Straight-through gradient: `dlogits = [g, -g]`, `g = dhard * s(1-s) / tau`.
 * @param dhard float32 | bfloat16 [B,N]
 * @param soft [B,N] in dhard's dtype (the forward's `soft`)
 * @returns [B,N,2] in dhard's dtype
 */
export function gumbelSoftmaxSTBackward(dhard: DeviceTensor, soft: DeviceTensor, o?: { tau?: number }): DeviceTensor {
  const op = 'cudaGumbelSoftmaxSTBackward';
  const t = tau(op, opts<{ tau: number }>(op, o).tau);
  return DeviceTensor.fromNative(native().cudaGumbelSoftmaxSTBackward(nativeOf(op, 'dhard', dhard), nativeOf(op, 'soft', soft), t));
}
