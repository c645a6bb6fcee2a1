/**
 * Fuzz specs: for each native entry point, how to build a valid call and what each positional
 * argument is, so the fuzzer can break exactly one thing at a time and know the call must fail.
 */
import { randIndices, randn, randu } from '../reference/helpers.js';

export type Slot =
  | { kind: 'f32'; optional?: boolean; longerOk?: boolean }
  | { kind: 'i32'; optional?: boolean; indexRange?: number; noDuplicates?: boolean }
  | { kind: 'u8'; optional?: boolean }
  | { kind: 'dim'; plusOneMayBeValid?: boolean }
  | { kind: 'number'; bad?: unknown[] }
  | { kind: 'bool' }
  | { kind: 'seed' }
  | { kind: 'string' }
  | { kind: 'object' }
  | { kind: 'custom'; bad: Array<[string, unknown]> }
  | { kind: 'passthrough' };

export interface ValidCall {
  args: unknown[];
  slots: Slot[];
  /** Pairs of argument positions that must not share memory (output, input). */
  noAlias?: Array<[number, number]>;
  /** The last argument may be left out (then "one argument missing" drops the one before it). */
  optionalLast?: boolean;
}

export interface FuzzSpec {
  fn: string;
  /** The test's name when one binding has several specs (default fn). */
  label?: string;
  /** A valid call with small random sizes. */
  valid: (r: () => number) => ValidCall;
  /** The binding returns a Promise (the valid call's result is awaited). */
  async?: boolean;
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const small = (r: () => number, lo = 1, hi = 6) => lo + Math.floor(r() * (hi - lo + 1));

export const SPECS: FuzzSpec[] = [
  {
    fn: 'gatherTokens',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 1, 9), K = small(r, 1, 9), D = small(r, 1, 5);
      const idx = new Int32Array(B * K).map(() => Math.floor(r() * N));
      return {
        args: [randn(B * N * D, r), idx, new Float32Array(B * K * D), B, N, K, D],
        slots: [{ kind: 'f32' }, { kind: 'i32', indexRange: N }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[2, 0]],
      };
    },
  },
  {
    fn: 'gatherTokensBackward',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 1, 9), K = small(r, 1, 9), D = small(r, 1, 5);
      const idx = new Int32Array(B * K).map(() => Math.floor(r() * N));
      return {
        args: [randn(B * K * D, r), idx, new Float32Array(B * N * D), B, N, K, D],
        slots: [{ kind: 'f32' }, { kind: 'i32', indexRange: N }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[2, 0]],
      };
    },
  },
  {
    fn: 'scatterTokens',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 2, 9), D = small(r, 1, 5);
      const K = small(r, 2, N);
      return {
        args: [randn(B * N * D, r), randIndices(B, N, K, r), randn(B * K * D, r), new Float32Array(B * N * D), B, N, K, D],
        slots: [{ kind: 'f32' }, { kind: 'i32', indexRange: N, noDuplicates: true }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[3, 2]],
      };
    },
  },
  {
    fn: 'scatterTokensBackward',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 2, 9), D = small(r, 1, 5);
      const K = small(r, 2, N);
      return {
        args: [randn(B * N * D, r), randIndices(B, N, K, r), new Float32Array(B * N * D), new Float32Array(B * K * D), B, N, K, D],
        slots: [{ kind: 'f32' }, { kind: 'i32', indexRange: N, noDuplicates: true }, { kind: 'f32', optional: true }, { kind: 'f32', optional: true }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[2, 0], [3, 0]],
      };
    },
  },
];

const H_CHOICES = [1, 2, 3];

function blockWeights(r: () => number, D: number, F: number): Record<string, Float32Array> {
  const w = (n: number) => randn(n, r, 0.2);
  return {
    'norm1.weight': w(D), 'norm1.bias': w(D), 'attn.qkv.weight': w(3 * D * D), 'attn.qkv.bias': w(3 * D),
    'attn.proj.weight': w(D * D), 'attn.proj.bias': w(D), 'ls1.gamma': w(D), 'norm2.weight': w(D), 'norm2.bias': w(D),
    'mlp.fc1.weight': w(F * D), 'mlp.fc1.bias': w(F), 'mlp.fc2.weight': w(D * F), 'mlp.fc2.bias': w(D), 'ls2.gamma': w(D),
  };
}

// Bad forms of a weights object: for each of `names` missing, one element too long, a Float64Array, a number.
function badWeights(good: Record<string, Float32Array>, names = ['attn.qkv.weight', 'ls2.gamma', 'mlp.fc1.bias', 'norm1.weight']): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const name of names) {
    const missing = { ...good };
    delete missing[name];
    out.push([`missing ${name}`, missing]);
    out.push([`${name} too long`, { ...good, [name]: new Float32Array(good[name]!.length + 1) }]);
    out.push([`${name} Float64Array`, { ...good, [name]: new Float64Array(good[name]!.length) }]);
    out.push([`${name} number`, { ...good, [name]: 1 }]);
  }
  out.push(['weights null', null], ['weights number', 3], ['weights string', 'w']);
  return out;
}

SPECS.push(
  {
    fn: 'gemm',
    valid: (r) => {
      const M = small(r, 1, 9), N = small(r, 1, 9), K = small(r, 1, 9);
      return {
        args: [randn(M * K, r), randn(K * N, r), new Float32Array(M * N), M, N, K, K, N, N, false, false, { bias: randn(N, r), activation: 'gelu' }],
        // A, B, C are addressed through leading dims: a longer buffer is valid, a shorter one is not.
        slots: [{ kind: 'f32', longerOk: true }, { kind: 'f32', longerOk: true }, { kind: 'f32', longerOk: true }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' },
          { kind: 'custom', bad: [['lda<K', K - 1], ['lda NaN', NaN], ['lda -1', -1]] },
          { kind: 'custom', bad: [['ldb<N', N - 1], ['ldb 1.5', 1.5]] },
          { kind: 'custom', bad: [['ldc<N', N - 1], ['ldc string', 'x']] },
          { kind: 'custom', bad: [['transA number', 1]] }, { kind: 'custom', bad: [['transB string', 'no']] },
          { kind: 'custom', bad: [
            ['bias short', { bias: new Float32Array(Math.max(0, N - 1)) }], ['activation unknown', { activation: 'swish' }],
            ['activation number', { activation: 3 }], ['opts number', 5], ['aRows out of range', { aRows: new Int32Array(M).fill(M + K + 99) }],
            ['cRows duplicate', { cRows: new Int32Array(M).fill(0), ...(M > 1 ? {} : { cRows: new Int32Array([-1]) }) }],
            ['residual short', { residual: new Float32Array(1 + 0 * M), ldr: N, ...(M * N > 1 ? {} : { ldr: -1 }) }],
            ['colScale Int32Array', { colScale: new Int32Array(N) }], ['alpha NaN', { alpha: NaN }],
          ] }],
        noAlias: [[2, 0], [2, 1]],
        optionalLast: true,
      };
    },
  },
  {
    fn: 'policyAttention',
    valid: (r) => {
      const B = small(r, 1, 2), H = small(r, 1, 3), N = small(r, 1, 9), Dh = small(r, 1, 9);
      const n = B * H * N * Dh;
      return {
        args: [randn(n, r), randn(n, r), randn(n, r), new Float32Array(B * N).map(() => (r() < 0.5 ? 0 : 1)), new Float32Array(n), B, H, N, Dh, 1e-6, null, null],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' },
          { kind: 'number', bad: [NaN, Infinity, -1, '1', undefined] }, { kind: 'f32', optional: true }, { kind: 'f32', optional: true }],
        noAlias: [[4, 0], [4, 1], [4, 2]],
      };
    },
  },
  {
    fn: 'policyAttentionBackward',
    valid: (r) => {
      const B = small(r, 1, 2), H = small(r, 1, 3), N = small(r, 1, 9), Dh = small(r, 1, 9);
      const n = B * H * N * Dh;
      return {
        args: [randn(n, r), randn(n, r), randn(n, r), new Float32Array(B * N).fill(1), randn(n, r), new Float32Array(n), new Float32Array(n), new Float32Array(n), new Float32Array(B * N), B, H, N, Dh, 1e-6],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' },
          { kind: 'f32', optional: true }, { kind: 'f32', optional: true }, { kind: 'f32', optional: true }, { kind: 'f32', optional: true },
          { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'number', bad: [NaN, -1, null] }],
        noAlias: [[5, 0], [6, 1], [7, 2], [5, 6]],
      };
    },
  },
  {
    fn: 'prunedBlock',
    valid: (r) => {
      const B = small(r, 1, 2), H = pick(r, H_CHOICES), N = small(r, 2, 9), K = small(r, 1, N);
      const D = H * small(r, 1, 4), F = small(r, 1, 12);
      const w = blockWeights(r, D, F);
      return {
        args: [randn(B * N * D, r), randIndices(B, N, K, r), new Float32Array(B * N * D), B, N, K, D, H, w, 1e-6],
        // idx null means all tokens (valid when K = N): it is optional
        slots: [{ kind: 'f32' }, { kind: 'i32', optional: true, indexRange: N, noDuplicates: K > 1 }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' },
          { kind: 'custom', bad: [['H=0', 0], ['H=D+1', D + 1], ['H NaN', NaN], ['H string', '2']] },
          { kind: 'custom', bad: badWeights(w) }, { kind: 'number', bad: [NaN, -1, Infinity] }],
        noAlias: [[2, 1]],
      };
    },
  },
  {
    fn: 'prunedBlock',
    label: 'prunedBlock (varlen offsets)',
    valid: (r) => {
      const B = small(r, 1, 3), H = pick(r, H_CHOICES), N = small(r, 2, 9);
      const D = H * small(r, 1, 4), F = small(r, 1, 12);
      // row 0 holds >= 2 tokens, so that the fuzzer's duplicate (idx[1] = idx[0]) is within one row
      const lens = Array.from({ length: B }, (_, b) => (b === 0 ? small(r, 2, N) : small(r, 0, N)));
      const offsets = new Int32Array(B + 1);
      lens.forEach((k, b) => (offsets[b + 1] = offsets[b]! + k));
      const K = offsets[B]!;
      const idx = new Int32Array(K);
      lens.forEach((k, b) => idx.set(randIndices(1, N, k, r), offsets[b]!));
      const w = blockWeights(r, D, F);
      const with_ = (f: (o: Int32Array) => void) => { const o = Int32Array.from(offsets); f(o); return o; };
      const sab = new Int32Array(new SharedArrayBuffer(offsets.byteLength));
      sab.set(offsets);
      return {
        args: [randn(B * N * D, r), idx, new Float32Array(B * N * D), B, N, K, D, H, w, 1e-6, 'fp32', offsets],
        slots: [{ kind: 'f32' }, { kind: 'i32', indexRange: N, noDuplicates: true }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' },
          { kind: 'custom', bad: [['H=0', 0], ['H=D+1', D + 1]] }, { kind: 'custom', bad: badWeights(w) }, { kind: 'number', bad: [NaN, -1] },
          { kind: 'custom', bad: [['precision 1', 1], ['precision null', null], ['precision x', 'x']] },
          { kind: 'custom', bad: [['offsets Float32Array', Float32Array.from(offsets)], ['offsets [B]', offsets.slice(0, B)], ['offsets plain array', Array.from(offsets)],
            ['offsets[0] = 1', with_((o) => (o[0] = 1))], ['offsets row -1', with_((o) => (o[1] = -1))], ['offsets row N+1', with_((o) => (o[1] = N + 1))],
            ['offsets[B] != K', with_((o) => (o[B] = K - 1))], ['offsets on a SharedArrayBuffer', sab]] }],
        noAlias: [[2, 1], [2, 11]],
        optionalLast: true,
      };
    },
  },
  {
    fn: 'gumbelTopK',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 1, 12), k = small(r, 1, N);
      return {
        args: [randn(B * N, r), null, new Int32Array(B * k), B, N, k, Math.floor(r() * 1000), true],
        slots: [{ kind: 'f32' }, { kind: 'u8', optional: true }, { kind: 'i32' }, { kind: 'dim' }, { kind: 'dim' },
          { kind: 'custom', bad: [['k=0', 0], ['k=N+1', N + 1], ['k NaN', NaN]] }, { kind: 'seed' }, { kind: 'bool' }],
      };
    },
  },
  {
    fn: 'gumbelSoftmaxST',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 1, 12);
      return {
        args: [randn(B * N * 2, r), new Float32Array(B * N), new Float32Array(B * N), B, N, 0.7, 5],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'number', bad: [0, -1, NaN, Infinity, 'x'] }, { kind: 'seed' }],
        noAlias: [[1, 0], [2, 0], [1, 2]],
      };
    },
  },
  {
    fn: 'gumbelSoftmaxSTBackward',
    valid: (r) => {
      const B = small(r, 1, 3), N = small(r, 1, 12);
      return {
        args: [randn(B * N, r), randu(B * N, r), new Float32Array(B * N * 2), B, N, 0.7],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'number', bad: [0, -1, NaN] }],
        noAlias: [[2, 0], [2, 1]],
      };
    },
  },
  // ---- layerNorm / gelu (TF.js training graph)
  {
    fn: 'layerNorm',
    valid: (r) => {
      const R = small(r, 1, 9), C = small(r, 1, 19);
      return {
        args: [randn(R * C, r), randn(C, r), randn(C, r), new Float32Array(R * C), new Float32Array(R), new Float32Array(R), R, C, 1e-6],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32', optional: true }, { kind: 'f32', optional: true },
          { kind: 'dim' }, { kind: 'dim' }, { kind: 'number', bad: [0, -1, NaN, Infinity, 1e-60, 'x', undefined] }],
        noAlias: [[3, 0], [5, 4]],
      };
    },
  },
  {
    fn: 'layerNormBackward',
    valid: (r) => {
      const R = small(r, 1, 9), C = small(r, 1, 19);
      return {
        args: [randn(R * C, r), randn(R * C, r), randn(C, r), randn(R, r), randu(R, r, 0.5, 2), new Float32Array(R * C), new Float32Array(C), new Float32Array(C), R, C],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' },
          { kind: 'f32', optional: true }, { kind: 'f32', optional: true }, { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[5, 0], [5, 1], [7, 6]],
      };
    },
  },
  {
    // y may be x itself (in place), so no aliasing case
    fn: 'gelu',
    valid: (r) => {
      const n = small(r, 1, 40);
      return { args: [randn(n, r), new Float32Array(n), n], slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }] };
    },
  },
  {
    fn: 'geluBackward',
    valid: (r) => {
      const n = small(r, 1, 40);
      return { args: [randn(n, r), randn(n, r), new Float32Array(n), n], slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }] };
    },
  },
);

export { pick, small };

// ---- tomeBlock
SPECS.push({
  fn: 'tomeBlock',
  valid: (r) => {
    const B = small(r, 1, 2), H = pick(r, H_CHOICES), gh = small(r, 1, 3), gw = small(r, 1, 4), P0 = small(r, 0, 3);
    const T = P0 + gh * gw; // the unprotected tokens form a gh x gw grid (the 2-D split)
    const D = H * small(r, 1, 4), F = small(r, 1, 12);
    const w = blockWeights(r, D, F);
    return {
      args: [randn(B * T * D, r), new Float32Array(B * T * D), new Int32Array(B * T), B, T, D, H, P0, w, pick(r, ['mhsa', 'mhsa+mlp']), 0.5, 1e-6, gh, gw],
      slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'i32', optional: true }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' },
        { kind: 'custom', bad: [['H=0', 0], ['H=D+1', D + 1], ['H NaN', NaN]] },
        { kind: 'custom', bad: [['P0=T+1', T + 1], ['P0=-1', -1], ['P0 NaN', NaN], ['P0 1.5', 1.5]] },
        { kind: 'custom', bad: badWeights(w) }, { kind: 'string' },
        { kind: 'number', bad: [0, -0.5, 1.5, NaN, Infinity, 'x', undefined] }, { kind: 'number', bad: [NaN, -1, Infinity] },
        { kind: 'custom', bad: [['gridH+1', gh + 1], ['gridH=0', 0], ['gridH=-1', -1], ['gridH NaN', NaN], ['gridH 1.5', 1.5], ['gridH string', 'x']] },
        { kind: 'custom', bad: [['gridW+1', gw + 1], ['gridW=0', 0], ['gridW=-1', -1], ['gridW Infinity', Infinity], ['gridW null', null]] }],
      noAlias: [[2, 0], [2, 1]],
    };
  },
});

// ---- softmax and the depthwise convolution (the native TF.js backend's kernels)
const offset = (what: string): Slot => ({ kind: 'custom', bad: [[`${what} NaN`, NaN], [`${what} 1.5`, 1.5], [`${what} string`, 'x'], [`${what} undefined`, undefined], [`${what} 2^31`, 2 ** 31]] });
SPECS.push(
  {
    fn: 'softmax',
    valid: (r) => {
      const R = small(r, 1, 5), C = small(r, 1, 9);
      return { args: [randn(R * C, r), new Float32Array(R * C), R, C], slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }] };
    },
  },
  {
    fn: 'depthwiseConv',
    valid: (r) => {
      const B = small(r, 1, 2), H = small(r, 1, 5), W = small(r, 1, 5), C = small(r, 1, 4), fh = small(r, 1, 3), fw = small(r, 1, 3), oh = small(r, 1, 5), ow = small(r, 1, 5);
      return {
        args: [randn(B * H * W * C, r), randn(fh * fw * C, r), new Float32Array(B * oh * ow * C), B, H, W, C, fh, fw, small(r, 0, 2) - 1, small(r, 0, 2) - 1, oh, ow, r() < 0.5],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' },
          offset('top'), offset('left'), { kind: 'dim' }, { kind: 'dim' }, { kind: 'bool' }],
        noAlias: [[2, 0], [2, 1]],
      };
    },
  },
  {
    fn: 'depthwiseFilterGrad',
    valid: (r) => {
      const B = small(r, 1, 2), H = small(r, 1, 5), W = small(r, 1, 5), C = small(r, 1, 4), fh = small(r, 1, 3), fw = small(r, 1, 3), oh = small(r, 1, 5), ow = small(r, 1, 5);
      return {
        args: [randn(B * H * W * C, r), randn(B * oh * ow * C, r), new Float32Array(fh * fw * C), B, H, W, C, fh, fw, small(r, 0, 2) - 1, small(r, 0, 2) - 1, oh, ow],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' },
          offset('top'), offset('left'), { kind: 'dim' }, { kind: 'dim' }],
        noAlias: [[2, 0], [2, 1]],
      };
    },
  },
);

// ---- vitBlock (TF.js training graph): forward and backward, with a policy (null is the valid plain form)
function vitBlockCall(r: () => number) {
  const B = small(r, 1, 2), H = pick(r, H_CHOICES), N = small(r, 1, 7);
  const D = H * small(r, 1, 3), F = small(r, 1, 9);
  const M = B * N;
  return { B, H, N, D, F, M, w: blockWeights(r, D, F), S: M * (6 * D + F) };
}
const H_BAD = (D: number): Array<[string, unknown]> => [['H=0', 0], ['H=D+1', D + 1], ['H NaN', NaN], ['H string', '2']];
const EPS_BAD: Slot = { kind: 'number', bad: [0, -1, NaN, Infinity, 1e-60, 'x', undefined] };
const ATTN_EPS_BAD: Slot = { kind: 'number', bad: [-1, NaN, Infinity, 'x', undefined] };
SPECS.push(
  {
    fn: 'vitBlock',
    valid: (r) => {
      const { B, H, N, D, M, w, S } = vitBlockCall(r);
      return {
        args: [randn(M * D, r), randu(M, r), w, new Float32Array(M * D), new Float32Array(S), B, N, D, H, 1e-6, 1e-6],
        slots: [{ kind: 'f32' }, { kind: 'f32', optional: true }, { kind: 'custom', bad: badWeights(w) }, { kind: 'f32' }, { kind: 'f32' },
          { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'custom', bad: H_BAD(D) }, EPS_BAD, ATTN_EPS_BAD],
        noAlias: [[3, 0], [4, 0], [3, 4], [3, 1]],
      };
    },
  },
  {
    fn: 'vitBlockBackward',
    valid: (r) => {
      const { B, H, N, D, F, M, w, S } = vitBlockCall(r);
      const g = blockWeights(r, D, F);
      return {
        args: [randn(M * D, r), randn(M * D, r), randu(M, r), w, randn(S, r), new Float32Array(M * D), new Float32Array(M), g, B, N, D, H, 1e-6, 1e-6],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'f32', optional: true }, { kind: 'custom', bad: badWeights(w) }, { kind: 'f32' }, { kind: 'f32' },
          { kind: 'f32', optional: true }, { kind: 'custom', bad: badWeights(g) }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' },
          { kind: 'custom', bad: H_BAD(D) }, EPS_BAD, ATTN_EPS_BAD],
        noAlias: [[5, 0], [5, 1], [5, 4], [6, 2], [6, 5]],
      };
    },
  },
);

// ---- upscaleBlock (TF.js training graph): one mask-head scale block, forward and backward
function upscaleCall(r: () => number) {
  const B = small(r, 1, 2), h = small(r, 1, 4), w = small(r, 1, 4), C = small(r, 1, 5), O = small(r, 1, 5);
  const wt = (): Record<string, Float32Array> => ({
    'conv1.weight': randn(C * O * 4, r, 0.3), 'conv1.bias': randn(O, r, 0.2), 'conv2.weight': randn(O * 9, r, 0.3),
    'norm.weight': randu(O, r, 0.5, 1.5), 'norm.bias': randn(O, r, 0.2),
  });
  return { B, h, w, C, O, X: B * h * w * C, Y: 4 * B * h * w * O, S: 4 * B * h * w * (O + 2), wt };
}
const UPSCALE_NAMES = ['conv1.weight', 'conv1.bias', 'conv2.weight', 'norm.weight', 'norm.bias'];
const DIMS5: Slot[] = [{ kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }, { kind: 'dim' }];
SPECS.push(
  {
    fn: 'upscaleBlock',
    valid: (r) => {
      const { B, h, w, C, O, X, Y, S, wt } = upscaleCall(r);
      const weights = wt();
      return {
        args: [randn(X, r), weights, new Float32Array(Y), new Float32Array(S), B, h, w, C, O, 1e-6],
        slots: [{ kind: 'f32' }, { kind: 'custom', bad: badWeights(weights, UPSCALE_NAMES) }, { kind: 'f32' }, { kind: 'f32' }, ...DIMS5, EPS_BAD],
        noAlias: [[2, 0], [3, 0], [3, 2]],
      };
    },
  },
  {
    fn: 'upscaleBlockBackward',
    valid: (r) => {
      const { B, h, w, C, O, X, Y, S, wt } = upscaleCall(r);
      const weights = wt(), grads = wt();
      return {
        args: [randn(Y, r), randn(X, r), weights, randn(S, r), new Float32Array(X), grads, B, h, w, C, O],
        slots: [{ kind: 'f32' }, { kind: 'f32' }, { kind: 'custom', bad: badWeights(weights, UPSCALE_NAMES) }, { kind: 'f32' }, { kind: 'f32' },
          { kind: 'custom', bad: badWeights(grads, UPSCALE_NAMES) }, ...DIMS5],
        noAlias: [[4, 1], [4, 0], [4, 3]],
      };
    },
  },
);

// ---- binaryBroadcast (the native TF.js backend's Add/Sub/Mul/RealDiv): size / sa / sb are integer lists
/** Row-major element strides of `size`, with the axes in `bcast` broadcast (stride 0); and the operand length. */
function bcastStrides(size: number[], bcast: boolean[]): { strides: number[]; length: number } {
  const strides = new Array<number>(size.length).fill(0);
  let len = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    if (bcast[i]) continue;
    strides[i] = len;
    len *= size[i]!;
  }
  return { strides, length: len };
}
const intList = (what: string, n: number, extra: Array<[string, unknown]> = []): Slot => ({
  kind: 'custom',
  bad: [
    [`${what} not an array`, 3], [`${what} Int32Array`, new Int32Array(n).fill(1)], [`${what} one entry short`, new Array(Math.max(0, n - 1)).fill(1)],
    [`${what} one entry extra`, new Array(n + 1).fill(1)], [`${what} 9 axes`, new Array(9).fill(1)], [`${what} entry -1`, [-1, ...new Array(n - 1).fill(1)]],
    [`${what} entry 1.5`, [1.5, ...new Array(n - 1).fill(1)]], [`${what} entry NaN`, [NaN, ...new Array(n - 1).fill(1)]],
    [`${what} entry string`, ['1', ...new Array(n - 1).fill(1)]], [`${what} entry 2^31`, [2 ** 31, ...new Array(n - 1).fill(1)]], ...extra,
  ],
});
SPECS.push({
  fn: 'binaryBroadcast',
  valid: (r) => {
    const nd = small(r, 1, 4);
    const size = Array.from({ length: nd }, () => small(r, 1, 4));
    const A = bcastStrides(size, size.map(() => r() < 0.3)), Bs = bcastStrides(size, size.map(() => r() < 0.3));
    const n = size.reduce((p, v) => p * v, 1);
    return {
      args: [small(r, 0, 3), randn(A.length, r), randu(Bs.length, r, 0.5, 2), new Float32Array(n), size, A.strides, Bs.strides],
      slots: [
        { kind: 'custom', bad: [['op 4', 4], ['op -1', -1], ['op 1.5', 1.5], ['op NaN', NaN], ['op string', 'add'], ['op undefined', undefined]] },
        { kind: 'f32', longerOk: true }, { kind: 'f32', longerOk: true }, { kind: 'f32' },
        intList('size', nd, [['size empty', []], ['size entry 0', [0, ...size.slice(1)]], ['size first entry + 1', [size[0]! + 1, ...size.slice(1)]]]),
        intList('sa', nd), intList('sb', nd),
      ],
      noAlias: [[3, 1], [3, 2]],
    };
  },
});

// ---- the async bindings: same arguments and checks as their sync forms (the binding validates on the JS
// thread before queueing, so a bad call throws there; the TS wrappers turn that into a rejection)
for (const [sync, async] of [['policyAttention', 'policyAttentionAsync'], ['policyAttentionBackward', 'policyAttentionBackwardAsync'], ['prunedBlock', 'prunedBlockAsync'], ['tomeBlock', 'tomeBlockAsync']] as const) {
  for (const base of SPECS.filter((s) => s.fn === sync))
    SPECS.push({ fn: async, ...(base.label ? { label: base.label.replace(sync, async) } : {}), valid: base.valid, async: true });
}
