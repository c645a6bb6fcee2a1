/**
 * How close the BF16 inference path stays to FP32 on the segmentation output (issue: CPU engine at full
 * width): the same checkpoint run by two InferenceSessions, precision 'fp32' and 'bf16', on synthetic fundus
 * validation images (seeds disjoint from the training set's), unpruned and at keep 0.7. Prints the share of
 * mask pixels (probability > 0.5) that agree, the largest probability difference, and the time per image
 * of each (round-robin).
 *   npx tsx bench/model/precision.bench.ts --checkpoint model.safetensors [--images 16] [--keep 0.7]
 * Without --checkpoint: preset tiny with random weights, where every probability sits on one side of 0.5, so
 * the mask agreement says little (it says so).
 */
import { InferenceSession, info, loadCheckpoint, modelConfig, randomWeights } from '../../src/index.js';
import { syntheticFundus } from '../../src/data/synthetic.js';
import { normalizeImageNet } from '../../src/data/augment.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const ckpt = arg('checkpoint');
const nImages = Number(arg('images') ?? 16);
if (!info().cpu.bf16) {
  console.log(`precision bench: this CPU has no AVX-512 BF16 (${info().cpu.simd}); nothing to compare`);
  process.exit(0);
}
const src = ckpt ? loadCheckpoint(ckpt) : { config: modelConfig('tiny'), weights: randomWeights(modelConfig('tiny'), 1) };
const cfg = src.config;
const [H, W] = cfg.image, px = H * W;
const images = new Float32Array(nImages * 3 * px);
for (let i = 0; i < nImages; i++) images.set(normalizeImageNet(syntheticFundus(900_000 + i, [H, W]).image), i * 3 * px);

console.log(`model: ${ckpt ?? 'tiny, random weights'}; ${nImages} synthetic validation images ${H}x${W}; ${info().cpu.simd}, ${info().cpu.threads} threads`);
for (const keep of [null, Number(arg('keep') ?? 0.7)]) {
  const s32 = await InferenceSession.create({ config: cfg, weights: src.weights }, { keep });
  const s16 = await InferenceSession.create({ config: cfg, weights: src.weights }, { keep, precision: 'bf16' });
  let same = 0, total = 0, positives = 0, maxDiff = 0, sumDiff = 0, sameMed = 0;
  const ms32: number[] = [], ms16: number[] = [];
  for (let i = 0; i < nImages; i++) {
    const img = { data: images.subarray(i * 3 * px, (i + 1) * 3 * px), shape: [1, 3, H, W] };
    let t0 = performance.now();
    const a = (await s32.run(img)).semantic.data;
    ms32.push(performance.now() - t0);
    t0 = performance.now();
    const b = (await s16.run(img)).semantic.data;
    ms16.push(performance.now() - t0);
    // Also at the image's FP32 median probability: half the pixels on each side, so this counts how many
    // BF16 moves across a threshold where the most pixels sit near it (meaningful for any weights).
    const med = Float32Array.from(a).sort()[a.length >> 1]!;
    for (let p = 0; p < a.length; p++) {
      const la = a[p]! > 0.5, lb = b[p]! > 0.5;
      if (la === lb) same++;
      if ((a[p]! > med) === (b[p]! > med)) sameMed++;
      if (la) positives++;
      const d = Math.abs(a[p]! - b[p]!);
      maxDiff = Math.max(maxDiff, d);
      sumDiff += d;
      total++;
    }
  }
  s32.dispose();
  s16.dispose();
  const median = (v: number[]) => [...v].sort((x, y) => x - y)[v.length >> 1]!;
  console.log(
    `${keep === null ? 'unpruned ' : `keep ${keep}`}: identical mask pixels ${(100 * same / total).toFixed(3)}% ` +
      `(${total - same} of ${total} differ; ${(100 * positives / total).toFixed(1)}% positive in FP32), ` +
      `at the FP32 median ${(100 * sameMed / total).toFixed(3)}%, ` +
      `max |dp| ${maxDiff.toExponential(2)}, mean |dp| ${(sumDiff / total).toExponential(2)}; ` +
      `median ms/img fp32 ${median(ms32).toFixed(1)}, bf16 ${median(ms16).toFixed(1)}`,
  );
}
