// policy.cc: SPEC §3 policy predictor s and the nested top-k (docs/inference-forward.md step 4.2).
//   h = RMSNorm(x_patch) * norm.weight                 every patch row of the full map, stale rows too
//   u = GELU(h fc1^T + fc1.bias)                        one gemm, GELU in its epilogue
//   logits = (u fc2^T + fc2.bias) * ls.gamma           one gemm, LayerScale as the epilogue's col_scale
//   score = softmax(logits)[0]
//   kept = gumbel_topk(score, k_s, noise = false, active)   ascending, ties to the lower index
// The new kept set replaces ws_->topk and the active mask (nested: only active patches can be chosen).
// Dynamic keep (SessionOptions::dynamic, select_dynamic): per image k_b = max(#{active n: score_n >= threshold},
// min(min_keep, active_b)), then the same top-k on that image alone, its list at topk[b*Np], k_b in ws_->kept.
#include <algorithm>

#include "engine/engine.h"
#include "engine/layers.h"
#include "engine/workspace.h"
#include "kernels/registry.h"

namespace r4p::engine {

Status Engine::select_tokens(int64_t s, const float* x, int64_t T, int64_t Qcur, int64_t B) {
  const EngineConfig& c = config();
  const SelectorWeights& sw = model_->selector(s);
  const int64_t D = c.D, Np = c.Np(), W = c.selector_width, first = Qcur + c.P(), M = B * Np;
  Workspace& w = *ws_;
  rms_norm_rows(
      M, D, [&](int64_t r) { return x + ((r / Np) * T + first + r % Np) * D; }, w.sel_h.get(), sw.norm_w, 1e-6f);
  {
    GemmArgs g;
    g.M = M; g.N = W; g.K = D;
    g.A = w.sel_h.get(); g.lda = D;
    g.B = sw.fc1_w; g.ldb = D; g.transB = true;
    g.C = w.sel_u.get(); g.ldc = W;
    g.bias = sw.fc1_b;
    g.act = Activation::kGelu;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  {
    GemmArgs g;
    g.M = M; g.N = 2; g.K = W;
    g.A = w.sel_u.get(); g.lda = W;
    g.B = sw.fc2_w; g.ldb = W; g.transB = true;
    g.C = w.sel_logits.get(); g.ldc = 2;
    g.bias = sw.fc2_b;
    g.col_scale = sw.ls;
    R4P_RETURN_IF_ERROR(gemm(g));
  }
  keep_scores(w.sel_logits.get(), M, w.sel_score.get());
  if (opts_.dynamic) return select_dynamic(B);

  const int64_t k = stage_k_[static_cast<size_t>(s)];
  GumbelTopKArgs t;
  t.logits = w.sel_score.get();
  t.active = w.active.data();
  t.out = w.topk.data();
  t.B = B; t.N = Np; t.k = k;
  t.seed = 0; t.noise = false;
  R4P_RETURN_IF_ERROR(gumbel_topk(t));
  std::fill(w.active.begin(), w.active.begin() + M, uint8_t{0});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < k; ++j) w.active[b * Np + w.topk[b * k + j]] = 1;
  active_k_ = k;
  return Status::Ok();
}

Status Engine::select_dynamic(int64_t B) {
  const int64_t Np = config().Np();
  Workspace& w = *ws_;
  for (int64_t b = 0; b < B; ++b) {
    const float* score = w.sel_score.get() + b * Np;
    uint8_t* active = w.active.data() + b * Np;
    int64_t pass = 0;
    for (int64_t n = 0; n < Np; ++n) pass += (active[n] && static_cast<double>(score[n]) >= opts_.threshold) ? 1 : 0;
    const int64_t k = std::max(pass, std::min<int64_t>(opts_.min_keep, w.kept[b]));
    GumbelTopKArgs t;
    t.logits = score;
    t.active = active;
    t.out = w.topk.data() + b * Np;
    t.B = 1; t.N = Np; t.k = k;
    t.seed = 0; t.noise = false;
    R4P_RETURN_IF_ERROR(gumbel_topk(t));
    std::fill(active, active + Np, uint8_t{0});
    for (int64_t j = 0; j < k; ++j) active[t.out[j]] = 1;
    w.kept[b] = static_cast<int32_t>(k);
  }
  varlen_ = true;
  return Status::Ok();
}

}  // namespace r4p::engine
