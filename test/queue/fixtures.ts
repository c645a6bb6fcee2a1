/**
 * Queue test fixtures: synthetic images (some larger than the 32 px model input, so they are tiled),
 * a tiny model config, `reg4pru` as a real child process (node --import tsx, stdout/stderr collected
 * line by line), and the reference outputs of `reg4pru infer` on the same folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { runInfer } from '../../src/cli/commands/infer.js';
import { captureIo } from '../cli/helpers.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const tmp = (tag = 'q') => mkdtempSync(path.join(os.tmpdir(), `r4p-queue-${tag}-`));

/** Tiny model (D 32, L 4, 32 px input): milliseconds per tile on one core. */
export function writeModelConfig(dir: string): string {
  const f = path.join(dir, 'model.json');
  writeFileSync(f, JSON.stringify({ D: 32, H: 2, L: 4, Q: 4, Bq: 2, R: 1, stageBlocks: [1, 2], image: [32, 32] }));
  return f;
}

/** `n` distinct PNG/JPEG images in `dir`; every `bigEvery`-th one is w×h = big (tiled), others 40×30. */
export async function makeImages(dir: string, n: number, big: [number, number] = [96, 64], bigEvery = 3): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    const [w, h] = i % bigEvery === 0 ? big : [40, 30];
    const b = Buffer.alloc(w * h * 3);
    for (let j = 0; j < b.length; j++) b[j] = (j * 37 + i * 101 + ((j / 7) | 0) * 13) % 256;
    const name = `img${String(i).padStart(3, '0')}.${i % 4 === 3 ? 'jpg' : 'png'}`;
    const s = sharp(b, { raw: { width: w, height: h, channels: 3 } });
    await (i % 4 === 3 ? s.jpeg() : s.png()).toFile(path.join(dir, name));
    names.push(name);
  }
  return names;
}

export interface Proc {
  proc: ChildProcess;
  out: string[];
  err: string[];
  /** Resolves with the exit code (or the signal name). */
  exit: Promise<number | string>;
  /** Resolves when a stdout or stderr line matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
}

/** Runs `reg4pru <args>` as a child process. */
export function cli(args: string[]): Proc {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  const out: string[] = [], err: string[] = [];
  const waiters: Array<{ re: RegExp; resolve(l: string): void }> = [];
  const lines = (sink: string[]) => {
    let buf = '';
    return (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const l of parts) {
        sink.push(l);
        for (const w of [...waiters]) if (w.re.test(l)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(l); }
      }
    };
  };
  proc.stdout!.on('data', lines(out));
  proc.stderr!.on('data', lines(err));
  const exit = new Promise<number | string>((r) => proc.on('exit', (code, sig) => r(code ?? sig ?? -1)));
  return {
    proc, out, err, exit,
    waitFor(re, timeoutMs = 60_000) {
      const hit = [...out, ...err].find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no output line matching ${re} in ${timeoutMs} ms\nstdout:\n${out.join('\n')}\nstderr:\n${err.join('\n')}`)), timeoutMs);
        waiters.push({ re, resolve: (l) => { clearTimeout(t); resolve(l); } });
      });
    },
  };
}

/** `reg4pru infer` (in-process, native engine) on `input` with the tiny preset: the reference outputs. */
export async function inferReference(input: string, modelConfig: string, keep: number): Promise<string> {
  const out = path.join(tmp('ref'), 'out');
  const s = await runInfer({ preset: 'tiny', modelConfig, input, output: out, keep, quiet: true }, captureIo());
  if (s.failed > 0) throw new Error(`reference infer failed on ${s.failed} inputs`);
  return out;
}

/** Output PNGs of a folder (ignoring summary.json), name -> bytes. */
export function outputs(dir: string): Map<string, Buffer> {
  return new Map(readdirSync(dir).filter((f) => f.endsWith('.png')).sort().map((f) => [f, readFileSync(path.join(dir, f))]));
}

/** Job ids of the `completed <id> ...` lines of some worker processes. */
export function completedIds(...procs: Proc[]): string[] {
  return procs.flatMap((p) => p.out.filter((l) => l.startsWith('completed ')).map((l) => l.split(' ')[1]!));
}
