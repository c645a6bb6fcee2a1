/**
 * The CUDA policyAttention GPU cases with every kernel forced onto the SIMT path (REG4PRU_CUDA_ATTN=simt,
 * read once per process at the first attention launch; vitest runs each file in its own fork), so the BF16
 * SIMT kernels are compared with the CPU op too, not only the tensor-core ones. Skips without a device.
 */
import { runAttnSuite } from './attnSuite.js';

process.env.REG4PRU_CUDA_ATTN = 'simt';
runAttnSuite('(SIMT forced)');
