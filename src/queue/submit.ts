/**
 * Submitting images: one BullMQ job per image (id from src/queue/jobs.ts), added in bulk. Inputs are a
 * folder (every regular, non-hidden file, as `reg4pru infer` reads it) or a list file (one path per
 * line, relative to the list's folder, '#' comments). Files are hashed here, not decoded: a corrupt
 * image becomes a job that fails on the worker with its reason, so every input ends up visible in
 * `queue status` (completed or failed), never silently dropped.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { checkQueueName, connectRedis, QueueError } from './connection.js';
import { hashFile, jobId, type ImageJobData, type ModelSpec, type SegmentOptions } from './jobs.js';

export interface SubmitOptions {
  /** redis:// URL. */
  redis: string;
  /** Queue name. */
  queue: string;
  /** A folder of images (exactly one of input / list). */
  input?: string;
  /** A text file with one image path per line. */
  list?: string;
  /** The model the workers run (see `modelSpec` in src/queue/model.ts). */
  model: ModelSpec;
  options: SegmentOptions;
  /** Tries per image before it goes to the failed set (default 3). */
  attempts?: number;
  /** First retry delay in ms, doubled each retry (default 1000). */
  backoffMs?: number;
}

export interface SubmitResult {
  /** Jobs added now. */
  added: number;
  /** Images whose job already existed (submitted before, in any state). */
  known: number;
  /** Inputs not submitted, with the reason (unreadable, output name clash). */
  skipped: Array<{ file: string; reason: string }>;
  /** Job id per submitted file (added or known), in input order. */
  jobs: Array<{ file: string; id: string }>;
}

/** The input files of a folder or list, absolute, in a stable order. @throws QueueError */
export function listInputs(input: string | undefined, list: string | undefined): string[] {
  if ((input === undefined) === (list === undefined)) throw new QueueError('give exactly one of --input <dir> and --list <file>');
  if (input !== undefined) {
    const dir = path.resolve(input);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new QueueError(`--input: '${input}' is not a directory`);
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => !d.name.startsWith('.') && (d.isFile() || (d.isSymbolicLink() && statSync(path.join(dir, d.name)).isFile())))
      .map((d) => path.join(dir, d.name))
      .sort();
  }
  let text: string;
  try {
    text = readFileSync(list!, 'utf8');
  } catch (e) {
    throw new QueueError(`--list: cannot read '${list}': ${(e as Error).message}`);
  }
  const base = path.dirname(path.resolve(list!));
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => path.resolve(base, l));
}

/**
 * Adds one job per input image; images already known (same id) are not added again.
 * @returns counts and ids; the connection is closed before returning
 * @throws QueueError for bad options or an unreachable Redis
 * @example
 * const r = await submitFolder({ redis: 'redis://127.0.0.1:6379', queue: 'fundus', input: 'in/',
 *   model: await modelSpec({ checkpoint: 'm.safetensors' }), options: { keep: 0.7, threshold: 0.5 } });
 * console.log(`${r.added} added, ${r.known} already known`);
 */
export async function submitFolder(opts: SubmitOptions): Promise<SubmitResult> {
  checkQueueName(opts.queue);
  const attempts = opts.attempts ?? 3, backoffMs = opts.backoffMs ?? 1000;
  if (!Number.isInteger(attempts) || attempts < 1) throw new QueueError(`--attempts: expected an integer >= 1, received ${attempts}`);
  if (!(backoffMs >= 0)) throw new QueueError(`--backoff: expected a number of ms >= 0, received ${backoffMs}`);
  const files = listInputs(opts.input, opts.list);
  const skipped: SubmitResult['skipped'] = [];
  const entries: Array<{ id: string; data: ImageJobData }> = [];
  const byName = new Map<string, string>();
  for (const file of files) {
    const name = path.parse(file).name;
    const clash = byName.get(name);
    if (clash !== undefined) {
      skipped.push({ file, reason: `output name '${name}' already used by '${clash}'` });
      continue;
    }
    let sha256: string, bytes: number;
    try {
      bytes = statSync(file).size;
      sha256 = await hashFile(file);
    } catch (e) {
      skipped.push({ file, reason: `cannot read: ${(e as Error).message}` });
      continue;
    }
    byName.set(name, file);
    entries.push({ id: jobId(sha256, name, opts.model, opts.options), data: { file, name, sha256, bytes, model: opts.model, options: opts.options } });
  }

  const conn = await connectRedis(opts.redis);
  const queue = new Queue<ImageJobData>(opts.queue, { connection: conn });
  queue.on('error', () => {}); // the shared connection reports; commands reject on their own
  try {
    const exists = await existing(conn, entries.map((e) => queue.toKey(e.id)));
    const fresh = entries.filter((_, i) => !exists[i]);
    for (let i = 0; i < fresh.length; i += 500) {
      await queue.addBulk(fresh.slice(i, i + 500).map((e) => ({
        name: 'segment',
        data: e.data,
        opts: { jobId: e.id, attempts, backoff: { type: 'exponential', delay: backoffMs }, removeOnComplete: false, removeOnFail: false },
      })));
    }
    return { added: fresh.length, known: entries.length - fresh.length, skipped, jobs: entries.map((e) => ({ file: e.data.file, id: e.id })) };
  } finally {
    await queue.close();
    conn.disconnect();
  }
}

async function existing(conn: Redis, keys: string[]): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const p = conn.pipeline();
    for (const k of keys.slice(i, i + 1000)) p.exists(k);
    const r = (await p.exec()) ?? [];
    for (const [err, v] of r) {
      if (err) throw err;
      out.push(v === 1);
    }
  }
  return out;
}
