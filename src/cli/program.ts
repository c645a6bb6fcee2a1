/**
 * The `reg4pru` command tree (commander). One file per subcommand under ./commands/, each exporting
 * `register(program, ctx)`; adding `train` or `eval` = one new file + one line in COMMANDS.
 * `main(argv)` returns the exit code instead of exiting, so tests run the CLI in-process:
 * 0 = the run completed (even with skipped/failed inputs), 2 = usage error, 1 = runtime failure.
 * A runtime failure prints one line, `error: <Class>: <message>`; `--verbose` or DEBUG adds the stack.
 */
import { Command, CommanderError } from 'commander';
import { CommandError, UsageError, defaultSessionFactory, processIo, println, type CommandContext, type Io, type SessionFactory } from './common.js';
import * as bench from './commands/bench.js';
import * as infer from './commands/infer.js';
import * as trainCmd from './commands/train.js';
import * as evalCmd from './commands/eval.js';
import * as queueCmd from './commands/queue.js';
import * as workerCmd from './commands/worker.js';
import * as exportCmd from './commands/export.js';
import * as trainPolicyCmd from './commands/trainPolicy.js';
import * as trainExitsCmd from './commands/trainExits.js';
import * as studyCmd from './commands/study.js';
import { QueueError } from '../queue/errors.js';

const COMMANDS: Array<{ register(program: Command, ctx: CommandContext): void }> = [bench, infer, trainCmd, trainPolicyCmd, trainExitsCmd, evalCmd, exportCmd, queueCmd, workerCmd, studyCmd];

export const EXIT_OK = 0, EXIT_FAILURE = 1, EXIT_USAGE = 2;

export function buildProgram(createSession: SessionFactory = defaultSessionFactory, io: Io = processIo()): Command {
  const program = new Command('reg4pru')
    .description('Token-pruned ViT segmentation: throughput benchmark and batch inference on the native engine')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) });
  for (const c of COMMANDS) c.register(program, { io, createSession });
  program.option('--verbose', 'print the stack trace of an error (also with DEBUG set)');
  const configure = (cmds: readonly Command[]) => {
    for (const sub of cmds) {
      sub.option('--verbose', 'print the stack trace of an error (also with DEBUG set)');
      sub.exitOverride().configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) });
      configure(sub.commands); // `queue submit` etc.
    }
  };
  configure(program.commands);
  return program;
}

/**
 * Parses and runs. @param argv as process.argv (node, script, ...args)
 * @returns the exit code
 */
export async function main(argv: string[], io: Io = processIo(), createSession?: SessionFactory): Promise<number> {
  const program = buildProgram(createSession, io);
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT_OK : EXIT_USAGE; // commander printed it
    if (e instanceof UsageError) {
      println(io.err, `error: ${e.message}`);
      return EXIT_USAGE;
    }
    if (e instanceof QueueError || e instanceof CommandError) {
      // Environment, not usage: Redis unreachable, output folder unwritable, ONNX Runtime missing. One line.
      println(io.err, `error: ${e.message}`);
      return EXIT_FAILURE;
    }
    // One line (the error's class and message); the stack only when asked for, since it helps us, not users.
    const verbose = argv.includes('--verbose') || Boolean(process.env.DEBUG);
    if (!(e instanceof Error)) println(io.err, `error: ${String(e)}`);
    else if (verbose) println(io.err, `error: ${e.stack ?? `${e.name}: ${e.message}`}`);
    else println(io.err, `error: ${e.name}: ${e.message.split('\n')[0]} (--verbose or DEBUG=1 for the stack trace)`);
    return EXIT_FAILURE;
  }
}
