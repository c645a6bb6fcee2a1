// cuda_workspace.h: the CUDA engine's device scratch for one batch size B (cuda_engine.h), the device twin
// of workspace.h: one allocation cut into 256-byte aligned slices, plus the row maps of the fused GEMM
// epilogues, computed on the host and uploaded once when the workspace is created (never during a run).
// Letters as workspace.h: T0 = P + Np, T1 = Q + P + Np; upscaled maps channels-last [B, 4gh, 4gw, D].
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "engine/config.h"
#include "engine/cuda_engine.h"

namespace r4p::engine {

struct CudaWorkspace {
  static Status create(const EngineConfig& c, int64_t B, std::unique_ptr<CudaWorkspace>* out);

  int64_t B = 0;
  DeviceBuffer mem;
  float* images;                        // [B,3,Himg,Wimg]
  float *x0, *x1, *cols;                // [B,T0,D], [B,T1,D], [B*Np,3p^2]
  float *sel_h, *sel_u, *sel_logits, *sel_score;  // [B*Np,D], [B*Np,W], [B*Np,2], [B*Np]
  uint8_t* active;                      // [B*Np]
  int32_t *topk, *idx;                  // [B*Np], [B*T1]
  float *yq, *t1, *t2, *emb;            // [B*Q,D]
  float *cls, *probs;                   // [B*Q,C+1] (non-final decode points), [B*Q,C]
  float *yp, *up_a, *up_b, *masks;      // [B*Np,D], [B*16Np*D] x2, [B*Q*16Np] (non-final decode points)
  int32_t *pe_crow, *pe_rrow;           // [B*Np]: patch row -> sequence row, pos_embed row
  int32_t* up_crow[2];                  // [4 * B*Np*4^j]: ConvTranspose input pixel -> output pixel, per sub-pixel
  float* out;                           // every output of a run: semantic | class | mask | per-block maps
  std::vector<float> host;              // host staging of `out` (one download per run)
};

// The Status of a failed launcher, prefixed with the engine and the layer: "InferenceSession(cuda) <layer>: ...".
Status cuda_layer_status(const char* layer, Status s);

}  // namespace r4p::engine
