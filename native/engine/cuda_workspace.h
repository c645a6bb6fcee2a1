// cuda_workspace.h: the CUDA engine's device scratch for one batch size B (cuda_engine.h), the device twin
// of workspace.h: one allocation cut into 256-byte aligned slices, plus the row maps of the fused GEMM
// epilogues, computed on the host and uploaded once when the workspace is created (never during a run).
// Letters as workspace.h: T0 = P + Np, T1 = Q + P + Np; upscaled maps channels-last [B, 4gh, 4gw, D].
// `gemm_t` (F32, or BF16 in the engine's BF16 mode) is the dtype of the buffers that only feed GEMMs (marked
// "gemm_t" below: im2col columns, normalised rows, MLP hiddens, mask embeddings, the depthwise map); they are
// sized for 4-byte elements either way. The residual streams x0/x1, scores, logits and outputs are F32.
// The scratch of the blocks and of the top-k is part of the workspace, so a forward allocates nothing (it is
// captured as a CUDA graph, cuda_engine.h).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "engine/config.h"
#include "engine/cuda_engine.h"
#include "kernels/cuda/cuda_runtime_api.h"

namespace r4p::engine {

struct CudaWorkspace {
  static Status create(const EngineConfig& c, int64_t B, cuda::DType gemm_t, std::unique_ptr<CudaWorkspace>* out);

  int64_t B = 0;
  DeviceBuffer mem;
  float* images;                        // [B,3,Himg,Wimg]
  float *x0, *x1;                       // [B,T0,D], [B,T1,D]
  void* cols;                           // [B*Np,3p^2] gemm_t
  void *sel_h, *sel_u;                  // [B*Np,D], [B*Np,W] gemm_t
  float *sel_logits, *sel_score;        // [B*Np,2], [B*Np]
  uint8_t* active;                      // [B*Np]
  int32_t *topk, *idx;                  // [B*Np], [B*T1]
  void *yq, *t1, *t2, *emb;             // [B*Q,D] gemm_t
  float *cls, *probs;                   // [B*Q,C+1] (non-final decode points), [B*Q,C]
  void* yp;                             // [B*Np,D] gemm_t
  float* up_a;                          // [B*16Np*D]
  void* up_b;                           // [B*16Np*D] gemm_t
  float* masks;                         // [B*Q*16Np] (non-final decode points)
  void* block_scratch;                  // cuda::pruned_block_scratch_bytes for the largest block call
  void* topk_scratch;                   // cuda::gumbel_topk_scratch_bytes(B, Np)
  size_t block_scratch_bytes = 0, topk_scratch_bytes = 0;
  int32_t *pe_crow, *pe_rrow;           // [B*Np]: patch row -> sequence row, pos_embed row
  int32_t* up_crow[2];                  // [4 * B*Np*4^j]: ConvTranspose input pixel -> output pixel, per sub-pixel
  float* out;                           // every output of a run: semantic | class | mask | per-block maps
  std::vector<float> host;              // host staging of `out` (one download per run)
};

// The Status of a failed launcher, prefixed with the engine and the layer: "InferenceSession(cuda) <layer>: ...".
Status cuda_layer_status(const char* layer, Status s);

}  // namespace r4p::engine
