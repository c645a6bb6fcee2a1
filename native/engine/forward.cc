// forward.cc: the backbone of docs/inference-forward.md steps 1-4 and the run loop (engine.h).
//   patch embedding: im2col + ONE gemm whose epilogue adds the bias and pos_embed (r_rows = n) and
//     writes straight into the sequence rows P.. (c_rows), so no [B,Np,D] copy exists;
//   prefix rows: cls | registers copied per batch row;
//   blocks: r4p::pruned_block_fwd in place (idx null when every row is active; otherwise the active
//     rows ascending, one equal-length list per batch row, or with dynamic keep one list of its own length
//     per batch row, packed with offsets: variable-length rows), or the ToMe hook;
//   queries: prepended by copying the [B,T0,D] map into rows Q.. of the [B,T1,D] buffer once.
// Policy selection lives in policy.cc, the head in decode.cc.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <new>

#include "engine/engine.h"
#include "kernels/precision.h"
#include "engine/layers.h"
#include "engine/workspace.h"
#include "kernels/registry.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace r4p::engine {

namespace {
constexpr float kLnEps = 1e-6f;
}

Engine::~Engine() = default;

int64_t round_keep_count(int64_t k, int64_t P, int64_t Np, int64_t m) {
  if (m <= 1) return k;
  int64_t r = ((P + k + m / 2) / m) * m - P;
  while (r < 1) r += m;
  return std::min(Np, r);
}

std::vector<int64_t> stage_keep_counts(const EngineConfig& c, const SessionOptions& opts) {
  std::vector<int64_t> ks;
  if (!opts.prune || opts.dynamic) return ks;
  for (size_t s = 0; s < c.stage_blocks.size(); ++s) {
    const double frac = std::pow(opts.keep, static_cast<double>(s + 1));
    const int64_t k = static_cast<int64_t>(std::floor(frac * static_cast<double>(c.Np()) + 0.5));
    ks.push_back(round_keep_count(std::min(c.Np(), std::max<int64_t>(1, k)), c.P(), c.Np(), opts.round_keep));
  }
  return ks;
}

Status Engine::create(std::unique_ptr<Model> model, const SessionOptions& opts, std::unique_ptr<Engine>* out) {
  if (!model) return internal_error("InferenceSession: no model");
  if (opts.prune && !(opts.keep > 0.0 && opts.keep <= 1.0))
    return range_error("InferenceSession: expected options.keep in (0, 1], received ", opts.keep);
  if (!(opts.round_keep >= 1 && opts.round_keep <= 1024))
    return range_error("InferenceSession: expected options.roundKeep to be an integer in [1, 1024], received ", opts.round_keep);
  if (opts.dynamic) {
    if (!opts.prune) return internal_error("InferenceSession: options.dynamic needs prune");
    if (!(opts.threshold >= 0.0 && opts.threshold <= 1.0))
      return range_error("InferenceSession: expected options.threshold in [0, 1], received ", opts.threshold);
    if (!(opts.min_keep >= 1 && opts.min_keep <= INT32_MAX))
      return range_error("InferenceSession: expected options.minKeep to be an integer >= 1, received ", opts.min_keep);
    if (opts.round_keep > 1)
      return range_error("InferenceSession: options.roundKeep applies to fixed keep ratios, not keep 'dynamic' (received roundKeep ", opts.round_keep, ")");
  }
  if (opts.tome.mode != ToMeMode::kOff) {
    if (opts.prune) return range_error("InferenceSession: options.tome and options.keep cannot be combined (ToMe is a baseline for unpruned runs)");
    if (!(opts.tome.merge_ratio >= 0.0 && opts.tome.merge_ratio < 1.0))
      return range_error("InferenceSession: expected options.tome.mergeRatio in [0, 1), received ", opts.tome.merge_ratio);
    if (!tome_available())
      return Status::Make(StatusCode::kUnavailable, "InferenceSession: options.tome was given, but the ToMe block op is not built into this addon yet");
  }
  if (opts.bf16 && !cpu_has_avx512_bf16())
    return Status::Make(StatusCode::kUnavailable, std::string("InferenceSession: options.precision 'bf16' needs a CPU with AVX-512 BF16 ") +
                                                      "(vdpbf16ps); this one has '" + cpu_simd_name() + "': use precision 'fp32'");
  std::unique_ptr<Engine> e(new (std::nothrow) Engine());
  if (!e) return Status::Make(StatusCode::kOutOfMemory, "InferenceSession: out of memory");
  e->opts_ = opts;
  const EngineConfig& c = model->config();
  e->stage_k_ = stage_keep_counts(c, opts);
  e->model_ = std::move(model);
  *out = std::move(e);
  return Status::Ok();
}

int64_t Engine::semantic_size(int64_t B) const { return engine::semantic_size(config(), B); }
int64_t Engine::class_logits_size(int64_t B) const { return engine::class_logits_size(config(), B); }
int64_t Engine::mask_logits_size(int64_t B) const { return engine::mask_logits_size(config(), B); }

Status Engine::ensure_workspace(int64_t B) {
  if (ws_ && ws_->B == B) return Status::Ok();
  ws_.reset();  // free the old one first: two full workspaces may not fit
  return Workspace::create(config(), B, &ws_);
}

// Steps 2-3: x0 [B,T0,D] = [cls | registers | patch_embed(img) + pos_embed].
Status Engine::patch_embed(const float* images, int64_t B) {
  const EngineConfig& c = config();
  const Model& m = *model_;
  const int64_t D = c.D, Np = c.Np(), P = c.P(), T0 = P + Np, Kc = 3 * c.patch * c.patch;
  Workspace& w = *ws_;
  im2col_patches(images, B, c.image_h, c.image_w, c.patch, w.cols.get());
  for (int64_t b = 0; b < B; ++b) {
    float* row = w.x0.get() + b * T0 * D;
    std::memcpy(row, m.cls_token, D * sizeof(float));
    if (c.R > 0) std::memcpy(row + D, m.reg_token, c.R * D * sizeof(float));
  }
  GemmArgs g;
  g.M = B * Np; g.N = D; g.K = Kc;
  g.A = w.cols.get(); g.lda = Kc;
  g.B = m.patch_w; g.ldb = Kc; g.transB = true;  // Conv2d weight [D,3,p,p] = Linear [D, 3p^2]
  g.C = w.x0.get(); g.ldc = D; g.c_rows = w.pe_crow.data();
  g.bias = m.patch_b;
  g.residual = m.pos_embed; g.ldr = D; g.r_rows = w.pe_rrow.data();
  return gemm(g);
}

// Step 4.1: x1 [B,T1,D] = [queries | x0].
void Engine::insert_queries(int64_t B) {
  const EngineConfig& c = config();
  const int64_t D = c.D, Q = c.Q, T0 = c.P() + c.Np(), T1 = Q + T0;
  Workspace& w = *ws_;
  parallel_for(B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* dst = w.x1.get() + b * T1 * D;
      std::memcpy(dst, model_->queries, Q * D * sizeof(float));
      std::memcpy(dst + Q * D, w.x0.get() + b * T0 * D, T0 * D * sizeof(float));
    }
  });
}

// Step 4.3: block i in place on x [B,T,D]; the active rows are the Qcur + P always-active rows and
// the active_k_ kept patches of each batch row (ws_->topk, ascending).
Status Engine::run_block(int64_t i, float* x, int64_t T, int64_t Qcur, int64_t B) {
  const EngineConfig& c = config();
  const int64_t fixed = Qcur + c.P(), Np = c.Np();
  PrunedBlockArgs a;
  a.x = x; a.out = x; a.B = B; a.N = T;
  a.w = model_->block(i);
  packed_.attach(i, &a.w);
  a.ln_eps = kLnEps;
  if (varlen_) {
    // dynamic keep: row b = its fixed rows + its own kept patches, packed (PrunedBlockArgs::offsets)
    int32_t* idx = ws_->idx.data();
    int32_t* off = ws_->offsets.data();
    off[0] = 0;
    for (int64_t b = 0; b < B; ++b) {
      int32_t* row = idx + off[b];
      const int64_t kb = ws_->kept[b];
      for (int64_t r = 0; r < fixed; ++r) row[r] = static_cast<int32_t>(r);
      const int32_t* kept = ws_->topk.data() + b * Np;
      for (int64_t k = 0; k < kb; ++k) row[fixed + k] = static_cast<int32_t>(fixed + kept[k]);
      off[b + 1] = static_cast<int32_t>(off[b] + fixed + kb);
    }
    a.idx = idx;
    a.offsets = off;
    a.K = off[B];
  } else if (active_k_ == Np) {
    a.idx = nullptr;
    a.K = T;
  } else {
    const int64_t K = fixed + active_k_;
    int32_t* idx = ws_->idx.data();
    for (int64_t b = 0; b < B; ++b) {
      int32_t* row = idx + b * K;
      for (int64_t r = 0; r < fixed; ++r) row[r] = static_cast<int32_t>(r);
      const int32_t* kept = ws_->topk.data() + b * active_k_;
      for (int64_t k = 0; k < active_k_; ++k) row[fixed + k] = static_cast<int32_t>(fixed + kept[k]);
    }
    a.idx = idx;
    a.K = K;
  }
  if (opts_.tome.mode != ToMeMode::kOff) return tome_block_run(opts_.tome, a, fixed, config().gh(), config().gw());
  return pruned_block_fwd(a);
}

Status Engine::run(const float* images, int64_t B, const RunOutputs& out) {
  const EngineConfig& c = config();
  if (B < 1) return range_error("InferenceSession.run: expected B >= 1, received ", B);
  // the fused GEMM epilogues address rows with int32 (c_rows / r_rows): the largest row space is the
  // x4 upscaled map, B * 16 * Np pixels
  if (B * 16 * c.Np() >= (int64_t(1) << 31) || B * (c.Q + c.P() + c.Np()) >= (int64_t(1) << 31))
    return range_error("InferenceSession.run: expected B * 16 * Np < 2^31, received B=", B, " Np=", c.Np(), " (split the batch)");
  if (!out.per_block.empty() && static_cast<int64_t>(out.per_block.size()) != c.decode_points())
    return internal_error("InferenceSession.run: expected ", c.decode_points(), " per-block outputs, received ", out.per_block.size());
  try {
    R4P_RETURN_IF_ERROR(ensure_workspace(B));
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "InferenceSession.run: out of memory for the workspace");
  }
  // Every GEMM of this forward (this thread dispatches them all) in the session's precision.
  const ScopedMatmulPrecision precision(opts_.bf16 ? MatmulPrecision::kBf16 : MatmulPrecision::kFp32);
  R4P_RETURN_IF_ERROR(packed_.ensure(*model_, gemm_kernel_id()));
  Workspace& w = *ws_;
  const int64_t Np = c.Np(), T0 = c.P() + Np, T1 = c.Q + T0;
  active_k_ = Np;
  varlen_ = false;
  std::fill(w.active.begin(), w.active.begin() + B * Np, uint8_t{1});
  std::fill(w.kept.begin(), w.kept.begin() + B, static_cast<int32_t>(Np));

  clock_ = EnginePhaseClock();
  R4P_RETURN_IF_ERROR(patch_embed(images, B));
  clock_.lap(kEmbed);

  bool queries = false;
  size_t stage = 0;
  for (int64_t i = 0; i < c.L; ++i) {
    if (i == c.query_block() && !queries) {
      insert_queries(B);
      queries = true;
    }
    float* x = queries ? w.x1.get() : w.x0.get();
    const int64_t T = queries ? T1 : T0, Qcur = queries ? c.Q : 0;
    if (opts_.prune && stage < c.stage_blocks.size() && i == c.stage_blocks[stage]) {
      R4P_RETURN_IF_ERROR(select_tokens(static_cast<int64_t>(stage), x, T, Qcur, B));
      if (out.kept)
        for (int64_t b = 0; b < B; ++b)
          out.kept[stage * B + b] = static_cast<int32_t>(opts_.dynamic ? w.kept[b] : active_k_);
      ++stage;
      clock_.lap(kSelect);
    }
    R4P_RETURN_IF_ERROR(run_block(i, x, T, Qcur, B));
    clock_.lap(kBlocks);
    const bool last = i == c.L - 1;
    if (!out.per_block.empty() && i >= c.first_decode() && !last) {
      // decode point L-Bq-1 sees the queries already prepended (as block L-Bq will)
      if (!queries) {
        insert_queries(B);
        queries = true;
      }
      R4P_RETURN_IF_ERROR(decode(w.x1.get(), B, out.per_block[static_cast<size_t>(i - c.first_decode())],
                                 w.cls.get(), w.masks.get()));
    }
  }
  if (!queries) return internal_error("InferenceSession.run: queries were never inserted");  // Bq >= 1 makes this unreachable
  R4P_RETURN_IF_ERROR(decode(w.x1.get(), B, out.semantic, out.class_logits, out.mask_logits));
  if (!out.per_block.empty())
    std::memcpy(out.per_block.back(), out.semantic, static_cast<size_t>(semantic_size(B)) * sizeof(float));
  clock_.report("[reg4pru engine B=" + std::to_string(B) + "]", kPhaseNames);
  return Status::Ok();
}

}  // namespace r4p::engine
