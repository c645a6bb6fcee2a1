/**
 * Backend selection for the TF.js training graph (SPEC §1; part 3 of the TF.js integration): prefer
 * TensorFlow's native bindings when installed (`@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node`,
 * both optional peer dependencies, loaded by dynamic import so a missing one is not an error), else the
 * embedded `cpu` backend with our native kernels (`useNativeBackend()`). Never silent: the result says
 * what was chosen and why each earlier candidate was skipped.
 */
import * as tf from '@tensorflow/tfjs';
import { useNativeBackend } from './native_backend.js';

/** One candidate that was tried. */
export interface BackendAttempt {
  /** Package name, or 'cpu+native'. */
  candidate: string;
  ok: boolean;
  /** Why it was skipped (import error message), absent when ok. */
  reason?: string;
}

/** What `selectBackend()` chose. */
export interface BackendChoice {
  /** The active TF.js backend name (tf.getBackend()): 'tensorflow' for tfjs-node(-gpu), else 'cpu'. */
  backend: string;
  /** The package or mode that provides it: '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node' or 'cpu+native'. */
  provider: string;
  /** Kernels replaced by native ones (cpu+native only). */
  nativeKernels: string[];
  /** Every candidate tried, in order. */
  attempts: BackendAttempt[];
}

export interface SelectBackendOptions {
  /** Packages to try before the embedded cpu backend (default: tfjs-node-gpu, tfjs-node). [] skips them. */
  prefer?: string[];
  /** Test hook: how a candidate package is imported (default: dynamic import()). */
  importer?: (name: string) => Promise<unknown>;
}

const DEFAULT_PREFER = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/**
 * Picks the fastest available TF.js backend and makes it active.
 * @param opts.prefer packages to try first, in order (default tfjs-node-gpu, tfjs-node)
 * @returns the choice and the reason every earlier candidate was skipped
 * @throws Error only when even the embedded cpu backend cannot be set
 * @example
 *   const choice = await selectBackend();
 *   console.log(choice.provider, choice.attempts);
 */
export async function selectBackend(opts: SelectBackendOptions = {}): Promise<BackendChoice> {
  const prefer = opts.prefer ?? DEFAULT_PREFER;
  const importer = opts.importer ?? ((name: string) => import(name));
  const attempts: BackendAttempt[] = [];
  for (const pkg of prefer) {
    try {
      await importer(pkg);
      // tfjs-node(-gpu) registers the 'tensorflow' backend on import.
      if (!(await tf.setBackend('tensorflow'))) throw new Error(`imported, but backend 'tensorflow' did not initialise`);
      useNativeBackend(false);
      attempts.push({ candidate: pkg, ok: true });
      return { backend: tf.getBackend(), provider: pkg, nativeKernels: [], attempts };
    } catch (e) {
      attempts.push({ candidate: pkg, ok: false, reason: e instanceof Error ? e.message.split('\n')[0] : String(e) });
    }
  }
  if (!(await tf.setBackend('cpu'))) throw new Error("selectBackend: expected the TF.js 'cpu' backend to initialise, received failure");
  await tf.ready();
  const kernels = useNativeBackend(true);
  attempts.push({ candidate: 'cpu+native', ok: true });
  return { backend: tf.getBackend(), provider: 'cpu+native', nativeKernels: kernels, attempts };
}
