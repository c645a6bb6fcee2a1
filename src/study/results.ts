/**
 * Reading a study's run files (`runs/<id>.json`): a result is reused only when it was produced with the
 * configuration the current one gives that run (./runs.ts runSpecOf), so a changed config never mixes
 * silently with old results.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { StudyConfig } from './config.js';
import { resultFile, studyPaths, workDir, type PlannedRun } from './plan.js';
import { canonicalJson, runSpecOf, type RunResultBase } from './runs.js';

/** A study that cannot go on as asked: lock held, changed configuration, missing dependency. */
export class StudyError extends Error {
  override name = 'StudyError';
}

/** The run's result if its file exists. @throws StudyError when it was produced with another configuration */
export function readResult<T extends RunResultBase>(out: string, cfg: StudyConfig, run: PlannedRun): T | null {
  const file = resultFile(studyPaths(out), run.id);
  if (!existsSync(file)) return null;
  const r = JSON.parse(readFileSync(file, 'utf8')) as T;
  if (canonicalJson(r.spec) !== canonicalJson(runSpecOf(cfg, run)))
    throw new StudyError(`${file} was produced with another configuration than the current one; use another --out, or delete it (and ${workDir(studyPaths(out), run.id)}) to redo the run`);
  return r;
}
