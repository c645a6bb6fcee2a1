/**
 * ONNX Runtime (onnxruntime-node, an optional peer / dev dependency) for the side-by-side benchmark and
 * the export test: loaded on demand, never at import time, so the package works without it. A failed
 * load says why and what to install. Sessions run on the CPU execution provider with all graph
 * optimisations and a given intra-op thread count (inter-op 1, sequential execution), so the
 * comparison with the native engine uses the same number of cores.
 */
import type * as OrtModule from 'onnxruntime-node';

/** The part of onnxruntime-node used here. */
export type Ort = Pick<typeof OrtModule, 'InferenceSession' | 'Tensor' | 'env'>;

let cached: Promise<{ ort: Ort } | { reason: string }> | undefined;

/** onnxruntime-node, or the reason it cannot be loaded (not installed, native library missing, ...). */
export function loadOnnxRuntime(): Promise<{ ort: Ort } | { reason: string }> {
  cached ??= import('onnxruntime-node').then(
    (m) => {
      // ESM import of a CommonJS package: the exports are named and also under `default`
      const ort: Ort | undefined = typeof m.InferenceSession === 'function' ? m : m.default;
      return ort?.InferenceSession ? { ort } : { reason: 'onnxruntime-node loaded but has no InferenceSession export' };
    },
    (e: unknown) => ({
      reason: `onnxruntime-node cannot be loaded (${(e as Error).message.split('\n')[0]}); install it with ` +
        '`ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node` (its CPU library is inside the package)',
    }),
  );
  return cached;
}

/** A CPU session: graphOptimizationLevel 'all', `threads` intra-op threads, sequential execution. */
export async function createOrtSession(ort: Ort, model: string | Uint8Array, threads: number): Promise<OrtModule.InferenceSession> {
  const opts: OrtModule.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  };
  return typeof model === 'string' ? ort.InferenceSession.create(model, opts) : ort.InferenceSession.create(model, opts);
}
