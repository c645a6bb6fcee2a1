// cuda_workspace.cc: see cuda_workspace.h.
#include "engine/cuda_workspace.h"

#include <new>

#include "kernels/cuda/attention_ops.h"
#include "kernels/cuda/cuda_runtime_api.h"
#include "kernels/cuda/token_ops.h"

namespace r4p::engine {

Status CudaWorkspace::create(const EngineConfig& c, int64_t B, cuda::DType gemm_t, std::unique_ptr<CudaWorkspace>* out) {
  std::unique_ptr<CudaWorkspace> w(new (std::nothrow) CudaWorkspace());
  if (!w) return Status::Make(StatusCode::kOutOfMemory, "InferenceSession(cuda): out of memory for the workspace");
  const int64_t D = c.D, Np = c.Np(), P = c.P(), Q = c.Q, T0 = P + Np, T1 = Q + T0, W = c.selector_width;
  const int64_t gh = c.gh(), gw = c.gw(), n_sem = semantic_size(c, B);
  const int64_t n_out = n_sem + class_logits_size(c, B) + mask_logits_size(c, B) + (c.decode_points() - 1) * n_sem;
  // The largest block call: all T1 rows through a row map (a pruned block needs no more than that).
  cuda::PrunedBlockDevArgs blk{};
  blk.B = B; blk.N = T1; blk.K = T1;
  blk.idx = reinterpret_cast<const int32_t*>(&blk);  // only "given or not" is read
  blk.idx_trusted = true;
  blk.w.D = D; blk.w.H = c.H; blk.w.F = c.F(); blk.w.dtype = gemm_t;
  w->block_scratch_bytes = cuda::pruned_block_scratch_bytes(blk);
  w->topk_scratch_bytes = cuda::gumbel_topk_scratch_bytes(B, Np);
  // slices in order: (element count, element size)
  struct Slice { void** ptr; int64_t n; size_t es; };
  const Slice slices[] = {
      {reinterpret_cast<void**>(&w->images), B * 3 * c.image_h * c.image_w, 4},
      {reinterpret_cast<void**>(&w->x0), B * T0 * D, 4}, {reinterpret_cast<void**>(&w->x1), B * T1 * D, 4},
      {reinterpret_cast<void**>(&w->cols), B * Np * 3 * c.patch * c.patch, 4},
      {reinterpret_cast<void**>(&w->sel_h), B * Np * D, 4}, {reinterpret_cast<void**>(&w->sel_u), B * Np * W, 4},
      {reinterpret_cast<void**>(&w->sel_logits), B * Np * 2, 4}, {reinterpret_cast<void**>(&w->sel_score), B * Np, 4},
      {reinterpret_cast<void**>(&w->active), B * Np, 1}, {reinterpret_cast<void**>(&w->topk), B * Np, 4},
      {reinterpret_cast<void**>(&w->idx), B * T1, 4},
      {reinterpret_cast<void**>(&w->yq), B * Q * D, 4}, {reinterpret_cast<void**>(&w->t1), B * Q * D, 4},
      {reinterpret_cast<void**>(&w->t2), B * Q * D, 4}, {reinterpret_cast<void**>(&w->emb), B * Q * D, 4},
      {reinterpret_cast<void**>(&w->cls), B * Q * c.C1(), 4}, {reinterpret_cast<void**>(&w->probs), B * Q * c.classes, 4},
      {reinterpret_cast<void**>(&w->yp), B * Np * D, 4}, {reinterpret_cast<void**>(&w->up_a), B * 16 * Np * D, 4},
      {reinterpret_cast<void**>(&w->up_b), B * 16 * Np * D, 4}, {reinterpret_cast<void**>(&w->masks), B * Q * 16 * Np, 4},
      {reinterpret_cast<void**>(&w->pe_crow), B * Np, 4}, {reinterpret_cast<void**>(&w->pe_rrow), B * Np, 4},
      {reinterpret_cast<void**>(&w->up_crow[0]), 4 * B * Np, 4}, {reinterpret_cast<void**>(&w->up_crow[1]), 16 * B * Np, 4},
      {reinterpret_cast<void**>(&w->out), n_out, 4},
      {&w->block_scratch, int64_t(w->block_scratch_bytes), 1}, {&w->topk_scratch, int64_t(w->topk_scratch_bytes), 1}};
  size_t total = 0;
  std::vector<size_t> offs;
  for (const Slice& s : slices) {
    offs.push_back(total);
    total += (size_t(s.n) * s.es + 255) & ~size_t(255);
  }
  R4P_RETURN_IF_ERROR(w->mem.alloc(total));
  for (size_t i = 0; i < offs.size(); ++i) *slices[i].ptr = w->mem.get() + offs[i];
  w->B = B;

  // Row maps (workspace.cc's, as int32), uploaded once: [pe_crow | pe_rrow | up_crow0 | up_crow1] are adjacent
  // slices, but each is padded, so upload them one by one.
  std::vector<int32_t> crow(size_t(B * Np)), rrow(size_t(B * Np));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < Np; ++n) {
      crow[size_t(b * Np + n)] = int32_t(b * T0 + P + n);
      rrow[size_t(b * Np + n)] = int32_t(n);
    }
  R4P_RETURN_IF_ERROR(cuda::upload(w->pe_crow, crow.data(), crow.size() * 4));
  R4P_RETURN_IF_ERROR(cuda::upload(w->pe_rrow, rrow.data(), rrow.size() * 4));
  for (int j = 0; j < 2; ++j) {
    const int64_t h = gh << j, wd = gw << j, M = B * h * wd;
    std::vector<int32_t> m(size_t(4 * M));
    for (int64_t s = 0; s < 4; ++s)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x = 0; x < wd; ++x)
            m[size_t(s * M + (b * h + y) * wd + x)] = int32_t((b * 2 * h + 2 * y + s / 2) * 2 * wd + 2 * x + s % 2);
    R4P_RETURN_IF_ERROR(cuda::upload(w->up_crow[j], m.data(), m.size() * 4));
  }
  *out = std::move(w);
  return Status::Ok();
}

}  // namespace r4p::engine
