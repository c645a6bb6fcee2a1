/**
 * `reg4pru worker`: a queue consumer (src/queue/worker.ts). Prints one line per finished job on stdout
 * (`completed <id> <file> -> <outputs> (<ms> ms)`, `failed <id> <file> (attempt a/n[, final]): <reason>`),
 * connection notes on stderr, and a summary when it stops. SIGTERM / SIGINT: stop taking jobs, finish
 * the current ones, exit 0. A second signal while finishing is ignored (kill -9 is always safe: the
 * jobs return to the queue when their locks expire).
 */
import path from 'node:path';
import { Command } from 'commander';
import { setThreads } from '../../runtime.js';
import { UsageError, parseIntOption, println, type CommandContext, type Io, type SessionFactory } from '../common.js';

export interface WorkerCliOptions {
  redis: string;
  queue: string;
  output: string;
  device?: string;
  concurrency?: number;
  batch?: number;
  lockMs?: number;
  stalledMs?: number;
  threads?: number;
  exitWhenEmpty?: boolean;
  quiet?: boolean;
}

/** Runs until a signal (or an empty queue with --exit-when-empty). @param signals install SIGTERM/SIGINT handlers */
export async function runWorker(o: WorkerCliOptions, io: Io, createSession?: SessionFactory, signals = true): Promise<void> {
  if (o.device !== undefined && o.device !== 'cpu' && o.device !== 'cuda') throw new UsageError(`--device: expected cpu or cuda, received '${o.device}'`);
  const { startWorker } = await import('../../queue/worker.js');
  if (o.threads !== undefined) setThreads(o.threads);
  const w = await startWorker({
    redis: o.redis,
    queue: o.queue,
    output: o.output,
    device: (o.device ?? 'cpu') as 'cpu' | 'cuda',
    concurrency: o.concurrency,
    batch: o.batch,
    lockMs: o.lockMs,
    stalledIntervalMs: o.stalledMs,
    exitWhenEmpty: o.exitWhenEmpty,
    createSession,
    onEvent: (e) => {
      if (e.type === 'note') println(io.err, `worker: ${e.message}`);
      else if (e.type === 'completed') {
        if (!o.quiet) println(io.out, `completed ${e.id} ${path.basename(e.file)} -> ${e.result.outputs.join(',')} (${e.result.ms.toFixed(0)} ms)`);
      } else println(io.out, `failed ${e.id} ${path.basename(e.file)} (attempt ${e.attempt}/${e.attempts}${e.final ? ', final' : ''}): ${e.reason}`);
    },
  });
  println(io.err, `worker ${w.id}: waiting for jobs on queue ${o.queue}`);
  const onSignal = (sig: string) => {
    println(io.err, `worker ${w.id}: ${sig}, finishing the current job(s)`);
    void w.close().catch(() => undefined);
  };
  if (signals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  try {
    const s = await w.done;
    println(io.err, `worker ${s.worker}: ${s.completed} completed, ${s.failed} failed in ${s.seconds.toFixed(1)} s; ` +
      `${s.modelInputs} model inputs in ${s.engineCalls} engine calls, ${s.engineSeconds.toFixed(2)} s in the engine`);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('worker')
    .description('take image jobs from a Redis queue (`reg4pru queue submit`), write <name>_prob.png / <name>_mask.png atomically')
    .requiredOption('--redis <url>', 'Redis URL, e.g. redis://127.0.0.1:6379')
    .requiredOption('--queue <name>', 'queue name')
    .requiredOption('--output <dir>', 'folder for the outputs (created if missing)')
    .option('--device <d>', 'cpu or cuda', 'cpu')
    .option('--concurrency <n>', 'jobs in flight at once (their model inputs are batched together)', parseIntOption('--concurrency', 1, 256), 1)
    .option('--batch <n>', 'most model inputs per engine call', parseIntOption('--batch', 1, 4096), 8)
    .option('--lock-ms <ms>', "job lock: a dead worker's jobs go back to the queue after this long", parseIntOption('--lock-ms', 100), 30000)
    .option('--stalled-ms <ms>', 'how often to look for stalled jobs (default: --lock-ms)', parseIntOption('--stalled-ms', 100))
    .option('--threads <n>', 'CPU threads of the native kernels', parseIntOption('--threads', 1, 256))
    .option('--exit-when-empty', 'exit once nothing is waiting, delayed or active in the queue')
    .option('-q, --quiet', 'no line per completed job')
    .action(async (o: WorkerCliOptions) => {
      await runWorker(o, ctx.io, ctx.createSession);
    });
}
