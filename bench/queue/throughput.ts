/**
 * Queue throughput (docs/queue.md): images/s of `reg4pru infer` alone against 1, 2 and 4
 * `reg4pru worker` processes on the same images and model, the queue's overhead per image, and how many
 * jobs/s this machine's Redis sustains through BullMQ (add in bulk, then complete with a no-op processor)
 * and raw (redis-benchmark). Starts its own redis-server on a free loopback port.
 *
 *   npx tsx bench/queue/throughput.ts [--images 40] [--size 256] [--preset tiny] [--jobs 5000]
 *
 * Timing: infer = its own summary (decode + engine + encode, no process start-up); queue = first job's
 * processedOn to last job's finishedOn in Redis (worker start-up excluded the same way). Worker
 * processes get --threads cores/N (infer uses all cores), and start against a paused queue so their
 * start-up is not in the window.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import sharp from 'sharp';
import { runInfer } from '../../src/cli/commands/infer.js';
import { modelSpec, submitFolder } from '../../src/queue/index.js';
import { startRedis } from '../../test/queue/redis.js';
import { captureIo } from '../../test/cli/helpers.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : dflt;
};
const N = Number(arg('images', '40')), SIZE = Number(arg('size', '256')), PRESET = arg('preset', 'tiny') as 'tiny' | 'small', JOBS = Number(arg('jobs', '5000'));
const KEEP = 0.7;
const ROOT = path.resolve(import.meta.dirname, '../..');

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'r4p-qbench-'));
  const input = path.join(dir, 'in');
  mkdirSync(input);
  for (let i = 0; i < N; i++) {
    const b = Buffer.alloc(SIZE * SIZE * 3);
    for (let j = 0; j < b.length; j++) b[j] = (j * 37 + i * 101 + ((j / 7) | 0) * 13) % 256;
    await sharp(b, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toFile(path.join(input, `img${i}.png`));
  }
  const cfg = path.join(dir, 'model.json');
  writeFileSync(cfg, JSON.stringify({ image: [SIZE, SIZE] }));
  const rows: Array<{ run: string; imagesPerSecond: number; msPerImage: number; note?: string }> = [];

  const inf = await runInfer({ preset: PRESET, modelConfig: cfg, input, output: path.join(dir, 'infer'), keep: KEEP, quiet: true }, captureIo());
  rows.push({ run: 'reg4pru infer', imagesPerSecond: inf.imagesPerSecond, msPerImage: 1000 / inf.imagesPerSecond, note: `${inf.engineSeconds.toFixed(2)} s of ${inf.seconds.toFixed(2)} s in the engine` });

  const redis = await startRedis();
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  const model = await modelSpec({ preset: PRESET, modelConfig: cfg });
  for (const procs of [1, 2, 4]) {
    const queue = `w${procs}`;
    await submitFolder({ redis: redis.url, queue, input, model, options: { keep: KEEP, threshold: 0.5 } });
    const q = new Queue(queue, { connection: conn });
    await q.pause(); // workers start up (seconds each) before any job is taken: steady state only
    const out = path.join(dir, `out${procs}`);
    const threads = String(Math.max(1, Math.floor(os.cpus().length / procs)));
    const ready: Array<Promise<void>> = [];
    const exits = Array.from({ length: procs }, () => new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'worker', '--redis', redis.url, '--queue', queue, '--output', out, '--threads', threads, '--exit-when-empty', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
      ready.push(new Promise((r) => p.stderr!.on('data', (d: Buffer) => /waiting for jobs/.test(d.toString()) && r())));
      p.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`worker exited ${c}`))));
    }));
    await Promise.all(ready);
    await q.resume();
    await Promise.all(exits);
    const jobs = await q.getCompleted(0, -1);
    const start = Math.min(...jobs.map((j) => j.processedOn!)), end = Math.max(...jobs.map((j) => j.finishedOn!));
    const perJob = jobs.reduce((a, j) => a + (j.returnvalue as { ms: number }).ms, 0) / jobs.length;
    const ips = (jobs.length / (end - start)) * 1000;
    rows.push({ run: `${procs} worker process${procs > 1 ? 'es' : ''}`, imagesPerSecond: ips, msPerImage: 1000 / ips, note: `--threads ${threads} each, ${jobs.length} jobs, ${perJob.toFixed(1)} ms inside the processor per job` });
    await q.close();
  }

  // BullMQ round trip: add JOBS in bulk, complete them with a no-op processor (concurrency 50).
  const bq = new Queue('noop', { connection: conn });
  let t0 = performance.now();
  for (let i = 0; i < JOBS; i += 1000) await bq.addBulk(Array.from({ length: Math.min(1000, JOBS - i) }, (_, k) => ({ name: 'n', data: { i: i + k }, opts: { jobId: `n${i + k}`, removeOnComplete: true } })));
  const addS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  let done = 0;
  await new Promise<void>((resolve) => {
    const w = new Worker('noop', async () => null, { connection: conn, concurrency: 50 });
    w.on('completed', () => {
      if (++done === JOBS) void w.close().then(resolve);
    });
  });
  const completeS = (performance.now() - t0) / 1000;
  await bq.close();
  conn.disconnect();
  const rb = execFileSync('redis-benchmark', ['-p', String(redis.port), '-q', '-n', '100000', '-t', 'set,lpush,zadd', '-P', '1'], { encoding: 'utf8' });
  await redis.stop();

  const base = rows[0]!.msPerImage;
  console.log(`\nqueue throughput: ${N} images ${SIZE}x${SIZE}, preset ${PRESET}, keep ${KEEP}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
  for (const r of rows) console.log(`${r.run.padEnd(22)} ${r.imagesPerSecond.toFixed(2).padStart(8)} images/s  ${r.msPerImage.toFixed(1).padStart(8)} ms/image  ${r.run === 'reg4pru infer' ? '' : `(${(r.msPerImage - base >= 0 ? '+' : '')}${(r.msPerImage - base).toFixed(1)} ms vs infer)  `}${r.note ?? ''}`);
  console.log(`BullMQ: ${JOBS} jobs added in bulk at ${(JOBS / addS).toFixed(0)} jobs/s, completed (no-op, concurrency 50, one process) at ${(JOBS / completeS).toFixed(0)} jobs/s`);
  console.log(`redis-benchmark (-P 1, 50 clients):\n${rb.trim().split('\n').map((l) => '  ' + l.split('\r').pop()).join('\n')}`);
}

await main();
