/**
 * Looking at a queue: job counts per state, images/s over the last minute (jobs whose finishedOn falls
 * in the last 60 s; BullMQ keeps the completed set as a sorted set scored by finish time), and the
 * failed images with their reasons. `retryFailed` moves every failed job back to waiting with its
 * attempt counter reset, so it gets the full number of tries again.
 */
import { Queue, type Job } from 'bullmq';
import { checkQueueName, connectRedis } from './connection.js';
import type { ImageJobData } from './jobs.js';

export interface QueueStatus {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  /** Completed in the last 60 s, divided by 60. */
  imagesPerSecond: number;
  /** Up to `maxFailed` failed images, newest first. */
  failedJobs: Array<{ id: string; file: string; reason: string; attempts: number }>;
}

export interface QueueTarget {
  redis: string;
  queue: string;
}

async function withQueue<T>(t: QueueTarget, f: (q: Queue<ImageJobData>, conn: Awaited<ReturnType<typeof connectRedis>>) => Promise<T>): Promise<T> {
  checkQueueName(t.queue);
  const conn = await connectRedis(t.redis);
  const q = new Queue<ImageJobData>(t.queue, { connection: conn });
  q.on('error', () => {});
  try {
    return await f(q, conn);
  } finally {
    await q.close();
    conn.disconnect();
  }
}

/** Counts, throughput and failures of a queue. @throws QueueError when Redis is unreachable */
export function queueStatus(t: QueueTarget & { maxFailed?: number }): Promise<QueueStatus> {
  return withQueue(t, async (q, conn) => {
    const c = await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    const lastMinute = await conn.zcount(q.toKey('completed'), Date.now() - 60_000, '+inf');
    const failedJobs = (await q.getFailed(0, (t.maxFailed ?? 100) - 1)).map((j: Job<ImageJobData>) => ({
      id: j.id ?? '', file: j.data?.file ?? '?', reason: j.failedReason ?? '', attempts: j.attemptsMade,
    }));
    return {
      queue: t.queue,
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
      imagesPerSecond: lastMinute / 60,
      failedJobs,
    };
  });
}

/** Moves all failed jobs back to waiting (attempts reset). @returns how many */
export function retryFailed(t: QueueTarget): Promise<number> {
  return withQueue(t, async (q) => {
    let n = 0;
    for (;;) {
      const jobs = await q.getFailed(0, 499);
      if (jobs.length === 0) return n;
      for (const j of jobs) {
        await j.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        n++;
      }
    }
  });
}
