/**
 * Bad arguments to `reg4pru queue …` / `reg4pru worker`: one clear line on stderr, no stack trace, a
 * non-zero exit (2 for usage, 1 for the environment: Redis unreachable, output unwritable). No Redis is
 * needed: the unreachable one is a free loopback port nobody listens on. One case runs the real
 * executable to check the process exit code and that stderr is a single line.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { captureIo } from '../cli/helpers.js';
import { cli, makeImages, tmp, writeModelConfig } from './fixtures.js';
import { freePort } from './redis.js';

let dead = '', input = '', modelConfig = '', notDir = '';

beforeAll(async () => {
  dead = `redis://127.0.0.1:${await freePort()}`;
  const dir = tmp('cli');
  modelConfig = writeModelConfig(dir);
  input = path.join(dir, 'in');
  await makeImages(input, 2);
  notDir = path.join(dir, 'file.txt');
  writeFileSync(notDir, 'a file, not a folder');
  mkdirSync(path.join(dir, 'out'));
});

async function run(args: string[]): Promise<{ code: number; err: string; out: string }> {
  const io = captureIo();
  const code = await main(['node', 'reg4pru', ...args], io);
  return { code, ...io.text() };
}

describe('queue CLI: bad arguments', () => {
  const model = () => ['--preset', 'tiny', '--model-config', modelConfig];
  const cases: Array<[string, () => string[], number, RegExp]> = [
    ['submit, unreachable Redis', () => ['queue', 'submit', '--redis', dead, '--queue', 'q', '--input', input, ...model()], 1, /^error: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/],
    ['status, unreachable Redis', () => ['queue', 'status', '--redis', dead, '--queue', 'q'], 1, /^error: cannot reach Redis/],
    ['retry-failed, unreachable Redis', () => ['queue', 'retry-failed', '--redis', dead, '--queue', 'q'], 1, /^error: cannot reach Redis/],
    ['worker, unreachable Redis', () => ['worker', '--redis', dead, '--queue', 'q', '--output', path.join(tmp('o'), 'out')], 1, /^error: cannot reach Redis/],
    ['submit, missing checkpoint', () => ['queue', 'submit', '--redis', dead, '--queue', 'q', '--input', input, '--checkpoint', '/nonexistent/m.safetensors'], 2, /^error: --checkpoint: no such file '\/nonexistent\/m\.safetensors'/],
    ['submit, no model', () => ['queue', 'submit', '--redis', dead, '--queue', 'q', '--input', input], 2, /^error: --checkpoint <file> is required/],
    ['submit, input and list', () => ['queue', 'submit', '--redis', dead, '--queue', 'q', '--input', input, '--list', notDir, ...model()], 2, /^error: give exactly one of --input <dir> and --list <file>/],
    ['submit, input not a folder', () => ['queue', 'submit', '--redis', dead, '--queue', 'q', '--input', notDir, ...model()], 1, /^error: --input: '.*file\.txt' is not a directory/],
    ['submit, bad keep', () => ['queue', 'submit', '--redis', dead, '--queue', 'q', '--input', input, ...model(), '--keep', '2'], 2, /^error: option --keep: expected a number in \(0, 1\]/],
    ['submit, bad attempts', () => ['queue', 'submit', '--redis', dead, '--queue', 'q', '--input', input, ...model(), '--attempts', '0'], 2, /^error: option --attempts: expected an integer in \[1, 100\]/],
    ['submit, bad URL', () => ['queue', 'submit', '--redis', 'http://x', '--queue', 'q', '--input', input, ...model()], 1, /^error: --redis: expected a redis:\/\/ or rediss:\/\/ URL, received 'http:\/\/x'/],
    ['status, bad queue name', () => ['queue', 'status', '--redis', dead, '--queue', 'a:b'], 1, /^error: --queue: expected letters, digits/],
    ['worker, unwritable output', () => ['worker', '--redis', dead, '--queue', 'q', '--output', path.join(notDir, 'out')], 1, /^error: --output: cannot write to '.*file\.txt\/out': .*(ENOTDIR|EEXIST)/],
    ['worker, cuda', () => ['worker', '--redis', dead, '--queue', 'q', '--output', path.join(tmp('o'), 'out'), '--device', 'cuda'], 1, /^error: --device cuda: the CUDA inference engine is not built yet/],
    ['worker, bad device', () => ['worker', '--redis', dead, '--queue', 'q', '--output', path.join(tmp('o'), 'out'), '--device', 'tpu'], 2, /^error: --device: expected cpu or cuda, received 'tpu'/],
    ['worker, bad concurrency', () => ['worker', '--redis', dead, '--queue', 'q', '--output', path.join(tmp('o'), 'out'), '--concurrency', '0'], 2, /^error: option --concurrency: expected an integer/],
    ['worker, missing --redis', () => ['worker', '--queue', 'q', '--output', 'x'], 2, /^error: required option '--redis <url>' not specified/],
  ];
  for (const [name, args, code, msg] of cases) {
    it(name, async () => {
      const r = await run(args());
      expect(r.code, r.err).toBe(code);
      expect(r.err).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    });
  }

  it('the real executable: exit code 1 and exactly one line on stderr for an unreachable Redis', async () => {
    const p = cli(['queue', 'submit', '--redis', dead, '--queue', 'q', '--input', input, ...model()]);
    expect(await p.exit).toBe(1);
    expect(p.err).toHaveLength(1);
    expect(p.err[0]).toMatch(/^error: cannot reach Redis at /);
    expect(p.out).toEqual([]);
  });
});
