/**
 * policyAttention (SPEC §4, §5): DynamicViT's masked softmax attention with a self-loop.
 *   q,k,v [B,H,N,Dh] f32, policy [B,N] f32 -> out [B,H,N,Dh]
 *   M_ij = 1 if i == j else policy[b,j];  A = q k^T / sqrt(Dh);  E_ij = exp(A_ij - max_k A_ik) M_ij
 *   S_ij = (E_ij + eps/N) / (sum_k E_ik + eps);  out = S v          (max over ALL keys, masked ones too)
 * Gradient (policyAttentionBackward): exact, including the path through the row max, to q, k, v and
 * policy (masked keys still receive gradient); dpolicy is summed over heads.
 * `device: 'cuda'` runs the same formula on the GPU (src/cuda/policyAttention.ts, float32 SIMT kernels):
 * upload -> run -> download, same result type; it throws (never falls back) when no device is usable.
 */
import { native, type NativeDeviceTensor } from '../native.js';
import { expectNumber, expectTensor, outputF32, snapshotAll, type F32Tensor } from '../validate.js';
import { describe, typeError } from '../errors.js';
import { upload, type DeviceTensor } from '../cuda/deviceTensor.js';
import { expectDevice, onCuda } from '../cuda/hostBridge.js';

export interface PolicyAttentionDims {
  B: number;
  H: number;
  N: number;
  Dh: number;
  eps: number;
}

export interface PolicyAttentionOptions {
  /** eps of the SPEC §4 formula, finite and >= 0 (default 1e-6). */
  eps?: number;
  /** Forward only: a Float32Array of B*H*N*Dh elements to write into (zero-copy). */
  out?: Float32Array;
  /** 'cpu' (default) or 'cuda' (upload, run on the GPU in float32, download). */
  device?: 'cpu' | 'cuda';
}

export interface PolicyAttentionGrads {
  dq: F32Tensor;
  dk: F32Tensor;
  dv: F32Tensor;
  dpolicy: F32Tensor;
}

// `opts` may be omitted, undefined or null (no options); anything else that is not an object is a TypeError
// naming the op and the argument (not a TypeError from reading `null.eps`).
function optionsOrEmpty<T extends object>(op: string, opts: T | null | undefined): T {
  if (opts === undefined || opts === null) return {} as T;
  if (typeof opts !== 'object') throw typeError(op, `expected opts to be an object, received ${describe(opts)}`);
  return opts;
}

/** Validates q, k, v, policy (and eps) and returns the sizes; shared by the op, its gradient and the TF.js kernel. */
export function policyAttentionDims(op: string, q: F32Tensor, k: F32Tensor, v: F32Tensor, policy: F32Tensor, eps: unknown = 1e-6): PolicyAttentionDims {
  const [B, H, N, Dh] = expectTensor(op, 'q', q, 'float32', ['B', 'H', 'N', 'Dh']) as [number, number, number, number];
  expectTensor(op, 'k', k, 'float32', ['B', 'H', 'N', 'Dh'], { B, H, N, Dh });
  expectTensor(op, 'v', v, 'float32', ['B', 'H', 'N', 'Dh'], { B, H, N, Dh });
  expectTensor(op, 'policy', policy, 'float32', ['B', 'N'], { B, N });
  const e = expectNumber(op, 'eps', eps);
  if (e < 0) throw new RangeError(`${op}: expected eps to be a finite number >= 0, received ${e}`);
  for (let t = 0; t < policy.data.length; t++) {
    const p = policy.data[t]!;
    if (!Number.isFinite(p))
      throw new RangeError(`${op}: expected policy values to be finite, received policy[${Math.floor(t / N)}][${t % N}] = ${p}`);
  }
  return { B, H, N, Dh, eps: e };
}

/**
 * Policy-masked attention (SPEC §4). Soft (non-binary) policy values are allowed.
 * @param q float32 [B,H,N,Dh]
 * @param k float32 [B,H,N,Dh]
 * @param v float32 [B,H,N,Dh]
 * @param policy float32 [B,N]: keep decision per key token (1 keep, 0 drop); every query keeps itself
 * @param opts `eps` (default 1e-6), `out` buffer, `device` ('cpu' default, or 'cuda')
 * @returns float32 [B,H,N,Dh]
 * @throws TypeError for a wrong dtype or rank; RangeError for a shape mismatch, a bad eps, a non-finite policy value,
 *   an unknown device; Error for `device: 'cuda'` without a usable CUDA device (the message says why)
 * @example
 * const o = policyAttention(q, k, v, { data: keep, shape: [1, 4101] }); // q: [1,6,4101,64]
 */
export function policyAttention(q: F32Tensor, k: F32Tensor, v: F32Tensor, policy: F32Tensor, opts: PolicyAttentionOptions = {}): F32Tensor {
  const op = 'policyAttention';
  opts = optionsOrEmpty(op, opts);
  [q, k, v, policy] = snapshotAll(q, k, v, policy); // each input's data / shape read once
  const { B, H, N, Dh, eps } = policyAttentionDims(op, q, k, v, policy, opts.eps ?? 1e-6);
  const o = outputF32(op, 'out', opts.out, B * H * N * Dh);
  if (expectDevice(op, opts.device) === 'cuda') {
    withUploads([q, k, v, policy], ([qd, kd, vd, pd]) => {
      const r = native().cudaPolicyAttention(qd, kd, vd, pd, eps, 'float32', null, null);
      try {
        o.set(r.downloadSync());
      } finally {
        r.free();
      }
    });
    return { data: o, shape: [B, H, N, Dh] };
  }
  native().policyAttention(q.data, k.data, v.data, policy.data, o, B, H, N, Dh, eps, null, null);
  return { data: o, shape: [B, H, N, Dh] };
}

/**
 * Gradients of `sum(dout * policyAttention(q, k, v, policy))`, exact (the row max is not detached).
 * @param dout float32 [B,H,N,Dh]
 * @param opts `eps` (default 1e-6), must match the forward's; `device` ('cpu' default, or 'cuda')
 * @returns `{ dq, dk, dv: [B,H,N,Dh], dpolicy: [B,N] (summed over heads) }`
 * @throws TypeError / RangeError as policyAttention, and for dout
 * @example
 * const { dq, dk, dv, dpolicy } = policyAttentionBackward(q, k, v, policy, dout);
 */
export function policyAttentionBackward(q: F32Tensor, k: F32Tensor, v: F32Tensor, policy: F32Tensor, dout: F32Tensor, opts: { eps?: number; device?: 'cpu' | 'cuda' } = {}): PolicyAttentionGrads {
  const op = 'policyAttentionBackward';
  opts = optionsOrEmpty(op, opts);
  [q, k, v, policy, dout] = snapshotAll(q, k, v, policy, dout);
  const { B, H, N, Dh, eps } = policyAttentionDims(op, q, k, v, policy, opts.eps ?? 1e-6);
  expectTensor(op, 'dout', dout, 'float32', ['B', 'H', 'N', 'Dh'], { B, H, N, Dh });
  const g = grads(B, H, N, Dh);
  if (expectDevice(op, opts.device) === 'cuda') {
    withUploads([q, k, v, policy, dout], ([qd, kd, vd, pd, od]) => {
      const r = native().cudaPolicyAttentionBackward(qd, kd, vd, pd, od, eps);
      try {
        g.dq.data.set(r.dq.downloadSync());
        g.dk.data.set(r.dk.downloadSync());
        g.dv.data.set(r.dv.downloadSync());
        g.dpolicy.data.set(r.dpolicy.downloadSync());
      } finally {
        for (const t of [r.dq, r.dk, r.dv, r.dpolicy]) t.free();
      }
    });
    return g;
  }
  native().policyAttentionBackward(q.data, k.data, v.data, policy.data, dout.data, g.dq.data, g.dk.data, g.dv.data, g.dpolicy.data, B, H, N, Dh, eps);
  return g;
}

/**
 * policyAttention off the JS thread; resolves with the same result. Do not write to the inputs until it settles.
 * @returns Promise of float32 [B,H,N,Dh]
 * @throws (rejects) as policyAttention
 */
export async function policyAttentionAsync(q: F32Tensor, k: F32Tensor, v: F32Tensor, policy: F32Tensor, opts: PolicyAttentionOptions = {}): Promise<F32Tensor> {
  const caller = new Error();
  const op = 'policyAttentionAsync';
  opts = optionsOrEmpty(op, opts);
  [q, k, v, policy] = snapshotAll(q, k, v, policy); // each input's data / shape read once
  const { B, H, N, Dh, eps } = policyAttentionDims(op, q, k, v, policy, opts.eps ?? 1e-6);
  const o = outputF32(op, 'out', opts.out, B * H * N * Dh);
  if (expectDevice(op, opts.device) === 'cuda') {
    const up: DeviceTensor[] = [];
    try {
      for (const t of [q, k, v, policy]) up.push(upload(t));
      const r = native().cudaPolicyAttention(up[0]!.native, up[1]!.native, up[2]!.native, up[3]!.native, eps, 'float32', null, null);
      try {
        o.set(await r.download());
      } finally {
        r.free();
      }
    } catch (e) {
      rethrowAt(caller, e);
    } finally {
      for (const t of up) t.free();
    }
    return { data: o, shape: [B, H, N, Dh] };
  }
  try {
    await native().policyAttentionAsync(q.data, k.data, v.data, policy.data, o, B, H, N, Dh, eps, null, null);
  } catch (e) {
    rethrowAt(caller, e);
  }
  return { data: o, shape: [B, H, N, Dh] };
}

/**
 * policyAttentionBackward off the JS thread. Do not write to the inputs until it settles.
 * @returns Promise of `{ dq, dk, dv, dpolicy }`
 * @throws (rejects) as policyAttentionBackward
 */
export async function policyAttentionBackwardAsync(q: F32Tensor, k: F32Tensor, v: F32Tensor, policy: F32Tensor, dout: F32Tensor, opts: { eps?: number; device?: 'cpu' | 'cuda' } = {}): Promise<PolicyAttentionGrads> {
  const caller = new Error();
  const op = 'policyAttentionBackwardAsync';
  opts = optionsOrEmpty(op, opts);
  [q, k, v, policy, dout] = snapshotAll(q, k, v, policy, dout);
  const { B, H, N, Dh, eps } = policyAttentionDims(op, q, k, v, policy, opts.eps ?? 1e-6);
  expectTensor(op, 'dout', dout, 'float32', ['B', 'H', 'N', 'Dh'], { B, H, N, Dh });
  const g = grads(B, H, N, Dh);
  if (expectDevice(op, opts.device) === 'cuda') {
    const up: DeviceTensor[] = [];
    try {
      for (const t of [q, k, v, policy, dout]) up.push(upload(t));
      const r = native().cudaPolicyAttentionBackward(up[0]!.native, up[1]!.native, up[2]!.native, up[3]!.native, up[4]!.native, eps);
      try {
        const [dq, dk, dv, dp] = await Promise.all([r.dq.download(), r.dk.download(), r.dv.download(), r.dpolicy.download()]);
        g.dq.data.set(dq);
        g.dk.data.set(dk);
        g.dv.data.set(dv);
        g.dpolicy.data.set(dp);
      } finally {
        for (const t of [r.dq, r.dk, r.dv, r.dpolicy]) t.free();
      }
    } catch (e) {
      rethrowAt(caller, e);
    } finally {
      for (const t of up) t.free();
    }
    return g;
  }
  try {
    await native().policyAttentionBackwardAsync(q.data, k.data, v.data, policy.data, dout.data, g.dq.data, g.dk.data, g.dv.data, g.dpolicy.data, B, H, N, Dh, eps);
  } catch (e) {
    rethrowAt(caller, e);
  }
  return g;
}

/** Uploads the tensors (float32), runs fn on their native handles, frees them whatever happens. */
function withUploads(ts: F32Tensor[], fn: (d: NativeDeviceTensor[]) => void): void {
  onCuda((own) => fn(ts.map((t) => own(upload(t)).native)));
}

function grads(B: number, H: number, N: number, Dh: number): PolicyAttentionGrads {
  const n = B * H * N * Dh;
  return {
    dq: { data: new Float32Array(n), shape: [B, H, N, Dh] },
    dk: { data: new Float32Array(n), shape: [B, H, N, Dh] },
    dv: { data: new Float32Array(n), shape: [B, H, N, Dh] },
    dpolicy: { data: new Float32Array(B * N), shape: [B, N] },
  };
}

/** Re-throws a native error with the same class and message but the caller's stack (STYLE §6). */
function rethrowAt(caller: Error, e: unknown): never {
  if (!(e instanceof Error)) throw e;
  const err = e instanceof RangeError ? new RangeError(e.message) : e instanceof TypeError ? new TypeError(e.message) : new Error(e.message);
  const stack = caller.stack ?? '';
  const nl = stack.indexOf('\n');
  err.stack = `${err.name}: ${e.message}${nl >= 0 ? stack.slice(nl) : ''}`;
  throw err;
}
