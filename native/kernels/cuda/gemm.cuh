// gemm.cuh: the GEMM launcher without the availability check, for other .cu files of cuda-attn (prunedBlock
// chains five GEMMs on one stream). Semantics: attention_ops.h GemmDevArgs. Ran on an H200 on 2026-12-04
// (docs/gpu-results.md).
#pragma once
#include <cuda_runtime.h>

#include "kernels/cuda/attention_ops.h"

namespace r4p::cuda {

// Validates a (sizes, leading dimensions, dtypes) and enqueues the tensor-core (BF16) or SIMT (FP32) kernel.
Status gemm_launch(const GemmDevArgs& a, cudaStream_t stream, const char* op);

}  // namespace r4p::cuda
