// early_exit.cc: STEP early exits in the CPU engine (engine.h EarlyExitOptions; src/model/earlyExit.ts).
//   after block blocks[e]: the active patch rows of every image, packed, -> LayerNorm (eps 1e-6) -> one GEMM with the
//   head's fc -> conf = max softmax over C+1 = 1 / sum exp(l - max l); image b keeps k_b = max(#{conf <= threshold}, min(min_active, active_b))
//   of them, the least confident (top-k of -conf among the active, ties to the lower index), halted[e*B + b] the rest.
// Halted rows keep their values (the decoder reads the full map), exactly as pruned rows do.
#include <algorithm>
#include <cmath>

#include "engine/engine.h"
#include "engine/layers.h"
#include "engine/workspace.h"
#include "kernels/registry.h"

namespace r4p::engine {

namespace {
constexpr float kLnEps = 1e-6f;
}

void Engine::to_per_image(int64_t B) {
  if (varlen_) return;
  const int64_t Np = config().Np();
  Workspace& w = *ws_;
  // rows of [B, active_k_] move to stride Np, the last row first (its target lies past every unread source)
  for (int64_t b = B - 1; b >= 0; --b) {
    int32_t* dst = w.topk.data() + b * Np;
    if (active_k_ == Np) {
      for (int64_t n = 0; n < Np; ++n) dst[n] = static_cast<int32_t>(n);
    } else {
      std::copy_backward(w.topk.data() + b * active_k_, w.topk.data() + (b + 1) * active_k_, dst + active_k_);
    }
    w.kept[b] = static_cast<int32_t>(active_k_);
  }
  varlen_ = true;
}

Status Engine::exit_tokens(int64_t e, const float* x, int64_t T, int64_t Qcur, int64_t B, int32_t* halted) {
  const EngineConfig& c = config();
  const EarlyExitOptions& o = opts_.exits;
  const int64_t D = c.D, Np = c.Np(), C1 = c.C1(), first = Qcur + c.P();
  to_per_image(B);
  Workspace& w = *ws_;
  // packed rows: image b's active patches at offsets[b] .. offsets[b+1]
  int32_t* off = w.offsets.data();
  off[0] = 0;
  for (int64_t b = 0; b < B; ++b) off[b + 1] = off[b] + w.kept[b];
  const int64_t M = off[B];
  layer_norm_rows(
      M, D,
      [&](int64_t r) {
        const int64_t b = std::upper_bound(off + 1, off + B + 1, static_cast<int32_t>(r)) - (off + 1);
        return x + (b * T + first + w.topk[b * Np + (r - off[b])]) * D;
      },
      w.sel_h.get(), o.norm_w[size_t(e)], o.norm_b[size_t(e)], kLnEps);
  GemmArgs g;
  g.M = M; g.N = C1; g.K = D;
  g.A = w.sel_h.get(); g.lda = D;
  g.B = o.fc_w[size_t(e)]; g.ldb = D; g.transB = true;
  g.C = w.ex_logits.data(); g.ldc = C1;
  g.bias = o.fc_b[size_t(e)];
  R4P_RETURN_IF_ERROR(gemm(g));
  for (int64_t b = 0; b < B; ++b) {
    float* key = w.ex_conf.data() + b * Np;  // -conf per patch (inactive ones are never chosen)
    const int64_t kb = w.kept[b];
    int64_t stay = 0;
    for (int64_t j = 0; j < kb; ++j) {
      // conf = max_c softmax(l)_c = 1 / sum_c exp(l_c - max l)
      const float* l = w.ex_logits.data() + (off[b] + j) * C1;
      const float m = *std::max_element(l, l + C1);
      float s = 0.f;
      for (int64_t q = 0; q < C1; ++q) s += std::exp(l[q] - m);
      const float conf = 1.f / s;
      key[w.topk[b * Np + j]] = -conf;
      stay += static_cast<double>(conf) <= o.threshold ? 1 : 0;
    }
    const int64_t k = std::max(stay, std::min<int64_t>(o.min_active, kb));
    uint8_t* active = w.active.data() + b * Np;
    GumbelTopKArgs t;
    t.logits = key; t.active = active; t.out = w.topk.data() + b * Np;
    t.B = 1; t.N = Np; t.k = k;
    t.seed = 0; t.noise = false;
    R4P_RETURN_IF_ERROR(gumbel_topk(t));
    std::fill(active, active + Np, uint8_t{0});
    for (int64_t j = 0; j < k; ++j) active[t.out[j]] = 1;
    if (halted) halted[e * B + b] = static_cast<int32_t>(kb - k);
    w.kept[b] = static_cast<int32_t>(k);
  }
  return Status::Ok();
}

}  // namespace r4p::engine
