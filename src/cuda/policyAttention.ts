/**
 * policyAttention on CUDA (SPEC §4, §5) over DeviceTensors: the same formula as the CPU op
 * (src/ops/policyAttention.ts), flash-style on the device (native/kernels/cuda/policy_attention_{fwd,bwd}.cu):
 *   M_ij = 1 if i == j else policy[b,j];  A = q k^T / sqrt(Dh);  E_ij = exp(A_ij - max_k A_ik) M_ij
 *   S_ij = (E_ij + eps/N) / (sum_k E_ik + eps);  out = S v          (max over ALL keys)
 * float32 q/k/v run on FP32 SIMT kernels (within ~1e-5 of the CPU op); bfloat16 q/k/v on tensor cores
 * (mma.sync, FP32 accumulation; about 1e-2 relative error, the BF16 rounding of the inputs and of P).
 * Status: ran on an H200 on 2026-12-04, all GPU tests passing (docs/gpu-results.md).
 */
import { native } from '../native.js';
import { describe, rangeError, typeError } from '../errors.js';
import { DeviceTensor, nativeOf } from './deviceTensor.js';

export interface CudaPolicyAttentionOptions {
  /** eps of the SPEC §4 formula, finite and >= 0 (default 1e-6). */
  eps?: number;
  /** dtype of the result (default: q's dtype). */
  outDtype?: 'float32' | 'bfloat16';
  /** float32 DeviceTensor [B,H,N] receiving max_k A_ik (optional output). */
  rowMax?: DeviceTensor;
  /** float32 DeviceTensor [B,H,N] receiving sum_k E_ik + eps (optional output). */
  rowDen?: DeviceTensor;
}

export interface CudaPolicyAttentionGrads {
  dq: DeviceTensor;
  dk: DeviceTensor;
  dv: DeviceTensor;
  dpolicy: DeviceTensor;
}

function epsOf(op: string, eps: unknown): number {
  if (eps === undefined) return 1e-6;
  if (typeof eps !== 'number') throw typeError(op, `expected eps to be a number, received ${describe(eps)}`);
  if (!Number.isFinite(eps) || eps < 0) throw rangeError(op, `expected eps to be a finite number >= 0, received ${eps}`);
  return eps;
}

function optsOf<T>(op: string, opts: T): T {
  if (typeof opts !== 'object' || opts === null) throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
  return opts;
}

/**
 * Policy-masked attention on the device (enqueued on the library stream; returns without waiting).
 * @param q DeviceTensor float32 | bfloat16 [B,H,N,Dh], Dh <= 256
 * @param k DeviceTensor, q's dtype, [B,H,N,Dh]
 * @param v DeviceTensor, q's dtype, [B,H,N,Dh]
 * @param policy DeviceTensor float32 [B,N] (soft values allowed; NOT checked for finiteness on the device)
 * @param opts `eps` (1e-6), `outDtype` (q's), `rowMax` / `rowDen` optional float32 [B,H,N] outputs
 * @returns a new DeviceTensor [B,H,N,Dh]
 * @throws TypeError for a non-DeviceTensor argument or a wrong dtype / rank; RangeError for a shape mismatch,
 *   a bad eps, Dh > 256 or B*H > 65535; Error when no CUDA device is usable (the message says why)
 * @example
 * const o = cuda.policyAttention(q, k, v, policy); // q: bfloat16 [1,6,4101,64] DeviceTensor
 */
export function policyAttention(q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, policy: DeviceTensor, opts: CudaPolicyAttentionOptions = {}): DeviceTensor {
  const op = 'cudaPolicyAttention';
  optsOf(op, opts);
  const eps = epsOf(op, opts.eps);
  const out = native().cudaPolicyAttention(
    nativeOf(op, 'q', q), nativeOf(op, 'k', k), nativeOf(op, 'v', v), nativeOf(op, 'policy', policy), eps,
    opts.outDtype ?? null,
    opts.rowMax === undefined ? null : nativeOf(op, 'opts.rowMax', opts.rowMax),
    opts.rowDen === undefined ? null : nativeOf(op, 'opts.rowDen', opts.rowDen),
  );
  return DeviceTensor.fromNative(out);
}

/**
 * Gradients of `sum(dout * policyAttention(q, k, v, policy))` on the device, exact (the row max is not
 * detached): recompute style (runs the forward once more into FP32 scratch), deterministic (no atomics).
 * @param dout DeviceTensor, q's dtype, [B,H,N,Dh]
 * @param opts `eps` (default 1e-6), must match the forward's
 * @returns new float32 DeviceTensors `{ dq, dk, dv: [B,H,N,Dh], dpolicy: [B,N] (summed over heads) }`
 * @throws as policyAttention, and for dout
 * @example
 * const { dq, dk, dv, dpolicy } = cuda.policyAttentionBackward(q, k, v, policy, dout);
 */
export function policyAttentionBackward(q: DeviceTensor, k: DeviceTensor, v: DeviceTensor, policy: DeviceTensor, dout: DeviceTensor, opts: { eps?: number } = {}): CudaPolicyAttentionGrads {
  const op = 'cudaPolicyAttentionBackward';
  optsOf(op, opts);
  const eps = epsOf(op, opts.eps);
  const g = native().cudaPolicyAttentionBackward(
    nativeOf(op, 'q', q), nativeOf(op, 'k', k), nativeOf(op, 'v', v), nativeOf(op, 'policy', policy), nativeOf(op, 'dout', dout), eps,
  );
  return {
    dq: DeviceTensor.fromNative(g.dq),
    dk: DeviceTensor.fromNative(g.dk),
    dv: DeviceTensor.fromNative(g.dv),
    dpolicy: DeviceTensor.fromNative(g.dpolicy),
  };
}
