/**
 * `reg4pru eval` (SPEC §7): Dice and AP of a checkpoint on a test set, on the native engine, pruned at a
 * base keep ratio, with dynamic per-image keep (`--keep dynamic[:τ[:minKeep]]`) or unpruned, for the final
 * block and (--per-block) each decode point; prints a table (and the kept patches per stage: mean, min, max
 * over the images) and writes the numbers as JSON (src/eval/evaluate.ts).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { UsageError, parseIntOption, printTable, println, type CommandContext, type Io } from '../common.js';
import { isDynamic, keepSessionOptions, keepTag, keepText, resolveKeepSpec, type KeepSpec } from '../keep.js';
import { formatKept, type StageKept } from '../../engine/keptStats.js';
import { createProgress, progressMode } from '../progress.js';
import { evaluate, type EvaluateResult } from '../../eval/evaluate.js';
import { writeFileAtomicSync } from '../../io/atomicFile.js';
import { selectConfigs } from './bench.js';

export interface EvalCliOptions {
  checkpoint: string;
  data: string;
  /** A keep ratio, 'dynamic[:τ[:minKeep]]', or 'none' (strings are parsed here: commander turns a parser's null into ''). */
  keep: KeepSpec | string;
  perBlock?: boolean;
  samples: number;
  split: 'test' | 'val' | 'train';
  batch: number;
  json?: string;
  quiet?: boolean;
  /** Configurations as `reg4pru bench --configs` names them: evaluate each and write the accuracy map. */
  configs?: string[];
  /** The per-configuration map `{ "<label>": { ap, dice } }` that `reg4pru bench --accuracy` reads. */
  accuracyOut?: string;
  precision?: 'fp32' | 'bf16';
}

/** What `reg4pru eval --configs` writes and `reg4pru bench --accuracy` reads. */
export type AccuracyMap = Record<string, { ap: number; dice: number; kept?: StageKept[] }>;

/**
 * Evaluates every configuration (unpruned, pruning at keep ratios, ToMe) of `--configs` on the same test
 * set and writes `{ "<label>": { ap, dice } }` (the final block's metrics), the file `bench --accuracy`
 * reads: Fig. 1 (AP vs throughput) from two commands.
 */
export async function runEvalConfigs(o: EvalCliOptions, io: Io): Promise<AccuracyMap> {
  if (!existsSync(o.checkpoint)) throw new UsageError(`--checkpoint: no such file '${o.checkpoint}'`);
  if (o.data !== 'synthetic' && !existsSync(o.data)) throw new UsageError(`--data: expected 'synthetic' or a FIVES folder, no such path '${o.data}'`);
  const configs = selectConfigs(o.configs);
  const out = o.accuracyOut ?? path.join(path.dirname(o.checkpoint), 'accuracy.json');
  const map: AccuracyMap = {};
  const progress = createProgress(io.err, progressMode(io.err, o.quiet === true), configs.length, 'eval configurations', 1);
  const rows: string[][] = [];
  try {
    for (const c of configs) {
      const tome = c.method === 'tome-mhsa' || c.method === 'tome-mhsa+mlp' ? { mode: c.method === 'tome-mhsa' ? 'mhsa' as const : 'mhsa+mlp' as const, mergeRatio: c.ratio! } : undefined;
      try {
        const keep: KeepSpec = c.method === 'pruning' ? c.ratio : c.method === 'dynamic' ? { mode: 'dynamic', threshold: c.ratio!, minKeep: c.minKeep ?? 1 } : null;
        const r = await evaluate(o.checkpoint, {
          data: o.data, samples: o.samples, split: o.split, ...keepSessionOptions(keep), tome, batch: o.batch, precision: o.precision,
        });
        map[c.label] = { ap: r.final.ap, dice: r.final.dice, ...(r.kept ? { kept: r.kept } : {}) };
        rows.push([c.label, r.final.dice.toFixed(4), r.final.ap.toFixed(4), formatKept(r.kept ?? [])]);
      } catch (e) {
        if (!tome) throw e;
        progress.note(`${c.label}: unavailable (${(e as Error).message})`);
        rows.push([c.label, 'unavailable', '', '']);
      }
      progress.tick(1, c.label);
    }
  } finally {
    progress.stop();
  }
  println(io.out, `reg4pru eval: ${o.checkpoint} on ${o.data}, ${configs.length} configurations`);
  const header = ['config', 'Dice', 'AP', 'kept per stage'];
  printTable(io.out, header, rows);
  mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  writeFileAtomicSync(out, JSON.stringify(map, null, 2) + '\n');
  println(io.out, `wrote ${out} (reg4pru bench --checkpoint ${o.checkpoint} --accuracy ${out} plots AP vs throughput)`);
  return map;
}

export async function runEval(o: EvalCliOptions, io: Io): Promise<EvaluateResult> {
  if (!existsSync(o.checkpoint)) throw new UsageError(`--checkpoint: no such file '${o.checkpoint}'`);
  if (o.data !== 'synthetic' && !existsSync(o.data)) throw new UsageError(`--data: expected 'synthetic' or a FIVES folder, no such path '${o.data}'`);
  const keep = resolveKeepSpec(o.keep, 0.7);
  let progress: ReturnType<typeof createProgress> | null = null;
  let last = 0;
  const r = await evaluate(o.checkpoint, {
    data: o.data, samples: o.samples, split: o.split, ...keepSessionOptions(keep), perBlock: o.perBlock === true, batch: o.batch, precision: o.precision,
    onProgress: (done, total) => {
      progress ??= createProgress(io.err, progressMode(io.err, o.quiet === true), total, 'eval', Math.max(1, Math.floor(total / 10)));
      progress.tick(done - last);
      last = done;
    },
  });
  (progress as ReturnType<typeof createProgress> | null)?.stop();
  println(io.out, `reg4pru eval: ${o.checkpoint} on ${o.data} (${r.images} images), ${keepText(keep)}`);
  const rows = (r.perBlock ?? [r.final]).map((b) => [b.block === r.final.block ? `${b.block} (final)` : String(b.block), b.dice.toFixed(4), b.ap.toFixed(4)]);
  const header = ['block', 'Dice', 'AP'];
  printTable(io.out, header, rows);
  if (r.kept) {
    println(io.out, `kept patches per stage over ${r.images} images (${isDynamic(keep) ? 'per image' : 'fixed'}):`);
    printTable(io.out, ['stage', 'block', 'mean', 'min', 'max', 'mean % of Np'], r.kept.map((k) => [String(k.stage), String(k.block), k.mean.toFixed(1), String(k.min), String(k.max), (100 * k.meanFraction).toFixed(1)]));
  }
  const json = o.json ?? path.join(path.dirname(o.checkpoint), `eval-${keepTag(keep)}.json`);
  mkdirSync(path.dirname(json), { recursive: true });
  writeFileAtomicSync(json, JSON.stringify({ tool: 'reg4pru eval', date: new Date().toISOString(), checkpoint: o.checkpoint, data: o.data, ...r }, null, 2) + '\n');
  println(io.out, `wrote ${json}`);
  return r;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('eval')
    .description('Dice and AP of a checkpoint (SPEC §7), pruned at a keep ratio or unpruned, final block and per block')
    .requiredOption('--checkpoint <file>', 'safetensors checkpoint (e.g. <train out>/ema.safetensors)')
    .requiredOption('--data <src>', "'synthetic' or a FIVES folder")
    .option('--keep <rho|none|dynamic[:t[:m]]>', "base keep ratio in (0, 1], 'none' (unpruned), or 'dynamic[:threshold[:minKeep]]' (per-image keep, threshold 0.5, floor 1 by default)", '0.7')
    .option('--per-block', 'also every decode point (depth-wise analysis)')
    .option('--samples <n>', 'synthetic test set size', parseIntOption('--samples', 1), 16)
    .addOption(new Option('--split <name>', 'FIVES split').choices(['test', 'val', 'train']).default('test'))
    .option('--batch <n>', 'images per engine call', parseIntOption('--batch', 1), 4)
    .option('--json <file>', 'JSON output (default: eval-<keep>.json beside the checkpoint)')
    .option('--configs <list>', "evaluate these configurations instead of --keep (bench's names: all, prune, tome, unpruned, prune-0.7, tome-mhsa-0.5, dynamic-0.5, ...) and write the accuracy map bench --accuracy reads", (v: string) => v.split(','))
    .option('--accuracy-out <file>', 'where --configs writes { "<label>": { ap, dice } } (default: accuracy.json beside the checkpoint)')
    .option('--precision <p>', 'engine precision: fp32 (default) or bf16')
    .option('-q, --quiet', 'no progress output')
    .action(async (o: EvalCliOptions) => {
      if (o.configs !== undefined) await runEvalConfigs(o, ctx.io);
      else await runEval(o, ctx.io);
    });
}
