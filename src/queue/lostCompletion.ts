/**
 * A completion whose reply was lost. When Redis dies after it has run (and, with the append-only file,
 * persisted) a job's move to `completed` but before the reply reaches the worker, the client sends the
 * command again after reconnecting; the second run finds the job finished and its lock gone, and BullMQ
 * reports "Missing lock for job <id>. moveToFinished" as a worker error instead of a `completed` event
 * (then tries to fail or retry the job, which meets the same missing lock: "… moveToDelayed").
 * The job is done and its outputs are written, so this module finds such jobs and reports them as
 * completed by this worker (its result names the worker), never twice.
 */
import type { Queue } from 'bullmq';
import type { ImageJobData, ImageJobResult } from './jobs.js';

/** moveToFinished from the completion; moveToFinished / moveToDelayed from the failure path BullMQ then takes. */
const MISSING_LOCK = /^Missing lock for job (.+)\. (?:moveToFinished|moveToDelayed)$/;

/** The job id of a "Missing lock for job <id>. moveToFinished|moveToDelayed" error, else null. */
export function missingLockJobId(message: string): string | null {
  return MISSING_LOCK.exec(message)?.[1] ?? null;
}

export interface LostCompletion {
  id: string;
  file: string;
  result: ImageJobResult;
}

/**
 * The job `id` if Redis holds it as completed with a result written by `workerId`, else null (the job is
 * still active or waiting: the stalled-job check gives it to a worker again; or another worker finished it).
 */
export async function findLostCompletion(queue: Queue<ImageJobData, ImageJobResult>, id: string, workerId: string): Promise<LostCompletion | null> {
  const job = await queue.getJob(id);
  if (!job || (await job.getState()) !== 'completed') return null;
  const result = job.returnvalue as ImageJobResult | null;
  if (!result || result.worker !== workerId) return null;
  return { id, file: job.data.file, result };
}
