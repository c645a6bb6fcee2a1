/**
 * `reg4pru infer`: batch inference over a folder. Every regular, non-hidden file of --input is decoded
 * by content (PNG/JPEG/TIFF through sharp); images larger than the model input are cut into
 * non-overlapping model-sized tiles (edge tiles padded, outputs stitched back at the original size),
 * others are resized to the model size and the maps resized back (bilinear, half-pixel); --tile /
 * --resize force one rule. ImageNet normalisation after scaling to [0, 1]. Tiles of consecutive images
 * are packed into batches of --batch through `session.run`. Per input `<name>_prob.png` (8-bit
 * probability, round(255·p)) and `<name>_mask.png` (255 where p >= threshold, else 0) are written;
 * with C > 1 classes, `<name>_prob_c<k>.png` per class and a label mask (k + 1 of the most probable
 * class where its probability >= threshold, else 0).
 *
 * Outcomes per input: processed; skipped (an output exists and --overwrite is off); failed (unreadable,
 * empty, not PNG/JPEG/TIFF, name clash, engine error), each reported by name; the run goes on. The
 * summary (stdout + summary.json in --output) has counts and images/s (processed images over the
 * wall time of the whole run: decode, inference, encode), and when pruning the kept patches per stage (mean, min,
 * max over the model inputs; `--keep dynamic[:τ[:minKeep]]` keeps a different count per input).
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { setThreads } from '../../runtime.js';
import {
  UsageError, defaultSessionFactory, parseFloatOption, parseIntOption, println, processIo, resolveModel,
  type CommandContext, type Io, type ModelChoice, type Session, type SessionFactory,
} from '../common.js';
import { createProgress, progressMode } from '../progress.js';
import { BadInputError, decodeImage, type FitMode, type Piece } from '../images.js';
import { ImageJob, outputNames, writeOutputs } from '../segment.js';
import { keepSessionOptions, keepText, resolveKeepSpec, type KeepSpec } from '../keep.js';
import { KeptTokenStats, formatKept, type StageKept } from '../../engine/keptStats.js';
import { patchGrid } from '../../model/config.js';

export interface InferOptions extends ModelChoice {
  input: string;
  output: string;
  /** A keep ratio, dynamic keep, null (unpruned), or the raw --keep string ('none', a number, 'dynamic[:τ[:minKeep]]'). */
  keep?: KeepSpec | string;
  batch?: number;
  threshold?: number;
  overwrite?: boolean;
  resize?: boolean;
  tile?: boolean;
  threads?: number;
  /** fp32 (default) or bf16 GEMMs (AVX-512 BF16 CPUs). */
  precision?: 'fp32' | 'bf16';
  quiet?: boolean;
}

export interface InferItem {
  file: string;
  status: 'processed' | 'skipped' | 'failed';
  reason?: string;
  width?: number;
  height?: number;
  mode?: FitMode;
  tiles?: number;
  outputs?: string[];
}

export interface InferSummary {
  tool: 'reg4pru infer';
  date: string;
  model: string;
  keep: KeepSpec;
  /** When pruning: kept patches per stage over the model inputs (mean, min, max). */
  kept?: StageKept[];
  batch: number;
  threshold: number;
  processed: number;
  skipped: number;
  failed: number;
  tiles: number;
  seconds: number;
  /** Processed images over the whole run's wall time. */
  imagesPerSecond: number;
  /** Time inside session.run only. */
  engineSeconds: number;
  items: InferItem[];
}

/** An image in flight: its pieces and map (segment.ts), or null once finished or failed. */
interface Job {
  item: InferItem;
  name: string;
  image: ImageJob | null;
}

/** Runs the folder; returns the summary (also printed and written as summary.json). */
export async function runInfer(opts: InferOptions, io: Io = processIo(), createSession: SessionFactory = defaultSessionFactory): Promise<InferSummary> {
  if (!opts.input) throw new UsageError('--input <dir> is required');
  if (!opts.output) throw new UsageError('--output <dir> is required');
  if (opts.checkpoint === undefined && opts.preset === undefined) throw new UsageError('--checkpoint <file> is required (or --preset tiny|small for random weights)');
  if (opts.resize && opts.tile) throw new UsageError('give at most one of --resize and --tile');
  const inDir = path.resolve(opts.input), outDir = path.resolve(opts.output);
  if (!existsSync(inDir) || !statSync(inDir).isDirectory()) throw new UsageError(`--input: '${opts.input}' is not a directory`);
  if (inDir === outDir) throw new UsageError('--output must differ from --input (outputs would be read as inputs next time)');
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new UsageError(`--output: '${opts.output}' exists and is not a directory`);
  const batch = opts.batch ?? 1, threshold = opts.threshold ?? 0.5, keep = resolveKeepSpec(opts.keep, null);
  if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch: expected an integer >= 1, received ${batch}`);
  if (!(threshold >= 0 && threshold <= 1)) throw new UsageError(`--threshold: expected a number in [0, 1], received ${threshold}`);
  const forced: FitMode | undefined = opts.resize ? 'resize' : opts.tile ? 'tile' : undefined;
  const model = await resolveModel(opts);
  if (opts.threads !== undefined) setThreads(opts.threads);
  mkdirSync(outDir, { recursive: true });

  // A symbolic link counts when it leads to a file, and also when it leads nowhere (dangling, a loop, no
  // permission): that entry is then reported as failed by name instead of aborting the whole run.
  const linkToFileOrBroken = (name: string): boolean => {
    try {
      return statSync(path.join(inDir, name)).isFile();
    } catch {
      return true;
    }
  };
  const files = readdirSync(inDir, { withFileTypes: true })
    .filter((d) => !d.name.startsWith('.') && (d.isFile() || (d.isSymbolicLink() && linkToFileOrBroken(d.name))))
    .map((d) => d.name)
    .sort();
  const precision = opts.precision ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'bf16') throw new UsageError(`--precision: expected 'fp32' or 'bf16', received '${String(precision)}'`);
  const session: Session = await createSession(model.source, { ...keepSessionOptions(keep), device: 'cpu', precision });
  const kept = new KeptTokenStats(patchGrid(session.config).Np, session.config.stageBlocks);
  const [h, w] = session.config.image;
  const C = session.config.classes;
  const items: InferItem[] = [];
  const progress = createProgress(io.err, progressMode(io.err, opts.quiet === true), files.length, 'infer', Math.max(1, Math.ceil(files.length / 20)));
  const t0 = performance.now();
  let engineMs = 0, tiles = 0;
  const queue: Array<{ job: Job; piece: Piece }> = [];
  const finish = (item: InferItem, status: InferItem['status'], reason?: string) => {
    item.status = status;
    if (reason !== undefined) item.reason = reason;
    if (status !== 'processed') progress.note(`${status}: ${item.file}${reason ? `: ${reason}` : ''}`);
    progress.tick(1, item.file);
  };

  const runBatch = async (n: number) => {
    const group = queue.splice(0, n);
    const data = new Float32Array(group.length * 3 * h * w);
    group.forEach((g, i) => data.set(g.piece.chw, i * 3 * h * w));
    let sem: { data: Float32Array; shape: number[] };
    try {
      const ts = performance.now();
      const r = await session.run({ data, shape: [group.length, 3, h, w] });
      sem = r.semantic;
      kept.add(r.kept);
      engineMs += performance.now() - ts;
      tiles += group.length;
    } catch (e) {
      for (const g of group) if (g.job.image) { g.job.image = null; finish(g.job.item, 'failed', `inference failed: ${(e as Error).message}`); }
      return;
    }
    const per = C * h * w;
    for (let i = 0; i < group.length; i++) {
      const { job, piece } = group[i]!;
      if (!job.image) continue; // an earlier batch of this image failed
      if (job.image.accept(piece, sem.data.subarray(i * per, (i + 1) * per))) {
        try {
          job.item.outputs = await writeOutputs(job.image, outDir, job.name, threshold);
          finish(job.item, 'processed');
        } catch (e) {
          finish(job.item, 'failed', `cannot write outputs: ${(e as Error).message}`);
        }
        job.image = null;
      }
    }
  };

  const byName = new Map<string, string>();
  try {
    for (const file of files) {
      const item: InferItem = { file, status: 'failed' };
      items.push(item);
      const name = path.parse(file).name;
      const clash = byName.get(name);
      if (clash !== undefined) {
        finish(item, 'failed', `output name '${name}' already used by '${clash}'`);
        continue;
      }
      byName.set(name, file);
      const existing = outputNames(name, C).filter((o) => existsSync(path.join(outDir, o)));
      if (existing.length > 0 && !opts.overwrite) {
        finish(item, 'skipped', `output exists (${existing.join(', ')}); use --overwrite`);
        continue;
      }
      let img;
      try {
        if (!existsSync(path.join(inDir, file))) throw new BadInputError('dangling symbolic link (its target does not exist)');
        img = await decodeImage(path.join(inDir, file));
      } catch (e) {
        finish(item, 'failed', e instanceof BadInputError ? e.message : `cannot read: ${(e as Error).message}`);
        continue;
      }
      const image = new ImageJob(img, { h, w, C }, forced);
      Object.assign(item, { width: img.width, height: img.height, mode: image.mode, tiles: image.pieces.length });
      const job: Job = { item, name, image };
      for (const piece of image.pieces) queue.push({ job, piece });
      while (queue.length >= batch) await runBatch(batch);
    }
    while (queue.length > 0) await runBatch(batch);
  } finally {
    progress.stop();
    session.dispose();
  }

  const seconds = (performance.now() - t0) / 1000;
  const count = (s: InferItem['status']) => items.filter((i) => i.status === s).length;
  const summary: InferSummary = {
    tool: 'reg4pru infer',
    date: new Date().toISOString(),
    model: model.label,
    keep,
    ...(kept.summary().length ? { kept: kept.summary() } : {}),
    batch,
    threshold,
    processed: count('processed'),
    skipped: count('skipped'),
    failed: count('failed'),
    tiles,
    seconds,
    imagesPerSecond: seconds > 0 ? count('processed') / seconds : 0,
    engineSeconds: engineMs / 1000,
    items,
  };
  writeFileSync(path.join(outDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  printInferSummary(summary, outDir, io);
  return summary;
}

export function printInferSummary(s: InferSummary, outDir: string, io: Io): void {
  println(io.out, `reg4pru infer: ${s.processed} processed, ${s.skipped} skipped, ${s.failed} failed in ${s.seconds.toFixed(2)} s ` +
    `(${s.imagesPerSecond.toFixed(2)} images/s; ${s.tiles} model inputs, ${s.engineSeconds.toFixed(2)} s in the engine; ${keepText(s.keep)}, batch ${s.batch})`);
  if (s.kept) println(io.out, `kept patches per stage (mean % of Np [min–max]): ${formatKept(s.kept)}`);
  for (const i of s.items) if (i.status !== 'processed') println(io.out, `  ${i.status}: ${i.file}: ${i.reason ?? ''}`);
  println(io.out, `summary: ${path.join(outDir, 'summary.json')}`);
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('infer')
    .description('segment every PNG/JPEG/TIFF of a folder: <name>_prob.png and <name>_mask.png per image, summary.json')
    .option('--checkpoint <file>', 'safetensors checkpoint (SPEC §8)')
    .option('--preset <name>', 'random seeded weights of a preset instead of a checkpoint (smoke tests)')
    .option('--model-config <file>', 'JSON of ModelConfig fields overriding the preset')
    .option('--seed <n>', 'seed of --preset random weights', parseIntOption('--seed', 0))
    .requiredOption('--input <dir>', 'folder of input images')
    .requiredOption('--output <dir>', 'folder for the outputs (created if missing)')
    .option('--keep <ratio>', "base keep ratio in (0, 1], 'dynamic[:threshold[:minKeep]]' (per-image keep), or 'none' for the unpruned model (default none)")
    .option('--batch <n>', 'model inputs (tiles or resized images) per engine call', parseIntOption('--batch', 1, 4096), 1)
    .option('--threshold <t>', 'mask threshold on the probability', parseFloatOption('--threshold', 0, 1), 0.5)
    .option('--overwrite', 'replace existing outputs (default: skip those inputs)')
    .option('--resize', 'always resize to the model input and back')
    .option('--tile', 'always tile (non-overlapping model-sized tiles, edges padded)')
    .option('--threads <n>', 'CPU threads of the native kernels', parseIntOption('--threads', 1, 256))
    .option('--precision <p>', "GEMM precision: fp32 (default) or bf16 (BF16 operands, FP32 sums; CPUs with AVX-512 BF16)")
    .option('-q, --quiet', 'no progress output')
    .action(async (o: InferOptions) => {
      if (o.preset !== undefined && o.preset !== 'tiny' && o.preset !== 'small') throw new UsageError(`--preset: expected tiny or small, received '${String(o.preset)}'`);
      await runInfer(o, ctx.io, ctx.createSession);
    });
}
