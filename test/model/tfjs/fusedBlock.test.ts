/**
 * The TF.js EoMT model on the `cpu` backend takes tfops.vitBlock for its blocks (src/model/tfjs/block.ts) and
 * tfops.upscaleBlock for the mask head's scale blocks (src/model/tfjs/upscale.ts); with setModelFusion({ block:
 * false }) / ({ upscale: false }) it runs their compositions of TF.js ops. Both must give the same training forward
 * (decode points, nested keep decisions, route) and the same gradients of every weight, with Reg4Pru routing +
 * nested policies, and with neither; off the cpu backend the compositions run.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelConfig, randomWeights, type ModelConfig } from '../../../src/index.js';
import { EomtModel, modelFusion, setModelFusion, useNativeBackend, type TrainOptions } from '../../../src/tfjs/index.js';
import { useFusedBlock, blockWeights } from '../../../src/model/tfjs/block.js';
import { upscaleWeights, useFusedUpscale } from '../../../src/model/tfjs/upscale.js';
import { expectClose, randn, rng } from '../../reference/helpers.js';

const CFG: ModelConfig = modelConfig('tiny', {
  D: 16, H: 2, L: 6, patch: 8, image: [32, 32], R: 2, Q: 3, Bq: 2, classes: 1, stageBlocks: [1, 3], selectorWidth: 4,
});
const B = 2;

beforeAll(async () => {
  await tf.setBackend('cpu');
  useNativeBackend();
});
afterAll(() => {
  setModelFusion({ block: true, upscale: true });
  useNativeBackend(false);
});

interface Run { outs: Float32Array[]; grads: Record<string, Float32Array> }

function trainStep(model: EomtModel, images: tf.Tensor4D, opts: TrainOptions): Run {
  let outs: Float32Array[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forwardTrain(images, { ...opts, fullResolution: false });
    outs = [...out.decoded.flatMap((d) => [d.maskLogits, d.classLogits]), ...(out.keep ? [out.keep] : []), ...(out.routeKept ? [out.routeKept.toFloat()] : [])].map((t) => t.dataSync() as Float32Array);
    let loss = tf.scalar(0);
    for (const [i, d] of out.decoded.entries()) {
      const r = tf.tensor(randn(d.maskLogits.size, rng(40 + i)), d.maskLogits.shape);
      loss = tf.add(loss, tf.add(tf.mean(tf.mul(d.maskLogits, r)), tf.mean(tf.square(d.classLogits))));
    }
    return loss;
  });
  value.dispose();
  const nameOf = new Map<string, string>(Object.entries(model.weights).map(([n, v]) => [v.name, n]));
  const g: Record<string, Float32Array> = {};
  for (const [n, t] of Object.entries(grads)) {
    g[nameOf.get(n) ?? n] = t.dataSync() as Float32Array;
    t.dispose();
  }
  return { outs, grads: g };
}

function relClose(got: Float32Array, want: Float32Array, rel: number, what: string): void {
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  expectClose(got, want, rel * Math.max(scale, 1e-6), rel, what);
}

// Which weights each fused op differentiates, and how many of them must get a nonzero gradient.
const FUSED: Array<{ flag: 'block' | 'upscale'; prefix: string; minNonzero: number }> = [
  { flag: 'block', prefix: 'blocks.', minNonzero: CFG.L * 10 },
  { flag: 'upscale', prefix: 'upscale.', minNonzero: 2 * 5 },
];

describe('EomtModel on cpu: fused vitBlock / upscaleBlock vs their compositions', () => {
  const cases: Array<[string, TrainOptions]> = [
    ['route (2, 4) + ratio policy', { route: { l: 2, n: 4 }, policy: 'ratio', tau: 1, seed: 7 }],
    ['no route, informed policy', { route: null, policy: 'informed', tau: 1, seed: 3 }],
    ['no route, no policy', { route: null, policy: 'none', seed: 1 }],
  ];
  for (const { flag, prefix, minNonzero } of FUSED)
    for (const [name, opts] of flag === 'block' ? cases : cases.slice(0, 1))
      it(`${flag}, ${name}: same outputs, keep decisions and weight gradients`, () => {
        const model = EomtModel.create(CFG, randomWeights(CFG, 5, { init: 'test' }));
        const images = tf.tensor4d(randn(B * 3 * 32 * 32, rng(9)), [B, 3, 32, 32]);
        try {
          expect(modelFusion()[flag]).toBe(true);
          const fused = trainStep(model, images, opts);
          const prev = setModelFusion({ [flag]: false });
          let comp: Run;
          try {
            comp = trainStep(model, images, opts);
          } finally {
            setModelFusion(prev);
          }
          expect(fused.outs.length).toBe(comp.outs.length);
          if (opts.policy !== 'none') expect(fused.outs[fused.outs.length - (opts.route ? 2 : 1)]).toEqual(comp.outs[comp.outs.length - (opts.route ? 2 : 1)]);
          fused.outs.forEach((o, i) => relClose(o, comp.outs[i]!, 1e-3, `output ${i}`));
          const names = Object.keys(comp.grads);
          expect(Object.keys(fused.grads).sort()).toEqual(names.slice().sort());
          let nonzero = 0;
          for (const n of names) {
            relClose(fused.grads[n]!, comp.grads[n]!, 2e-3, `grad ${n}`);
            if (n.startsWith(prefix) && fused.grads[n]!.some((v) => v !== 0)) nonzero++;
          }
          expect(nonzero).toBeGreaterThanOrEqual(minNonzero); // the fused op's weights really get gradients
        } finally {
          images.dispose();
          model.dispose();
        }
      });

  it('useFusedBlock / useFusedUpscale: cpu + float32 only, and off when setModelFusion says so', async () => {
    const model = EomtModel.create(CFG, randomWeights(CFG, 5, { init: 'test' }));
    const x = tf.zeros([1, 3, CFG.D]);
    try {
      const w = blockWeights(model.weights, 0);
      expect(useFusedBlock(x, w, null)).toBe(true);
      const prev = setModelFusion({ block: false });
      expect(useFusedBlock(x, w, null)).toBe(false);
      setModelFusion(prev);
      expect(useFusedBlock(x.toInt(), w, null)).toBe(false);
      expect(() => setModelFusion({ block: 1 as unknown as boolean })).toThrow(/setModelFusion: expected block to be a boolean/);
      const grid = tf.zeros([1, 2, 2, CFG.D]);
      const uw = upscaleWeights(model.weights, 1);
      expect(useFusedUpscale(grid, uw)).toBe(true);
      const prevUp = setModelFusion({ upscale: false });
      expect(useFusedUpscale(grid, uw)).toBe(false);
      setModelFusion(prevUp);
      expect(useFusedUpscale(grid.toInt(), uw)).toBe(false);
      expect(() => setModelFusion({ upscale: 'no' as unknown as boolean })).toThrow(/setModelFusion: expected upscale to be a boolean/);
      expect(() => upscaleWeights({}, 0)).toThrow(/missing weight 'upscale.0.conv1.weight'/);
      grid.dispose();
    } finally {
      x.dispose();
      model.dispose();
    }
    await tf.setBackend('wasm');
    try {
      const xw = tf.zeros([1, 3, CFG.D]);
      const m2 = EomtModel.create(CFG, randomWeights(CFG, 5, { init: 'test' }));
      expect(useFusedBlock(xw, blockWeights(m2.weights, 0), null)).toBe(false);
      expect(useFusedUpscale(tf.zeros([1, 2, 2, CFG.D]), upscaleWeights(m2.weights, 0))).toBe(false);
      xw.dispose();
      m2.dispose();
    } finally {
      await tf.setBackend('cpu');
    }
  });
});
