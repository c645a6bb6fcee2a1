/**
 * The study's numbers from its run files (`runs/<id>.json`) alone: mean ± std over seeds per arm,
 * configuration and source, depth-wise AP, token statistics, throughput, CPU time. The report and the
 * figures (./report.ts) are built from this, so they can be regenerated at any time from the files.
 * std is the sample standard deviation (n − 1; 0 for one seed).
 */
import { existsSync } from 'node:fs';
import type { StudyArm, StudyConfig } from './config.js';
import { evalId, ftId, planStudy, resultFile, studyPaths, type PlannedRun } from './plan.js';
import type { OthersBenchResult, OthersResult, PolicyRunResult } from './others.js';
import { readResult } from './results.js';
import type { BenchRunResult, DataResult, EvalResult, PretrainResult, RunResultBase, SourceName, TrainResult } from './runs.js';

export interface MeanStd {
  mean: number;
  std: number;
  n: number;
}

export function meanStd(v: number[]): MeanStd {
  const n = v.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  const mean = v.reduce((a, x) => a + x, 0) / n;
  const std = n > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

export interface StudyResults {
  cfg: StudyConfig;
  plan: PlannedRun[];
  data?: DataResult;
  pretrain?: PretrainResult;
  ft: Map<string, TrainResult>;
  evals: Map<string, EvalResult>;
  bench?: BenchRunResult;
  /** Issue 17's systems (./others.ts): the superpatch policy, the per-seed evaluations, their throughput. */
  policy?: PolicyRunResult;
  others: Map<string, OthersResult>;
  othersBench?: OthersBenchResult;
  /** Every finished run's result, in plan order. */
  all: RunResultBase[];
}

/** Reads every finished run's result file. @throws StudyError for a file of another configuration */
export function loadStudyResults(out: string, cfg: StudyConfig): StudyResults {
  const plan = planStudy(cfg);
  const r: StudyResults = { cfg, plan, ft: new Map(), evals: new Map(), others: new Map(), all: [] };
  for (const run of plan) {
    if (!existsSync(resultFile(studyPaths(out), run.id))) continue;
    const x = readResult<RunResultBase>(out, cfg, run)!;
    r.all.push(x);
    if (run.kind === 'data') r.data = x as DataResult;
    else if (run.kind === 'pretrain') {
      if (run.part!.index === run.part!.of) r.pretrain = x as PretrainResult;
    }
    else if (run.kind === 'finetune') r.ft.set(run.id, x as TrainResult);
    else if (run.kind === 'eval') r.evals.set(run.id, x as EvalResult);
    else if (run.kind === 'bench') r.bench = x as BenchRunResult;
    else if (run.kind === 'policy') r.policy = x as PolicyRunResult;
    else if (run.kind === 'others') r.others.set(run.id, x as OthersResult);
    else r.othersBench = x as OthersBenchResult;
  }
  return r;
}

/** The evaluations of one arm (finished seeds only). */
export function armEvals(r: StudyResults, arm: StudyArm): EvalResult[] {
  return r.cfg.seeds.map((s) => r.evals.get(evalId(arm.name, s))).filter((e): e is EvalResult => e !== undefined);
}

export function armTrains(r: StudyResults, arm: StudyArm): TrainResult[] {
  return r.cfg.seeds.map((s) => r.ft.get(ftId(arm.name, s))).filter((e): e is TrainResult => e !== undefined);
}

/** Final-block Dice and AP of one configuration of an arm on a source, over its finished seeds. */
export function finalStats(r: StudyResults, arm: StudyArm, source: SourceName, label: string): { dice: MeanStd; ap: MeanStd } {
  const ms = armEvals(r, arm).map((e) => e.sources[source][label]).filter((m) => m !== undefined);
  return { dice: meanStd(ms.map((m) => m.final.dice)), ap: meanStd(ms.map((m) => m.final.ap)) };
}

/** AP per decode point of one configuration of an arm (blocks ascending). */
export function depthStats(r: StudyResults, arm: StudyArm, source: SourceName, label: string): Array<{ block: number; ap: MeanStd }> {
  const ms = armEvals(r, arm).map((e) => e.sources[source][label]?.perBlock).filter((m) => m !== undefined);
  if (ms.length === 0) return [];
  return ms[0]!.map((b, i) => ({ block: b.block, ap: meanStd(ms.map((m) => m[i]!.ap)) }));
}

/** The harness's throughput of a configuration label. */
export function throughput(r: StudyResults, label: string): { median: number; p10: number; p90: number; speedup?: number } | null {
  const row = r.bench?.rows.find((x) => x.label === label && x.status === 'ok');
  return row && row.median !== undefined ? { median: row.median, p10: row.p10!, p90: row.p90!, speedup: row.speedup } : null;
}

/**
 * A difference of means with its standard error (Welch: sqrt(s1²/n1 + s2²/n2)); `resolved` when
 * |diff| > 2 SE and both sides have at least 2 seeds.
 */
export function difference(a: MeanStd, b: MeanStd): { diff: number; se: number; resolved: boolean } {
  const diff = a.mean - b.mean;
  const se = Math.sqrt((a.n > 0 ? a.std ** 2 / a.n : 0) + (b.n > 0 ? b.std ** 2 / b.n : 0));
  return { diff, se, resolved: a.n >= 2 && b.n >= 2 && Math.abs(diff) > 2 * se };
}
