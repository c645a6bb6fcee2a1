/**
 * A completion whose reply was lost (Redis killed after running the move to `completed`): the worker
 * still reports the job as completed, once, and only when its own result is what Redis holds. The
 * end-to-end case makes the loss happen on purpose: while the worker runs a job, the test completes
 * that job in Redis with the worker's lock token, so the worker's own move to `completed` finds the
 * lock gone, exactly as a resent command does after a Redis restart.
 */
import os from 'node:os';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSessionFactory, type SessionFactory } from '../../src/cli/common.js';
import { modelSpec, startWorker, submitFolder, type WorkerEvent } from '../../src/queue/index.js';
import type { ImageJobData, ImageJobResult } from '../../src/queue/jobs.js';
import { findLostCompletion, missingLockJobId } from '../../src/queue/lostCompletion.js';
import { makeImages, outputs, tmp, writeModelConfig } from './fixtures.js';
import { hasRedis, skipReason, startRedis, type RedisServer } from './redis.js';

const fakeResult = (worker: string): ImageJobResult => ({ outputs: ['x_prob.png'], unchanged: 0, width: 8, height: 8, tiles: 1, worker, ms: 1 });

describe('missingLockJobId', () => {
  it('reads the job id of a lost moveToFinished and nothing else', () => {
    expect(missingLockJobId('Missing lock for job 3f2a:img.png:v1. moveToFinished')).toBe('3f2a:img.png:v1');
    expect(missingLockJobId('Missing lock for job 7. moveToDelayed')).toBe('7');
    expect(missingLockJobId('Missing lock for job 7. extendLock')).toBeNull();
    expect(missingLockJobId('Connection is closed.')).toBeNull();
  });
});

describe.skipIf(!hasRedis)(`lost completions (real redis-server)${hasRedis ? '' : ` — ${skipReason}`}`, () => {
  let redis: RedisServer, conn: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    conn?.disconnect();
    await redis?.stop();
  });

  it('findLostCompletion: completed by this worker -> the job; by another, waiting, or unknown -> null', async () => {
    const queue = new Queue<ImageJobData, ImageJobResult>('lost-unit', { connection: conn });
    const data = { file: '/in/a.png' } as ImageJobData;
    await queue.add('a', data, { jobId: 'a' });
    await queue.add('b', { ...data, file: '/in/b.png' }, { jobId: 'b' });
    const w = new Worker<ImageJobData, ImageJobResult>('lost-unit', null, { connection: conn, autorun: false });
    const job = (await w.getNextJob('tok'))!;
    expect(job.id).toBe('a');
    await job.moveToCompleted(fakeResult('host:1'), 'tok', false);
    expect(await findLostCompletion(queue, 'a', 'host:1')).toEqual({ id: 'a', file: '/in/a.png', result: fakeResult('host:1') });
    expect(await findLostCompletion(queue, 'a', 'host:2')).toBeNull(); // another worker's completion is its to report
    expect(await findLostCompletion(queue, 'b', 'host:1')).toBeNull(); // still waiting
    expect(await findLostCompletion(queue, 'nope', 'host:1')).toBeNull();
    await w.close();
  });

  it('a worker whose move to completed finds the lock gone still reports the job completed, once', async () => {
    const dir = tmp('lost');
    const input = path.join(dir, 'in');
    await makeImages(input, 3);
    const model = await modelSpec({ preset: 'tiny', modelConfig: writeModelConfig(dir) });
    expect((await submitFolder({ redis: redis.url, queue: 'lost', input, model, options: { keep: 0.7, threshold: 0.5 } })).added).toBe(3);
    const queue = new Queue<ImageJobData, ImageJobResult>('lost', { connection: conn });
    const me = `${os.hostname()}:${process.pid}`;
    let stolen = '';
    // On the first engine call, finish the running job in Redis with the worker's own token and result.
    const createSession: SessionFactory = async (source, opts) => {
      const s = await defaultSessionFactory(source, opts);
      const run = s.run.bind(s);
      return Object.assign(Object.create(Object.getPrototypeOf(s) as object) as object, s, {
        config: s.config, keep: s.keep, dispose: () => s.dispose(),
        run: async (...args: Parameters<typeof s.run>) => {
          if (!stolen) {
            const [job] = await queue.getJobs(['active']);
            stolen = job!.id!;
            const token = (await conn.get(`bull:lost:${stolen}:lock`))!;
            await job!.moveToCompleted(fakeResult(me), token, false);
          }
          return run(...args);
        },
      }) as typeof s;
    };
    const events: WorkerEvent[] = [];
    const w = await startWorker({ redis: redis.url, queue: 'lost', output: path.join(dir, 'out'), exitWhenEmpty: true, createSession, onEvent: (e) => events.push(e) });
    expect((await w.done).completed).toBe(3);
    const done = events.filter((e): e is Extract<WorkerEvent, { type: 'completed' }> => e.type === 'completed');
    expect(done.map((e) => e.id).sort()).toEqual((await queue.getJobs(['completed'])).map((j) => j.id).sort());
    expect(new Set(done.map((e) => e.id)).size).toBe(3);
    expect(done.find((e) => e.id === stolen)?.result).toEqual(fakeResult(me)); // what Redis holds
    expect(events.filter((e) => e.type === 'note' && /Missing lock/.test(e.message))).toEqual([]);
    expect(events.filter((e) => e.type === 'failed')).toEqual([]);
    expect(outputs(path.join(dir, 'out')).size).toBe(6); // the worker finished writing the stolen job's files too
  });
});
