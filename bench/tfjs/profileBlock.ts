/**
 * Which TF.js kernels dominate the ViT block's forward+backward step (bench/tfjs/vitBlock.ts, preset
 * tiny) on the stock `cpu` backend and with `useNativeBackend()`. Run: npx tsx bench/tfjs/profileBlock.ts
 */
import * as tf from '@tensorflow/tfjs';
import { useNativeBackend } from '../../src/tfjs/backend/native_backend.js';
import { formatProfile, profileKernels } from './profile.js';
import { TINY_BLOCK, blockStep, makeBlockParams, disposeParams } from './vitBlock.js';

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
  const cfg = TINY_BLOCK;
  const params = makeBlockParams(cfg);
  const x = tf.randomNormal([cfg.B, cfg.N, cfg.D], 0, 1, 'float32', 7);
  const step = () => {
    const { loss, grads } = blockStep(x, params, cfg);
    loss.dataSync();
    tf.dispose([loss, ...Object.values(grads)]);
  };
  const iters = Number(process.env.ITERS ?? 2);
  for (const native of process.argv.includes('--native-only') ? [true] : [false, true]) {
    useNativeBackend(native);
    step();
    const rows = profileKernels(() => { for (let i = 0; i < iters; i++) step(); });
    console.log(`\n${native ? 'native' : 'stock'} cpu backend, ${iters} steps (per-kernel totals):`);
    console.log(formatProfile(rows, 16));
  }
  useNativeBackend(false);
  x.dispose();
  disposeParams(params);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
