/**
 * Worker processes against a real redis-server: 3 workers on 40 images (each job completed exactly
 * once, outputs byte-identical to `reg4pru infer`), `kill -9` of a worker mid-run (its jobs come back
 * through stalled-job recovery; short locks), SIGTERM (current job finished, exit 0, nothing
 * half-written). Workers are real `reg4pru worker` processes on the tiny model.
 */
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/program.js';
import { captureIo } from '../cli/helpers.js';
import { cli, completedIds, inferReference, makeImages, outputs, tmp, writeModelConfig, type Proc } from './fixtures.js';
import { hasRedis, skipReason, startRedis, type RedisServer } from './redis.js';

const KEEP = 0.7;
let redis: RedisServer, conn: Redis, input = '', modelConfig = '', reference = new Map<string, Buffer>();

async function submit(queue: string, dir = input): Promise<string> {
  const io = captureIo();
  const code = await main(['node', 'reg4pru', 'queue', 'submit', '--redis', redis.url, '--queue', queue, '--input', dir, '--preset', 'tiny', '--model-config', modelConfig, '--keep', String(KEEP)], io);
  expect(code, io.text().err).toBe(0);
  return io.text().out;
}

const worker = (queue: string, out: string, extra: string[] = []) => cli(['worker', '--redis', redis.url, '--queue', queue, '--output', out, '--threads', '1', ...extra]);
const q = (name: string) => {
  const queue = new Queue(name, { connection: conn });
  queue.on('error', () => {});
  return queue;
};

function expectSameAsInfer(out: string): void {
  const got = outputs(out);
  expect([...got.keys()]).toEqual([...reference.keys()]);
  for (const [f, bytes] of reference) expect(got.get(f)!.equals(bytes), `${f} differs from reg4pru infer`).toBe(true);
  expect(readdirSync(out).filter((f) => f.startsWith('.')), 'temp files left').toEqual([]);
}

describe.skipIf(!hasRedis)(`queue workers (real redis-server)${hasRedis ? '' : ` — ${skipReason}`}`, () => {
  beforeAll(async () => {
    redis = await startRedis();
    conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    conn.on('error', () => {}); // this test's own connection; the restart test takes Redis away
    const dir = tmp('w');
    modelConfig = writeModelConfig(dir);
    input = path.join(dir, 'in');
    await makeImages(input, 40);
    reference = outputs(await inferReference(input, modelConfig, KEEP));
    expect(reference.size).toBe(80);
  });
  afterAll(async () => {
    conn?.disconnect();
    await redis?.stop();
  });

  it('3 workers, 40 images: every job completed exactly once, outputs identical to reg4pru infer', async () => {
    expect(await submit('three')).toMatch(/40 added, 0 already known, 0 skipped/);
    const out = path.join(tmp('w3'), 'out');
    const ws = [worker('three', out, ['--exit-when-empty', '--concurrency', '2']), worker('three', out, ['--exit-when-empty']), worker('three', out, ['--exit-when-empty', '--concurrency', '3'])];
    const codes = await Promise.all(ws.map((w) => w.exit));
    expect(codes, ws.map((w) => w.err.join('\n')).join('\n---\n')).toEqual([0, 0, 0]);
    const ids = completedIds(...ws);
    expect(ids.length).toBe(40);
    expect(new Set(ids).size).toBe(40);
    expect(await q('three').getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed')).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 40, failed: 0 });
    expectSameAsInfer(out);
  });

  it('kill -9 of a worker mid-run: its jobs return after the lock expires, every image once', async () => {
    await submit('kill');
    const out = path.join(tmp('wk'), 'out');
    const lock = ['--lock-ms', '1000', '--stalled-ms', '300'];
    const victim = worker('kill', out, [...lock, '--concurrency', '3']);
    await victim.waitFor(/^completed /);
    const active = await q('kill').getActive();
    victim.proc.kill('SIGKILL');
    expect(await victim.exit).toBe('SIGKILL');
    expect(active.length, 'the killed worker held no job: the test proved nothing').toBeGreaterThan(0);
    const survivors = [worker('kill', out, [...lock, '--exit-when-empty']), worker('kill', out, [...lock, '--exit-when-empty', '--concurrency', '2'])];
    expect(await Promise.all(survivors.map((w) => w.exit)), survivors.map((w) => w.err.join('\n')).join('\n---\n')).toEqual([0, 0]);
    const ids = completedIds(victim, ...survivors);
    expect(ids.length).toBe(40);
    expect(new Set(ids).size).toBe(40);
    const queue = q('kill');
    expect(await queue.getJobCounts('waiting', 'active', 'completed', 'failed')).toEqual({ waiting: 0, active: 0, completed: 40, failed: 0 });
    // The jobs the victim held were recovered as stalled (done by another worker), not lost and not failed.
    // (One may have finished in the moment between getActive and the kill: then the victim did it.)
    const victimId = `${os.hostname()}:${victim.proc.pid}`;
    const held = await Promise.all(active.map((j) => queue.getJob(j.id!)));
    for (const j of held) expect(await j!.getState()).toBe('completed');
    expect(held.filter((j) => j!.returnvalue.worker !== victimId).length, 'no job of the victim was recovered').toBeGreaterThan(0);
    expectSameAsInfer(out);
  });

  it('SIGTERM: the current job is finished, exit 0, nothing half-written', async () => {
    await submit('term');
    const out = path.join(tmp('wt'), 'out');
    const w: Proc = worker('term', out, ['--concurrency', '2']);
    await w.waitFor(/^completed /);
    const queue = q('term');
    const active = await queue.getActive();
    w.proc.kill('SIGTERM');
    expect(await w.exit, w.err.join('\n')).toBe(0);
    expect(w.err.join('\n')).toMatch(/SIGTERM, finishing the current job/);
    expect(active.length, 'no job in flight at SIGTERM: the test proved nothing').toBeGreaterThan(0);
    for (const j of active) expect(await (await queue.getJob(j.id!))!.getState()).toBe('completed');
    const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed');
    expect(counts.active).toBe(0);
    expect(counts.completed).toBe(completedIds(w).length);
    expect(counts.waiting + counts.completed).toBe(40);
    expect(counts.completed).toBeLessThan(40); // it stopped taking jobs
    // Every output present is whole and identical to infer's; both outputs of every completed job exist.
    const got = outputs(out);
    expect(got.size).toBe(2 * counts.completed);
    for (const [f, bytes] of got) {
      expect(bytes.equals(reference.get(f)!)).toBe(true);
      expect((await sharp(bytes).metadata()).format).toBe('png');
    }
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
