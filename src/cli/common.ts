/**
 * Shared pieces of the `reg4pru` command line (src/cli/): usage errors (exit code 2), option parsers,
 * output streams, and how a command gets an inference session (checkpoint or seeded random preset).
 * Each subcommand lives in one file under src/cli/commands/ and exports `register(program)` plus a
 * `run<Name>(options, io)` function that tests call in-process.
 */
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { InferenceSession } from '../engine/session.js';
import { modelConfig, validateConfig, type ModelConfig } from '../model/config.js';
import { mulberry32, normalSampler } from '../model/rng.js';

/** A bad flag value or combination: the command prints the message and exits with code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * A runtime failure the user can act on (unreadable checkpoint, unwritable output): the command prints
 * `error: <message>` on one line, without a stack, and exits with code 1.
 */
export class CommandError extends Error {
  override name = 'CommandError';
}

/** Where a command writes: stdout for results, stderr for progress and warnings. */
export interface Io {
  out: Writable;
  err: Writable;
}

export const processIo = (): Io => ({ out: process.stdout, err: process.stderr });

/** Prints an aligned plain-text table: the header, a dashed rule, then the rows (cells padded, two spaces apart). */
export function printTable(stream: Writable, header: string[], rows: string[][]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((s, c) => s.padEnd(widths[c]!)).join('  ').trimEnd();
  println(stream, line(header));
  println(stream, widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) println(stream, line(r));
}

/** A table cell for a number: `v.toFixed(digits)`, or '-' when it is missing or not finite. */
export function fixedOrDash(v: number | undefined, digits: number): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

export function println(stream: Writable, line = ''): void {
  stream.write(line + '\n');
}

// ---- option parsers (commander calls them with the raw string; they throw UsageError)

export function parseIntOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^[+-]?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new UsageError(`option ${name}: expected an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}], received '${v}'`);
    return n;
  };
}

export function parseFloatOption(name: string, min: number, max: number, opts: { exclusiveMin?: boolean } = {}): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    const low = opts.exclusiveMin ? n > min : n >= min;
    if (v.trim() === '' || !Number.isFinite(n) || !low || n > max)
      throw new UsageError(`option ${name}: expected a number in ${opts.exclusiveMin ? '(' : '['}${min}, ${max}], received '${v}'`);
    return n;
  };
}

/** The parsed loop flags of train-policy and train-exits (`smallNetOptions`). */
export interface SmallNetCliOptions {
  steps: number;
  batch: number;
  lr: number;
  samples: number;
  threshold: number;
  seed: number;
  out: string;
  quiet?: boolean;
}

/** The loop flags shared by train-policy and train-exits (steps, batch, lr, samples, threshold, seed, out, quiet). */
export function smallNetOptions(cmd: Command, d: { steps: number; batch: number; samples: number; threshold: number; what: string; out: string }): Command {
  return cmd
    .option('--steps <n>', 'optimiser steps', parseIntOption('--steps', 1), d.steps)
    .option('--batch <n>', 'images per step', parseIntOption('--batch', 1), d.batch)
    .option('--lr <lr>', 'Adam learning rate', parseFloatOption('--lr', 0, 1, { exclusiveMin: true }), 3e-3)
    .option('--samples <n>', 'synthetic training images', parseIntOption('--samples', 1), d.samples)
    .option('--threshold <t>', `${d.what} threshold of the reported metrics`, parseFloatOption('--threshold', 0, 1), d.threshold)
    .option('--seed <n>', 'seed of the weights and batches', parseIntOption('--seed', 0), 0)
    .option('--out <file>', 'output file', d.out)
    .option('-q, --quiet', 'no progress output');
}

/** `--keep`: a base keep ratio in (0, 1], or 'none' for the unpruned model. */
export function parseKeep(v: string): number | null {
  if (v.trim().toLowerCase() === 'none') return null;
  return parseFloatOption('--keep', 0, 1, { exclusiveMin: true })(v);
}

/**
 * The --keep value of a command: commander hands over the raw string (a parser's `null` would come back
 * as ''), programmatic callers a number or null; undefined gives `dflt`.
 */
export function resolveKeep(v: number | string | null | undefined, dflt: number | null): number | null {
  if (v === undefined) return dflt;
  return typeof v === 'string' ? parseKeep(v) : v;
}

// ---- sessions

/**
 * The part of `InferenceSession` the CLI uses (tests may pass a stand-in through `SessionFactory`); `lastRun`
 * (CUDA sessions: device time and graph state of the last run) only matters to `bench --device cuda`.
 */
export type Session = Pick<InferenceSession, 'config' | 'keep' | 'run' | 'dispose'> & { readonly lastRun?: InferenceSession['lastRun'] };
export type SessionSource = Parameters<typeof InferenceSession.create>[0];
export type SessionOptions = NonNullable<Parameters<typeof InferenceSession.create>[1]>;
export type SessionFactory = (source: SessionSource, opts: SessionOptions) => Promise<Session>;

export const defaultSessionFactory: SessionFactory = (source, opts) => InferenceSession.create(source, opts);

/** What `register(program, ctx)` hands to a command's action: streams and the session factory. */
export interface CommandContext {
  io: Io;
  createSession: SessionFactory;
}

/** Which weights a command runs: a checkpoint file, or a preset with seeded random weights. */
export interface ModelChoice {
  checkpoint?: string;
  preset?: 'tiny' | 'small';
  /** JSON file of ModelConfig fields overriding the preset (e.g. `{"D": 64, "L": 4}`). */
  modelConfig?: string;
  /** Square input size overriding the preset's (multiple of the patch size). */
  image?: number;
  seed?: number;
}

/**
 * Resolves the session source: a checkpoint path as is, or `{config, seed}` for a preset (+ overrides).
 * @throws UsageError when both or neither of checkpoint/preset are given, or the overrides are invalid
 */
export async function resolveModel(m: ModelChoice): Promise<{ source: SessionSource; label: string; config?: ModelConfig }> {
  if (m.checkpoint !== undefined && m.preset !== undefined) throw new UsageError('give either --checkpoint or --preset, not both');
  if (m.checkpoint !== undefined) {
    if (m.modelConfig !== undefined) throw new UsageError('--model-config applies to --preset only (a checkpoint carries its own config)');
    const { existsSync, statSync } = await import('node:fs');
    if (!existsSync(m.checkpoint) || !statSync(m.checkpoint).isFile()) throw new UsageError(`--checkpoint: no such file '${m.checkpoint}'`);
    return { source: m.checkpoint, label: m.checkpoint };
  }
  if (m.preset === undefined) throw new UsageError('give --checkpoint <file> or --preset tiny|small');
  let overrides: Partial<ModelConfig> = {};
  if (m.modelConfig !== undefined) {
    const { readFileSync } = await import('node:fs');
    try {
      overrides = JSON.parse(readFileSync(m.modelConfig, 'utf8')) as Partial<ModelConfig>;
    } catch (e) {
      throw new UsageError(`--model-config: cannot read '${m.modelConfig}': ${(e as Error).message}`);
    }
    if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) throw new UsageError(`--model-config: expected a JSON object in '${m.modelConfig}'`);
  }
  if (m.image !== undefined) overrides = { ...overrides, image: [m.image, m.image] };
  let config: ModelConfig;
  try {
    config = validateConfig(modelConfig(m.preset, overrides));
  } catch (e) {
    throw new UsageError(`invalid model configuration: ${(e as Error).message}`);
  }
  return { source: { config, seed: m.seed ?? 0 }, label: `preset ${m.preset}${Object.keys(overrides).length ? ' (custom)' : ''}, random weights (seed ${m.seed ?? 0})`, config };
}

/** Standard-normal samples, like torch.randn, from the seeded generator weights use (src/model/rng.ts). */
export function randomNormal(n: number, seed: number): Float32Array {
  const normal = normalSampler(mulberry32(seed));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = normal();
  return out;
}
