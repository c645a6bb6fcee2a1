/**
 * Native inference engine throughput (SPEC §6 protocol, CPU variant): InferenceSession.run on a random
 * input [1,3,S,S], batch 1, FP32 (and BF16 rows where the CPU has AVX-512 BF16; AVX2 rows on AVX-512 CPUs), preset `small` (D=384, H=6, L=12) with random weights; unpruned and
 * at base keep ratios 0.9 … 0.5, and the ToMe baseline (merge around MHSA / MHSA+MLP, ratio 0.7 … 0.4;
 * no FLOP count: its work depends on the merge). Configurations are timed round-robin by the harness's own loop
 * (timeRoundRobin of src/cli/commands/bench.ts, as `reg4pru bench` times them: each round runs every configuration
 * once, the first one rotating). Reports images/s, the speedup of each keep ratio over unpruned, and
 * the effective GFLOP/s of each forward (useful FLOPs of the patch embedding, blocks, policy predictors
 * and head; elementwise work not counted) as a share of the machine's GEMM peak measured in the same
 * run (`measurePeak` of bench/ops/gemm.bench.ts).
 *
 * ONNX Runtime side by side: the same weights exported as ONNX (src/export/, unpruned) run in
 * onnxruntime-node (CPU EP, graphOptimizationLevel 'all', intraOpNumThreads = our thread count) as one
 * more configuration of the same round-robin; every row's note gives its speedup over ORT (ORT median /
 * its median). Skipped, with the reason printed, when onnxruntime-node cannot be loaded, or with --no-ort.
 *
 * The paper protocol is 1024² with 20 warm-up and 200 timed runs on an H100; on this CPU the default is
 * 512² (Np = 1024), 2 warm-up and 8 timed rounds (`--size 1024`, `--iters N` to change), stated in the
 * output. Runs alone: `npx tsx bench/model/engine.bench.ts [--quick] [--size 512] [--iters 10] [--no-ort]`.
 */
import { InferenceSession, eomtToOnnx, getThreads, info, modelConfig, patchGrid, randomWeights, setKernel, type KernelVariant, type ModelConfig } from '../../src/index.js';
import { forwardFlops } from '../../src/engine/flops.js';
import { createOrtSession, loadOnnxRuntime } from '../../src/export/onnxRuntime.js';
import { ORT_SETTLE_MS, timeRoundRobin } from '../../src/cli/commands/bench.js';
import { measurePeak } from '../ops/gemm.bench.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { summarize } from '../lib/timer.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export interface EngineBenchOptions {
  quick: boolean;
  /** Square input size (default 512). */
  size?: number;
  /** Timed rounds (default 8; 3 with quick) after `warmup` untimed ones (default 2). */
  iters?: number;
  warmup?: number;
  /** The ONNX Runtime row (default true). */
  ort?: boolean;
  /** Another model than preset small at `size` (its image size wins); for tests. */
  config?: ModelConfig;
  /** The GEMM peak in GFLOP/s, instead of measuring it; for tests. */
  peak?: number;
}

export async function run(opts: EngineBenchOptions): Promise<BenchRow[]> {
  const cfg = opts.config ?? modelConfig('small', { image: [opts.size ?? 512, opts.size ?? 512] });
  const iters = opts.iters ?? (opts.quick ? 3 : 8);
  const model = opts.config ? `D=${cfg.D} L=${cfg.L}` : 'small';
  const { Np } = patchGrid(cfg);
  const peak = opts.peak ?? (await measurePeak());
  const img = new Float32Array(3 * cfg.image[0] * cfg.image[1]);
  for (let i = 0; i < img.length; i++) img[i] = Math.sin(i * 0.37) * 1.5;
  // kernel: the CPU variant forced for that configuration's runs (undefined = auto, the widest); precision
  // 'bf16' where the CPU has AVX-512 BF16. The narrower / FP32 rows show what the width and BF16 buy.
  type Variant = { keep: number | null; tome?: { mode: 'mhsa' | 'mhsa+mlp'; mergeRatio: number }; kernel?: KernelVariant; precision?: 'fp32' | 'bf16' };
  const cpu = info().cpu;
  const widest = cpu.variants[cpu.variants.length - 1]!;
  const extra: Variant[] = [
    ...(widest === 'avx512' ? [{ keep: null, kernel: 'avx2' as const }, { keep: 0.7, kernel: 'avx2' as const }] : []),
    ...(cpu.bf16 ? [{ keep: null, precision: 'bf16' as const }, { keep: 0.7, precision: 'bf16' as const }] : []),
  ];
  const variants: Variant[] = opts.quick
    ? [{ keep: null }, { keep: 0.7 }, ...extra]
    : [
        { keep: null }, { keep: 0.9 }, { keep: 0.8 }, { keep: 0.7 }, { keep: 0.6 }, { keep: 0.5 },
        ...[0.7, 0.4].flatMap((ratio) => (['mhsa', 'mhsa+mlp'] as const).map((mode) => ({ keep: null, tome: { mode, mergeRatio: ratio } }))),
        ...extra,
      ];
  // All sessions share one set of weights and are timed round-robin (one run of each per round), so
  // every configuration sees the same background load on a shared machine.
  const weights = randomWeights(cfg, 0);
  const sessions: InferenceSession[] = [];
  for (const { keep, tome, precision } of variants)
    sessions.push(await InferenceSession.create({ config: cfg, weights }, { keep, precision, ...(tome ? { tome } : {}) }));
  const runners: Array<() => Promise<unknown>> = sessions.map((s, v) => async () => {
    setKernel(variants[v]!.kernel ?? 'auto');
    try {
      return await s.run(img);
    } finally {
      setKernel('auto');
    }
  });
  // ONNX Runtime on the exported unpruned model, the last runner of each round
  let ortRelease: (() => Promise<void>) | undefined;
  if (opts.ort !== false) {
    const loaded = await loadOnnxRuntime();
    if ('ort' in loaded) {
      const ortSession = await createOrtSession(loaded.ort, eomtToOnnx(cfg, weights).bytes, getThreads());
      const feeds = { images: new loaded.ort.Tensor('float32', img, [1, 3, cfg.image[0], cfg.image[1]]) };
      runners.push(() => ortSession.run(feeds));
      ortRelease = () => ortSession.release();
    } else {
      console.warn(`engine.bench: ONNX Runtime row skipped: ${loaded.reason}`);
    }
  }
  // with ORT in the round, every run waits ORT_SETTLE_MS first (its spinning threads would slow the run after it)
  const samples = (await timeRoundRobin(runners, { warmup: opts.warmup ?? 2, iters, settleMs: ortRelease ? ORT_SETTLE_MS : 0 })).map((t) => t.timingsMs);
  await ortRelease?.();
  const rows: BenchRow[] = [];
  const baseMs = summarize(samples[0]!).medianMs;
  const ortMs = ortRelease ? summarize(samples[variants.length]!).medianMs : undefined;
  const vsOrt = (ms: number) => (ortMs === undefined ? '' : `; ${(ortMs / ms).toFixed(2)}x vs ORT`);
  variants.forEach(({ keep, tome, kernel, precision }, v) => {
    const timing = summarize(samples[v]!);
    const flops = tome ? undefined : forwardFlops(cfg, keep);
    const tag = `${kernel ?? widest}${precision === 'bf16' ? ' bf16' : ''}`;
    rows.push({
      op: 'engine.forward',
      shape: `${model} ${cfg.image[0]}x${cfg.image[1]} B=1 Np=${Np}`,
      impl: `${tome ? `ToMe ${tome.mode} merge=${tome.mergeRatio}` : keep === null ? 'unpruned' : `keep ${keep}`} [${tag}]`,
      timing,
      flops,
      speedup: baseMs / timing.medianMs,
      peakShare: flops === undefined ? undefined : flops / (timing.medianMs * 1e6) / peak,
      note: `${(1000 / timing.medianMs).toFixed(2)} img/s; kept ${sessions[v]!.stageKeep.join('/') || Np}; peak ${peak.toFixed(0)} GFLOP/s, ${getThreads()} threads${vsOrt(timing.medianMs)}`,
    });
    sessions[v]!.dispose();
  });
  if (ortMs !== undefined) {
    const timing = summarize(samples[variants.length]!);
    const flops = forwardFlops(cfg, null);
    rows.push({
      op: 'engine.forward',
      shape: `${model} ${cfg.image[0]}x${cfg.image[1]} B=1 Np=${Np}`,
      impl: 'onnxruntime (exported, unpruned)',
      timing,
      flops,
      speedup: baseMs / timing.medianMs,
      peakShare: flops / (timing.medianMs * 1e6) / peak,
      note: `${(1000 / timing.medianMs).toFixed(2)} img/s; onnxruntime-node CPU EP, graph opt 'all', intraOpNumThreads ${getThreads()}`,
    });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const size = arg('size') ? Number(arg('size')) : undefined;
  const iters = arg('iters') ? Number(arg('iters')) : undefined;
  const rows = await run({ quick, size, iters, ort: !process.argv.includes('--no-ort') });
  printTable('engine (SPEC §6 protocol on CPU: batch 1, random input; [kernel precision] per row; size and iterations as stated)', rows);
  writeJson('engine', rows);
}
