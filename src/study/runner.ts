/**
 * The resumable study runner (`reg4pru study`, issue 15). Walks the plan (./plan.ts) in order; a run whose
 * `runs/<id>.json` exists is skipped (after checking that it was produced with the same configuration:
 * a changed config is an error, never a silent mix), any other run is executed (./runs.ts) and its result
 * written atomically the moment it ends, then the report is regenerated from the run files. The process
 * can be killed at any point: a rerun skips what is finished and continues training from the last saved
 * piece. A lock file (`study.lock`, the pid) keeps two runners out of one folder.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { println, type Io } from '../cli/common.js';
import { writeFileAtomicSync } from '../io/atomicFile.js';
import { useNativeBackend } from '../tfjs/backend/native_backend.js';
import type { StudyConfig } from './config.js';
import { planStudy, resultFile, studyPaths } from './plan.js';
import { runBenchRun, runData, runEval, runFinetune, runPretrain, runSpecOf, type RunContext, type RunResultBase } from './runs.js';
import { runOthers, runOthersBench, runPolicy } from './others.js';
import { readResult, StudyError } from './results.js';
import { writeStudyReport } from './report.js';
import { processAlive } from '../io/processAlive.js';

export interface StudyOptions {
  /** Output folder (runs/, work/, config.json). */
  out: string;
  config: StudyConfig;
  /** Only these run ids (their dependencies must be finished). */
  only?: string[];
  /** Stop after this many runs were executed in this process. */
  maxRuns?: number;
  /** Where the markdown report goes (figures in the folder of the same name); default <out>/reproduction.md. */
  report?: string;
  /** Extra text of the report (the commands used), passed through. */
  command?: string;
  io: Io;
  onTrainStep?: RunContext['onTrainStep'];
}

export interface StudyStatus {
  /** Runs with a result file, in plan order. */
  done: string[];
  /** Runs executed by this call. */
  ran: string[];
  pending: string[];
}

const LOCK = 'study.lock';

function takeLock(out: string): () => void {
  const file = path.join(out, LOCK);
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid !== process.pid && processAlive(pid)) throw new StudyError(`another study runner (pid ${pid}) is using '${out}' (${file})`);
  }
  writeFileSync(file, `${process.pid}\n`);
  return () => {
    if (existsSync(file) && readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
  };
}

const EXECUTE = {
  data: runData, pretrain: runPretrain, finetune: runFinetune, eval: runEval, bench: runBenchRun,
  policy: runPolicy, others: runOthers, othersBench: runOthersBench,
} as const;

/**
 * Runs the study (see the file comment).
 * @returns which runs are done, which ran now, which are pending
 * @throws StudyError (lock held, changed configuration, missing dependency); the runs' own errors
 */
export async function runStudy(o: StudyOptions): Promise<StudyStatus> {
  const paths = studyPaths(o.out);
  mkdirSync(paths.runs, { recursive: true });
  mkdirSync(paths.work, { recursive: true });
  const unlock = takeLock(o.out);
  const log = (msg: string) => println(o.io.err, `[study ${new Date().toISOString().slice(0, 19)}Z] ${msg}`);
  const ctx: RunContext = { cfg: o.config, paths, io: o.io, log, onTrainStep: o.onTrainStep };
  const plan = planStudy(o.config);
  if (o.only) {
    const unknown = o.only.filter((id) => !plan.some((r) => r.id === id));
    if (unknown.length) throw new StudyError(`--only: unknown run ${unknown.join(', ')}; the plan has ${plan.map((r) => r.id).join(', ')}`);
  }
  const ran: string[] = [];
  try {
    writeFileAtomicSync(path.join(o.out, 'config.json'), JSON.stringify(o.config, null, 2) + '\n');
    await tf.setBackend('cpu');
    useNativeBackend();
    for (const [i, run] of plan.entries()) {
      if (readResult(o.out, o.config, run) !== null) continue;
      if (o.only && !o.only.includes(run.id)) continue;
      if (o.maxRuns !== undefined && ran.length >= o.maxRuns) break;
      const missing = run.deps.filter((d) => !existsSync(resultFile(paths, d)));
      if (missing.length) throw new StudyError(`run ${run.id} needs ${missing.join(', ')} first`);
      log(`start ${run.id} (${i + 1}/${plan.length})`);
      const base: RunResultBase = { id: run.id, kind: run.kind, spec: runSpecOf(o.config, run), date: '', cpuMs: 0, wallMs: 0 };
      const result = await EXECUTE[run.kind](ctx, run, base);
      result.date = new Date().toISOString();
      writeFileAtomicSync(resultFile(paths, run.id), JSON.stringify(result, null, 1) + '\n');
      ran.push(run.id);
      log(`done ${run.id}: ${(result.cpuMs / 60000).toFixed(1)} CPU min, ${(result.wallMs / 60000).toFixed(1)} min wall`);
      try {
        await writeStudyReport({ out: o.out, config: o.config, report: o.report, command: o.command });
      } catch (e) {
        log(`report not regenerated: ${(e as Error).message}`);
      }
    }
  } finally {
    unlock();
  }
  const done = plan.filter((r) => existsSync(resultFile(paths, r.id))).map((r) => r.id);
  return { done, ran, pending: plan.filter((r) => !done.includes(r.id)).map((r) => r.id) };
}
