/**
 * `--superpatch <policy>[:τ]` on `bench` (a superpatch row after each non-ToMe configuration, the merged token share in
 * the kept column), `eval` (merged tokens beside Dice/AP) and `infer` (`--debug`: the merged-window overlay PNG); and
 * `--early-exit <heads>[:τ[:m]]` (exit rows, the exit rate per exit block).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { randomPolicyWeights, saveSuperpatchPolicy } from '../../src/model/superpatch.js';
import { randomExitHeads, saveExitHeads } from '../../src/model/earlyExit.js';
import type { BenchReport } from '../../src/cli/commands/bench.js';
import { captureIo, tinyCheckpoint } from '../cli/helpers.js';
import { encodeMergedOverlay } from '../../src/cli/segment.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../../src/cli/images.js';

describe('--superpatch on the command line', () => {
  it('bench, eval and infer --debug', async () => {
    const { dir, ckpt } = tinyCheckpoint('r4p-sp-cli-');
    const policy = path.join(dir, 'policy.safetensors');
    const pw = randomPolicyWeights({ patch: 16, width: 4 }, 9);
    pw['conv3.bias'] = Float32Array.of(5); // a strong merge bias: most windows merge at threshold 0.5
    saveSuperpatchPolicy(policy, { patch: 16, width: 4 }, pw);

    const io = captureIo();
    expect(await main(['node', 'reg4pru', 'bench', '--checkpoint', ckpt, '--configs', 'prune-0.7,tome-mhsa-0.5', '--superpatch', `${policy}:0.5`,
      '--warmup', '0', '--iters', '1', '--out', dir, '-q'], io), io.text().err).toBe(0);
    const json = JSON.parse(readFileSync(path.join(dir, 'throughput.json'), 'utf8')) as BenchReport;
    expect(json.results.map((r) => r.label)).toEqual(['unpruned', 'superpatch-0.5', 'prune-0.7', 'superpatch-0.5+prune-0.7', 'tome-mhsa-0.5']);
    expect(json.protocol.superpatch).toEqual({ file: policy, threshold: 0.5 });
    const sp = json.results[1]!;
    expect(sp.kept![0]!.stage).toBe('merge');
    expect(sp.kept![0]!.mean).toBeLessThan(16); // 4 x 4 patches, some windows merged
    expect(json.results[3]!.kept!.map((k) => k.stage)).toEqual(['merge', 0, 1]);
    expect(io.text().out).toMatch(/superpatch-0\.5 +no pruning \+ superpatch/);

    const io2 = captureIo();
    expect(await main(['node', 'reg4pru', 'eval', '--checkpoint', ckpt, '--data', 'synthetic', '--samples', '2', '--keep', 'none', '--superpatch', policy, '-q'], io2), io2.text().err).toBe(0);
    expect(io2.text().out).toMatch(/superpatches \(threshold 0\.5\)/);
    expect(io2.text().out).toMatch(/^merge\s+-1\s+\d/m);
    expect(existsSync(path.join(dir, 'eval-unpruned-superpatch0.5.json'))).toBe(true);

    const input = path.join(dir, 'in');
    mkdirSync(input);
    await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 90, g: 20, b: 10 } } }).png().toFile(path.join(input, 'a.png'));
    const out = path.join(dir, 'out');
    const io3 = captureIo();
    expect(await main(['node', 'reg4pru', 'infer', '--checkpoint', ckpt, '--input', input, '--output', out, '--superpatch', policy, '--debug', '-q'], io3), io3.text().err).toBe(0);
    const meta = await sharp(path.join(out, 'a_merged.png')).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([64, 64, 3]);
    expect(JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')).kept[0].stage).toBe('merge');
    // early exits: a row per configuration, combined with superpatches; the exit rate per exit block
    const heads = path.join(dir, 'heads.safetensors');
    const hc = { blocks: [1], D: 32, classes: 1 };
    saveExitHeads(heads, hc, randomExitHeads(hc, 3, 4));
    const io4 = captureIo();
    expect(await main(['node', 'reg4pru', 'bench', '--checkpoint', ckpt, '--configs', 'unpruned', '--superpatch', policy, '--early-exit', `${heads}:0.6:2`,
      '--warmup', '0', '--iters', '1', '--out', dir, '-q'], io4), io4.text().err).toBe(0);
    const j2 = JSON.parse(readFileSync(path.join(dir, 'throughput.json'), 'utf8')) as BenchReport;
    expect(j2.results.map((r) => r.label)).toEqual(['unpruned', 'exit-0.6', 'superpatch-0.5', 'exit-0.6+superpatch-0.5']);
    expect(j2.results[1]!.kept!.map((k) => [k.stage, k.block])).toEqual([['exit', 1]]);
    expect(j2.results[3]!.kept!.map((k) => k.stage)).toEqual(['merge', 'exit']);
    expect(io4.text().out).toMatch(/exit@1 \d/);
    const io5 = captureIo();
    expect(await main(['node', 'reg4pru', 'eval', '--checkpoint', ckpt, '--data', 'synthetic', '--samples', '2', '--keep', '0.7', '--early-exit', heads, '-q'], io5), io5.text().err).toBe(0);
    expect(io5.text().out).toMatch(/early exits \(threshold 0\.9\)/);
    expect(io5.text().out).toMatch(/^exit\s+1\s+\d/m);
    expect(await main(['node', 'reg4pru', 'bench', '--checkpoint', ckpt, '--early-exit', `${heads}:0.5:0`, '--out', dir], captureIo())).toBe(2);
    // usage errors: a missing policy file, --debug without --superpatch
    expect(await main(['node', 'reg4pru', 'eval', '--checkpoint', ckpt, '--data', 'synthetic', '--superpatch', path.join(dir, 'nope.safetensors')], captureIo())).toBe(2);
    expect(await main(['node', 'reg4pru', 'infer', '--checkpoint', ckpt, '--input', input, '--output', out, '--debug', '--overwrite'], captureIo())).toBe(2);
  }, 120_000);

  it('infer --debug overlay: merged windows outlined and tinted green, the others the input', async () => {
    const h = 32, w = 48, p = 8, v = 100; // 2 x 3 windows of 16 px; every pixel (100, 100, 100)
    const chw = new Float32Array(3 * h * w);
    for (let c = 0; c < 3; c++) chw.fill((v / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!, c * h * w, (c + 1) * h * w);
    const png = await encodeMergedOverlay(chw, h, w, Uint8Array.of(1, 0, 0, 0, 0, 1), p);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([w, h, 3]);
    const px = (y: number, x: number) => Array.from(data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3));
    const tinted = [60, 162, 60]; // 0.6 v + 0.4 (0, 255, 0)
    expect(px(0, 0)).toEqual([0, 255, 0]); // window (0, 0): outline
    expect(px(15, 7)).toEqual([0, 255, 0]);
    expect(px(5, 5)).toEqual(tinted);
    expect(px(5, 20)).toEqual([v, v, v]); // window (0, 1): not merged
    expect(px(16, 16)).toEqual([v, v, v]); // window (1, 1): not merged, no outline
    expect(px(20, 40)).toEqual(tinted); // window (1, 2)
    expect(px(31, 47)).toEqual([0, 255, 0]);
  });
});
