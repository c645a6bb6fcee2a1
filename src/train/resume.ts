/**
 * Resumable training (`reg4pru train --resume DIR`, `train({ resume })`): the whole state of a run at an optimiser
 * step boundary or an epoch end, in one atomically written `resume.safetensors` next to the checkpoints:
 *   tensors  w/<name> online weights, ema/<name> EMA weights, m/<name> v/<name> AdamW moments,
 *            acc/<name> gradient sums of a partly accumulated step (when an epoch ended inside one);
 *   metadata reg4pru.resume = JSON { version, options (every option that shapes the run: config, data, schedule,
 *            hyper-parameters, seeds), position { epoch, batch (next batch of that epoch), micro, step,
 *            emaUpdates, accCount }, losses, stepMs }.
 * What is not stored is recomputed exactly: the data order (epochBatches(seed, epoch)), augmentation
 * (mixSeed(seed, epoch, i)) and forward seeds (mixSeed(seed, micro, 1)) are functions of the position, and the
 * route stream is replayed (`micro` draws of sampleRoute from routeRng). So a run cut into pieces ends with the
 * same weights as the uncut run.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { readSafetensors, writeSafetensors, type SafetensorsTensor } from '../checkpoint/safetensors.js';
import { rangeError } from '../errors.js';
import type { TrainRunOptions } from './trainer.js';

export const RESUME_FILE = 'resume.safetensors';
const KEY = 'reg4pru.resume';
const VERSION = 1;

export const RUN_SPEC_KEYS = ['config', 'data', 'samples', 'dataSeed', 'routing', 'policy', 'keep', 'dynamic', 'epochs', 'batch', 'accum', 'lr', 'weightDecay', 'llrd', 'ema', 'warmup', 'ratioWeight', 'lambdaPol', 'tau', 'augment', 'seed', 'maxSteps'] as const;
/** The options that define a run (everything but weights, output folder, stopAfter and callbacks): the
 * trainer's own option fields, one declaration. */
export type RunSpec = Pick<TrainRunOptions, (typeof RUN_SPEC_KEYS)[number]>;

/** Where the run stands: the next micro-batch is batch `batch` of epoch `epoch`, the run's `micro`-th. */
export interface ResumePosition {
  epoch: number;
  batch: number;
  micro: number;
  step: number;
  emaUpdates: number;
  accCount: number;
  /** Loss parts and routes of the micro-batches of a partly accumulated step (for its metrics line). */
  parts: { loss: number; seg: number; ratio: number; pol: number };
  routes: Array<[number, number] | null>;
}

export interface ResumeState {
  spec: RunSpec;
  pos: ResumePosition;
  weights: Record<string, Float32Array>;
  ema: Record<string, Float32Array>;
  m: Record<string, Float32Array>;
  v: Record<string, Float32Array>;
  acc: Record<string, SafetensorsTensor>;
  losses: number[];
  stepMs: number[];
}

/** The run-defining subset of a train() options object. */
export function runSpec(o: RunSpec): RunSpec {
  const s: Record<string, unknown> = {};
  for (const k of RUN_SPEC_KEYS) if (o[k] !== undefined) s[k] = o[k];
  return s as unknown as RunSpec;
}

/** Writes `dir/resume.safetensors` atomically. `shapes` gives each weight's shape. */
export function saveResume(dir: string, st: ResumeState, shapes: Readonly<Record<string, number[]>>): string {
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const [prefix, rec] of [['w', st.weights], ['ema', st.ema], ['m', st.m], ['v', st.v]] as const)
    for (const [n, d] of Object.entries(rec)) tensors[`${prefix}/${n}`] = { data: d, shape: shapes[n] ?? [d.length] };
  for (const [n, t] of Object.entries(st.acc)) tensors[`acc/${n}`] = t;
  const meta = { version: VERSION, spec: st.spec, pos: st.pos, losses: st.losses, stepMs: st.stepMs };
  const file = path.join(dir, RESUME_FILE);
  writeSafetensors(file, tensors, { [KEY]: JSON.stringify(meta) });
  return file;
}

/**
 * Reads `dir/resume.safetensors`.
 * @throws {RangeError} no such file, or a file that is not a reg4pru resume state (names the file)
 */
export function loadResume(dir: string): ResumeState {
  const file = path.join(dir, RESUME_FILE);
  if (!existsSync(file)) throw rangeError('train', `--resume: no ${RESUME_FILE} in '${dir}' (a run writes it with its checkpoints)`);
  const f = readSafetensors(file);
  const raw = f.metadata[KEY];
  if (raw === undefined) throw rangeError('train', `--resume: ${file} has no '${KEY}' metadata: not a reg4pru resume state`);
  const meta = JSON.parse(raw) as { version: number; spec: RunSpec; pos: ResumePosition; losses: number[]; stepMs: number[] };
  if (meta.version !== VERSION) throw rangeError('train', `--resume: ${file} has version ${meta.version}, this reg4pru reads version ${VERSION}`);
  const st: ResumeState = { spec: meta.spec, pos: meta.pos, weights: {}, ema: {}, m: {}, v: {}, acc: {}, losses: meta.losses, stepMs: meta.stepMs };
  for (const [name, t] of Object.entries(f.tensors)) {
    const cut = name.indexOf('/');
    const prefix = name.slice(0, cut), n = name.slice(cut + 1);
    if (prefix === 'w') st.weights[n] = t.data;
    else if (prefix === 'ema') st.ema[n] = t.data;
    else if (prefix === 'm') st.m[n] = t.data;
    else if (prefix === 'v') st.v[n] = t.data;
    else if (prefix === 'acc') st.acc[n] = { data: t.data, shape: t.shape };
    else throw rangeError('train', `--resume: ${file} holds an unexpected tensor '${name}'`);
  }
  return st;
}

/**
 * The position of the resume state in `dir` from the file's header alone (no tensors read), or null when
 * there is none: where a cut run stands, e.g. to choose its next `stopAfter`.
 * @throws {RangeError} a file that is not a reg4pru resume state
 */
export function readResumePosition(dir: string): ResumePosition | null {
  const file = path.join(dir, RESUME_FILE);
  if (!existsSync(file)) return null;
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) !== 8) throw rangeError('train', `${file}: truncated safetensors header`);
    const n = Number(len.readBigUInt64LE(0));
    if (!(n > 0 && n < 1 << 26)) throw rangeError('train', `${file}: bad safetensors header length ${n}`);
    const head = Buffer.alloc(n);
    if (readSync(fd, head, 0, n, 8) !== n) throw rangeError('train', `${file}: truncated safetensors header`);
    const raw = (JSON.parse(head.toString('utf8')) as { __metadata__?: Record<string, string> }).__metadata__?.[KEY];
    if (raw === undefined) throw rangeError('train', `${file} has no '${KEY}' metadata: not a reg4pru resume state`);
    return (JSON.parse(raw) as { pos: ResumePosition }).pos;
  } finally {
    closeSync(fd);
  }
}
