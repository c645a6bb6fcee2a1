/**
 * `reg4pru export`: the unpruned EoMT forward of a checkpoint (or of a preset with seeded random
 * weights) as an ONNX model, opset 17 (src/export/, docs/onnx.md), written atomically. `--image N`
 * exports at another square input size (pos_embed resampled, bicubic + antialias as the DINOv2 import).
 * Bad flags exit 2; a checkpoint that cannot be read or an output that cannot be written exit 1; both
 * print one `error:` line.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { exportOnnx, type ExportOnnxResult } from '../../export/exportOnnx.js';
import { OPSET } from '../../export/onnxGraph.js';
import { CommandError, UsageError, parseIntOption, println, processIo, resolveModel, type CommandContext, type Io, type ModelChoice } from '../common.js';

export interface ExportOptions extends ModelChoice {
  /** Destination .onnx file. */
  onnx: string;
  /** Also output the semantic map of every decode point. */
  perBlock?: boolean;
}

const shape = (s: Array<number | string>) => `[${s.join(',')}]`;

/** Runs the export and prints a one-line summary; returns the result. @throws UsageError / CommandError */
export async function runExport(opts: ExportOptions, io: Io = processIo()): Promise<ExportOnnxResult> {
  if (!opts.onnx) throw new UsageError('--onnx <file> is required');
  if (opts.checkpoint === undefined && opts.preset === undefined) throw new UsageError('--checkpoint <file> is required (or --preset tiny|small for random weights)');
  const out = path.resolve(opts.onnx);
  if (existsSync(out) && statSync(out).isDirectory()) throw new UsageError(`--onnx: '${opts.onnx}' is a directory`);
  const dir = path.dirname(out);
  if (!existsSync(dir)) throw new CommandError(`--onnx: the directory '${dir}' does not exist`);
  // A checkpoint's --image resamples pos_embed; a preset's --image is part of its config (resolveModel).
  const model = await resolveModel({ ...opts, image: opts.checkpoint !== undefined ? undefined : opts.image });
  let r: ExportOnnxResult;
  try {
    r = exportOnnx(model.source, out, {
      ...(opts.checkpoint !== undefined && opts.image !== undefined ? { image: opts.image } : {}),
      perBlock: opts.perBlock === true,
    });
  } catch (e) {
    throw new CommandError((e as Error).message);
  }
  const outputs = r.outputs.map((o) => `${o.name} ${shape(o.shape)}`).join(', ');
  println(io.out, `wrote ${r.file} (${(r.bytes / 2 ** 20).toFixed(1)} MiB, opset ${OPSET}, ${r.nodes} nodes): ${model.label}${r.resized ? `, pos_embed resampled to ${r.config.image.join('x')}` : ''}`);
  println(io.out, `  input images ${shape(r.inputs[0]!.shape)}; outputs ${outputs}`);
  return r;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('export')
    .description('export the unpruned model as ONNX (opset 17): images [B,3,H,W] -> semantic, class_logits, mask_logits')
    .option('--checkpoint <file>', 'safetensors checkpoint (SPEC §8)')
    .addOption(new Option('--preset <name>', 'random seeded weights of a preset instead of a checkpoint').choices(['tiny', 'small']))
    .option('--model-config <file>', 'JSON of ModelConfig fields overriding the preset')
    .option('--seed <n>', 'seed of --preset random weights', parseIntOption('--seed', 0))
    .requiredOption('--onnx <file>', 'destination .onnx file (written atomically)')
    .option('--image <px>', "square input size (default: the model's; a checkpoint's pos_embed is resampled)", parseIntOption('--image', 1))
    .option('--per-block', 'also output semantic_block<i> for the decode points before the last block')
    .action(async (o: ExportOptions) => {
      await runExport(o, ctx.io);
    });
}
