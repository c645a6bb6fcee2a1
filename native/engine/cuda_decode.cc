// cuda_decode.cc: the EoMT head on the device (docs/inference-forward.md step 5), CudaEngine::decode; the
// device twin of decode.cc, layer for layer:
//   LayerNorm rows (queries -> yq, patches -> yp)  engine_row_norm_cuda, reading x's rows in place
//   class head, mask MLP (GELU fused)               cuda::gemm (Linear: A [M,K] x W [N,K]^T + bias)
//   ConvTranspose2d 2x2/2                           four GEMMs [B*h*w, D] x [D, D]^T, one per sub-pixel s, bias +
//                                                   GELU in the epilogue, rows scattered to (2y+i, 2x+j) by c_rows
//   depthwise 3x3 + LayerNorm2d                     engine_depthwise3x3_ln_cuda
//   mask einsum                                     one GEMM per batch row: e[b] [Q,D] x up[b] [16Np,D]^T
//   semantic map                                    engine_class_probs_cuda, engine_resize_semantic_cuda
// GEMM operands in gemm_t_ (BF16 mode: yq, yp, the mask MLP hiddens, the embeddings and the depthwise map are
// stored as BF16 and multiplied on tensor cores); class logits, the ConvTranspose output, mask logits FP32.
#include "engine/cuda_engine.h"
#include "engine/cuda_workspace.h"
#include "kernels/cuda/attention_ops.h"
#include "kernels/cuda/engine_layers.h"

namespace r4p::engine {

namespace {
// C [M,N] (c_t) = act(A [M,K] W^T + bias): A and W in ab_t, bias FP32.
Status linear(const char* layer, const void* A, int64_t M, int64_t K, const void* W, cuda::DType ab_t, const float* bias,
              int64_t N, void* C, cuda::DType c_t, Activation act) {
  cuda::GemmDevArgs g{};
  g.M = M; g.N = N; g.K = K;
  g.A = A; g.lda = K;
  g.W = W; g.ldw = K; g.ab_dtype = ab_t;
  g.C = C; g.ldc = N; g.c_dtype = c_t;
  g.bias = bias;
  g.act = act;
  return cuda_layer_status(layer, cuda::gemm(g));
}
}  // namespace

Status CudaEngine::decode(const float* x, int64_t B, float* semantic, float* class_logits, float* mask_logits) {
  const EngineConfig& c = config();
  const int64_t D = c.D, Q = c.Q, Np = c.Np(), T1 = Q + c.P() + Np, gh = c.gh(), gw = c.gw();
  CudaWorkspace& ws = *ws_;
  const cuda::DType gt = gemm_t_, f32 = cuda::DType::F32;
  const bool bf16 = gt == cuda::DType::BF16;

  // 5.1 final LayerNorm on the rows the head reads
  R4P_RETURN_IF_ERROR(cuda_layer_status("head LayerNorm", cuda::engine_row_norm_cuda(x, B, T1, 0, Q, D, w("norm.weight"),
                                                                                    w("norm.bias"), 1e-6f, false, ws.yq, bf16)));
  R4P_RETURN_IF_ERROR(cuda_layer_status("head LayerNorm", cuda::engine_row_norm_cuda(x, B, T1, Q + c.P(), Np, D, w("norm.weight"),
                                                                                    w("norm.bias"), 1e-6f, false, ws.yp, bf16)));
  // 5.2 class head and mask embeddings
  R4P_RETURN_IF_ERROR(linear("class head", ws.yq, B * Q, D, mat("class_head.weight"), gt, w("class_head.bias"), c.C1(),
                             class_logits, f32, Activation::kNone));
  R4P_RETURN_IF_ERROR(linear("mask MLP", ws.yq, B * Q, D, mat("mask_head.0.weight"), gt, w("mask_head.0.bias"), D, ws.t1, gt,
                             Activation::kGelu));
  R4P_RETURN_IF_ERROR(linear("mask MLP", ws.t1, B * Q, D, mat("mask_head.2.weight"), gt, w("mask_head.2.bias"), D, ws.t2, gt,
                             Activation::kGelu));
  R4P_RETURN_IF_ERROR(linear("mask MLP", ws.t2, B * Q, D, mat("mask_head.4.weight"), gt, w("mask_head.4.bias"), D, ws.emb, gt,
                             Activation::kNone));

  // 5.3 two x2 scale blocks: yp -> up_a -> up_b -> up_a -> up_b ([B, 4gh, 4gw, D] at the end)
  const void* in = ws.yp;
  for (int j = 0; j < 2; ++j) {
    const std::string u = "upscale." + std::to_string(j) + ".";
    const int64_t h = gh << j, wd = gw << j, Min = B * h * wd;
    for (int64_t s = 0; s < 4; ++s) {
      cuda::GemmDevArgs g{};
      g.M = Min; g.N = D; g.K = D;
      g.A = in; g.lda = D;
      g.W = act(convt_w_[j], s * D * D); g.ldw = D; g.ab_dtype = gt;
      g.C = ws.up_a; g.ldc = D; g.c_rows = ws.up_crow[j] + s * Min;
      g.bias = w(u + "conv1.bias");
      g.act = Activation::kGelu;
      R4P_RETURN_IF_ERROR(cuda_layer_status("upscale ConvTranspose2d", cuda::gemm(g)));
    }
    R4P_RETURN_IF_ERROR(cuda_layer_status(
        "upscale depthwise 3x3 + LayerNorm2d",
        cuda::engine_depthwise3x3_ln_cuda(ws.up_a, ws.up_b, B, 2 * h, 2 * wd, D, dw_taps_[j], w(u + "norm.weight"),
                                          w(u + "norm.bias"), 1e-6f, bf16)));
    in = ws.up_b;
  }

  // 5.4 mask logits [B,Q,16Np]
  const int64_t HW = 16 * Np;
  for (int64_t b = 0; b < B; ++b) {
    cuda::GemmDevArgs g{};
    g.M = Q; g.N = HW; g.K = D;
    g.A = act(ws.emb, b * Q * D); g.lda = D;
    g.W = act(ws.up_b, b * HW * D); g.ldw = D; g.ab_dtype = gt;
    g.C = mask_logits + b * Q * HW; g.ldc = HW;
    R4P_RETURN_IF_ERROR(cuda_layer_status("mask einsum", cuda::gemm(g)));
  }

  // 5.5 semantic map
  R4P_RETURN_IF_ERROR(cuda_layer_status("class softmax", cuda::engine_class_probs_cuda(class_logits, B * Q, c.C1(), ws.probs)));
  return cuda_layer_status("resize + semantic map",
                           cuda::engine_resize_semantic_cuda(mask_logits, ws.probs, B, Q, c.classes, 4 * gh, 4 * gw,
                                                             c.image_h, c.image_w, semantic));
}

}  // namespace r4p::engine
