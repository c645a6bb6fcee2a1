/**
 * `reg4pru export` (src/cli/commands/export.ts): a checkpoint and a preset export to a decodable ONNX file,
 * --image resamples a checkpoint, --per-block adds outputs; a missing checkpoint, a bad flag, a missing
 * output directory and an unwritable output each give one `error:` line and a non-zero exit code. The
 * numerics of the exported model are tested in test/export/onnxExport.test.ts.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { modelConfig, randomWeights, saveCheckpoint } from '../../src/index.js';
import { captureIo } from './helpers.js';

const { onnx } = onnxProto;
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'r4p-export-'));
const CFG = modelConfig('tiny', { D: 16, H: 2, L: 3, patch: 8, image: [32, 32], R: 1, Q: 2, Bq: 1, stageBlocks: [1], selectorWidth: 4 });

function checkpoint(dir: string): string {
  const file = path.join(dir, 'm.safetensors');
  saveCheckpoint(file, CFG, randomWeights(CFG, 1));
  return file;
}

async function cli(...args: string[]) {
  const io = captureIo();
  const code = await main(['node', 'reg4pru', 'export', ...args], io);
  return { code, ...io.text() };
}

const outputs = (file: string) => (onnx.ModelProto.decode(readFileSync(file)).graph as Onnx.GraphProto).output.map((o) => [o.name, o.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))]);

describe('reg4pru export', () => {
  it('exports a checkpoint, at its own size and with --image (pos_embed resampled)', async () => {
    const dir = tmp();
    const ck = checkpoint(dir);
    const a = await cli('--checkpoint', ck, '--onnx', path.join(dir, 'a.onnx'));
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/wrote .*a\.onnx .*opset 17/);
    expect(a.out).toMatch(/outputs semantic \[B,1,32,32\], class_logits \[B,2,2\], mask_logits \[B,2,16,16\]/);
    expect(outputs(path.join(dir, 'a.onnx'))[0]).toEqual(['semantic', ['B', 1, 32, 32]]);
    const b = await cli('--checkpoint', ck, '--onnx', path.join(dir, 'b.onnx'), '--image', '48', '--per-block');
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/pos_embed resampled to 48x48/);
    expect(outputs(path.join(dir, 'b.onnx')).map((o) => o[0])).toEqual(['semantic_block1', 'semantic', 'class_logits', 'mask_logits']);
    expect(outputs(path.join(dir, 'b.onnx'))[1]).toEqual(['semantic', ['B', 1, 48, 48]]);
  });

  it('exports a preset with random weights at --image', async () => {
    const dir = tmp();
    const r = await cli('--preset', 'tiny', '--image', '32', '--onnx', path.join(dir, 't.onnx'));
    expect(r.code, r.err).toBe(0);
    expect(outputs(path.join(dir, 't.onnx'))[0]).toEqual(['semantic', ['B', 1, 32, 32]]);
  });

  it('bad input: one error line and a non-zero exit, no file left behind', async () => {
    const dir = tmp();
    const ck = checkpoint(dir);
    const cases: Array<[string[], number, RegExp]> = [
      [['--checkpoint', path.join(dir, 'none.safetensors'), '--onnx', path.join(dir, 'x.onnx')], 2, /--checkpoint: no such file/],
      [['--checkpoint', ck], 2, /required option '--onnx <file>'/],
      [['--onnx', path.join(dir, 'x.onnx')], 2, /--checkpoint <file> is required/],
      [['--checkpoint', ck, '--onnx', path.join(dir, 'x.onnx'), '--image', '0'], 2, /--image: expected an integer/],
      [['--checkpoint', ck, '--onnx', path.join(dir, 'x.onnx'), '--image', '36'], 1, /multiples of the patch size 8/],
      [['--checkpoint', ck, '--onnx', path.join(dir, 'nodir', 'x.onnx')], 1, /the directory '.*nodir' does not exist/],
      [['--checkpoint', ck, '--onnx', dir], 2, /is a directory/],
      // unwritable even for root: the "directory" is a file
      [['--checkpoint', ck, '--onnx', path.join(ck, 'x.onnx')], 1, /^error: exportOnnx: cannot write '.*m\.safetensors\/x\.onnx': ENOTDIR/],
      [['--checkpoint', path.join(dir, 'bad.safetensors'), '--onnx', path.join(dir, 'x.onnx')], 1, /bad\.safetensors/],
    ];
    // a file that is not a safetensors checkpoint
    mkdirSync(path.join(dir, 'sub'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(dir, 'bad.safetensors'), 'not a checkpoint');
    for (const [args, code, msg] of cases) {
      const r = await cli(...args);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(code);
      expect(r.err).toMatch(msg);
      expect(r.err.trim().split('\n').filter((l) => !l.startsWith('(add --help')).length, r.err).toBe(1);
    }
    expect(readdirSync(dir).sort()).toEqual(['bad.safetensors', 'm.safetensors', 'sub']);
  });

  // root may write anywhere: this case needs an unprivileged user (the ENOTDIR case above runs for all)
  it.skipIf(process.getuid?.() === 0)('an unwritable output directory: exit 1, one error line naming the file', async () => {
    const dir = tmp();
    const ck = checkpoint(dir);
    const ro = path.join(dir, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o500);
    try {
      const r = await cli('--checkpoint', ck, '--onnx', path.join(ro, 'm.onnx'));
      expect(r.code).toBe(1);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(/^error: exportOnnx: cannot write '.*ro\/m\.onnx': EACCES/);
      expect(readdirSync(ro)).toEqual([]);
    } finally {
      chmodSync(ro, 0o700);
    }
  });
});
