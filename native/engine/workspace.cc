// workspace.cc: scratch allocation and the fixed row maps of the fused GEMM epilogues.
#include "engine/workspace.h"

#include <algorithm>
#include <new>

namespace r4p::engine {
namespace {

// 64-byte aligned (whole cache lines for the GEMM packing reads); null on failure.
FloatBuf alloc(int64_t n, size_t* total) {
  const size_t bytes = ((static_cast<size_t>(n < 1 ? 1 : n) * sizeof(float)) + 63) & ~size_t(63);
  *total += bytes;
  return FloatBuf(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

}  // namespace

Status Workspace::create(const EngineConfig& c, int64_t B, std::unique_ptr<Workspace>* out) {
  std::unique_ptr<Workspace> w(new (std::nothrow) Workspace());
  if (!w) return Status::Make(StatusCode::kOutOfMemory, "InferenceSession: out of memory for the workspace");
  const int64_t D = c.D, Np = c.Np(), P = c.P(), Q = c.Q, T0 = P + Np, T1 = Q + P + Np, W = c.selector_width;
  const int64_t gh = c.gh(), gw = c.gw();
  size_t total = 0;
  w->B = B;
  w->x0 = alloc(B * T0 * D, &total);
  w->x1 = alloc(B * T1 * D, &total);
  w->cols = alloc(B * Np * 3 * c.patch * c.patch, &total);
  w->sel_h = alloc(B * Np * D, &total);
  w->sel_u = alloc(B * Np * W, &total);
  w->sel_logits = alloc(B * Np * 2, &total);
  w->sel_score = alloc(B * Np, &total);
  w->yq = alloc(B * Q * D, &total);
  w->t1 = alloc(B * Q * D, &total);
  w->t2 = alloc(B * Q * D, &total);
  w->emb = alloc(B * Q * D, &total);
  w->cls = alloc(B * Q * c.C1(), &total);
  w->probs = alloc(B * Q * c.classes, &total);
  w->yp = alloc(B * Np * D, &total);
  int64_t band[2], ring_a = 0;
  for (int j = 0; j < 2; ++j) {
    band[j] = upscale_band_rows(gh << j, gw << j);
    ring_a = std::max(ring_a, (2 * band[j] + 2) * (2 * gw << j));
  }
  w->up_a = alloc(ring_a * D, &total);
  w->up_b = alloc((2 * band[1] + 1) * (4 * gw) * D, &total);
  w->up_c = alloc(B * 4 * Np * D, &total);
  w->masks = alloc(B * Q * 16 * Np, &total);
  const bool ok = w->x0 && w->x1 && w->cols && w->sel_h && w->sel_u && w->sel_logits && w->sel_score && w->yq &&
                  w->t1 && w->t2 && w->emb && w->cls && w->probs && w->yp && w->up_a && w->up_b && w->up_c && w->masks;
  try {
    w->pe_crow.resize(static_cast<size_t>(B * Np));
    w->pe_rrow.resize(static_cast<size_t>(B * Np));
    w->active.resize(static_cast<size_t>(B * Np));
    w->topk.resize(static_cast<size_t>(B * Np));
    w->idx.resize(static_cast<size_t>(B * T1));
    w->kept.resize(static_cast<size_t>(B));
    w->offsets.resize(static_cast<size_t>(B + 1));
    w->tokens0.resize(static_cast<size_t>(B));
    w->ex_logits.resize(static_cast<size_t>(B * Np * c.C1()));
    w->ex_conf.resize(static_cast<size_t>(B * Np));
    w->sp_logits.resize(static_cast<size_t>(B * (gh / 2) * (gw / 2)));
    w->sp_merged.resize(static_cast<size_t>(B * (gh / 2) * (gw / 2)));
    for (int j = 0; j < 2; ++j) w->up_band_crow[j].resize(static_cast<size_t>(2 * band[j] * (gw << j)));
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "InferenceSession: out of memory for the workspace index maps");
  }
  if (!ok)
    return Status::Make(StatusCode::kOutOfMemory, detail::concat("InferenceSession: out of memory for the workspace (B=", B,
                                                                 ", ", total >> 20, " MiB)"));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < Np; ++n) {
      w->pe_crow[b * Np + n] = static_cast<int32_t>(b * T0 + P + n);
      w->pe_rrow[b * Np + n] = static_cast<int32_t>(n);
    }
  // ConvTranspose2d 2x2/2 of scale block j: input pixel (y', x) of a band feeds output pixels (2y' + i, 2x + j')
  // of the band's output rows; in up_a they sit after the two halo rows, a row being wd pixel pairs.
  for (int j = 0; j < 2; ++j) {
    const int64_t wd = gw << j, n = band[j] * wd;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t y = 0; y < band[j]; ++y)
        for (int64_t x = 0; x < wd; ++x) w->up_band_crow[j][i * n + y * wd + x] = static_cast<int32_t>((2 * y + i + 2) * wd + x);
  }
  *out = std::move(w);
  return Status::Ok();
}

}  // namespace r4p::engine
