/**
 * reg4pru: fused native token-pruning ops for Vision Transformers (SPEC §5), public exports only.
 */
export { info, setThreads, getThreads, setKernel, getKernel, type KernelChoice, type KernelVariant } from './runtime.js';
export type { BuildInfo, CudaDevice, NativeCudaRunInfo as CudaRunInfo, Seed } from './native.js';
export type { F32Tensor, I32Tensor, U8Tensor } from './validate.js';

// ---- gather / scatter
export { gatherTokens, gatherTokensBackward, type DeviceOptions } from './ops/gatherTokens.js';
export { scatterTokens, scatterTokensBackward } from './ops/scatterTokens.js';

// ---- gemm
export { matmul, matmulDims, type Activation, type MatmulOptions, type MatmulDims } from './ops/matmul.js';

// ---- policyAttention
export {
  policyAttention,
  policyAttentionAsync,
  policyAttentionBackward,
  policyAttentionBackwardAsync,
  policyAttentionDims,
  type PolicyAttentionDims,
  type PolicyAttentionOptions,
  type PolicyAttentionGrads,
} from './ops/policyAttention.js';

// ---- prunedBlock
export { prunedBlock, prunedBlockAsync, prunedBlockDims, PRUNED_BLOCK_WEIGHT_NAMES, type PrunedBlockWeights, type PrunedBlockWeightName, type PrunedBlockOptions, type PrunedBlockDims } from './ops/prunedBlock.js';

// ---- gumbelTopK / gumbelSoftmaxST
export { gumbelTopK, gumbelTopKDims, type GumbelTopKOptions } from './ops/gumbelTopK.js';
export { gumbelSoftmaxST, gumbelSoftmaxSTBackward, type GumbelSoftmaxSTOptions } from './ops/gumbelSoftmaxST.js';

// ---- softmax (used by the native TF.js backend)
export { softmaxRows } from './ops/softmaxRows.js';
export { superpatchPolicy } from './ops/superpatchPolicy.js';

// ---- cuda
// The CUDA ops take and return DeviceTensors: `cuda.upload(t)`, `cuda.gatherTokens(x, idx)`, ...; the host
// ops above also take `{ device: 'cuda' }` (upload -> run -> download). See src/cuda/index.ts.
export * as cuda from './cuda/index.js';
export { DeviceTensor, cudaAvailable, cudaTime, type CudaDtype, type CudaTimeOptions, type CudaTiming } from './cuda/index.js';

// ---- cuda attention
// cuda.policyAttention / cuda.policyAttentionBackward / cuda.linear / cuda.prunedBlock (DeviceTensors) come with
// the `cuda` namespace above; the types are re-exported here.
export type { CudaPolicyAttentionOptions, CudaPolicyAttentionGrads, CudaLinearOptions, CudaBlockWeights, CudaPrunedBlockOptions } from './cuda/index.js';

// TF.js integration lives at the `reg4pru/tfjs` subpath (src/tfjs/index.ts), so importing the ops
// does not load TensorFlow.js.

// ---- checkpoints and model config
export { saveCheckpoint, loadCheckpoint, CONFIG_KEY, type Checkpoint } from './checkpoint/checkpoint.js';
export { readInitWeights, type InitWeights } from './checkpoint/init.js';
export {
  readSafetensors,
  writeSafetensors,
  parseSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
  type SafetensorsReadTensor,
  type SafetensorsFile,
  type SafetensorsDtype,
} from './checkpoint/safetensors.js';
export { randomWeights, type InitScheme, type RandomWeightsOptions } from './model/weights.js';
export { modelConfig, validateConfig, weightShapes, patchGrid, PRESETS, type ModelConfig } from './model/config.js';

// ---- tomeBlock
export { tomeBlock, tomeBlockAsync, tomeBlockDims, tomeKeptRatio, tomeMergeCount, tomeSourceCount, type TomeMode, type TomeBlockOptions, type TomeBlockDims } from './ops/tomeBlock.js';

// ---- layerNorm / gelu (the TF.js training graph's LayerNorm and exact GELU, forward and backward)
export { layerNorm, layerNormBackward, layerNormDims, type LayerNormOptions, type LayerNormOutput, type LayerNormGrads, type LayerNormBackwardOptions } from './ops/layerNorm.js';
export { gelu, geluBackward } from './ops/gelu.js';

// ---- inference engine
export {
  InferenceSession,
  roundKeepCount,
  type InferenceSessionOptions,
  type InferenceSource,
  type SuperpatchPolicy,
  type InferenceResult,
  type RunOptions,
  type ToMeMode,
} from './engine/session.js';

// ---- ONNX export (the unpruned forward, opset 17; docs/onnx.md)
export { exportOnnx, withInputSize, type ExportOnnxOptions, type ExportOnnxResult, type ExportSource } from './export/exportOnnx.js';
export { eomtToOnnx, type EomtOnnxModel, type EomtOnnxOptions } from './export/eomtOnnx.js';

// ---- routing
export {
  routeSchedule,
  sampleRoute,
  routeSupport,
  resolveRanges,
  routeRng,
  routeKeepCount,
  type RouteSchedule,
  type RouteScheduleKind,
  type RouteScheduleOptions,
  type Route,
  type ResolvedRanges,
} from './routing/schedule.js';

// ---- metrics and losses
// Plain-TS parts only (SPEC §4, §7); the TF.js losses (setLoss, deepSupervisionLoss, ratioLoss,
// policyLoss) are exported from `reg4pru/tfjs`.
export {
  dice,
  diceCounts,
  diceFromCounts,
  averagePrecision,
  evaluateBlocks,
  APAccumulator,
  BlockMetricsAccumulator,
  type APAccumulatorOptions,
  type BlockMetrics,
  type DiceCounts,
} from './eval/metrics.js';
export { evaluate, type EvaluateOptions, type EvaluateResult } from './eval/evaluate.js';
export { hungarian, matchingCost, matchImage, vesselTargets, DEFAULT_MATCH_WEIGHTS, type ImageTargets, type Match, type MatchWeights } from './train/matching.js';
export { policyTargets, policyTargetsBatch, distanceTransform, morphologicalGradient, resizeArea, type PolicyTargetKind } from './train/targets.js';

// ---- data
export { mixSeed, type SegSample } from './data/sample.js';
export { syntheticFundus, syntheticDataset, syntheticSamples, type SyntheticSample } from './data/synthetic.js';
export {
  listFives,
  loadSample,
  splitCounts,
  quadrantRegion,
  DatasetError,
  type FivesSample,
  type ListFivesOptions,
  type LoadSampleOptions,
  type Split,
} from './data/fives.js';
export {
  augment,
  normalizeImageNet,
  flipPlane,
  rot90Plane,
  gaussianBlur,
  gaussianKernel,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type AugmentOptions,
  type AugmentRecord,
  type AugmentedSample,
} from './data/augment.js';
export { makeBatch, epochBatches, type Batch } from './data/batch.js';

// ---- DINOv2 import
export {
  importDinov2,
  resamplePatchEmbed,
  resamplePosEmbed,
  resizeMatrix,
  type Dinov2Import,
  type Dinov2ImportOptions,
  type Dinov2ImportReport,
  type ResizeMode,
  type TimmStateDict,
} from './checkpoint/dinov2.js';

// ---- training schedule (plain TS; the TF.js optimiser and trainer are in `reg4pru/tfjs`)
export { lrAt, paramInfo, fitWarmup, type LrSchedule, type ParamGroup, type ParamInfo } from './train/schedule.js';
