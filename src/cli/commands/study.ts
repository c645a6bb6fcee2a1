/**
 * `reg4pru study --config study.json --out DIR` (issue 15): the small-scale reproduction of the paper's
 * findings (pretraining stand-in, fine-tuning arms over seeds, evaluation on two sources, ToMe, throughput)
 * as one resumable command (src/study/runner.ts). Kill it at any point and rerun the same command: finished
 * runs are skipped, training continues from its last piece. `--report-only` regenerates the report and
 * figures from the run files; `--only` and `--max-runs` run a part; `--list` prints the plan with what is done.
 */
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { CommandError, UsageError, parseIntOption, println, type CommandContext, type Io } from '../common.js';
import { loadStudyConfig, resolveStudyConfig, type StudyConfig } from '../../study/config.js';
import { planStudy, resultFile, studyPaths } from '../../study/plan.js';
import { runStudy, type StudyStatus } from '../../study/runner.js';
import { StudyError } from '../../study/results.js';
import { writeStudyReport } from '../../study/report.js';

export interface StudyCliOptions {
  config?: string;
  out: string;
  report?: string;
  only?: string[];
  maxRuns?: number;
  reportOnly?: boolean;
  list?: boolean;
  /** The command line, quoted in the report. */
  command?: string;
}

function config(o: StudyCliOptions): StudyConfig {
  try {
    return o.config === undefined ? resolveStudyConfig({}) : loadStudyConfig(o.config);
  } catch (e) {
    throw new UsageError(`--config: ${(e as Error).message}`);
  }
}

export async function runStudyCommand(o: StudyCliOptions, io: Io): Promise<StudyStatus | null> {
  if (o.config !== undefined && !existsSync(o.config)) throw new UsageError(`--config: no such file '${o.config}'`);
  const cfg = config(o);
  try {
    if (o.list) {
      const p = studyPaths(o.out);
      for (const r of planStudy(cfg)) println(io.out, `${existsSync(resultFile(p, r.id)) ? 'done   ' : 'pending'}  ${r.id}`);
      return null;
    }
    if (o.reportOnly) {
      const file = await writeStudyReport({ out: o.out, config: cfg, report: o.report, command: o.command });
      println(io.out, `wrote ${file}`);
      return null;
    }
    const s = await runStudy({ out: o.out, config: cfg, only: o.only, maxRuns: o.maxRuns, report: o.report, command: o.command, io });
    println(io.out, `reg4pru study: ${s.done.length} of ${s.done.length + s.pending.length} runs done (${s.ran.length} now)${s.pending.length ? `; pending: ${s.pending.join(', ')}` : ''}`);
    return s;
  } catch (e) {
    if (e instanceof StudyError) throw new CommandError(e.message);
    throw e;
  }
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('study')
    .description('the small-scale reproduction study (issue 15): resumable runs, report and figures from the run files')
    .option('--config <file>', 'study config JSON (fields over the defaults of src/study/config.ts)')
    .requiredOption('--out <dir>', 'output folder: runs/<id>.json (results), work/ (checkpoints, data), config.json')
    .option('--report <file>', 'markdown report (figures in the folder of the same name); default <out>/reproduction.md')
    .option('--only <ids>', 'run only these run ids (comma-separated)', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .option('--max-runs <n>', 'stop after n runs', parseIntOption('--max-runs', 1))
    .option('--report-only', 'regenerate the report and figures from the run files, run nothing')
    .option('--list', 'print the plan with what is done')
    .action(async (o: StudyCliOptions) => {
      await runStudyCommand({ ...o, command: `reg4pru study ${process.argv.slice(3).join(' ')}`.trim() }, ctx.io);
    });
}
