/**
 * A queue worker (BullMQ `Worker`): pulls image jobs (src/queue/jobs.ts), runs them on the native
 * engine through one session per model (src/queue/model.ts) with inputs of concurrent jobs batched
 * (src/queue/batcher.ts), and writes `<name>_prob.png` / `<name>_mask.png` atomically
 * (src/queue/atomicWrite.ts) with the same pipeline as `reg4pru infer` (src/cli/segment.ts).
 *
 * Failure model (why no image is lost):
 * - a job that throws (unreadable, corrupt, changed since submit, engine error) is retried with
 *   exponential backoff up to the attempts given at submit, then kept in the failed set with its reason;
 * - a worker that dies (SIGKILL, power) stops renewing its job locks; after `lockMs` another worker's
 *   stalled-job check moves those jobs back to waiting (up to `maxStalled` times per job, then failed
 *   with BullMQ's "stalled more than allowable limit" reason, never dropped);
 * - `close()` (SIGTERM / SIGINT in the CLI) stops taking jobs and waits for the current ones;
 * - Redis going away pauses the worker; it reconnects and carries on (with Redis's append-only file on,
 *   no job is lost across a Redis restart); a completion whose reply the outage swallowed is still
 *   reported as completed (src/queue/lostCompletion.ts).
 * Outputs are only ever renamed into place whole, so a retried or duplicated job rewrites identical files.
 */
import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Queue, Worker, type Job } from 'bullmq';
import { defaultSessionFactory, type Session, type SessionFactory } from '../cli/common.js';
import { BadInputError, decodeImage } from '../cli/images.js';
import { ImageJob, encodeOutputs } from '../cli/segment.js';
import { removeStaleTemps, writeFileAtomic } from './atomicWrite.js';
import { Batcher } from './batcher.js';
import { checkQueueName, connectRedis, QueueError } from './connection.js';
import type { ImageJobData, ImageJobResult } from './jobs.js';
import { findLostCompletion, missingLockJobId } from './lostCompletion.js';
import { SessionCache } from './model.js';

export interface WorkerOptions {
  redis: string;
  queue: string;
  /** Folder for the outputs (created if missing; shared storage when workers run on several machines). */
  output: string;
  /** Jobs in flight at once (default 1); their model inputs are batched together. */
  concurrency?: number;
  /** Most model inputs per engine call (default 8). */
  batch?: number;
  /** Job lock in ms: how long a dead worker's jobs stay locked before another takes them (default 30000). */
  lockMs?: number;
  /** How often this worker looks for stalled jobs, ms (default lockMs). */
  stalledIntervalMs?: number;
  /** Times a job may stall (its worker died) before it is failed (default 5). */
  maxStalled?: number;
  /** Stop (and resolve `done`) once nothing is waiting, delayed or active in the queue. */
  exitWhenEmpty?: boolean;
  /** Only 'cpu' is built; 'cuda' fails at start with that reason. */
  device?: 'cpu' | 'cuda';
  /** Per-job events (completed / failed attempt) and connection notes. */
  onEvent?: (e: WorkerEvent) => void;
  /** Engine sessions (tests pass a stand-in). */
  createSession?: SessionFactory;
}

export type WorkerEvent =
  | { type: 'completed'; id: string; file: string; result: ImageJobResult }
  | { type: 'failed'; id: string; file: string; reason: string; attempt: number; attempts: number; final: boolean }
  | { type: 'note'; message: string };

export interface WorkerStats {
  worker: string;
  completed: number;
  failed: number;
  seconds: number;
  engineCalls: number;
  modelInputs: number;
  engineSeconds: number;
}

export interface WorkerHandle {
  /** `host:pid`. */
  readonly id: string;
  /** Stops taking jobs, finishes the current ones, closes sessions and connections. Idempotent. */
  close(): Promise<WorkerStats>;
  /** Settles when the worker has stopped (after `close()`, or when empty with `exitWhenEmpty`). */
  readonly done: Promise<WorkerStats>;
}

/** Fails fast (one line) when the output folder cannot be written. */
function checkOutput(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `.reg4pru-probe-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (e) {
    throw new QueueError(`--output: cannot write to '${dir}': ${(e as Error).message}`);
  }
}

/**
 * Starts a worker; it runs until `close()` (or until the queue is empty with `exitWhenEmpty`).
 * @throws QueueError for an unreachable Redis, a bad queue name, an unwritable output folder, device 'cuda'
 * @example
 * const w = await startWorker({ redis: 'redis://127.0.0.1:6379', queue: 'fundus', output: 'out/', concurrency: 2 });
 * process.once('SIGTERM', () => void w.close());
 * await w.done;
 */
export async function startWorker(opts: WorkerOptions): Promise<WorkerHandle> {
  checkQueueName(opts.queue);
  if (opts.device === 'cuda') throw new QueueError("--device cuda: the CUDA inference engine is not built yet (use --device cpu)");
  const concurrency = opts.concurrency ?? 1, maxBatch = opts.batch ?? 8, lockMs = opts.lockMs ?? 30_000;
  for (const [k, v, min] of [['--concurrency', concurrency, 1], ['--batch', maxBatch, 1], ['--lock-ms', lockMs, 100]] as const) {
    if (!Number.isInteger(v) || v < min) throw new QueueError(`${k}: expected an integer >= ${min}, received ${v}`);
  }
  const outDir = path.resolve(opts.output);
  checkOutput(outDir);
  const emit = opts.onEvent ?? (() => {});
  const note = (message: string) => emit({ type: 'note', message });
  const stale = removeStaleTemps(outDir);
  if (stale > 0) note(`removed ${stale} temp file(s) left by dead workers of this host`);

  const conn = await connectRedis(opts.redis, note);
  const id = `${os.hostname()}:${process.pid}`;
  const sessions = new SessionCache(opts.createSession ?? defaultSessionFactory);
  const batchers = new WeakMap<Session, Batcher>();
  const allBatchers: Batcher[] = [];
  const t0 = performance.now();
  let completed = 0, failed = 0;

  const processJob = async (job: Job<ImageJobData, ImageJobResult>): Promise<ImageJobResult> => {
    const ts = performance.now();
    const d = job.data;
    let bytes: Buffer;
    try {
      bytes = await readFile(d.file);
    } catch (e) {
      throw new Error(`cannot read '${d.file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== d.sha256) throw new Error(`'${d.file}' changed since it was submitted (sha256 ${sha.slice(0, 12)}…, submitted ${d.sha256.slice(0, 12)}…); submit it again`);
    let img;
    try {
      img = await decodeImage(bytes);
    } catch (e) {
      throw new Error(e instanceof BadInputError ? e.message : `cannot decode: ${(e as Error).message}`);
    }
    const session = await sessions.get(d.model, d.options.keep);
    let batcher = batchers.get(session);
    if (!batcher) {
      batcher = new Batcher(session, maxBatch);
      batchers.set(session, batcher);
      allBatchers.push(batcher);
    }
    const [h, w] = session.config.image;
    const image = new ImageJob(img, { h, w, C: session.config.classes }, d.options.fit);
    await job.updateProgress(10);
    const outs = await Promise.all(image.pieces.map((p) => batcher.run(p.chw)));
    image.pieces.forEach((p, i) => image.accept(p, outs[i]!));
    await job.updateProgress(80);
    const files = await encodeOutputs(image, d.name, d.options.threshold);
    let unchanged = 0;
    for (const f of files) if ((await writeFileAtomic(path.join(outDir, f.file), f.data)) === 'unchanged') unchanged++;
    return { outputs: files.map((f) => f.file), unchanged, width: image.W, height: image.H, tiles: image.pieces.length, worker: id, ms: performance.now() - ts };
  };

  const worker = new Worker<ImageJobData, ImageJobResult>(opts.queue, processJob, {
    connection: conn,
    concurrency,
    lockDuration: lockMs,
    stalledInterval: opts.stalledIntervalMs ?? lockMs,
    maxStalledCount: opts.maxStalled ?? 5,
    autorun: false,
  });
  const queue = new Queue<ImageJobData, ImageJobResult>(opts.queue, { connection: conn });
  queue.on('error', () => {});
  const reported = new Set<string>();
  const reportCompleted = (jobId: string, file: string, result: ImageJobResult) => {
    if (reported.has(jobId)) return;
    reported.add(jobId);
    completed++;
    emit({ type: 'completed', id: jobId, file, result });
  };
  const lookups = new Set<Promise<void>>();
  let lastError = '';
  const noteError = (message: string) => {
    if (message !== lastError) note(`worker: ${message}`); // once per distinct error, not per retry
    lastError = message;
  };
  worker.on('error', (e) => {
    const lostId = missingLockJobId(e.message);
    if (lostId === null) return noteError(e.message);
    // The failure path BullMQ takes after a lost completion meets the same missing lock ("… moveToDelayed"),
    // sometimes after the first lookup has already reported the job: that echo is not news.
    if (reported.has(lostId)) return;
    const p = findLostCompletion(queue, lostId, id)
      .then((c) => { if (c) reportCompleted(c.id, c.file, c.result); else if (!reported.has(lostId)) noteError(e.message); })
      .catch(() => undefined) // Redis away again: the job's state is Redis's to keep; only the log line is at stake
      .finally(() => lookups.delete(p));
    lookups.add(p);
  });
  worker.on('completed', (job, result) => reportCompleted(job.id ?? '', job.data.file, result));
  worker.on('failed', (job, err) => {
    if (!job) return;
    const attempts = job.opts.attempts ?? 1;
    const final = job.attemptsMade >= attempts;
    if (final) failed++;
    emit({ type: 'failed', id: job.id ?? '', file: job.data.file, reason: err.message, attempt: job.attemptsMade, attempts, final });
  });

  let closing: Promise<WorkerStats> | null = null;
  let resolveDone!: (s: WorkerStats) => void, rejectDone!: (e: unknown) => void;
  const done = new Promise<WorkerStats>((res, rej) => { resolveDone = res; rejectDone = rej; });
  done.catch(() => undefined);
  let poll: NodeJS.Timeout | undefined;
  const stats = (): WorkerStats => ({
    worker: id, completed, failed, seconds: (performance.now() - t0) / 1000,
    engineCalls: allBatchers.reduce((a, b) => a + b.calls, 0),
    modelInputs: allBatchers.reduce((a, b) => a + b.inputs, 0),
    engineSeconds: allBatchers.reduce((a, b) => a + b.engineMs, 0) / 1000,
  });
  const close = (): Promise<WorkerStats> => {
    closing ??= (async () => {
      if (poll) clearInterval(poll);
      await worker.close(); // waits for the jobs in flight
      while (lookups.size > 0) await Promise.all([...lookups]);
      await sessions.dispose();
      conn.disconnect();
      const s = stats();
      resolveDone(s);
      return s;
    })().catch((e: unknown) => {
      rejectDone(e);
      throw e;
    });
    return closing;
  };

  void worker.run().catch((e: unknown) => {
    note(`worker stopped: ${(e as Error).message}`);
    void close().catch(() => undefined);
  });
  if (opts.exitWhenEmpty) {
    let busy = false;
    poll = setInterval(() => {
      if (busy || closing) return;
      busy = true;
      queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized')
        .then((c) => {
          if (Object.values(c).every((n) => n === 0)) void close().catch(() => undefined);
        })
        .catch(() => undefined) // Redis away: try again next tick
        .finally(() => { busy = false; });
    }, 250);
  }
  return { id, close, done };
}
