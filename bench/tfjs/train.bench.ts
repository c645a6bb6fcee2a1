/**
 * The real model's training step (src/model/tfjs + src/train/trainer.ts, full Reg4Pru loss: deep-supervision set
 * loss over every decode point + ratio loss, random routing, nested policies, AdamW + EMA), preset tiny at its
 * 256x256, batch 2, on TF.js's `cpu` backend, four ways in the same run:
 *   stock       : stock TF.js kernels, every op a TF.js composition (setModelFusion all off);
 *   native      : useNativeBackend() (native matmul / softmax / elementwise kernels) + fused LayerNorm / GELU;
 *   fused-block : native + every ViT block as one tfops.vitBlock op (forward and backward);
 *   fused       : fused-block + every mask-head scale block as one tfops.upscaleBlock op.
 * Beside them PyTorch's dense step of the same-sized model (bench/tfjs/torch_step.py) when `python3 -c 'import
 * torch'` works (or /usr/bin/python3, or $REG4PRU_PYTHON), with the same thread count. Step times exclude each run's
 * first step (warm-up), except stock's: the stock kernels take minutes per step at this size, so stock runs only
 * with --stock, for ONE step, warm-up included (an upper bound). `--rounds R` repeats the non-stock modes R times
 * round-robin (one run of each mode per round) and pools their step times, so that a change in the machine's load
 * hits every mode alike.
 * Run: npm run bench:tfjs [-- --steps 4] [--rounds 2] [--stock] [--no-torch]   (--quick: 2 timed steps each)
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { getThreads, info, modelConfig } from '../../src/index.js';
import { setModelFusion, train, useNativeBackend } from '../../src/tfjs/index.js';
import { printTable, writeJson, type BenchRow } from '../lib/report.js';
import { timeRoundRobin } from '../../src/cli/commands/bench.js';
import { summarize, type Timing } from '../lib/timer.js';

type Mode = 'stock' | 'native' | 'fused-block' | 'fused';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

// `steps` timed step times after one warm-up step; steps = 0: one step, timed (warm-up included).
async function stepTimes(mode: Mode, steps: number): Promise<number[]> {
  useNativeBackend(mode !== 'stock');
  const prev = setModelFusion({ layers: mode !== 'stock', block: mode === 'fused' || mode === 'fused-block', upscale: mode === 'fused' });
  const ms: number[] = [];
  try {
    const r = await train({
      config: modelConfig('tiny'), data: 'synthetic', samples: 2 * (steps + 1), batch: 2, maxSteps: steps + 1,
      policy: 'ratio', routing: 'random', seed: 0, warmup: [1, 1], onStep: (rec) => ms.push(rec.ms),
    });
    r.model.dispose();
  } finally {
    setModelFusion(prev);
    useNativeBackend(false);
  }
  return steps === 0 ? ms : ms.slice(1);
}

// The first interpreter that imports torch: $REG4PRU_PYTHON, python3 on PATH, then the system one (Debian's
// python3-torch installs there, which a pyenv python3 on PATH does not see).
function torchPython(): string | string[] {
  const tried: string[] = [];
  for (const py of [process.env.REG4PRU_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py || tried.includes(py)) continue;
    const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return py;
    tried.push(`${py}: ${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}`);
  }
  return tried;
}

function torchStep(steps: number, threads: number): { timing: Timing; note: string } | string {
  const py = torchPython();
  if (Array.isArray(py)) return `PyTorch not measured: no python3 imports torch (${py.join('; ')})`;
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'torch_step.py');
  // one BLAS / OpenMP thread budget, as ours: Debian's torch calls OpenBLAS, which would start its own threads
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: '1' };
  const r = spawnSync(py, [script, '--steps', String(steps), '--threads', String(threads)], { encoding: 'utf8', env });
  if (r.status !== 0) return `PyTorch step failed: ${r.stderr.trim().split('\n').pop()}`;
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!) as { torch: string; threads: number; median_ms: number; p10_ms: number; p90_ms: number; steps: number };
  return { timing: { medianMs: j.median_ms, p10Ms: j.p10_ms, p90Ms: j.p90_ms, iterations: j.steps }, note: `torch ${j.torch}, ${j.threads} threads, dense` };
}

export async function run(opts: { steps: number; rounds: number; stock: boolean; torch: boolean }): Promise<BenchRow[]> {
  tf.env().set('IS_NODE', true);
  await tf.setBackend('cpu');
  await tf.ready();
  const shape = 'tiny 256x256 B=2';
  const op = 'train step (Reg4Pru loss)';
  const rows: BenchRow[] = [];
  const modes: Mode[] = opts.stock ? ['stock', 'native', 'fused-block', 'fused'] : ['native', 'fused-block', 'fused'];
  const samples = new Map<Mode, number[]>(modes.map((m) => [m, []]));
  // the stock path is slow: one step (warm-up included), once; the others round-robin
  if (opts.stock) samples.set('stock', await stepTimes('stock', 0));
  const rr = modes.filter((m) => m !== 'stock');
  await timeRoundRobin(rr.map((mode) => async () => samples.get(mode)!.push(...(await stepTimes(mode, opts.steps)))), { warmup: 0, iters: opts.rounds });
  let base = 0;
  for (const mode of modes) {
    const t = summarize(samples.get(mode)!);
    if (base === 0) base = t.medianMs;
    rows.push({ op, shape, impl: `tfjs cpu ${mode}`, timing: t, speedup: base / t.medianMs, note: mode === 'stock' ? '1 step, warm-up included' : undefined });
    console.log(`${mode}: median ${t.medianMs.toFixed(0)} ms/step, p10 ${t.p10Ms.toFixed(0)} (${t.iterations} steps)`);
  }
  if (opts.torch) {
    const r = torchStep(opts.steps, getThreads());
    if (typeof r === 'string') console.log(r);
    else rows.push({ op, shape, impl: 'pytorch dense', timing: r.timing, speedup: base / r.timing.medianMs, note: r.note });
  }
  console.log(`addon kernel ${info().cpu.kernel}, ${getThreads()} threads; speedup = ${modes[0]} / row`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const rows = await run({ steps: arg('--steps', quick ? 2 : 4), rounds: arg('--rounds', 1), stock: process.argv.includes('--stock'), torch: !process.argv.includes('--no-torch') });
  printTable('TF.js training step of the real model: stock vs native vs fused-block vs fused (vs PyTorch)', rows);
  writeJson('tfjs-train', rows);
}
