/**
 * The study's runs, in execution order, and where their files live (issue 15):
 *   data-second              the second source's FIVES-layout folder (work/data-second/)
 *   pretrain-<k>, pretrain   unpruned model from random weights on the synthetic set (the DINOv2 stand-in), one
 *                            lr schedule cut into `pretrain.runs` runs that continue one another (each within the
 *                            per-run CPU budget); the last, `pretrain`, adds the token-change measurement
 *   ft-<arm>-s<seed>         fine-tuning of one arm from the pretrained EMA weights
 *   eval-<arm>-s<seed>       its evaluation on both sources (keep 0.7 and unpruned per block, the other keep
 *                            ratios; ToMe on the unpruned arm) and its token statistics
 *   bench                    throughput of every configuration (reg4pru bench's harness, round-robin), on
 *                            the first seed's unpruned checkpoint, once that exists
 * and with `others` (issue 17's systems, ./others.ts), after every seed's arms:
 *   superpatch-policy        STEP's superpatch CNN policy, trained once on the synthetic set
 *   others-<arm>-s<seed>     early-exit heads for that checkpoint, then dynamic keep, superpatches and exits
 *                            (alone and with the arm's pruning) evaluated on both sources
 *   bench-others             their throughput on the first seed's checkpoint of the arm
 * Seeds run one after another (all arms of seed 0 first), so a partial study already has whole seeds.
 * `runs/<id>.json` is each run's result (small; committed); `work/<id>/` holds checkpoints, resume state
 * and logs (large; not committed).
 */
import path from 'node:path';
import type { StudyArm, StudyConfig } from './config.js';

export type RunKind = 'data' | 'pretrain' | 'finetune' | 'eval' | 'bench' | 'policy' | 'others' | 'othersBench';

export interface PlannedRun {
  id: string;
  kind: RunKind;
  arm?: StudyArm;
  seed?: number;
  /** Pretraining: this run trains steps [partStart, partEnd) of the stage. */
  part?: { index: number; of: number; start: number; end: number };
  /** Runs whose results this one reads. */
  deps: string[];
}

export const ftId = (arm: string, seed: number) => `ft-${arm}-s${seed}`;
export const evalId = (arm: string, seed: number) => `eval-${arm}-s${seed}`;
export const othersId = (arm: string, seed: number) => `others-${arm}-s${seed}`;
export const POLICY_RUN = 'superpatch-policy';

/** Every run of the study, in execution order. */
export function planStudy(c: StudyConfig): PlannedRun[] {
  const runs: PlannedRun[] = [
    { id: 'data-second', kind: 'data', deps: [] },
  ];
  const P = c.pretrain.runs;
  for (let k = 1; k <= P; k++) {
    const part = { index: k, of: P, start: Math.round(((k - 1) * c.pretrain.steps) / P), end: Math.round((k * c.pretrain.steps) / P) };
    runs.push({ id: k === P ? 'pretrain' : `pretrain-${k}`, kind: 'pretrain', part, deps: [k === 1 ? 'data-second' : `pretrain-${k - 1}`] });
  }
  const base = c.finetune.arms.find((a) => !a.prune)!;
  c.seeds.forEach((seed, si) => {
    for (const arm of c.finetune.arms) {
      runs.push({ id: ftId(arm.name, seed), kind: 'finetune', arm, seed, deps: ['pretrain', 'data-second'] });
      runs.push({ id: evalId(arm.name, seed), kind: 'eval', arm, seed, deps: [ftId(arm.name, seed), 'data-second'] });
    }
    if (si === 0) runs.push({ id: 'bench', kind: 'bench', deps: [ftId(base.name, seed)] });
  });
  if (c.others) {
    const arm = c.finetune.arms.find((a) => a.name === c.others!.arm)!;
    runs.push({ id: POLICY_RUN, kind: 'policy', deps: [] });
    for (const seed of c.seeds) runs.push({ id: othersId(arm.name, seed), kind: 'others', arm, seed, deps: [ftId(arm.name, seed), POLICY_RUN, 'data-second'] });
    runs.push({ id: 'bench-others', kind: 'othersBench', arm, seed: c.seeds[0], deps: [othersId(arm.name, c.seeds[0]!)] });
  }
  return runs;
}

/** The folders of a study output directory. */
export interface StudyPaths {
  out: string;
  runs: string;
  work: string;
  /** The second source's FIVES root. */
  second: string;
}

export function studyPaths(out: string): StudyPaths {
  return { out, runs: path.join(out, 'runs'), work: path.join(out, 'work'), second: path.join(out, 'work', 'data-second') };
}

export const resultFile = (p: StudyPaths, id: string) => path.join(p.runs, `${id}.json`);
export const workDir = (p: StudyPaths, id: string) => path.join(p.work, id);
/** The weights a finished training run leaves (EMA). */
export const emaFile = (p: StudyPaths, id: string) => path.join(p.work, id, 'ema.safetensors');
/** Every pretraining run trains in this one folder. */
export const PRETRAIN_DIR = 'pretrain';
