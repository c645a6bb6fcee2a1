/**
 * `docs/reproduction.md` and its figures, generated from a study's run files only (./aggregate.ts):
 * setup and scale, token-change measurement, Table 1 per source beside the paper's numbers, depth-wise
 * AP (Fig. 5), AP vs throughput (Fig. 1), throughput, training curves, the paper's claims checked
 * against our numbers by stated rules, a reading (`<out>/reading.md`, written by a person, included
 * verbatim), CPU time per run and the commands. Figures go to the folder named like the report without
 * `.md` (SVG + PNG). Partial studies are reported as they stand (n = finished seeds).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../io/atomicFile.js';
import { apThroughputSpec, writeVegaLite, type PlotPoint } from '../cli/plot.js';
import { studyModel, type StudyArm, type StudyConfig } from './config.js';
import { armEvals, armTrains, depthStats, difference, finalStats, loadStudyResults, meanStd, throughput, type MeanStd, type StudyResults } from './aggregate.js';
import { curvesFigure, depthFigure, movingAverage, tokenFigure, type DepthPoint, type LossPoint, type TokenPoint } from './figures.js';
import { num, pct, SOURCE_TITLE, table } from './format.js';
import { othersSection } from './othersReport.js';
import { SOURCES, type SourceName } from './runs.js';
import type { TokenStats } from './tokens.js';

/** Table 1 of the paper (FIVES, keep 0.7, H100 BF16 1024²): Dice %, AP %, images/s. */
export const PAPER_TABLE1: Record<string, { dice: number; ap: number; ips: number }> = {
  unpruned: { dice: 91.01, ap: 74.31, ips: 78.49 },
  'tome-mhsa-0.5': { dice: 90.21, ap: 71.97, ips: 102.94 },
  'tome-mhsa+mlp-0.5': { dice: 87.65, ap: 64.81, ips: 103.47 },
  'none-ratio': { dice: 70.2, ap: 25.6, ips: 100.53 },
  'none-pol': { dice: 68.68, ap: 17.7, ips: 100.95 },
  'fixed-pol': { dice: 85.77, ap: 57.76, ips: 100.86 },
  'random-ratio': { dice: 90.46, ap: 71.67, ips: 100.37 },
  'random-pol': { dice: 89.79, ap: 69.94, ips: 100.35 },
};
const PAPER_PRETRAIN_AP = 71.7;

export interface ReportOptions {
  out: string;
  config: StudyConfig;
  /** Markdown file (default <out>/reproduction.md). */
  report?: string;
  command?: string;
}

/** The label of the configuration an arm is scored at in Table 1. */
const tableLabel = (arm: StudyArm, keep: number) => (arm.prune ? `prune-${keep}` : 'unpruned');

/** Measured CPU seconds per optimiser step (training pieces of finished runs). */
function stepCost(r: StudyResults): string {
  const per = (runs: Array<{ pieces: Array<{ cpuMs: number; fromStep: number; toStep: number }> }>) => {
    const p = runs.flatMap((x) => x.pieces).filter((q) => q.toStep > q.fromStep);
    const steps = p.reduce((a, q) => a + q.toStep - q.fromStep, 0);
    return steps ? p.reduce((a, q) => a + q.cpuMs, 0) / steps / 1000 : NaN;
  };
  const pre = r.pretrain ? per([r.pretrain]) : NaN, ft = per([...r.ft.values()]);
  if (!Number.isFinite(pre) && !Number.isFinite(ft)) return 'Measured cost per step: pending.';
  return `Measured: ${Number.isFinite(pre) ? `${pre.toFixed(2)} CPU s per pretraining step` : ''}${Number.isFinite(pre) && Number.isFinite(ft) ? ', ' : ''}${Number.isFinite(ft) ? `${ft.toFixed(2)} CPU s per fine-tuning step (all arms)` : ''} of batch ${r.cfg.finetune.batch}.`;
}

function setupSection(r: StudyResults): string {
  const c = r.cfg, m = studyModel(c), p = c.pretrain, f = c.finetune;
  const Np = (m.image[0] / m.patch) * (m.image[1] / m.patch);
  const kept = m.stageBlocks.map((_, s) => Math.max(1, Math.floor(f.keep ** (s + 1) * Np + 0.5)));
  return `## Setup: what we chose and why

- **Model**: preset \`${c.model.preset}\` (D ${m.D}, H ${m.H}, L ${m.L}, patch ${m.patch}), input ${m.image[0]}x${m.image[1]} = ${Np} patch tokens,
  R ${m.R} registers, Q ${m.Q} queries in the last ${m.Bq} blocks, pruning stages at blocks [${m.stageBlocks.join(', ')}] keeping
  [${kept.join(', ')}] patches at keep ${f.keep} (the paper: ViT-S, 1024 px quadrants, 4096 tokens).
- **Pretraining (the DINOv2 stand-in)**: an unpruned model from random weights, ${p.steps} optimiser steps of batch ${p.batch}x${p.accum}
  (one lr schedule, cut into ${p.runs} run${p.runs > 1 ? 's that continue one another' : ''} to stay within the per-run budget) on
  ${p.samples} synthetic images (first generator), lr ${p.lr}, LLRD ${p.llrd}, warmup [${p.warmup.join(', ')}], EMA ${p.ema}, seed ${p.seed},
  **LayerScale initialised to ${p.layerScale}** in every block (timm/DINOv2 use 1e-5). With 1e-5 and a short run the blocks leave the
  tokens as they are (see the next section), so a stale token equals a fresh one and the effect the paper studies cannot appear; the
  next section measures how much the pretrained blocks change the tokens. Its EMA weights start every arm.
- **Fine-tuning arms** (from the pretrained EMA weights, each with seeds [${c.seeds.join(', ')}]): ${f.arms.map((a) => `\`${a.name}\` (${a.label})`).join(', ')};
  ${f.steps} steps of batch ${f.batch}x${f.accum} on ${f.data === 'synthetic' ? `${f.samples} synthetic images of the first generator (the pretraining distribution, as the paper pre-trains and fine-tunes on FIVES)` : 'the second source\'s train split'},
  lr ${f.lr}, LLRD ${f.llrd}, warmup [${f.warmup.join(', ')}], EMA ${f.ema}; the policy loss L_pol uses the distance-transform target,
  λ_pol 8; routing as SPEC §4 (50% routed, fixed l=2, n=L−2; random l~U{2..L/2}, n~U{l..L−2}).
- **Evaluation** (native engine, FP32, EMA weights): Dice at 0.5 and AP (SPEC §7) over all test pixels, at the final block and each of
  the last ${m.Bq + 1} decode points, pruned at keep ${f.keep} (and ${c.eval.keeps.join(', ')}) and unpruned; ToMe (MHSA and MHSA+MLP, merge
  ${c.eval.tomeRatios.join(', ')}) on the unpruned arm. Two sources: ${c.eval.samples} images of the synthetic generator's test split, and the
  test split of a FIVES-layout folder written by a second generator (${c.second.images} images of ${c.second.size.join('x')}: thinner, more
  tortuous, more numerous and fainter vessels, lesion spots, another background; each image gives 4 quadrants, resized to the model
  input by the FIVES loader), which no run trains on.
- **Throughput**: \`reg4pru bench\`'s harness on one arm's checkpoint, batch 1, ${c.bench.warmup} warm-up + ${c.bench.iters} timed runs per
  configuration, round-robin, 2 threads, FP32 (the paper: H100, BF16, 1024², 20 + 200). The study runs at nice 19 on a shared
  2-core machine, so absolute images/s are indicative; the round-robin order spreads background load over all configurations.
- **Scale**: the budget is about 4 CPU hours on this 2-core machine with every run at most 15 CPU minutes. ${stepCost(r)} Pretraining
  gets ${p.steps * p.batch * p.accum} images in ${p.runs} runs (the model must first leave the loss plateau where it predicts no vessel,
  which took about 500 images in our pilots), each of the ${f.arms.length * c.seeds.length} fine-tuning runs ${f.steps * f.batch * f.accum} images; the model stays at a
  ViT geometry (${m.L} blocks, stages every 3) with ${Np} tokens, because smaller grids leave too few tokens for three nested stages.`;
}

function tokenRows(name: string, t: TokenStats): string[] {
  return [name, ...t.relChange.map((v) => num(v, 3)), ...t.stale.map((s) => `${num(s.cosine, 3)} / ${num(s.relDistance, 2)}`)];
}

function tokensSection(r: StudyResults, figs: Record<string, string>): string {
  const pt = r.pretrain?.tokens;
  if (!pt) return '## Do the blocks transform the tokens?\n\npending (the pretraining run is not finished)';
  const L = pt.pretrained.relChange.length;
  const header = ['model', ...Array.from({ length: L }, (_, i) => `b${i}`), ...pt.pretrained.stale.map((s) => `stage ${s.stage} (b${s.block}): cos / dist`)];
  const rows = [tokenRows('random init, LayerScale 1e-5', pt.initLs1e5), tokenRows(`random init, LayerScale ${r.cfg.pretrain.layerScale}`, pt.init), tokenRows('pretrained (EMA)', pt.pretrained)];
  for (const arm of r.cfg.finetune.arms) {
    const ev = armEvals(r, arm);
    if (ev.length === 0) continue;
    const avg = (f: (t: TokenStats) => number[]) => f(ev[0]!.tokens).map((_, i) => meanStd(ev.map((e) => f(e.tokens)[i]!)).mean);
    const t: TokenStats = { images: ev[0]!.tokens.images, relChange: avg((x) => x.relChange), norms: avg((x) => x.norms), stale: ev[0]!.tokens.stale.map((s, i) => ({ ...s, cosine: meanStd(ev.map((e) => e.tokens.stale[i]!.cosine)).mean, cosineNormed: 0, relDistance: meanStd(ev.map((e) => e.tokens.stale[i]!.relDistance)).mean })) };
    rows.push(tokenRows(`fine-tuned ${arm.name} (mean of ${ev.length})`, t));
  }
  return `## Do the blocks transform the tokens?

Mean relative change of the patch tokens across block i, ‖x_i − x_(i−1)‖ / ‖x_(i−1)‖ (x_(−1) = patch embedding + position), and for
each pruning stage the cosine similarity / relative distance ‖x_(L−1) − x_(S−1)‖ / ‖x_(L−1)‖ between a token's state when it is pruned
at stage start S (its state after block S−1, which it keeps) and its state after the final block on the unpruned forward;
${pt.pretrained.images} synthetic test images (src/study/tokens.ts).

${table(header, rows)}

${figs.tokens ? `![token change](${figs.tokens}.png) ([SVG](${figs.tokens}.svg))` : ''}

No DINOv2 weights are available offline here, and we found no published per-block figure of these two quantities for DINOv2
ViT-S/14 that we could quote (layer-similarity studies of pretrained ViTs report that representations of nearby layers are more
similar than distant ones, not these numbers). \`tokenStats\` (src/study/tokens.ts) measures them for any checkpoint, including a
DINOv2 state dict imported with \`reg4pru train --init\`, so the comparison can be made where the weights are at hand.`;
}

function table1(r: StudyResults, source: SourceName): string {
  const c = r.cfg, keep = c.finetune.keep, seeds = c.seeds.length;
  const base = c.finetune.arms.find((a) => !a.prune)!;
  const baseIps = throughput(r, 'unpruned')?.median;
  const rows: string[][] = [];
  const row = (name: string, arm: StudyArm, label: string, paperKey: string, ratio: string) => {
    const s = finalStats(r, arm, source, label);
    const un = finalStats(r, arm, source, 'unpruned');
    const tp = throughput(r, label);
    const paper = PAPER_TABLE1[paperKey];
    const drop = arm.prune && s.ap.n > 0 ? difference(un.ap, s.ap) : null;
    rows.push([name, ratio, pct(s.dice, seeds), pct(s.ap, seeds), arm.prune || label !== 'unpruned' ? pct(un.ap, seeds) : '', drop ? `${num(100 * drop.diff)} ± ${num(100 * drop.se)}` : '', tp ? `${num(tp.median)} (${num(baseIps ? tp.median / baseIps : undefined, 2)}x)` : '-', paper ? num(paper.dice, 2) : '-', paper ? num(paper.ap, 2) : '-', paper ? `${num(paper.ips, 2)} (${num(paper.ips / PAPER_TABLE1.unpruned!.ips, 2)}x)` : '-']);
  };
  row(base.label, base, 'unpruned', 'unpruned', '-');
  for (const mode of ['mhsa', 'mhsa+mlp']) if (c.eval.tomeRatios.includes(0.5)) row(`ToMe ${mode.toUpperCase()}`, base, `tome-${mode}-0.5`, `tome-${mode}-0.5`, 'merge 50%');
  for (const arm of c.finetune.arms.filter((a) => a.prune)) row(arm.label, arm, tableLabel(arm, keep), arm.name, `${100 * keep}%`);
  return `### ${SOURCE_TITLE[source]}

${table(['model', 'ratio', 'Dice % (ours)', 'AP % (ours)', 'AP % same model unpruned', 'pruning cost, AP points', 'img/s (ours, CPU)', 'Dice % (paper)', 'AP % (paper)', 'img/s (paper, H100)'], rows)}`;
}

function depthSection(r: StudyResults, figs: Record<string, string>): string {
  const c = r.cfg, keep = c.finetune.keep, seeds = c.seeds.length;
  const base = c.finetune.arms.find((a) => !a.prune)!;
  const out: string[] = ['## Depth-wise AP (paper Fig. 5)', '', `AP at each decode point (mean ± std over seeds), pruned arms at keep ${keep}, ToMe at merge 0.5 on the unpruned arm.`];
  for (const source of SOURCES) {
    const series: Array<[string, StudyArm, string]> = c.finetune.arms.map((a) => [a.label, a, tableLabel(a, keep)]);
    if (c.eval.tomeRatios.includes(0.5)) series.push(['ToMe MHSA 50%', base, 'tome-mhsa-0.5'], ['ToMe MHSA+MLP 50%', base, 'tome-mhsa+mlp-0.5']);
    const stats = series.map(([name, arm, label]) => [name, depthStats(r, arm, source, label)] as const).filter(([, d]) => d.length > 0);
    if (stats.length === 0) continue;
    const blocks = stats[0]![1].map((b) => b.block);
    out.push('', `### ${SOURCE_TITLE[source]}`, '', table(['model', ...blocks.map((b) => `AP % b${b}`), 'last − first'], stats.map(([name, d]) => [name, ...d.map((b) => pct(b.ap, seeds)), num(100 * (d[d.length - 1]!.ap.mean - d[0]!.ap.mean))])));
    if (figs[`fig5-${source}`]) out.push('', `![Fig. 5, ${source}](${figs[`fig5-${source}`]}.png) ([SVG](${figs[`fig5-${source}`]}.svg))`);
  }
  return out.join('\n');
}

function throughputSection(r: StudyResults, figs: Record<string, string>): string {
  const b = r.bench;
  const out = ['## AP vs throughput (paper Fig. 1) and throughput'];
  for (const source of SOURCES) if (figs[`fig1-${source}`]) out.push('', `![Fig. 1, ${source}](${figs[`fig1-${source}`]}.png) ([SVG](${figs[`fig1-${source}`]}.svg))`);
  if (!b) return [...out, '', 'Throughput: pending (the bench run is not finished).'].join('\n');
  const p = b.protocol as { image?: number[]; warmup?: number; iters?: number; precision?: string };
  out.push('', `Harness: \`${b.checkpoint}\`, ${p.image?.join('x')}, ${p.precision}, batch 1, ${p.warmup} warm-up + ${p.iters} timed per configuration, round-robin; ${String(b.machine.cpu)}, ${String(b.machine.cores)} cores, Node ${String(b.machine.node)}.`, '');
  out.push(table(['configuration', 'img/s median', 'p10', 'p90', 'speedup'], b.rows.map((x) => [x.label, x.status === 'ok' ? num(x.median) : `unavailable: ${x.reason ?? ''}`, num(x.p10), num(x.p90), x.speedup === undefined ? '-' : `${x.speedup.toFixed(2)}x`])));
  return out.join('\n');
}

interface Claim {
  claim: string;
  rule: string;
  ours: string;
  verdict: string;
}

function claims(r: StudyResults, source: SourceName): Claim[] {
  const c = r.cfg, keep = c.finetune.keep, arm = (n: string) => c.finetune.arms.find((a) => a.name === n);
  const lab = (a: StudyArm) => tableLabel(a, keep);
  const ap = (n: string, label?: string) => {
    const a = arm(n);
    return a ? finalStats(r, a, source, label ?? lab(a)).ap : meanStd([]);
  };
  const out: Claim[] = [];
  const verdict = (d: { diff: number; resolved: boolean }, want: 'pos' | 'neg', n: number) =>
    n === 0 ? 'pending' : !d.resolved ? 'not resolved (|diff| <= 2 SE or < 2 seeds)' : (d.diff > 0) === (want === 'pos') ? 'supported' : 'contradicted';
  const cmp = (claim: string, a: MeanStd, b: MeanStd, want: 'pos' | 'neg', what: string) => {
    const d = difference(a, b);
    out.push({ claim, rule: `${what}: diff > 2 SE (Welch) over seeds`, ours: a.n && b.n ? `${num(100 * d.diff)} ± ${num(100 * d.se)} AP points` : 'pending', verdict: verdict(d, want, Math.min(a.n, b.n)) });
  };
  const un = ap('unpruned', 'unpruned');
  if (arm('none-ratio')) cmp('No routing loses AP when pruned (paper: 74.3 → 25.6)', un, ap('none-ratio'), 'pos', 'AP(unpruned arm) − AP(none-ratio at keep)');
  if (arm('none-ratio')) {
    const a = arm('none-ratio')!;
    cmp('…and it is the pruning, not the fine-tuning (same model unpruned)', finalStats(r, a, source, 'unpruned').ap, ap('none-ratio'), 'pos', 'AP(none-ratio unpruned) − AP(none-ratio at keep)');
  }
  if (arm('fixed-pol') && arm('none-pol')) cmp('Fixed routing helps (paper: 17.7 → 57.8 with L_pol)', ap('fixed-pol'), ap('none-pol'), 'pos', 'AP(fixed-pol) − AP(none-pol)');
  if (arm('fixed-ratio') && arm('none-ratio')) cmp('Fixed routing helps with L_ratio (not in the paper)', ap('fixed-ratio'), ap('none-ratio'), 'pos', 'AP(fixed-ratio) − AP(none-ratio)');
  if (arm('random-ratio') && arm('none-ratio')) cmp('Reg4Pru beats no routing (paper: 25.6 → 71.7 with L_ratio)', ap('random-ratio'), ap('none-ratio'), 'pos', 'AP(random-ratio) − AP(none-ratio)');
  if (arm('random-pol') && arm('fixed-pol')) cmp('Reg4Pru beats fixed routing (paper: 57.8 → 69.9 with L_pol)', ap('random-pol'), ap('fixed-pol'), 'pos', 'AP(random-pol) − AP(fixed-pol)');
  if (arm('random-ratio')) {
    const d = difference(un, ap('random-ratio'));
    out.push({ claim: 'Reg4Pru recovers nearly all of the unpruned AP (paper: 2.6 points short)', rule: 'AP(unpruned) − AP(random-ratio) < 3 points, or not resolved', ours: un.n && ap('random-ratio').n ? `${num(100 * d.diff)} ± ${num(100 * d.se)} AP points` : 'pending', verdict: !(un.n && ap('random-ratio').n) ? 'pending' : d.diff < 0.03 || !d.resolved ? 'supported' : 'contradicted' });
  }
  const t7 = throughput(r, `prune-${keep}`), t0 = throughput(r, 'unpruned');
  if (source === 'synthetic') out.push({ claim: `Pruning at keep ${keep} buys throughput (paper: 1.28x)`, rule: 'speedup of the median images/s > 1.1', ours: t7 && t0 ? `${(t7.median / t0.median).toFixed(2)}x` : 'pending', verdict: t7 && t0 ? (t7.median / t0.median > 1.1 ? 'supported' : 'contradicted') : 'pending' });
  const rr = arm('random-ratio'), nr = arm('none-ratio');
  const slope = (a: StudyArm | undefined) => {
    const d = a ? depthStats(r, a, source, lab(a)) : [];
    return d.length ? d[d.length - 1]!.ap.mean - d[0]!.ap.mean : NaN;
  };
  if (rr && nr) {
    const sr = slope(rr), sn = slope(nr);
    out.push({ claim: 'Depth-wise AP declines over the last decode points without routing and stays stable with Reg4Pru (Fig. 5)', rule: 'AP(last) − AP(first decode point): none-ratio < −1 point, random-ratio > −1 point', ours: Number.isFinite(sr) && Number.isFinite(sn) ? `none-ratio ${num(100 * sn)}, random-ratio ${num(100 * sr)} points` : 'pending', verdict: !(Number.isFinite(sr) && Number.isFinite(sn)) ? 'pending' : sn < -0.01 && sr > -0.01 ? 'supported' : 'contradicted' });
  }
  const tm = throughput(r, 'tome-mhsa-0.5');
  if (rr && c.eval.tomeRatios.includes(0.5)) {
    const base = c.finetune.arms.find((a) => !a.prune)!;
    const apT = finalStats(r, base, source, 'tome-mhsa-0.5').ap, apR = ap('random-ratio');
    const d = difference(apR, apT);
    out.push({ claim: 'Reg4Pru at keep 0.7 beats ToMe MHSA 50% on AP at similar or higher throughput (Fig. 1)', rule: 'AP(random-ratio) − AP(ToMe MHSA 0.5) > 2 SE and throughput not lower by more than 10%', ours: apT.n && apR.n ? `${num(100 * d.diff)} ± ${num(100 * d.se)} AP points; ${t7 && tm ? `${num(t7.median)} vs ${num(tm.median)} img/s` : 'throughput pending'}` : 'pending', verdict: !(apT.n && apR.n && t7 && tm) ? 'pending' : d.resolved && d.diff > 0 && t7.median >= 0.9 * tm.median ? 'supported' : d.resolved && d.diff < 0 ? 'contradicted' : 'not resolved' });
  }
  return out;
}

function cpuSection(r: StudyResults): string {
  const rows = r.all.map((x) => [x.id, x.kind, num(x.cpuMs / 60000), num(x.wallMs / 60000), 'pieces' in x ? String((x as { pieces: unknown[] }).pieces.length) : '-']);
  const total = r.all.reduce((a, x) => a + x.cpuMs, 0), wall = r.all.reduce((a, x) => a + x.wallMs, 0);
  const max = r.all.reduce((a, x) => Math.max(a, x.cpuMs), 0);
  return `## CPU time per run

CPU = user + system time of the runner process, all threads (process.cpuUsage), summed over a run's training pieces and its
evaluation; a piece cut by a kill is not counted. Wall time is elapsed time of the same pieces (longer than CPU/2 when the
machine was shared or the runner paused). CPU time itself grows on a crowded machine: the same training step took 1.6–1.9 CPU s
alone and about 2.7 CPU s beside a hundred build processes.

${table(['run', 'kind', 'CPU min', 'wall min', 'pieces'], rows)}

Total: ${num(total / 3600000, 2)} CPU hours (${num(wall / 3600000, 2)} h wall) for ${r.all.length} of ${r.plan.length} runs; the longest run ${num(max / 60000)} CPU min.`;
}

function commandsSection(o: ReportOptions): string {
  return `## Commands

\`\`\`sh
# the whole study (resumable: rerun the same command after a kill; finished runs are skipped)
nice -n 19 npm run -s reg4pru -- study --config scripts/study.json --out study-runs --report docs/reproduction.md
# regenerate this report and its figures from the run files only
npm run -s reg4pru -- study --config scripts/study.json --out study-runs --report docs/reproduction.md --report-only
\`\`\`
${o.command ? `\nThis report was written by: \`${o.command}\`\n` : ''}
A single run by hand: the fine-tuning runs are \`reg4pru train\` with the options in \`study-runs/runs/ft-*.json\` (\`spec\`) and
\`--init study-runs/work/pretrain/ema.safetensors\`; evaluations are \`reg4pru eval --checkpoint study-runs/work/ft-<arm>-s<seed>/ema.safetensors
--per-block\`; throughput is \`reg4pru bench --checkpoint … --configs unpruned,prune,tome\`.`;
}

async function figures(r: StudyResults, dir: string, rel: string): Promise<Record<string, string>> {
  mkdirSync(dir, { recursive: true });
  const c = r.cfg, keep = c.finetune.keep, figs: Record<string, string> = {};
  const put = async (name: string, spec: Parameters<typeof writeVegaLite>[0]) => {
    await writeVegaLite(spec, path.join(dir, name));
    figs[name] = `${rel}/${name}`;
  };
  const base = c.finetune.arms.find((a) => !a.prune)!;
  for (const source of SOURCES) {
    const pts: PlotPoint[] = [];
    const add = (series: string, arm: StudyArm, label: string, ratio: number) => {
      const s = finalStats(r, arm, source, label).ap, t = throughput(r, label);
      if (s.n > 0 && t) pts.push({ method: series, label, order: ratio, imagesPerSecond: t.median, p10: t.p10, p90: t.p90, ap: s.mean, apStd: s.std });
    };
    add(base.label, base, 'unpruned', 1);
    for (const mode of ['mhsa', 'mhsa+mlp']) for (const m of c.eval.tomeRatios) add(`ToMe ${mode.toUpperCase()}`, base, `tome-${mode}-${m}`, m);
    for (const arm of c.finetune.arms.filter((a) => a.prune)) for (const k of [...new Set([keep, ...c.eval.keeps])]) add(arm.label, arm, `prune-${k}`, k);
    if (pts.length) await put(`fig1-${source}`, apThroughputSpec(pts, `AP vs throughput, ${source} (mean AP ± std over seeds)`, { labels: false, xTitle: 'throughput (images/s, CPU)' }));
    const dp: DepthPoint[] = [];
    for (const arm of c.finetune.arms) for (const b of depthStats(r, arm, source, tableLabel(arm, keep))) dp.push({ series: arm.label, block: b.block, ap: b.ap.mean, apStd: b.ap.std });
    if (c.eval.tomeRatios.includes(0.5)) for (const mode of ['mhsa', 'mhsa+mlp']) for (const b of depthStats(r, base, source, `tome-${mode}-0.5`)) dp.push({ series: `ToMe ${mode.toUpperCase()} 50%`, block: b.block, ap: b.ap.mean, apStd: b.ap.std });
    if (dp.length) await put(`fig5-${source}`, depthFigure(dp, `Depth-wise AP, ${source} (keep ${keep})`));
  }
  const lp: LossPoint[] = [];
  for (const arm of c.finetune.arms) for (const t of armTrains(r, arm)) {
    const sm = movingAverage(t.curve.map((p) => p.loss), 10);
    t.curve.forEach((p, i) => lp.push({ series: arm.label, run: t.id, step: p.step, loss: sm[i]! }));
  }
  if (lp.length) await put('curves-finetune', curvesFigure(lp, 'Fine-tuning loss (moving average of 10 steps)'));
  if (r.pretrain) {
    const sm = movingAverage(r.pretrain.curve.map((p) => p.loss), 10);
    await put('curves-pretrain', curvesFigure(r.pretrain.curve.map((p, i) => ({ series: 'pretraining', run: 'pretrain', step: p.step, loss: sm[i]! })), 'Pretraining loss (moving average of 10 steps)'));
    const tp: TokenPoint[] = [];
    const t = r.pretrain.tokens;
    for (const [series, s] of [['random init, LayerScale 1e-5', t.initLs1e5], [`random init, LayerScale ${c.pretrain.layerScale}`, t.init], ['pretrained', t.pretrained]] as const) s.relChange.forEach((v, i) => tp.push({ series, block: i, relChange: v }));
    await put('tokens', tokenFigure(tp, 'Relative change of the patch tokens per block'));
  }
  return figs;
}

/**
 * Writes the report and its figures from the run files in `o.out`.
 * @returns the report path
 */
export async function writeStudyReport(o: ReportOptions): Promise<string> {
  const r = loadStudyResults(o.out, o.config);
  const file = o.report ?? path.join(o.out, 'reproduction.md');
  const figDir = file.replace(/\.md$/, '');
  const figs = await figures(r, figDir, path.basename(figDir));
  const done = r.all.length, total = r.plan.length;
  const pending = r.plan.filter((p) => !r.all.some((x) => x.id === p.id)).map((p) => p.id);
  const readingFile = path.join(o.out, 'reading.md');
  const reading = existsSync(readingFile) ? readFileSync(readingFile, 'utf8').trim() : '_Not written yet: it is written once the runs are finished (`<out>/reading.md`, included here verbatim)._';
  const claimBlocks = SOURCES.map((s) => `### ${SOURCE_TITLE[s]}\n\n${table(['paper claim', 'rule', 'ours', 'verdict'], claims(r, s).map((x) => [x.claim, x.rule, x.ours, x.verdict]))}`);
  const pre = r.pretrain;
  const preLine = pre ? `The pretrained stand-in itself (unpruned, final block): AP ${SOURCES.map((s) => `${(100 * pre.sources[s].unpruned!.final.ap).toFixed(1)} % on ${s}`).join(', ')} (the paper's pretrained EoMT: ${PAPER_PRETRAIN_AP} % on FIVES).` : '';
  const md = `# Reproducing the Reg4Pru findings at small scale

Generated by \`reg4pru study\` (src/study/) from the run files in \`${path.relative(path.dirname(file), o.out) || '.'}/runs/\`; do not edit by hand,
regenerate with \`--report-only\`. Study "${o.config.name}": ${done} of ${total} runs finished${pending.length ? ` (pending: ${pending.join(', ')})` : ''}.
Numbers are mean ± sample std over the finished seeds of [${o.config.seeds.join(', ')}] (n shown when fewer); Dice and AP in %.

${setupSection(r)}

${tokensSection(r, figs)}

## Table 1: final block, keep ${o.config.finetune.keep}

Paper numbers: Table 1 (FIVES, ViT-S, H100 BF16 1024²). "Pruning cost" is AP of the same checkpoint unpruned minus pruned, mean ± its
standard error over seeds. ${preLine}

${SOURCES.map((s) => table1(r, s)).join('\n\n')}

${depthSection(r, figs)}

${throughputSection(r, figs)}

${othersSection(r)}

## Training curves

${figs['curves-pretrain'] ? `![pretraining](${figs['curves-pretrain']}.png) ([SVG](${figs['curves-pretrain']}.svg))` : 'pending'}

${figs['curves-finetune'] ? `![fine-tuning](${figs['curves-finetune']}.png) ([SVG](${figs['curves-finetune']}.svg))` : ''}

## The paper's claims against our numbers

Each rule is stated; "not resolved" means the difference is within 2 standard errors over seeds (or fewer than 2 seeds are in).

${claimBlocks.join('\n\n')}

## Reading

${reading}

${cpuSection(r)}

${commandsSection(o)}
`;
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomicSync(file, md);
  return file;
}
