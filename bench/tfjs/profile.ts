/**
 * Per-kernel wall time of the TF.js `cpu` backend: wraps every registered kernel function of a backend
 * with a timer (engine-dispatched calls only, so a kernel's time includes the helpers it calls directly,
 * e.g. the stock Softmax's max/sub/exp/sum/div). Used to find which kernels dominate the ViT block
 * (bench/tfjs/vitBlock.ts) before and after `useNativeBackend()`.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig } from '@tensorflow/tfjs';

export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}

/** Runs fn with every `backend` kernel timed; restores the configs afterwards. Sorted by time. */
export function profileKernels(fn: () => void, backend = 'cpu'): KernelTime[] {
  const stats = new Map<string, KernelTime>();
  const originals: KernelConfig[] = tf.getKernelsForBackend(backend);
  for (const cfg of originals) {
    const inner = cfg.kernelFunc;
    const rec: KernelTime = { kernel: cfg.kernelName, calls: 0, ms: 0 };
    stats.set(cfg.kernelName, rec);
    tf.unregisterKernel(cfg.kernelName, backend);
    tf.registerKernel({
      ...cfg,
      kernelFunc: (args) => {
        const t0 = performance.now();
        try {
          return inner(args);
        } finally {
          rec.ms += performance.now() - t0;
          rec.calls++;
        }
      },
    });
  }
  try {
    fn();
  } finally {
    for (const cfg of originals) {
      tf.unregisterKernel(cfg.kernelName, backend);
      tf.registerKernel(cfg);
    }
  }
  return [...stats.values()].filter((s) => s.calls > 0).sort((a, b) => b.ms - a.ms);
}

/** "name ms (calls)" lines for the top entries, with each one's share of the total. */
export function formatProfile(rows: KernelTime[], top = 12): string {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  return rows
    .slice(0, top)
    .map((r) => `  ${r.kernel.padEnd(22)} ${r.ms.toFixed(1).padStart(9)} ms ${(100 * r.ms / total).toFixed(1).padStart(5)}%  (${r.calls} calls)`)
    .concat([`  ${'total'.padEnd(22)} ${total.toFixed(1).padStart(9)} ms`])
    .join('\n');
}
