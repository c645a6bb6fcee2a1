/**
 * CUDA policyAttention (SPEC §4) forward + backward against the CPU op and the float64 reference.
 * GPU cases (attnSuite.ts) skip without a device (describeGpu prints the reason); the argument-kind and
 * no-device error tests below run everywhere. Tolerances: see attnHelpers.ts (FP32 elementwise 2e-5 + 1e-4
 * rel; BF16 rel-L2 1e-2, gradients 1e-4 (FP32) / 3e-2 (BF16)). The tensor-core kernels cover Dh in
 * {32, 64, 128}; Dh = 48, 17, 256 exercise the SIMT kernels with BF16 too (policyAttentionSimt.test.ts forces
 * SIMT for every case).
 */
import { describe, expect, it } from 'vitest';
import { cuda, policyAttention, policyAttentionBackward } from '../../src/index.js';
import { native } from '../../src/native.js';
import { ATTN_CASES, attnInputs, runAttnSuite } from './attnSuite.js';
import { gpu } from './gpu.js';

runAttnSuite('(default kernels)');

describe('cuda policyAttention: argument checks without touching the device', () => {
  const x = attnInputs(ATTN_CASES[0]!, 1);
  it('the binding names the argument that is not a DeviceTensor (TypeError)', () => {
    const n = native();
    expect(() => n.cudaPolicyAttention(x.q.data as never, x.k.data as never, x.v.data as never, x.policy.data as never, 1e-6, null, null, null)).toThrow(TypeError);
    expect(() => n.cudaPolicyAttention(x.q.data as never, x.k.data as never, x.v.data as never, x.policy.data as never, 1e-6, null, null, null)).toThrow(/cudaPolicyAttention: expected q to be a DeviceTensor, received Float32Array/);
    expect(() => n.cudaPolicyAttentionBackward({} as never, {} as never, {} as never, {} as never, {} as never, 1e-6)).toThrow(/cudaPolicyAttentionBackward: expected q to be a DeviceTensor, received object/);
    expect(() => (n.cudaPolicyAttention as (...a: unknown[]) => unknown)(1, 2)).toThrow(/expected 8 arguments, received 2/);
  });
  it('the TS wrappers check kinds and eps first', () => {
    expect(() => cuda.policyAttention(x.q as never, x.k as never, x.v as never, x.policy as never)).toThrow(/cudaPolicyAttention: expected q to be a DeviceTensor/);
    expect(() => cuda.policyAttention(x.q as never, x.k as never, x.v as never, x.policy as never, { eps: -1 })).toThrow(RangeError);
    expect(() => cuda.policyAttention(x.q as never, x.k as never, x.v as never, x.policy as never, { eps: -1 })).toThrow(/eps/);
    expect(() => cuda.policyAttentionBackward(x.q as never, x.k as never, x.v as never, x.policy as never, x.dout as never, { eps: Number.NaN })).toThrow(/eps/);
    expect(() => cuda.policyAttention(x.q as never, x.k as never, x.v as never, x.policy as never, null as never)).toThrow(TypeError);
  });
  it("device must be 'cpu' or 'cuda' (RangeError naming device)", () => {
    expect(() => policyAttention(x.q, x.k, x.v, x.policy, { device: 'gpu' as never })).toThrow(RangeError);
    expect(() => policyAttentionBackward(x.q, x.k, x.v, x.policy, x.dout, { device: 'tpu' as never })).toThrow(/expected device to be 'cpu' or 'cuda'/);
  });
  it.skipIf(gpu.ok)("device: 'cuda' without a device is a clear Error carrying the reason, never a crash", async () => {
    expect(() => policyAttention(x.q, x.k, x.v, x.policy, { device: 'cuda' })).toThrow(/CUDA is not available/);
    expect(() => policyAttentionBackward(x.q, x.k, x.v, x.policy, x.dout, { device: 'cuda' })).toThrow(gpu.reason);
    const { policyAttentionAsync } = await import('../../src/ops/policyAttention.js');
    await expect(policyAttentionAsync(x.q, x.k, x.v, x.policy, { device: 'cuda' })).rejects.toThrow(/CUDA is not available/);
  });
});
