// workspace.h: the engine's scratch for one batch size B, allocated once and reused across runs
// (engine.h). Sizes use docs/inference-forward.md letters: T0 = P + Np rows before the queries,
// T1 = Q + P + Np after; the first scale block's map is [B, 2gh, 2gw, D] channels-last, the second's runs in bands.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "common/status.h"
#include "engine/config.h"

namespace r4p::engine {

// Input rows per band of a scale block with an h x w input (decode.cc 5.3): about 512 input pixels, whose
// ConvTranspose output (4 x 512 pixels, 3 MiB at D = 384) the depthwise+LN then reads from the caches.
inline int64_t upscale_band_rows(int64_t h, int64_t w) {
  const int64_t r = 512 / w;
  return r < 1 ? 1 : r > h ? h : r;
}

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
  // The scale blocks (decode.cc 5.3) run per image in bands of upscale_band_rows input rows. up_a: one band's
  // ConvTranspose output [(2*band + 2) rows of 2w pixels, D] (two rows of the band before it first, the depthwise's
  // halo); up_b: the second block's depthwise+LN rows of one band [(2*band + 1) rows of 4gw pixels, D], read by the
  // mask logits; up_c: the first block's output, the whole [B, 2gh, 2gw, D] (the second block reads all of it).
  FloatBuf up_a, up_b, up_c;
  // [2 * band * w] per scale block: the up_a row (in units of two pixels) that input pixel (y', x) of a band
  // writes for output row i of its 2x2 block: (2y' + i + 2) w + x (the GEMM's c_rows, the same for every band)
  std::vector<int32_t> up_band_crow[2];
  FloatBuf masks;  // [B*Q*16*Np] (non-final decode points)

 private:
  Workspace() = default;
};

}  // namespace r4p::engine
