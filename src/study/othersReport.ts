/**
 * The report section of issue 17's systems in the study (./others.ts): per source, Dice and AP over seeds of every
 * configuration on the chosen arm's checkpoints, the AP each costs against the same checkpoint unpruned, the tokens
 * kept / merged / halted, and the harness's throughput; plus how the superpatch policy and the exit heads trained.
 */
import type { StageKept } from '../engine/keptStats.js';
import { difference, meanStd, type StudyResults } from './aggregate.js';
import { num, pct, SOURCE_TITLE, table } from './format.js';
import { othersConfigs, type OthersResult } from './others.js';
import { othersId } from './plan.js';
import { SOURCES, type SourceName } from './runs.js';

/** A row name for a configuration label of othersConfigs. */
function rowName(label: string): string {
  return label.split('+').map((part) => {
    const [kind, v] = [part.replace(/-[\d.]+$/, ''), part.match(/-([\d.]+)$/)?.[1]];
    switch (kind) {
      case 'unpruned': return 'not pruned (same checkpoint)';
      case 'prune': return `Reg4Pru pruning, keep ${v}`;
      case 'dynamic': return `SViT dynamic keep, threshold ${v}`;
      case 'superpatch': return `STEP superpatches, threshold ${v}`;
      case 'exit': return `STEP early exits, threshold ${v}`;
      default: return part;
    }
  }).join(' + ');
}

/** Kept / merged / halted shares of one configuration, averaged over seeds entry by entry. */
function tokens(kept: StageKept[][]): string {
  if (kept.length === 0 || kept[0]!.length === 0) return 'all';
  return kept[0]!.map((k, i) => {
    const share = `${(100 * meanStd(kept.map((x) => x[i]?.meanFraction ?? NaN)).mean).toFixed(0)}%`;
    return k.stage === 'merge' ? `${share} after merging` : k.stage === 'exit' ? `${share} halted after b${k.block}` : `${share} kept at b${k.block}`;
  }).join(', ');
}

export function othersSection(r: StudyResults): string {
  const c = r.cfg, o = c.others;
  if (!o) return '';
  const arm = c.finetune.arms.find((a) => a.name === o.arm)!, seeds = c.seeds.length;
  const runs = c.seeds.map((s) => r.others.get(othersId(arm.name, s))).filter((x): x is OthersResult => x !== undefined);
  const labels = othersConfigs(o, c.finetune.keep, '', '').map(([label]) => label);
  const out = [
    `## Other pruning systems on the ${arm.label} checkpoints (issue 17)`,
    '',
    `SViT's dynamic per-image keep and STEP's superpatches and early exits, each alone and with the arm's own pruning, on the`,
    `EMA weights of \`${arm.name}\` (seeds [${c.seeds.join(', ')}]; ${runs.length} finished). The stage policies of these checkpoints were trained`,
    `with ${arm.policy === 'ratio' ? 'the ratio loss for a fixed keep ratio' : `the ${arm.policy} policy loss`}, not for a threshold.`,
  ];
  const p = r.policy;
  out.push('', p
    ? `Superpatch policy (one for every seed; ${p.steps} steps on ${o.superpatch.samples} synthetic images, width ${o.superpatch.width}): loss ${num(p.loss.first, 4)} → ${num(p.loss.last, 4)}; held-out windows at threshold ${o.superpatch.threshold}: accuracy ${num(p.test.accuracy, 3)}, merge precision ${num(p.test.precision, 3)}, recall ${num(p.test.recall, 3)}, ${num(100 * p.test.mergedFraction, 0)}% merged (untrained: ${num(p.initial.accuracy, 3)} / ${num(p.initial.precision, 3)} / ${num(p.initial.recall, 3)} / ${num(100 * p.initial.mergedFraction, 0)}%).`
    : 'Superpatch policy: pending.');
  if (runs.length) {
    const heads = runs[0]!.exits.map((e, i) => {
      const share = meanStd(runs.map((x) => x.exits[i]!.exitShare)), acc = meanStd(runs.map((x) => x.exits[i]!.exitAccuracy));
      return `after block ${e.block}: ${pct(share, seeds)} % of held-out patches would exit, ${pct(acc, seeds)} % of them classified right`;
    });
    out.push('', `Early-exit heads (per seed, ${o.exits.steps} steps on ${o.exits.samples} synthetic images, threshold ${o.exits.threshold}): ${heads.join('; ')}.`);
  }
  const bench = r.othersBench;
  const ips = (label: string) => bench?.rows.find((x) => x.label === label && x.status === 'ok');
  const base = ips('unpruned')?.median;
  for (const source of SOURCES) out.push('', sourceTable(source, labels, runs, seeds, ips, base));
  out.push('', bench
    ? `Throughput: \`reg4pru bench\`'s harness on \`${bench.checkpoint}\` (SPEC §6: random input, batch 1, round-robin). On random input the data-dependent methods act differently than on images: the token counts of that run are in \`runs/bench-others.json\`.`
    : 'Throughput: pending (bench-others).');
  return out.join('\n');
}

function sourceTable(source: SourceName, labels: string[], runs: OthersResult[], seeds: number,
  ips: (label: string) => { median?: number } | undefined, base: number | undefined): string {
  const rows = labels.map((label) => {
    const ms = runs.map((x) => x.sources[source][label]).filter((m) => m !== undefined);
    const dice = meanStd(ms.map((m) => m.final.dice)), ap = meanStd(ms.map((m) => m.final.ap));
    const un = meanStd(runs.map((x) => x.sources[source].unpruned?.final.ap).filter((v): v is number => v !== undefined));
    const cost = label === 'unpruned' || ap.n === 0 ? null : difference(un, ap);
    const t = ips(label)?.median;
    return [rowName(label), pct(dice, seeds), pct(ap, seeds), cost ? `${num(100 * cost.diff)} ± ${num(100 * cost.se)}` : '', tokens(ms.map((m) => m.kept ?? [])), num(t), t && base ? `${(t / base).toFixed(2)}x` : '-'];
  });
  return `### ${SOURCE_TITLE[source]}\n\n${table(['configuration', 'Dice %', 'AP %', 'AP cost vs unpruned, points', 'tokens (mean over images and seeds)', 'img/s (CPU, random input)', 'speedup'], rows)}`;
}
