/**
 * Fuzz specs of the `cuda*` bindings (native/napi/cuda_token_ops.cc, cuda_attention_ops.cc, device_tensor.cc):
 * each positional argument with its name, its kind and a valid value, so cudaFuzz.test.ts can break one at a
 * time. DeviceTensor arguments carry the dtype and shape of a valid one (uploaded when a device is usable).
 * Scalars (`scalar`) carry their bad values; the bindings check every scalar before any DeviceTensor
 * (native/napi/cuda_args.h), so these are checked one by one with or without a device.
 */
import type { CudaDtype } from '../../src/native.js';

export type CudaSlot =
  | { name: string; kind: 'dev'; dtype: CudaDtype; shape: number[]; optional?: boolean }
  | { name: string; kind: 'scalar'; valid: unknown; bad: unknown[] }
  | { name: string; kind: 'weights'; dtype: CudaDtype; D: number; F: number }
  | { name: string; kind: 'host'; valid: () => Float32Array | Int32Array | Uint8Array; bad: unknown[] };

export interface CudaFuzzSpec {
  fn: string;
  slots: CudaSlot[];
}

const dim = (name: string, valid: number, extra: unknown[] = []): CudaSlot => ({
  name, kind: 'scalar', valid, bad: [0, -1, 1.5, NaN, Infinity, 2 ** 31, 2 ** 53, '2', undefined, null, {}, 2n, ...extra],
});
const bool = (name: string, valid: boolean): CudaSlot => ({ name, kind: 'scalar', valid, bad: [1, 0, 'true', undefined, null, {}] });
const seed = (name: string): CudaSlot => ({ name, kind: 'scalar', valid: 7, bad: [-1, 1.5, NaN, 2 ** 60, -1n, 1n << 64n, 'x', undefined, null] });
// A positive float32 scalar: the one eps / tau rule (native/napi/convert.h eps_arg).
const posF32 = (name: string, valid: number): CudaSlot => ({ name, kind: 'scalar', valid, bad: [0, -1, NaN, Infinity, 1e-50, 1e39, '1', undefined, null] });
// The attention formula's eps: finite and >= 0.
const attnEps: CudaSlot = { name: 'eps', kind: 'scalar', valid: 1e-6, bad: [-1, NaN, Infinity, -Infinity, 1e39, '1', undefined, null, true] };
const floatDtype = (name: string): CudaSlot => ({ name, kind: 'scalar', valid: null, bad: ['int32', 'float64', 'fp32', '', 3, {}, true] });
const dev = (name: string, dtype: CudaDtype, shape: number[], optional = false): CudaSlot => ({ name, kind: 'dev', dtype, shape, optional });

const B = 2, N = 5, K = 3, D = 4, H = 2, Dh = 4;
export const CUDA_SPECS: CudaFuzzSpec[] = [
  { fn: 'cudaGatherTokens', slots: [dev('x', 'float32', [B, N, D]), dev('idx', 'int32', [B, K])] },
  { fn: 'cudaGatherTokensBackward', slots: [dev('dout', 'float32', [B, K, D]), dev('idx', 'int32', [B, K]), dim('N', N)] },
  { fn: 'cudaScatterTokens', slots: [dev('base', 'float32', [B, N, D]), dev('idx', 'int32', [B, K]), dev('src', 'float32', [B, K, D]), bool('inPlace', false)] },
  { fn: 'cudaScatterTokensBackward', slots: [dev('dout', 'float32', [B, N, D]), dev('idx', 'int32', [B, K]), bool('wantDbase', true), bool('wantDsrc', true)] },
  { fn: 'cudaGumbelTopK', slots: [dev('logits', 'float32', [B, N]), dev('active', 'uint8', [B, N], true), dim('k', K), seed('seed'), bool('noise', true)] },
  { fn: 'cudaGumbelSoftmaxST', slots: [dev('logits', 'float32', [B, N, 2]), posF32('tau', 0.7), seed('seed')] },
  { fn: 'cudaGumbelSoftmaxSTBackward', slots: [dev('dhard', 'float32', [B, N]), dev('soft', 'float32', [B, N]), posF32('tau', 0.7)] },
  {
    fn: 'cudaPolicyAttention',
    slots: [dev('q', 'float32', [B, H, N, Dh]), dev('k', 'float32', [B, H, N, Dh]), dev('v', 'float32', [B, H, N, Dh]), dev('policy', 'float32', [B, N]),
      attnEps, floatDtype('outDtype'), dev('rowMax', 'float32', [B, H, N], true), dev('rowDen', 'float32', [B, H, N], true)],
  },
  {
    fn: 'cudaPolicyAttentionBackward',
    slots: [dev('q', 'float32', [B, H, N, Dh]), dev('k', 'float32', [B, H, N, Dh]), dev('v', 'float32', [B, H, N, Dh]), dev('policy', 'float32', [B, N]),
      dev('dout', 'float32', [B, H, N, Dh]), attnEps],
  },
  {
    fn: 'cudaLinear',
    slots: [dev('a', 'float32', [3, D]), dev('w', 'float32', [5, D]), dev('bias', 'float32', [5], true),
      { name: 'activation', kind: 'scalar', valid: 'gelu', bad: ['swish', 'GELU', '', 3, undefined, null, {}] },
      dev('colScale', 'float32', [5], true), dev('residual', 'float32', [3, 5], true),
      { name: 'alpha', kind: 'scalar', valid: 1, bad: [NaN, Infinity, -Infinity, 1e39, '1', undefined, null, true] }, floatDtype('outDtype')],
  },
  {
    fn: 'cudaPrunedBlock',
    slots: [dev('x', 'float32', [B, N, D]), dev('idx', 'int32', [B, K], true), { name: 'weights', kind: 'weights', dtype: 'float32', D, F: 6 },
      dim('H', H), posF32('lnEps', 1e-6), bool('inPlace', false)],
  },
  {
    fn: 'cudaUpload',
    slots: [
      { name: 'data', kind: 'host', valid: () => new Float32Array(6), bad: [new Float64Array(6), Array.from({ length: 6 }, () => 0), new Float32Array(7), new Float32Array(new SharedArrayBuffer(24)), new Int16Array(6), 3, 'x', null, undefined, {}] },
      { name: 'shape', kind: 'scalar', valid: [2, 3], bad: [[0, 3], [-1, 3], [1.5, 4], [NaN, 3], ['2', 3], [2, 3, 1, 1, 1, 1, 1, 1, 1], [2 ** 31, 3], 6, '2,3', null, undefined, new Int32Array([2, 3])] },
      { name: 'dtype', kind: 'scalar', valid: 'bfloat16', bad: ['int32', 'uint8', 'float64', '', 3, null, {}] },
    ],
  },
  {
    fn: 'cudaZeros',
    slots: [
      { name: 'shape', kind: 'scalar', valid: [2, 3], bad: [[0], [-1], [1.5], [NaN], ['2'], new Array(9).fill(1), [2 ** 31], 6, null, undefined] },
      { name: 'dtype', kind: 'scalar', valid: 'float32', bad: ['float64', '', 3, null, undefined, {}] },
    ],
  },
  { fn: 'cudaCopy', slots: [dev('dst', 'float32', [2, 3]), dev('src', 'float32', [2, 3])] },
  { fn: 'cudaSynchronize', slots: [] },
  { fn: 'cudaTimerStart', slots: [] },
  { fn: 'cudaTimerStop', slots: [] },
  { fn: 'cudaFlushL2', slots: [] },
];

/** Values that are no DeviceTensor, for every DeviceTensor argument (look-alikes included). */
export function notDeviceTensors(): Array<[string, unknown]> {
  const lookAlike = { shape: [2, 3], dtype: 'float32', bytes: 24, freed: false, download: async () => new Float32Array(6), downloadSync: () => new Float32Array(6), free: () => {} };
  const proxy = new Proxy({}, { get: () => { throw new Error('proxy trap was called'); }, getPrototypeOf: () => { throw new Error('proxy trap was called'); } });
  return [
    ['0', 0], ['string', 'x'], ['true', true], ['{}', {}], ['[]', []], ['Float32Array', new Float32Array(6)], ['look-alike object', lookAlike],
    ['null-prototype object', Object.create(null) as object], ['Proxy with throwing traps', proxy], ['function', () => 0], ['symbol', Symbol('t')], ['bigint', 2n],
    ['Date', new Date(0)],
  ];
}
