/**
 * reg4pru/queue: batch inference across processes and machines on a Redis-backed BullMQ queue
 * (docs/queue.md). Submit a folder once, run `startWorker` wherever there is a CPU, watch `queueStatus`.
 * A separate entry point, so `import 'reg4pru'` does not load BullMQ or ioredis.
 */
export { submitFolder, listInputs, type SubmitOptions, type SubmitResult } from './submit.js';
export { startWorker, type WorkerOptions, type WorkerHandle, type WorkerEvent, type WorkerStats } from './worker.js';
export { queueStatus, retryFailed, type QueueStatus, type QueueTarget } from './status.js';
export { modelSpec } from './model.js';
export { jobId, type ImageJobData, type ImageJobResult, type ModelSpec, type SegmentOptions } from './jobs.js';
export { QueueError } from './errors.js';
