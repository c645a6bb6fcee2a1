/**
 * The `reg4pru` command tree (commander). One file per subcommand under ./commands/, each exporting
 * `register(program, ctx)`; adding `train` or `eval` = one new file + one line in COMMANDS.
 * `main(argv)` returns the exit code instead of exiting, so tests run the CLI in-process:
 * 0 = the run completed (even with skipped/failed inputs), 2 = usage error, 1 = runtime failure.
 */
import { Command, CommanderError } from 'commander';
import { CommandError, UsageError, defaultSessionFactory, processIo, println, type CommandContext, type Io, type SessionFactory } from './common.js';
import * as bench from './commands/bench.js';
import * as infer from './commands/infer.js';
import * as trainCmd from './commands/train.js';
import * as evalCmd from './commands/eval.js';
import * as exportCmd from './commands/export.js';

const COMMANDS: Array<{ register(program: Command, ctx: CommandContext): void }> = [bench, infer, trainCmd, evalCmd, exportCmd];

export const EXIT_OK = 0, EXIT_FAILURE = 1, EXIT_USAGE = 2;

export function buildProgram(createSession: SessionFactory = defaultSessionFactory, io: Io = processIo()): Command {
  const program = new Command('reg4pru')
    .description('Token-pruned ViT segmentation: throughput benchmark and batch inference on the native engine')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) });
  for (const c of COMMANDS) c.register(program, { io, createSession });
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) });
  }
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
    if (e instanceof CommandError) {
      println(io.err, `error: ${e.message}`);
      return EXIT_FAILURE;
    }
    println(io.err, `error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT_FAILURE;
  }
}
