/**
 * `reg4pru/tfjs`: the TensorFlow.js integration (a separate entry point so that `reg4pru` itself never
 * loads TF.js). Our ops as differentiable TF.js ops (`tfops.*`, kernels named `Reg4pru*`, registered
 * for 'cpu', 'wasm' and 'tensorflow' on first use or explicitly), and the native-accelerated `cpu`
 * backend (`useNativeBackend()`, `selectBackend()`).
 */
export * as tfops from './ops.js';
export { registerReg4pruKernels, unregisterReg4pruKernels, isReg4pruRegistered } from './register.js';

// ---- TF.js backend
export { useNativeBackend, backendInfo, nativeBackendActive, nativeKernelNames, type BackendInfo } from './backend/native_backend.js';
export { setBufferPool, bufferPoolActive, type BufferPoolOptions } from './backend/poolHooks.js';
export { bufferPoolStats, resetBufferPoolStats, type BufferPoolStats } from '../bufferPool.js';
export { selectBackend, type BackendChoice, type BackendAttempt, type SelectBackendOptions } from './backend/select.js';

// ---- model (EoMT-style segmenter in TF.js: inference and Reg4Pru training forwards)
export {
  EomtModel,
  mixSeed,
  stageKeepCount,
  type InferenceOptions,
  type InferenceOutput,
  type TrainOptions,
  type TrainOutput,
  type PolicyMode,
  type Decoded,
} from '../model/tfjs/eomt.js';
export { bilinearMatrix, resizeBilinear } from '../model/tfjs/decoder.js';
export { setModelFusion, modelFusion, type ModelFusion } from '../model/tfjs/layers.js';

// ---- training losses (SPEC §4): Mask2Former set loss with deep supervision, ratio and policy losses
export {
  setLoss,
  setLossParts,
  deepSupervisionLoss,
  matchOutput,
  ratioLoss,
  policyLoss,
  type DecodedOutput,
  type SetLossOptions,
  type SetLossParts,
} from '../train/losses.js';
export type { ImageTargets, Match, MatchWeights } from '../train/matching.js';

// ---- training (SPEC §4): AdamW with LLRD + two-stage warmup, gradient accumulation, EMA; the training loop
export { AdamW, GradAccumulator, Ema, type AdamWOptions } from '../train/optimizer.js';
export { train, TRAIN_POLICIES, type TrainRunOptions, type TrainResumeOptions, type TrainPolicy, type StepRecord, type TrainSummary } from '../train/trainer.js';
