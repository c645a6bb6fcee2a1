/**
 * CUDA side of the public API (issue 6), exported from the package root as the `cuda` namespace:
 * `cuda.upload`, `cuda.gatherTokens`, ... Every op here takes and returns DeviceTensors.
 * Without a device every call throws Error("<op>: CUDA is not available: <reason>");
 * `cudaAvailable()` says so up front without throwing.
 */
// ---- cuda (device memory, timing, token ops)
export { DeviceTensor, cudaAvailable, upload, zeros, copy, synchronize, type CudaDtype, type HostTensor } from './deviceTensor.js';
export { cudaTime, type CudaTimeOptions, type CudaTiming } from './timer.js';
export {
  gatherTokens,
  gatherTokensBackward,
  scatterTokens,
  scatterTokensBackward,
  gumbelTopK,
  gumbelSoftmaxST,
  gumbelSoftmaxSTBackward,
  type CudaGumbelTopKOptions,
} from './tokenOps.js';
export type { Device } from './hostBridge.js';

// ---- cuda attention (helper B: policyAttention, prunedBlock, gemm)
export { policyAttention, policyAttentionBackward, type CudaPolicyAttentionOptions, type CudaPolicyAttentionGrads } from './policyAttention.js';
export { linear, type CudaLinearOptions } from './linear.js';
export { prunedBlock, uploadBlockWeights, freeBlockWeights, type CudaBlockWeights, type CudaPrunedBlockOptions } from './prunedBlock.js';
