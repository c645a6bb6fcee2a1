/**
 * The single place that registers reg4pru's TF.js kernels and gradients (STYLE §7).
 *
 * Kernels are registered per backend name. Every kernel has one kernelFunc that works on any backend
 * (kernels/backend_io.ts: zero-copy on `cpu`, readSync/write elsewhere), so the list of backends is open:
 * the default covers TF.js's pure-JS `cpu`, `wasm` and tfjs-node's `tensorflow`; pass other names (for
 * example `'webgl'`: correct, but every call downloads its inputs to the CPU) to add them.
 * Gradients are backend-independent and registered once.
 *
 * Importing reg4pru registers nothing. Either call registerReg4pruKernels() yourself, or let the first
 * call of a `tfops.*` op do it with the default backends. Both are idempotent: a kernel or gradient that is
 * already registered under our name is left alone (and TF.js's duplicate-registration warning never fires).
 */
import { getGradient, getKernel, registerGradient, registerKernel, unregisterGradient, unregisterKernel, type GradConfig, type KernelConfig } from '@tensorflow/tfjs';
import { describe } from '../errors.js';
import { gatherTokensConfig } from './kernels/GatherTokens.js';
import { geluConfig } from './kernels/Gelu.js';
import { geluGradConfig as geluGradKernelConfig } from './kernels/GeluGrad.js';
import { layerNormConfig } from './kernels/LayerNorm.js';
import { layerNormGradConfig as layerNormGradKernelConfig } from './kernels/LayerNormGrad.js';
import { gatherTokensGradConfig as gatherTokensGradKernelConfig } from './kernels/GatherTokensGrad.js';
import { gumbelSoftmaxSTConfig } from './kernels/GumbelSoftmaxST.js';
import { gumbelSoftmaxSTGradConfig as gumbelSoftmaxSTGradKernelConfig } from './kernels/GumbelSoftmaxSTGrad.js';
import { gumbelTopKConfig } from './kernels/GumbelTopK.js';
import { policyAttentionConfig } from './kernels/PolicyAttention.js';
import { policyAttentionGradConfig as policyAttentionGradKernelConfig } from './kernels/PolicyAttentionGrad.js';
import { prunedBlockConfig } from './kernels/PrunedBlock.js';
import { scatterTokensConfig } from './kernels/ScatterTokens.js';
import { scatterTokensGradConfig as scatterTokensGradKernelConfig } from './kernels/ScatterTokensGrad.js';
import { gatherTokensGradConfig } from './gradients/GatherTokens_grad.js';
import { geluGradConfig } from './gradients/Gelu_grad.js';
import { layerNormGradConfig } from './gradients/LayerNorm_grad.js';
import { gumbelSoftmaxSTGradConfig } from './gradients/GumbelSoftmaxST_grad.js';
import { gumbelTopKGradConfig } from './gradients/GumbelTopK_grad.js';
import { policyAttentionGradConfig } from './gradients/PolicyAttention_grad.js';
import { prunedBlockGradConfig } from './gradients/PrunedBlock_grad.js';
import { scatterTokensGradConfig } from './gradients/ScatterTokens_grad.js';
import { vitBlockConfig } from './kernels/VitBlock.js';
import { vitBlockGradConfig as vitBlockGradKernelConfig } from './kernels/VitBlockGrad.js';
import { vitBlockGradConfig } from './gradients/VitBlock_grad.js';
import { upscaleBlockConfig } from './kernels/UpscaleBlock.js';
import { upscaleBlockGradConfig as upscaleBlockGradKernelConfig } from './kernels/UpscaleBlockGrad.js';
import { upscaleBlockGradConfig } from './gradients/UpscaleBlock_grad.js';

/** Backends registered when none are named: TF.js cpu, wasm, and tfjs-node ('tensorflow'). */
export const DEFAULT_BACKENDS: readonly string[] = Object.freeze(['cpu', 'wasm', 'tensorflow']);

/** Every reg4pru kernel (forward and backward), with 'cpu' as a placeholder backend name. */
export const KERNEL_CONFIGS: readonly KernelConfig[] = Object.freeze([
  gatherTokensConfig, gatherTokensGradKernelConfig,
  scatterTokensConfig, scatterTokensGradKernelConfig,
  policyAttentionConfig, policyAttentionGradKernelConfig,
  prunedBlockConfig,
  gumbelTopKConfig,
  gumbelSoftmaxSTConfig, gumbelSoftmaxSTGradKernelConfig,
  layerNormConfig, layerNormGradKernelConfig,
  geluConfig, geluGradKernelConfig,
  vitBlockConfig, vitBlockGradKernelConfig,
  upscaleBlockConfig, upscaleBlockGradKernelConfig,
]);

/** Every reg4pru gradient. gumbelTopK gives zeros; prunedBlock throws (see gradients/). */
export const GRAD_CONFIGS: readonly GradConfig[] = Object.freeze([
  gatherTokensGradConfig, scatterTokensGradConfig, policyAttentionGradConfig,
  gumbelSoftmaxSTGradConfig, gumbelTopKGradConfig, prunedBlockGradConfig,
  layerNormGradConfig, geluGradConfig, vitBlockGradConfig, upscaleBlockGradConfig,
]);

/** The reg4pru kernel names (all start with `Reg4pru`). */
export const KERNEL_NAMES: readonly string[] = Object.freeze(KERNEL_CONFIGS.map((c) => c.kernelName));

function backendList(op: string, backendNames: unknown): string[] {
  if (!Array.isArray(backendNames)) throw new TypeError(`${op}: expected backendNames to be an array of backend names, received ${describe(backendNames)}`);
  for (const [i, name] of backendNames.entries())
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError(`${op}: expected backendNames[${i}] to be a non-empty string, received ${describe(name)}`);
  return backendNames as string[];
}

/**
 * Registers every reg4pru kernel for each named backend, and every gradient (once). Idempotent.
 * @param backendNames TF.js backend names (default `['cpu', 'wasm', 'tensorflow']`); a backend that is not
 *   loaded is fine: its kernels are used once it is
 * @returns the backend names now served
 * @throws TypeError when backendNames is not an array of non-empty strings
 * @example
 * import * as tf from '@tensorflow/tfjs';
 * import { registerReg4pruKernels, tfops } from 'reg4pru/tfjs';
 * registerReg4pruKernels();                 // or registerReg4pruKernels(['cpu', 'webgl'])
 * const y = tfops.gatherTokens(x, idx);     // tf.Tensor3D, differentiable in x
 */
export function registerReg4pruKernels(backendNames: readonly string[] = DEFAULT_BACKENDS): string[] {
  const names = backendList('registerReg4pruKernels', backendNames);
  for (const backendName of names)
    for (const config of KERNEL_CONFIGS)
      if (getKernel(config.kernelName, backendName) === undefined) registerKernel({ ...config, backendName });
  for (const config of GRAD_CONFIGS) if (getGradient(config.kernelName) === undefined) registerGradient(config);
  return [...names];
}

/**
 * Removes the reg4pru kernels of the named backends (default: the defaults), and with `gradients: true`
 * the gradients too. Mainly for tests and hot reloading.
 */
export function unregisterReg4pruKernels(backendNames: readonly string[] = DEFAULT_BACKENDS, opts: { gradients?: boolean } = {}): void {
  const names = backendList('unregisterReg4pruKernels', backendNames);
  for (const backendName of names)
    for (const config of KERNEL_CONFIGS) if (getKernel(config.kernelName, backendName) !== undefined) unregisterKernel(config.kernelName, backendName);
  if (opts.gradients === true) for (const config of GRAD_CONFIGS) if (getGradient(config.kernelName) !== undefined) unregisterGradient(config.kernelName);
}

/** Whether every reg4pru kernel is registered for the given backend name. */
export function isReg4pruRegistered(backendName: string): boolean {
  return KERNEL_CONFIGS.every((c) => getKernel(c.kernelName, backendName) !== undefined);
}
