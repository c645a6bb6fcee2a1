/**
 * The fused training ops whose kernel returns [y, saved] (tfops.vitBlock, tfops.upscaleBlock) run through
 * runSavedOutputOp (src/tfjs/gradients/util.ts): inside tf.customGrad, so the tape's node has y as its only output
 * and TF.js no longer builds a zero-filled upstream gradient of saved's size in every backward pass. Checked: the
 * backward stores no all-zero tensor of saved's size (and the direct path, the control, does), and y and every gradient are
 * bit-identical to the direct path; no leaks.
 */
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { tfops } from '../../src/tfjs/index.js';
import { savedOutputAB } from '../../src/tfjs/gradients/util.js';
import { PRUNED_BLOCK_WEIGHT_NAMES } from '../../src/ops/prunedBlock.js';
import { vitBlockSavedFloats } from '../../src/ops/vitBlock.js';
import { UPSCALE_WEIGHT_NAMES, upscaleBlockSavedFloats } from '../../src/ops/upscaleBlock.js';
import { randn, randu, rng } from '../reference/helpers.js';
import { expectNoLeak } from './helpers.js';

beforeAll(async () => {
  tf.env().set('IS_NODE', true);
  await tf.setBackend('cpu');
});

interface OpCase {
  name: string;
  /** the op's inputs (x first), all differentiated */
  make: () => tf.Tensor[];
  run: (t: tf.Tensor[]) => tf.Tensor;
  savedFloats: number;
}

function named<N extends string>(names: readonly N[], t: tf.Tensor[]): Record<N, tf.Tensor> {
  return Object.fromEntries(names.map((n, i) => [n, t[i]!])) as Record<N, tf.Tensor>;
}

const V = { B: 2, N: 7, D: 12, H: 3, F: 24 };
const U = { B: 2, h: 3, w: 5, C: 4, O: 6 };

const CASES: OpCase[] = [
  {
    name: 'vitBlock (policy)',
    make: () => {
      const r = rng(3);
      const { B, N, D, F } = V;
      const shape: Record<string, number[]> = {
        'attn.qkv.weight': [3 * D, D], 'attn.qkv.bias': [3 * D], 'attn.proj.weight': [D, D],
        'mlp.fc1.weight': [F, D], 'mlp.fc1.bias': [F], 'mlp.fc2.weight': [D, F],
      };
      const w = PRUNED_BLOCK_WEIGHT_NAMES.map((n) => {
        const s = shape[n] ?? [D];
        return tf.tensor(randn(s.reduce((a, b) => a * b, 1), r, 0.3), s, 'float32');
      });
      return [tf.tensor3d(randn(B * N * D, r), [B, N, D]), tf.tensor2d(randu(B * N, r, 0.2, 0.9), [B, N]), ...w];
    },
    run: ([x, policy, ...w]) => tfops.vitBlock(x as tf.Tensor3D, named(PRUNED_BLOCK_WEIGHT_NAMES, w), { heads: V.H, policy: policy as tf.Tensor2D }),
    savedFloats: vitBlockSavedFloats(V),
  },
  {
    name: 'upscaleBlock',
    make: () => {
      const r = rng(4);
      const { B, h, w, C, O } = U;
      const shape: Record<string, number[]> = { 'conv1.weight': [C, O, 2, 2], 'conv1.bias': [O], 'conv2.weight': [O, 1, 3, 3], 'norm.weight': [O], 'norm.bias': [O] };
      const ws = UPSCALE_WEIGHT_NAMES.map((n) => tf.tensor(randn(shape[n]!.reduce((a, b) => a * b, 1), r, 0.3), shape[n], 'float32'));
      return [tf.tensor4d(randn(B * h * w * C, r), [B, h, w, C]), ...ws];
    },
    run: ([x, ...w]) => tfops.upscaleBlock(x as tf.Tensor4D, named(UPSCALE_WEIGHT_NAMES, w)),
    savedFloats: upscaleBlockSavedFloats(U),
  },
];

// y and the gradients of sum(y * y) w.r.t. every input, with the sizes of the all-zero tensors stored meanwhile.
function gradsAndZeros(c: OpCase, inputs: tf.Tensor[]): { values: Float32Array[]; zeros: number[] } {
  const be = tf.backend();
  if (!(be instanceof MathBackendCPU)) throw new Error('expected the cpu backend');
  const zeros: number[] = [];
  const write = be.write.bind(be);
  be.write = (values, shape, dtype) => {
    const v = values as ArrayLike<number> & { every(f: (x: number) => boolean): boolean };
    if (v.length > 0 && v.every((e) => e === 0)) zeros.push(v.length);
    return write(values, shape, dtype);
  };
  try {
    const values = tf.tidy(() => {
      const y = c.run(inputs);
      const g = tf.grads((...t: tf.Tensor[]) => tf.sum(tf.square(c.run(t))))(inputs);
      return [y, ...g].map((t) => Float32Array.from(t.dataSync()));
    });
    return { values, zeros };
  } finally {
    Reflect.deleteProperty(be, 'write');
  }
}

describe('fused [y, saved] ops run inside tf.customGrad', () => {
  for (const c of CASES)
    it(`${c.name}: no zero gradient of saved's size; same y and gradients as the direct path; no leaks`, () => {
      const inputs = c.make();
      const viaCustom = gradsAndZeros(c, inputs);
      savedOutputAB.customGrad = false;
      let direct: { values: Float32Array[]; zeros: number[] };
      try {
        direct = gradsAndZeros(c, inputs);
      } finally {
        savedOutputAB.customGrad = true;
      }
      expect(c.savedFloats).toBeGreaterThan(0);
      expect(direct.zeros, 'control: the direct path stores a zero gradient of saved').toContain(c.savedFloats);
      expect(viaCustom.zeros).not.toContain(c.savedFloats);
      expect(viaCustom.values.length).toBe(inputs.length + 1);
      viaCustom.values.forEach((v, i) => expect(v, `output ${i}`).toEqual(direct.values[i]));
      expectNoLeak(() => void gradsAndZeros(c, inputs));
      tf.dispose(inputs);
    });
});
