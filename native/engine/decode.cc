// decode.cc: the EoMT head (docs/inference-forward.md step 5), the same for every decode point.
//   y = LayerNorm(x) on the Q query rows -> yq [B*Q,D] and the Np patch rows -> yp [B,gh,gw,D]
//   class logits = yq Wc^T + bc [B,Q,C+1];  e = L4(GELU(L2(GELU(L0(yq)))))     (gemms, GELU fused)
//   two scale blocks, channels-last: ConvTranspose2d 2x2/2 = two gemms [B*h*w, D] x [D, 2D], one per
//     output row i of the 2x2 block (sub-pixels (i,0), (i,1) are adjacent pixels, so a GEMM row of 2D
//     outputs is one contiguous run), bias + GELU in the epilogue, rows scattered to pixel (2y+i, 2x)
//     by c_rows; then depthwise 3x3 + LayerNorm2d fused per pixel; both per band of input rows
//   mask logits m[b] = e[b] up[b]^T [Q, 16Np] (layers.cc mask_logits_pixels; planar, as SPEC's einsum), per
//     band of the second scale block
//   semantic = sum_q sigmoid(bilinear(m_q)) softmax(cls_q)[c], resize fused with the sum (layers.cc)
#include <algorithm>
#include <cstring>

#include "engine/engine.h"
#include "engine/layers.h"
#include "engine/workspace.h"
#include "kernels/registry.h"

namespace r4p::engine {
namespace {


// C [M,N] = act(A [M,K] W^T + bias), W [N,K] (a Linear layer).
Status linear(const float* A, int64_t M, int64_t K, const float* W, const float* bias, int64_t N, float* C,
              Activation act) {
  GemmArgs g;
  g.M = M; g.N = N; g.K = K;
  g.A = A; g.lda = K;
  g.B = W; g.ldb = K; g.transB = true;
  g.C = C; g.ldc = N;
  g.bias = bias;
  g.act = act;
  return gemm(g);
}

}  // namespace

Status Engine::decode(const float* x, int64_t B, float* semantic, float* class_logits, float* mask_logits_out) {
  const EngineConfig& c = config();
  const Model& m = *model_;
  const int64_t D = c.D, Q = c.Q, Np = c.Np(), T1 = Q + c.P() + Np, gh = c.gh(), gw = c.gw();
  Workspace& w = *ws_;

  // 5.1 final LayerNorm on the rows the head reads (cls and registers are not decoded)
  layer_norm_rows(
      B * Q, D, [&](int64_t r) { return x + ((r / Q) * T1 + r % Q) * D; }, w.yq.get(), m.norm_w, m.norm_b, 1e-6f);
  layer_norm_rows(
      B * Np, D, [&](int64_t r) { return x + ((r / Np) * T1 + Q + c.P() + r % Np) * D; }, w.yp.get(), m.norm_w,
      m.norm_b, 1e-6f);
  clock_.lap(kHeadNorm);

  // 5.2 class head and mask embeddings
  R4P_RETURN_IF_ERROR(linear(w.yq.get(), B * Q, D, m.class_w, m.class_b, c.C1(), class_logits, Activation::kNone));
  R4P_RETURN_IF_ERROR(linear(w.yq.get(), B * Q, D, m.mask_w[0], m.mask_b[0], D, w.t1.get(), Activation::kGelu));
  R4P_RETURN_IF_ERROR(linear(w.t1.get(), B * Q, D, m.mask_w[1], m.mask_b[1], D, w.t2.get(), Activation::kGelu));
  R4P_RETURN_IF_ERROR(linear(w.t2.get(), B * Q, D, m.mask_w[2], m.mask_b[2], D, w.emb.get(), Activation::kNone));
  clock_.lap(kHeadMlp);

  // 5.3 two x2 scale blocks: yp -> up_c [B, 2gh, 2gw, D] -> mask logits. Per image, in bands of input rows
  // (workspace.h): the ConvTranspose of a band into up_a, after the band's last two rows before it; then the
  // depthwise+LN rows it completes (into up_c, or up_b for the second block), and for the second block the
  // 5.4 mask logits [B,Q,16Np] of those pixels: the 4gh x 4gw map never leaves the caches whole. The bands
  // change where and when, not what: every output element is computed as in one pass.
  for (int j = 0; j < 2; ++j) {
    const UpscaleWeights& u = m.upscale(j);
    const int64_t h = gh << j, wd = gw << j, band = upscale_band_rows(h, wd);
    const size_t row_a = static_cast<size_t>(2 * wd * D);  // one output row, floats
    const float* in = j == 0 ? w.yp.get() : w.up_c.get();
    for (int64_t b = 0; b < B; ++b) {
      int64_t done = 0;  // output rows of image b through the depthwise+LN
      for (int64_t y0 = 0; y0 < h; y0 += band) {
        const int64_t y1 = std::min(h, y0 + band);
        // output rows 2y0-2, 2y0-1 (the band before's last two) to the front of up_a
        if (y0 > 0) std::memcpy(w.up_a.get(), w.up_a.get() + 2 * band * row_a, 2 * row_a * sizeof(float));
        for (int i = 0; i < 2; ++i) {  // output row i of each 2x2 block: sub-pixels (i, 0) and (i, 1) side by side
          GemmArgs g;
          g.M = (y1 - y0) * wd; g.N = 2 * D; g.K = D;
          g.A = in + ((b * h + y0) * wd) * D; g.lda = D;
          g.B = u.conv1_wg + i * 2 * D; g.ldb = 4 * D;  // columns (s = 2i, 2i+1; o) of the regrouped [D, 4D] weight
          g.packed_b = packed_.upscale(j, i);
          g.C = w.up_a.get(); g.ldc = 2 * D; g.c_rows = w.up_band_crow[j].data() + i * band * wd;
          g.bias = u.conv1_b2;
          g.act = Activation::kGelu;
          R4P_RETURN_IF_ERROR(gemm(g));
        }
        clock_.lap(kUpConv);
        // output rows below 2 y1 exist now; each row also reads the one after it
        const int64_t ready = y1 == h ? 2 * h : 2 * y1 - 1;
        float* const out = j == 0 ? w.up_c.get() + b * 4 * h * wd * D : w.up_b.get();
        depthwise3x3_layer_norm_rows(w.up_a.get(), 2 * y0 - 2, out, j == 0 ? 0 : done, 2 * h, 2 * wd, D, done, ready,
                                     u.conv2_wt, u.norm_w, u.norm_b, 1e-6f);
        clock_.lap(kUpDwLn);
        if (j == 1) {
          R4P_RETURN_IF_ERROR(mask_logits_pixels(w.emb.get() + b * Q * D, w.up_b.get(), Q, 16 * Np, D, 0,
                                                 (ready - done) * 2 * wd, mask_logits_out + b * Q * 16 * Np + done * 2 * wd));
          clock_.lap(kMaskGemm);
        }
        done = ready;
      }
    }
  }

  // 5.5 semantic map
  class_probs(class_logits, B * Q, c.C1(), w.probs.get());
  resize_semantic(mask_logits_out, w.probs.get(), B, Q, c.classes, 4 * gh, 4 * gw, c.image_h, c.image_w, semantic);
  clock_.lap(kResizeSem);
  return Status::Ok();
}

}  // namespace r4p::engine
