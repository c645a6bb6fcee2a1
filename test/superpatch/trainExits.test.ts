/**
 * `reg4pru train-exits` on a tiny frozen backbone: the cross-entropy falls, the heads file loads and runs in the engine
 * (`--early-exit`), bad blocks are a usage error.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { loadExitHeads } from '../../src/model/earlyExit.js';
import { InferenceSession } from '../../src/index.js';
import { captureIo, tinyCheckpoint } from '../cli/helpers.js';
import { randn, rng } from '../reference/helpers.js';

describe('reg4pru train-exits', () => {
  it('trains heads on a frozen backbone; the file drives the engine', async () => {
    const { dir, ckpt } = tinyCheckpoint('r4p-exits-');
    const out = path.join(dir, 'heads.safetensors');
    const io = captureIo();
    expect(await main(['node', 'reg4pru', 'train-exits', '--checkpoint', ckpt, '--blocks', '1,2', '--steps', '30', '--samples', '6', '--out', out, '-q'], io), io.text().err).toBe(0);
    const m = /loss (\d+\.\d+) -> (\d+\.\d+)/.exec(io.text().out)!;
    expect(Number(m[2])).toBeLessThan(Number(m[1]));
    expect(io.text().out).toMatch(/block\s+accuracy\s+exit share/);
    const heads = loadExitHeads(out);
    expect(heads.config).toEqual({ blocks: [1, 2], D: 32, classes: 1 });
    const s = await InferenceSession.create(ckpt, { earlyExit: { heads: out, threshold: 0.5 } });
    const r = await s.run(randn(3 * 64 * 64, rng(1)));
    s.dispose();
    expect(r.halted!.shape).toEqual([2, 1]);
    expect(await main(['node', 'reg4pru', 'train-exits', '--checkpoint', ckpt, '--blocks', '2,1', '--out', out], captureIo())).toBe(2);
  }, 120_000);
});
