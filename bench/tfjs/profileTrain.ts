/**
 * Profile of one training step of the real model (preset tiny, 256x256, B=2, route + ratio policy) on the cpu
 * backend with the native kernels: forward / backward / optimiser wall times, then the per-kernel profile.
 * `--no-upscale`: the mask head's scale blocks as their TF.js composition instead of tfops.upscaleBlock.
 * Run: npx tsx bench/tfjs/profileTrain.ts [--no-upscale]
 */
import * as tf from '@tensorflow/tfjs';
import { modelConfig, randomWeights } from '../../src/index.js';
import { EomtModel, useNativeBackend, deepSupervisionLoss, ratioLoss, AdamW, setModelFusion } from '../../src/tfjs/index.js';
import { vesselTargets } from '../../src/train/matching.js';
import { profileKernels, formatProfile } from './profile.js';
tf.env().set('IS_NODE', true);
await tf.setBackend('cpu'); useNativeBackend(true);
setModelFusion({ upscale: !process.argv.includes('--no-upscale') });
const cfg = modelConfig('tiny');
const model = EomtModel.create(cfg, randomWeights(cfg, 0));
const images = tf.randomNormal([2, 3, 256, 256]) as tf.Tensor4D;
const masks = [0, 1].map(() => new Uint8Array(256 * 256).map((_, i) => (i % 7 === 0 ? 1 : 0)));
const opt = new AdamW(model.weights, { schedule: { lr: 1e-4, warmup: [1, 1], totalSteps: 10 }, weightDecay: 0.05, llrd: 0.8, L: 12 });
const step = () => {
  const t0 = performance.now();
  let tf1 = 0;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.forwardTrain(images, { route: { l: 4, n: 7 }, policy: 'ratio', tau: 1, seed: 1, fullResolution: false });
    const [h, w] = out.decoded[0]!.maskLogits.shape.slice(2) as [number, number];
    const targets = masks.map((m) => vesselTargets(m, 256, 256, h, w));
    const seg = deepSupervisionLoss(out.decoded, targets);
    const r = ratioLoss(out.keep!, [0.7, 0.49, 0.343]);
    tf1 = performance.now();
    return tf.add(seg, r) as tf.Scalar;
  });
  const t2 = performance.now();
  value.dataSync();
  opt.apply(Object.fromEntries(Object.entries(grads)));
  const t3 = performance.now();
  tf.dispose([value, ...Object.values(grads)]);
  console.log(`fwd ${(tf1 - t0).toFixed(0)} bwd ${(t2 - tf1).toFixed(0)} opt ${(t3 - t2).toFixed(0)} total ${(t3 - t0).toFixed(0)}`);
};
step(); step(); step();
console.log(formatProfile(profileKernels(step), 25));
