// workspace.h: the engine's scratch for one batch size B, allocated once and reused across runs
// (engine.h). Sizes use docs/inference-forward.md letters: T0 = P + Np rows before the queries,
// T1 = Q + P + Np after; the upscaled maps are [B, 2gh, 2gw, D] and [B, 4gh, 4gw, D] channels-last.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "common/status.h"
#include "engine/config.h"

namespace r4p::engine {

struct FreeFloats {
  void operator()(float* p) const { std::free(p); }
};
using FloatBuf = std::unique_ptr<float[], FreeFloats>;

class Workspace {
 public:
  // Allocates everything for batch size B; kOutOfMemory (with the size) on failure.
  static Status create(const EngineConfig& c, int64_t B, std::unique_ptr<Workspace>* out);

  int64_t B = 0;
  FloatBuf x0;          // [B,T0,D] sequence before the queries are prepended
  FloatBuf x1;          // [B,T1,D] sequence with the queries
  FloatBuf cols;        // [B*Np, 3p^2] im2col of the patches
  std::vector<int32_t> pe_crow, pe_rrow;  // [B*Np] patch-embedding GEMM: output row in x0, pos_embed row
  // policy predictor
  FloatBuf sel_h, sel_u, sel_logits, sel_score;  // [B*Np,D], [B*Np,W], [B*Np,2], [B*Np]
  std::vector<uint8_t> active;                   // [B*Np] 1 = patch still active
  std::vector<int32_t> topk;                     // [B*Np] kept patches per row (ascending)
  std::vector<int32_t> idx;                      // [B*T1] rows a block runs on (ascending)
  std::vector<int32_t> kept;                     // [B] dynamic keep: patches active per image (topk row stride Np)
  std::vector<int32_t> offsets;                  // [B+1] dynamic keep: varlen row offsets into idx
  std::vector<int32_t> tokens0;                  // [B] superpatches: patch tokens of each image after merging
  std::vector<float> sp_logits;                  // [B*wh*ww] superpatch policy logits
  std::vector<uint8_t> sp_merged;                // [B*wh*ww] 1 = window merged
  std::vector<float> ex_logits;                  // [B*Np*(C+1)] early-exit head logits, then probabilities
  std::vector<float> ex_conf;                    // [B*Np] early-exit confidences (-conf as top-k keys)
  // decode
  FloatBuf yq, t1, t2, emb;  // [B*Q, D]
  FloatBuf cls;              // [B*Q, C+1] (non-final decode points)
  FloatBuf probs;            // [B*Q, C]
  FloatBuf yp;               // [B*Np, D] normalised patch rows = [B,gh,gw,D]
  FloatBuf up_a, up_b;       // [B*16*Np*D] each scale block's ConvTranspose output (a) and depthwise+LN output (b)
  FloatBuf up_c;             // [B*4*Np*D] the first scale block's output: the second reads it while writing a and b
  FloatBuf masks;            // [B*Q*16*Np] (non-final decode points)
  std::vector<int32_t> up_crow[2];  // [4 * B*Np * 4^j] ConvTranspose output pixel of input pixel, per sub-pixel
  // [2 * B*Np * 4^j] the same for sub-pixel pairs (i, 0..1), in units of two pixels: the CPU head runs the
  // ConvTranspose as two GEMMs of N = 2D (row i of the 2x2 output), each output row two adjacent pixels
  std::vector<int32_t> up_crow_pair[2];

 private:
  Workspace() = default;
};

}  // namespace r4p::engine
