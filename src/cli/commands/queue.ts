/**
 * `reg4pru queue submit | status | retry-failed`: the producer and observer side of the Redis-backed
 * job queue (src/queue/, docs/queue.md). `submit` takes the same model and output options as
 * `reg4pru infer`, so a queue run writes what `infer` writes; `reg4pru worker` (./worker.ts) consumes.
 * BullMQ and ioredis are imported inside the actions, so other commands do not load them.
 */
import path from 'node:path';
import { Command } from 'commander';
import { UsageError, parseFloatOption, parseIntOption, println, resolveKeep, type CommandContext, type Io, type ModelChoice } from '../common.js';

export interface SubmitCliOptions extends ModelChoice {
  redis: string;
  queue: string;
  input?: string;
  list?: string;
  keep?: number | string | null;
  threshold?: number;
  resize?: boolean;
  tile?: boolean;
  attempts?: number;
  backoff?: number;
}

/** `queue submit`: prints one line of counts plus one line per skipped input. */
export async function runSubmit(o: SubmitCliOptions, io: Io): Promise<{ added: number; known: number; skipped: number }> {
  if (o.checkpoint === undefined && o.preset === undefined) throw new UsageError('--checkpoint <file> is required (or --preset tiny|small for random weights)');
  if (o.preset !== undefined && o.preset !== 'tiny' && o.preset !== 'small') throw new UsageError(`--preset: expected tiny or small, received '${String(o.preset)}'`);
  if (o.resize && o.tile) throw new UsageError('give at most one of --resize and --tile');
  if ((o.input === undefined) === (o.list === undefined)) throw new UsageError('give exactly one of --input <dir> and --list <file>');
  const { submitFolder } = await import('../../queue/submit.js');
  const { modelSpec } = await import('../../queue/model.js');
  const model = await modelSpec(o);
  const r = await submitFolder({
    redis: o.redis,
    queue: o.queue,
    input: o.input,
    list: o.list,
    model,
    options: { keep: resolveKeep(o.keep, null), threshold: o.threshold ?? 0.5, ...(o.resize ? { fit: 'resize' as const } : o.tile ? { fit: 'tile' as const } : {}) },
    attempts: o.attempts,
    backoffMs: o.backoff,
  });
  println(io.out, `queue ${o.queue}: ${r.added} added, ${r.known} already known, ${r.skipped.length} skipped`);
  for (const s of r.skipped) println(io.out, `  skipped: ${path.basename(s.file)}: ${s.reason}`);
  return { added: r.added, known: r.known, skipped: r.skipped.length };
}

/** `queue status`: counts, images/s over the last minute, failed images with reasons (or JSON). */
export async function runStatus(o: { redis: string; queue: string; json?: boolean }, io: Io): Promise<void> {
  const { queueStatus } = await import('../../queue/status.js');
  const s = await queueStatus({ redis: o.redis, queue: o.queue });
  if (o.json) {
    println(io.out, JSON.stringify(s, null, 2));
    return;
  }
  println(io.out, `queue ${s.queue}: ${s.waiting} waiting, ${s.active} active, ${s.delayed} delayed (retry backoff), ${s.completed} completed, ${s.failed} failed; ${s.imagesPerSecond.toFixed(2)} images/s over the last minute`);
  for (const f of s.failedJobs) println(io.out, `  failed: ${f.file} (${f.attempts} attempts): ${f.reason}`);
  if (s.failed > s.failedJobs.length) println(io.out, `  … and ${s.failed - s.failedJobs.length} more failed`);
}

export function register(program: Command, ctx: CommandContext): void {
  const q = program.command('queue').description('Redis job queue for batch inference across processes and machines (see `reg4pru worker`)');
  q.command('submit')
    .description('one job per image of a folder or list; resubmitting adds only images not seen before')
    .requiredOption('--redis <url>', 'Redis URL, e.g. redis://127.0.0.1:6379')
    .requiredOption('--queue <name>', 'queue name')
    .option('--input <dir>', 'folder of input images (workers read them at the same path)')
    .option('--list <file>', 'text file with one image path per line')
    .option('--checkpoint <file>', 'safetensors checkpoint (SPEC §8); workers load it from the same path')
    .option('--preset <name>', 'random seeded weights of a preset instead of a checkpoint (smoke tests)')
    .option('--model-config <file>', 'JSON of ModelConfig fields overriding the preset')
    .option('--seed <n>', 'seed of --preset random weights', parseIntOption('--seed', 0))
    .option('--keep <ratio>', "base keep ratio in (0, 1], or 'none' for the unpruned model (default none)")
    .option('--threshold <t>', 'mask threshold on the probability', parseFloatOption('--threshold', 0, 1), 0.5)
    .option('--resize', 'always resize to the model input and back')
    .option('--tile', 'always tile (non-overlapping model-sized tiles, edges padded)')
    .option('--attempts <n>', 'tries per image before it is marked failed', parseIntOption('--attempts', 1, 100), 3)
    .option('--backoff <ms>', 'first retry delay, doubled each retry', parseIntOption('--backoff', 0), 1000)
    .action(async (o: SubmitCliOptions) => {
      await runSubmit(o, ctx.io);
    });
  q.command('status')
    .description('waiting / active / completed / failed, images/s over the last minute, failed images with reasons')
    .requiredOption('--redis <url>', 'Redis URL')
    .requiredOption('--queue <name>', 'queue name')
    .option('--json', 'print the status as JSON')
    .action(async (o: { redis: string; queue: string; json?: boolean }) => {
      await runStatus(o, ctx.io);
    });
  q.command('retry-failed')
    .description('move every failed image back to waiting, with its attempts reset')
    .requiredOption('--redis <url>', 'Redis URL')
    .requiredOption('--queue <name>', 'queue name')
    .action(async (o: { redis: string; queue: string }) => {
      const { retryFailed } = await import('../../queue/status.js');
      println(ctx.io.out, `queue ${o.queue}: ${await retryFailed(o)} failed job(s) moved back to waiting`);
    });
}
