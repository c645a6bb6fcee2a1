/**
 * Failures against a real redis-server (append-only file on): a corrupt and a zero-byte image fail with
 * their reason after the configured attempts while the rest complete (`queue status` lists them,
 * `queue retry-failed` gives them all their attempts again); resubmitting a folder adds 0 jobs (job id =
 * content hash + name + model + options) while a changed option adds them all; Redis killed and
 * restarted mid-run loses no job. Uses the library API (`submitFolder`, `startWorker`) in-process and
 * the CLI for status / retry-failed.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { modelSpec, queueStatus, startWorker, submitFolder, type WorkerEvent, type ModelSpec } from '../../src/queue/index.js';
import { captureIo } from '../cli/helpers.js';
import { cli, completedIds, inferReference, makeImages, outputs, tmp, writeModelConfig } from './fixtures.js';
import { hasRedis, skipReason, startRedis, type RedisServer } from './redis.js';

let redis: RedisServer, conn: Redis, modelConfig = '', model: ModelSpec;
const options = { keep: 0.7, threshold: 0.5 };

async function cliRun(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await main(['node', 'reg4pru', ...args, '--redis', redis.url], io);
  return { code, ...io.text() };
}

/** Runs an in-process worker until the queue is empty; returns its events. */
async function drain(queue: string, output: string): Promise<WorkerEvent[]> {
  const events: WorkerEvent[] = [];
  const w = await startWorker({ redis: redis.url, queue, output, exitWhenEmpty: true, concurrency: 2, onEvent: (e) => events.push(e) });
  await w.done;
  return events;
}

describe.skipIf(!hasRedis)(`queue failures (real redis-server)${hasRedis ? '' : ` — ${skipReason}`}`, () => {
  beforeAll(async () => {
    redis = await startRedis({ appendonly: true });
    conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    conn.on('error', () => {}); // this test's own connection; the restart test takes Redis away
    modelConfig = writeModelConfig(tmp('f'));
    model = await modelSpec({ preset: 'tiny', modelConfig });
  });
  afterAll(async () => {
    conn?.disconnect();
    await redis?.stop();
  });

  it('corrupt and zero-byte files fail with a reason after the configured attempts; the rest complete; retry-failed', async () => {
    const input = path.join(tmp('bad'), 'in');
    await makeImages(input, 6);
    writeFileSync(path.join(input, 'corrupt.png'), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('not really a png')]));
    writeFileSync(path.join(input, 'empty.jpg'), Buffer.alloc(0));
    const sub = await cliRun(['queue', 'submit', '--queue', 'bad', '--input', input, '--preset', 'tiny', '--model-config', modelConfig, '--keep', '0.7', '--attempts', '2', '--backoff', '50']);
    expect(sub.out).toMatch(/8 added, 0 already known/);
    const out = path.join(tmp('bad'), 'out');
    const events = await drain('bad', out);
    const failures = events.filter((e): e is Extract<WorkerEvent, { type: 'failed' }> => e.type === 'failed');
    for (const [file, reason] of [['corrupt.png', /not a readable image|cannot decode/], ['empty.jpg', /empty file \(0 bytes\)/]] as const) {
      const mine = failures.filter((f) => path.basename(f.file) === file);
      expect(mine.map((f) => [f.attempt, f.final])).toEqual([[1, false], [2, true]]);
      for (const f of mine) expect(f.reason).toMatch(reason);
    }
    expect(events.filter((e) => e.type === 'completed').length).toBe(6);
    expect(outputs(out).size).toBe(12);

    const st = await cliRun(['queue', 'status', '--queue', 'bad']);
    expect(st.code).toBe(0);
    expect(st.out).toMatch(/0 waiting, 0 active, 0 delayed \(retry backoff\), 6 completed, 2 failed; [\d.]+ images\/s over the last minute/);
    expect(st.out).toMatch(/failed: .*corrupt\.png \(2 attempts\): (not a readable image|cannot decode)/);
    expect(st.out).toMatch(/failed: .*empty\.jpg \(2 attempts\): empty file \(0 bytes\)/);
    expect((await queueStatus({ redis: redis.url, queue: 'bad' })).imagesPerSecond).toBeCloseTo(6 / 60, 5);

    const retry = await cliRun(['queue', 'retry-failed', '--queue', 'bad']);
    expect(retry.out).toMatch(/2 failed job\(s\) moved back to waiting/);
    expect(await queueStatus({ redis: redis.url, queue: 'bad' })).toMatchObject({ waiting: 2, failed: 0, completed: 6 });
    const again = (await drain('bad', out)).filter((e) => e.type === 'failed');
    expect(again.map((e) => (e as { attempt: number }).attempt).sort()).toEqual([1, 1, 2, 2]); // full attempts again
    expect(await queueStatus({ redis: redis.url, queue: 'bad' })).toMatchObject({ waiting: 0, failed: 2, completed: 6 });
  });

  it('resubmitting the same folder adds 0 jobs; a changed option or image adds new ones', async () => {
    const input = path.join(tmp('re'), 'in');
    await makeImages(input, 5);
    const first = await submitFolder({ redis: redis.url, queue: 're', input, model, options });
    expect([first.added, first.known]).toEqual([5, 0]);
    const second = await submitFolder({ redis: redis.url, queue: 're', input, model, options });
    expect([second.added, second.known]).toEqual([0, 5]);
    expect(second.jobs.map((j) => j.id)).toEqual(first.jobs.map((j) => j.id));
    const cli2 = await cliRun(['queue', 'submit', '--queue', 're', '--input', input, '--preset', 'tiny', '--model-config', modelConfig, '--keep', '0.7']);
    expect(cli2.out).toMatch(/0 added, 5 already known, 0 skipped/);
    expect((await submitFolder({ redis: redis.url, queue: 're', input, model, options: { ...options, keep: 0.5 } })).added).toBe(5);
    copyFileSync(path.join(input, 'img001.png'), path.join(input, 'copy.png')); // same bytes, other name: its own job
    writeFileSync(path.join(input, 'img002.png'), Buffer.from(await (await import('sharp')).default({ create: { width: 8, height: 8, channels: 3, background: '#123456' } }).png().toBuffer()));
    const third = await submitFolder({ redis: redis.url, queue: 're', input, model, options });
    expect([third.added, third.known]).toEqual([2, 4]);
  });

  it('Redis killed and restarted mid-run (append-only file on): no job lost, outputs identical to infer', async () => {
    const input = path.join(tmp('rs'), 'in');
    // enough work (every image tiled) that the first `completed` line, read by a busy test process, is not the
    // whole run: on a loaded CI machine all 30 small jobs were once done before Redis went down
    const n = 60;
    await makeImages(input, n, [160, 128], 1);
    const ref = outputs(await inferReference(input, modelConfig, 0.7));
    expect((await submitFolder({ redis: redis.url, queue: 'restart', input, model, options })).added).toBe(n);
    const out = path.join(tmp('rs'), 'out');
    const ws = [0, 1].map(() => cli(['worker', '--redis', redis.url, '--queue', 'restart', '--output', out, '--threads', '1', '--exit-when-empty']));
    await Promise.all(ws.map((w) => w.waitFor(/waiting for jobs/))); // both connected before Redis goes away
    await ws[0]!.waitFor(/^completed /);
    expect(completedIds(...ws).length, 'the run ended before Redis went down').toBeLessThan(n);
    await redis.restart({ hard: true, downMs: 1500 });
    expect(await Promise.all(ws.map((w) => w.exit)), ws.map((w) => w.err.join('\n')).join('\n---\n')).toEqual([0, 0]);
    const errs = ws.flatMap((w) => w.err).join('\n');
    expect(errs).toMatch(/reconnecting/);
    expect(errs).not.toMatch(/Unhandled error event|\n\s+at /); // notes, not stack traces
    const ids = completedIds(...ws);
    expect(new Set(ids).size).toBe(n);
    const queue = new Queue('restart', { connection: conn });
    expect(await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed')).toEqual({ waiting: 0, active: 0, delayed: 0, completed: n, failed: 0 });
    const got = outputs(out);
    expect([...got.keys()]).toEqual([...ref.keys()]);
    for (const [f, b] of ref) expect(got.get(f)!.equals(b), f).toBe(true);
  });
});
