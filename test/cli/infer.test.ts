/**
 * `reg4pru infer`: generated PNG / JPEG / TIFF (grey), an image larger than the model input (tiled),
 * a corrupt file and a zero-byte file. With the pixel-wise stand-in session the stitched tile output is
 * checked pixel for pixel (prob = sigmoid(normalised red)); resize mode keeps the original size;
 * existing outputs are skipped without --overwrite; batches pack tiles of consecutive images; usage
 * errors exit with code 2.
 */
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { runInfer, type InferSummary } from '../../src/cli/commands/infer.js';
import { IMAGENET_MEAN, IMAGENET_STD, resizeBilinear } from '../../src/cli/images.js';
import { main } from '../../src/cli/program.js';
import { captureIo, fakeFactory, sigmoid } from './helpers.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'r4p-infer-'));
let inDir = '', modelConfig = '', bigRed = new Uint8Array(0);

/** Deterministic RGB bytes. */
function pixels(w: number, h: number, c: number, salt: number): Buffer {
  const b = Buffer.alloc(w * h * c);
  for (let i = 0; i < b.length; i++) b[i] = (i * 37 + salt * 101 + ((i / 7) | 0)) % 256;
  return b;
}

beforeAll(async () => {
  const root = tmp();
  inDir = path.join(root, 'in');
  mkdirSync(inDir);
  modelConfig = path.join(root, 'model.json');
  writeFileSync(modelConfig, JSON.stringify({ D: 32, H: 2, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2], image: [32, 32] }));
  await sharp(pixels(20, 24, 3, 1), { raw: { width: 20, height: 24, channels: 3 } }).png().toFile(path.join(inDir, 'small.png'));
  await sharp(pixels(32, 32, 3, 2), { raw: { width: 32, height: 32, channels: 3 } }).jpeg().toFile(path.join(inDir, 'photo.jpg'));
  await sharp(pixels(16, 12, 1, 3), { raw: { width: 16, height: 12, channels: 1 } }).tiff().toFile(path.join(inDir, 'grey.tiff'));
  const big = pixels(70, 45, 3, 4); // 3 x 2 tiles of 32, padded edges
  bigRed = new Uint8Array(70 * 45).map((_, i) => big[i * 3]!);
  await sharp(big, { raw: { width: 70, height: 45, channels: 3 } }).png().toFile(path.join(inDir, 'big.png'));
  writeFileSync(path.join(inDir, 'corrupt.png'), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('not really a png')]));
  writeFileSync(path.join(inDir, 'empty.jpg'), Buffer.alloc(0));
});

const grey = async (file: string) => {
  const meta = await sharp(file).metadata();
  const { data, info } = await sharp(file).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: meta.channels };
};

describe('infer (stand-in session)', () => {
  it('writes prob and mask per good image, reports bad ones by name, tiles the large one exactly', async () => {
    const out = path.join(tmp(), 'out');
    const io = captureIo();
    const calls: Array<{ keep: number | null; batches: number[] }> = [];
    const s = await runInfer({ preset: 'tiny', modelConfig, input: inDir, output: out, batch: 4, keep: 0.7, quiet: true }, io, fakeFactory(calls));
    expect(s).toMatchObject({ processed: 4, skipped: 0, failed: 2, keep: 0.7, batch: 4 });
    expect(calls[0]!.keep).toBe(0.7);
    // 6 tiles of big + 3 resized images = 9 model inputs in batches of 4, 4, 1 (tiles of consecutive images packed).
    expect(calls[0]!.batches).toEqual([4, 4, 1]);
    const byFile = Object.fromEntries(s.items.map((i) => [i.file, i]));
    expect(byFile['big.png']).toMatchObject({ status: 'processed', mode: 'tile', tiles: 6, width: 70, height: 45 });
    expect(byFile['small.png']).toMatchObject({ status: 'processed', mode: 'resize', tiles: 1 });
    expect(byFile['corrupt.png']!.status).toBe('failed');
    expect(byFile['empty.jpg']).toMatchObject({ status: 'failed', reason: 'empty file (0 bytes)' });
    const { out: stdout } = io.text();
    expect(stdout).toMatch(/4 processed, 0 skipped, 2 failed/);
    expect(stdout).toMatch(/failed: corrupt\.png: /);
    expect(stdout).toMatch(/failed: empty\.jpg: empty file/);
    expect(JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'))).toMatchObject({ processed: 4, skipped: 0, failed: 2 });

    for (const [name, w, h] of [['small', 20, 24], ['photo', 32, 32], ['grey', 16, 12], ['big', 70, 45]] as const) {
      for (const kind of ['prob', 'mask']) {
        const img = await grey(path.join(out, `${name}_${kind}.png`));
        expect([img.width, img.height, img.channels]).toEqual([w, h, 1]);
      }
    }
    // Tiled: every pixel is the stand-in's prob of that pixel; the mask thresholds it at 0.5.
    const prob = await grey(path.join(out, 'big_prob.png'));
    const mask = await grey(path.join(out, 'big_mask.png'));
    let worst = 0;
    for (let i = 0; i < 70 * 45; i++) {
      const p = sigmoid((bigRed[i]! / 255 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]);
      worst = Math.max(worst, Math.abs(prob.data[i]! - Math.round(255 * p)));
      expect(mask.data[i]).toBe(p >= 0.5 ? 255 : 0);
    }
    expect(worst).toBe(0);
  });

  it('resize mode: the prob map is the model-size output resized back', async () => {
    const out = path.join(tmp(), 'out');
    await runInfer({ preset: 'tiny', modelConfig, input: inDir, output: out, resize: true, threshold: 0.9, quiet: true }, captureIo(), fakeFactory());
    const big = await grey(path.join(out, 'big_prob.png'));
    expect([big.width, big.height]).toEqual([70, 45]);
    // Independent check of resizeBilinear: constant maps stay constant, sizes round-trip.
    const c = resizeBilinear(new Float32Array(6).fill(0.25), 1, 2, 3, 5, 7);
    expect(c.length).toBe(35);
    expect(Math.max(...c.map((v) => Math.abs(v - 0.25)))).toBeLessThan(1e-7);
    const mask = await grey(path.join(out, 'photo_mask.png'));
    expect(mask.data.every((v) => v === 0 || v === 255)).toBe(true);
  });

  it('skips existing outputs without --overwrite and replaces them with it', async () => {
    const out = path.join(tmp(), 'out');
    await runInfer({ preset: 'tiny', modelConfig, input: inDir, output: out, quiet: true }, captureIo(), fakeFactory());
    const before = statSync(path.join(out, 'small_prob.png')).mtimeMs;
    writeFileSync(path.join(out, 'photo_mask.png'), 'sentinel'); // one existing output is enough to skip
    const io = captureIo();
    const again: InferSummary = await runInfer({ preset: 'tiny', modelConfig, input: inDir, output: out, quiet: true }, io, fakeFactory());
    expect(again).toMatchObject({ processed: 0, skipped: 4, failed: 2 });
    expect(io.text().out).toMatch(/skipped: photo\.jpg: output exists/);
    expect(readFileSync(path.join(out, 'photo_mask.png'), 'utf8')).toBe('sentinel');
    expect(statSync(path.join(out, 'small_prob.png')).mtimeMs).toBe(before);
    const forced = await runInfer({ preset: 'tiny', modelConfig, input: inDir, output: out, overwrite: true, quiet: true }, captureIo(), fakeFactory());
    expect(forced).toMatchObject({ processed: 4, skipped: 0, failed: 2 });
    expect((await sharp(path.join(out, 'photo_mask.png')).metadata()).format).toBe('png');
  });

  it("--keep none runs the unpruned model and --keep 0.5 a pruned one (through the command line)", async () => {
    for (const [flag, want] of [['none', null], ['0.5', 0.5]] as const) {
      const calls: Array<{ keep: number | null; batches: number[] }> = [];
      const io = captureIo();
      expect(await main(['node', 'reg4pru', 'infer', '--preset', 'tiny', '--model-config', modelConfig, '--input', inDir, '--output', path.join(tmp(), 'out'), '--keep', flag, '-q'], io, fakeFactory(calls))).toBe(0);
      expect(calls[0]!.keep).toBe(want);
    }
  });

  it('exits 0 on a completed run with failures, 2 on usage errors', async () => {
    const out = path.join(tmp(), 'out');
    const ok = captureIo();
    expect(await main(['node', 'reg4pru', 'infer', '--preset', 'tiny', '--model-config', modelConfig, '--input', inDir, '--output', out, '--batch', '2'], ok, fakeFactory())).toBe(0);
    expect(ok.text().err).toMatch(/infer: 6\/6/); // plain progress lines (not a TTY)
    for (const [args, msg] of [
      [['--input', inDir, '--output', out], /--checkpoint <file> is required/],
      [['--preset', 'tiny', '--input', path.join(inDir, 'nope'), '--output', out], /--input: .* is not a directory/],
      [['--preset', 'tiny', '--input', inDir, '--output', inDir], /--output must differ from --input/],
      [['--preset', 'tiny', '--input', inDir, '--output', out, '--resize', '--tile'], /at most one of --resize and --tile/],
      [['--preset', 'tiny', '--input', inDir, '--output', out, '--threshold', '1.5'], /--threshold: expected a number in \[0, 1\]/],
      [['--preset', 'tiny', '--input', inDir, '--output', out, '--keep', '0'], /--keep: expected a number in \(0, 1\]/],
      [['--preset', 'tiny', '--input', inDir, '--output', out, '--batch', '0'], /--batch: expected an integer/],
      [['--preset', 'tiny', '--input', inDir], /required option '--output <dir>'/],
    ] as const) {
      const io = captureIo();
      expect(await main(['node', 'reg4pru', 'infer', ...args], io, fakeFactory())).toBe(2);
      expect(io.text().err).toMatch(msg);
    }
  });
});
