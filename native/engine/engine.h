// engine.h: the native inference forward of the EoMT-style pruned segmenter (SPEC §2, §3;
// docs/inference-forward.md is the exact contract), float32, CPU, no TF.js.
//
//   images [B,3,Himg,Wimg] -> semantic [B,C,Himg,Wimg], class logits [B,Q,C+1],
//                             mask logits [B,Q,4gh,4gw] (before the bilinear resize),
//                             optional per-block semantic maps (decode points L-Bq-1 ... L-1).
//
// An Engine owns a Model and one Workspace: scratch sized for the last batch size seen, allocated on
// the first run with that B and reused by every later run (a different B reallocates once). run() is
// not re-entrant: one run at a time per Engine (the N-API session rejects a second concurrent run).
// All kernels go through the registry (ref / avx2, forced or auto) and the shared thread pool.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "common/status.h"
#include "engine/model.h"
#include "engine/packed_weights.h"
#include "engine/profile.h"
#include "engine/tome_hook.h"

namespace r4p::engine {

struct SessionOptions {
  bool prune = false;  // false: every block sees every token
  double keep = 1.0;   // base keep ratio rho in (0, 1]; stage s keeps floor(rho^(s+1) Np + 0.5) (>= 1)
  // SPEC §3 optional rounding: with m > 1, each stage's k moves to the nearest value (ties up) for which
  // prefix + k is a multiple of m, kept in [1, Np] (GEMM / tensor-core row counts). 1 = off. See round_keep.
  int64_t round_keep = 1;
  // Dynamic per-image keep (SViT; prune must be true, keep and round_keep unused): stage s keeps, in each image,
  // the still-active patches whose keep score is >= threshold, and at least min(min_keep, active) of them (the
  // top ones by score, ties to the lower index: the passing patches are always among them). Images of one
  // batch then keep different counts: the blocks run variable-length rows (PrunedBlockArgs::offsets).
  bool dynamic = false;
  double threshold = 0.5;  // in [0, 1]; 0 keeps every active patch
  int64_t min_keep = 1;    // >= 1
  ToMeOptions tome;
  // FP32, or BF16 GEMM operands with FP32 sums (kernels/precision.h; the avx512 kernels on AVX512_BF16 CPUs).
  bool bf16 = false;
};

struct RunOutputs {
  float* semantic = nullptr;      // [B,C,Himg,Wimg]
  float* class_logits = nullptr;  // [B,Q,C+1]
  float* mask_logits = nullptr;   // [B,Q,4gh,4gw]
  std::vector<float*> per_block;  // empty, or decode_points() maps [B,C,Himg,Wimg] each
  int32_t* kept = nullptr;        // optional [S,B] (S = pruning stages, when pruning): patches kept per stage and image
};

class Workspace;

// The SPEC §3 rounding of one stage's kept-patch count k (P prefix tokens, Np patches, multiple m >= 1):
// the nearest k' with (P + k') % m == 0 (ties up), raised by m while k' < 1, then capped at Np (where
// P + Np is no multiple of m, k = Np stays). Non-decreasing in k, so nested stages stay nested.
int64_t round_keep_count(int64_t k, int64_t P, int64_t Np, int64_t m);

// Patches kept after each pruning stage for these options (empty when not pruning): stage s keeps
// floor(rho^(s+1) Np + 0.5), at least 1, then round_keep_count. Shared by the CPU and CUDA engines.
std::vector<int64_t> stage_keep_counts(const EngineConfig& c, const SessionOptions& opts);

// Output element counts for batch B (docs/inference-forward.md step 6), shared by both engines.
inline int64_t semantic_size(const EngineConfig& c, int64_t B) { return B * c.classes * c.image_h * c.image_w; }
inline int64_t class_logits_size(const EngineConfig& c, int64_t B) { return B * c.Q * c.C1(); }
inline int64_t mask_logits_size(const EngineConfig& c, int64_t B) { return B * c.Q * 16 * c.Np(); }

class Engine {
 public:
  static Status create(std::unique_ptr<Model> model, const SessionOptions& opts, std::unique_ptr<Engine>* out);
  ~Engine();

  // images [B,3,Himg,Wimg] (finite, validated by the caller) -> outputs (sizes below, caller-owned).
  Status run(const float* images, int64_t B, const RunOutputs& out);

  const EngineConfig& config() const { return model_->config(); }
  const SessionOptions& options() const { return opts_; }
  // Patches kept after each stage (empty when not pruning).
  const std::vector<int64_t>& stage_keep() const { return stage_k_; }

  int64_t semantic_size(int64_t B) const;
  int64_t class_logits_size(int64_t B) const;
  int64_t mask_logits_size(int64_t B) const;

 private:
  Engine() = default;
  Status ensure_workspace(int64_t B);
  Status patch_embed(const float* images, int64_t B);
  void insert_queries(int64_t B);
  Status select_tokens(int64_t s, const float* x, int64_t T, int64_t Qcur, int64_t B);
  Status select_dynamic(int64_t B);  // policy.cc: the per-image choice of options().dynamic
  Status run_block(int64_t i, float* x, int64_t T, int64_t Qcur, int64_t B);
  Status decode(const float* x, int64_t B, float* semantic, float* class_logits, float* mask_logits);

  std::unique_ptr<Model> model_;
  SessionOptions opts_;
  std::vector<int64_t> stage_k_;
  std::unique_ptr<Workspace> ws_;
  int64_t active_k_ = 0;  // patches active now (Np when nothing is pruned yet)
  bool varlen_ = false;   // dynamic keep after its first stage: ws_->kept[b] patches per image (stride Np in topk)
  EnginePhaseClock clock_;  // REG4PRU_PROFILE phase times of the current run
  PackedBlockWeights packed_;  // block weights packed for the GEMM kernel of the last run
};

}  // namespace r4p::engine
