/**
 * gumbelSoftmaxST (SPEC §4): two-channel Gumbel-Softmax with a straight-through estimator, the
 * DynamicViT keep decision. Channel 0 = keep.
 *   logits [B,N,2] f32 -> hard [B,N] in {0,1}, soft [B,N]
 *   y_c = (logits[b,n,c] + g_c) / tau,  soft = softmax(y)[0] = sigmoid(y_0 - y_1),  hard = [y_0 >= y_1]
 * A tie y_0 == y_1 keeps the token (argmax picks the first channel, as torch does). g_0, g_1 come from
 * Philox stream 1 keyed by (seed, b, n) (native/common/philox.h), so P(hard = 1) = sigmoid(l_0 - l_1)
 * for any tau, and the result does not depend on threads or kernel variant.
 * Backward (straight-through: forward value hard, gradient of soft):
 *   dlogits[b,n,0] = dhard * s(1-s)/tau,  dlogits[b,n,1] = -dhard * s(1-s)/tau
 * `{ device: 'cuda' }` runs both on the GPU (upload, src/cuda/tokenOps.ts, download); same result.
 */
import { native, type Seed } from '../native.js';
import { describe } from '../errors.js';
import { expectEps, expectSeed, expectTensor, snapshot, snapshotAll, type F32Tensor } from '../validate.js';
import { downloadF32, expectDevice, onCuda, type Device } from '../cuda/hostBridge.js';
import { upload } from '../cuda/deviceTensor.js';
import { gumbelSoftmaxST as cudaGumbelSoftmaxST, gumbelSoftmaxSTBackward as cudaGumbelSoftmaxSTBackward } from '../cuda/tokenOps.js';

export interface GumbelSoftmaxSTOptions {
  /** Temperature, finite and > 0. Default 1. */
  tau?: number;
  /** Philox seed: a non-negative safe integer or a bigint in [0, 2^64). Default 0. */
  seed?: Seed;
  /** 'cpu' (default) or 'cuda' (upload -> GPU kernel -> download). */
  device?: Device;
}

function checkTau(op: string, tau: unknown): number {
  return expectEps(op, 'tau', tau); // finite and > 0, also as float32 (the kernels take a float tau)
}

/**
 * Samples the hard keep decision with the soft score for the gradient.
 * @param logits float32 [B,N,2], channel 0 = keep logit (a NaN logit gives soft = NaN and hard = 0)
 * @param opts `tau` (default 1, finite > 0), `seed` (number | bigint, default 0), `device` ('cpu' default, or 'cuda')
 * @returns `{ hard: float32 [B,N] in {0,1}, soft: float32 [B,N] }`; keep `soft` for the backward
 * @throws TypeError for a wrong dtype/rank or option kind; RangeError for a last dim other than 2,
 *   tau not finite or <= 0, or a bad seed
 * @example
 * const { hard, soft } = gumbelSoftmaxST({ data: logits, shape: [8, 4101, 2] }, { tau: 1, seed: 3 });
 */
export function gumbelSoftmaxST(logits: F32Tensor, opts: GumbelSoftmaxSTOptions = {}): { hard: F32Tensor; soft: F32Tensor } {
  const op = 'gumbelSoftmaxST';
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${op}: expected opts to be an object, received ${describe(opts)}`);
  logits = snapshot(logits); // data / shape read once
  const [B, N] = expectTensor(op, 'logits', logits, 'float32', ['B', 'N', 'C'], { C: 2 }) as [number, number, number];
  const tau = checkTau(op, opts.tau ?? 1);
  const seed = expectSeed(op, 'seed', opts.seed ?? 0);
  const device = expectDevice(op, opts.device);
  const hard = new Float32Array(B * N), soft = new Float32Array(B * N);
  if (device === 'cuda')
    onCuda((own) => {
      const r = cudaGumbelSoftmaxST(own(upload(logits)), { tau, seed });
      own(r.hard);
      own(r.soft);
      downloadF32(r.hard, hard);
      downloadF32(r.soft, soft);
    });
  else native().gumbelSoftmaxST(logits.data, hard, soft, B, N, tau, seed);
  return { hard: { data: hard, shape: [B, N] }, soft: { data: soft, shape: [B, N] } };
}

/**
 * Straight-through gradient: the gradient of `soft` applied to the upstream gradient of `hard`.
 * @param dhard float32 [B,N], upstream gradient of hard
 * @param soft float32 [B,N], the `soft` output of the forward call
 * @param opts `tau`: the forward's temperature (default 1); `device` ('cpu' default, or 'cuda')
 * @returns float32 [B,N,2]: `[dhard*s(1-s)/tau, -dhard*s(1-s)/tau]`
 * @throws TypeError for a wrong dtype/rank; RangeError for a shape mismatch or a bad tau
 * @example
 * const dlogits = gumbelSoftmaxSTBackward(dhard, soft, { tau: 1 }); // float32 [B,N,2]
 */
export function gumbelSoftmaxSTBackward(dhard: F32Tensor, soft: F32Tensor, opts: { tau?: number; device?: Device } = {}): F32Tensor {
  const op = 'gumbelSoftmaxSTBackward';
  if (typeof opts !== 'object' || opts === null) throw new TypeError(`${op}: expected opts to be an object, received ${describe(opts)}`);
  [dhard, soft] = snapshotAll(dhard, soft);
  const [B, N] = expectTensor(op, 'dhard', dhard, 'float32', ['B', 'N']) as [number, number];
  expectTensor(op, 'soft', soft, 'float32', ['B', 'N'], { B, N });
  const tau = checkTau(op, opts.tau ?? 1);
  const device = expectDevice(op, opts.device);
  const out = new Float32Array(B * N * 2);
  if (device === 'cuda') onCuda((own) => downloadF32(own(cudaGumbelSoftmaxSTBackward(own(upload(dhard)), own(upload(soft)), { tau })), out));
  else native().gumbelSoftmaxSTBackward(dhard.data, soft.data, out, B, N, tau);
  return { data: out, shape: [B, N, 2] };
}
