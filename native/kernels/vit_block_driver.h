// vit_block_driver.h: the vitBlock training op (ops.h VitBlockArgs / VitBlockBwdArgs; SPEC §2 block, §4
// attention) as a sequence of the op table's kernels. One driver, two instantiations:
//   vit_block_ref.cc  : the *_ref kernels, single-threaded loops for the glue (the oracle);
//   vit_block_avx2.cc : the registry dispatchers (gemm / gelu / policy attention pick avx2 or avx512 by
//                       themselves) and parallel_for for the glue.
// The glue (head split / merge, LayerScale residuals, column sums) is plain scalar C++ here; each output
// element is written by one task and column sums run over rows in ascending order, so results do not
// depend on the thread count. Include only from vit_block_ref.cc / vit_block_avx2.cc: everything lives
// in an unnamed namespace, so each file gets its own copy compiled with its own flags.
//
// Layout letters: M = B*N token rows, D width, H heads, Dh = D/H, F MLP width, W = max(3D, F).
// Forward (saves qkv, o, p1, h, p2; see ops.h):
//   t = LN1(x); qkv_tok = t Wqkv^T + bqkv -> split to saved.qkv [3,B,H,N,Dh]; attention -> oh [B,H,N,Dh]
//   -> merge to saved.o; p1 = o Wproj^T + bproj; z = x + ls1*p1; t = LN2(z); h = t Wfc1^T + bfc1;
//   g = GELU(h); p2 = g Wfc2^T + bfc2; y = z + ls2*p2.
// Backward (recomputes z, LN1(x), LN2(z), GELU(h) and, inside the attention backward, the attention):
//   dls2 = colsum(dy*p2); dp2 = dy*ls2; dbfc2 = colsum(dp2); dWfc2 = dp2^T g; dg = dp2 Wfc2; dh = GELU'(dg)
//   dbfc1 = colsum(dh); dWfc1 = dh^T LN2(z); dz = dy + LN2bwd(dh Wfc1)
//   dls1 = colsum(dz*p1); dp1 = dz*ls1; dbproj = colsum(dp1); dWproj = dp1^T o; do = dp1 Wproj -> heads
//   attention backward -> dqkv (heads) -> merge to [M,3D]; dbqkv = colsum; dWqkv = dqkv^T LN1(x)
//   dx = dz + LN1bwd(dqkv Wqkv).
// Plain attention runs as the policy kernels with policy = 1 and eps = 0: then M = 1 everywhere and
// S = E / sum E, which is softmax exactly (dpolicy is not requested).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include "kernels/ops.h"
#include "kernels/train_glue.h"

namespace r4p {
namespace {

struct VitBlockKernels {
  Status (*gemm)(const GemmArgs&);
  Status (*ln_fwd)(const LayerNormArgs&);
  Status (*ln_bwd)(const LayerNormBwdArgs&);
  Status (*gelu_fwd)(const GeluArgs&);
  Status (*gelu_bwd)(const GeluBwdArgs&);
  Status (*attn_fwd)(const PolicyAttentionArgs&);
  Status (*attn_bwd)(const PolicyAttentionBwdArgs&);
  GlueForRange for_range;  // train_glue.h
};

struct VbFree {
  void operator()(float* p) const { std::free(p); }
};
using VbBuf = std::unique_ptr<float, VbFree>;

inline VbBuf vb_alloc(int64_t n) {
  const size_t bytes = ((static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(float)) + 63) & ~size_t(63);
  return VbBuf(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

#define R4P_VB_TRY(expr)             \
  do {                               \
    const Status s_ = (expr);        \
    if (!s_.ok()) return s_;         \
  } while (0)

// C[M,N] = A[M,K] op(B) + bias (B = W [N,K] as a Linear weight: transB), overwrite.
inline Status vb_linear(const VitBlockKernels& k, const float* A, int64_t M, int64_t K, const float* W,
                        const float* bias, int64_t N, float* C) {
  GemmArgs g;
  g.M = M; g.N = N; g.K = K;
  g.A = A; g.lda = K;
  g.B = W; g.ldb = K; g.transB = true;
  g.C = C; g.ldc = N;
  g.bias = bias;
  return k.gemm(g);
}
// dA[M,K] = dC[M,N] W[N,K] (the input gradient of a Linear layer).
inline Status vb_linear_dx(const VitBlockKernels& k, const float* dC, int64_t M, int64_t N, const float* W, int64_t K,
                           float* dA) {
  GemmArgs g;
  g.M = M; g.N = K; g.K = N;
  g.A = dC; g.lda = N;
  g.B = W; g.ldb = K;
  g.C = dA; g.ldc = K;
  return k.gemm(g);
}
// dW[N,K] = dC[M,N]^T A[M,K] (the weight gradient of a Linear layer), reduced over the M rows.
inline Status vb_linear_dw(const VitBlockKernels& k, const float* dC, int64_t M, int64_t N, const float* A, int64_t K,
                           float* dW) {
  GemmArgs g;
  g.M = N; g.N = K; g.K = M;
  g.A = dC; g.lda = N; g.transA = true;
  g.B = A; g.ldb = K;
  g.C = dW; g.ldc = K;
  return k.gemm(g);
}

// out[c] = sum_r a[r,c] (* b[r,c] when b is given), rows ascending (train_glue.h).
inline void vb_colsum(const VitBlockKernels& k, const float* a, const float* b, int64_t R, int64_t C, float* out) {
  glue_colsum(k.for_range, a, b, R, C, out);
}

// out[r,c] = (base ? base[r,c] : 0) + s[c] * p[r,c]  (the LayerScale residual; also dp = dy * ls with base null)
inline void vb_scale_add(const VitBlockKernels& k, const float* base, const float* s, const float* p, int64_t R,
                         int64_t C, float* out) {
  k.for_range(R, std::max<int64_t>(1, 4096 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const float v = s[c] * p[r * C + c];
        out[r * C + c] = base ? base[r * C + c] + v : v;
      }
  });
}

// a[i] += b[i] over n elements.
inline void vb_add_inplace(const VitBlockKernels& k, float* a, const float* b, int64_t n) {
  k.for_range(n, 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a[i] += b[i];
  });
}

// Token rows [B,N,P*D] (P parts of H heads x Dh) <-> head-major [P,B,H,N,Dh]. to_heads picks the direction.
inline void vb_heads(const VitBlockKernels& k, float* tok, float* heads, int64_t B, int64_t N, int64_t P, int64_t H,
                     int64_t Dh, bool to_heads) {
  const int64_t D = H * Dh, W = P * D;
  k.for_range(B * N, std::max<int64_t>(1, 4096 / std::max<int64_t>(W, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / N, n = r % N;
      for (int64_t p = 0; p < P; ++p)
        for (int64_t h = 0; h < H; ++h) {
          float* t = tok + r * W + p * D + h * Dh;
          float* hd = heads + (((p * B + b) * H + h) * N + n) * Dh;
          if (to_heads) std::copy(t, t + Dh, hd);
          else std::copy(hd, hd + Dh, t);
        }
    }
  });
}

struct VbSavedView {
  float *qkv, *o, *p1, *h, *p2;
};
inline VbSavedView vb_saved(float* s, int64_t M, int64_t D, int64_t F) {
  VbSavedView v;
  v.qkv = s;
  v.o = v.qkv + 3 * M * D;
  v.p1 = v.o + M * D;
  v.h = v.p1 + M * D;
  v.p2 = v.h + M * F;
  return v;
}

inline Status vb_check(const char* op, int64_t D, int64_t H) {
  if (H <= 0 || D % H != 0) return range_error(op, ": D must be a multiple of H, received D=", D, " H=", H);
  return Status::Ok();
}

inline Status vb_oom(const char* op) { return Status::Make(StatusCode::kOutOfMemory, std::string(op) + ": out of memory for scratch"); }

// Policy pointer for the attention kernels: the caller's, or a buffer of ones (plain attention, eps 0).
struct VbPolicy {
  VbBuf ones;
  const float* p = nullptr;
  float eps = 0.f;
};
inline bool vb_policy(const float* policy, float attn_eps, int64_t BN, VbPolicy* out) {
  if (policy) {
    out->p = policy;
    out->eps = attn_eps;
    return true;
  }
  out->ones = vb_alloc(BN);
  if (!out->ones) return false;
  std::fill(out->ones.get(), out->ones.get() + BN, 1.f);
  out->p = out->ones.get();
  out->eps = 0.f;
  return true;
}

inline Status vit_block_fwd_driver(const VitBlockKernels& k, const VitBlockArgs& a) {
  const BlockWeights& w = a.w;
  const int64_t B = a.B, N = a.N, M = B * N, D = w.D, H = w.H, F = w.F;
  R4P_VB_TRY(vb_check("vitBlock", D, H));
  const int64_t Dh = D / H, W = std::max<int64_t>(3 * D, F);
  VbBuf t = vb_alloc(M * D), z = vb_alloc(M * D), wide = vb_alloc(M * W);
  VbPolicy pol;
  if (!t || !z || !wide || !vb_policy(a.policy, a.attn_eps, M, &pol)) return vb_oom("vitBlock");
  const VbSavedView s = vb_saved(a.saved, M, D, F);

  R4P_VB_TRY(k.ln_fwd({a.x, w.norm1_w, w.norm1_b, t.get(), nullptr, nullptr, M, D, a.ln_eps}));
  R4P_VB_TRY(vb_linear(k, t.get(), M, D, w.qkv_w, w.qkv_b, 3 * D, wide.get()));
  vb_heads(k, wide.get(), s.qkv, B, N, 3, H, Dh, /*to_heads=*/true);
  {
    PolicyAttentionArgs pa{s.qkv, s.qkv + M * D, s.qkv + 2 * M * D, pol.p, z.get(), nullptr, nullptr,
                           B, H, N, Dh, 1.f / std::sqrt(static_cast<float>(Dh)), pol.eps};
    R4P_VB_TRY(k.attn_fwd(pa));  // oh [B,H,N,Dh] in z
  }
  vb_heads(k, s.o, z.get(), B, N, 1, H, Dh, /*to_heads=*/false);
  R4P_VB_TRY(vb_linear(k, s.o, M, D, w.proj_w, w.proj_b, D, s.p1));
  vb_scale_add(k, a.x, w.ls1, s.p1, M, D, z.get());
  R4P_VB_TRY(k.ln_fwd({z.get(), w.norm2_w, w.norm2_b, t.get(), nullptr, nullptr, M, D, a.ln_eps}));
  R4P_VB_TRY(vb_linear(k, t.get(), M, D, w.fc1_w, w.fc1_b, F, s.h));
  R4P_VB_TRY(k.gelu_fwd({s.h, wide.get(), M * F}));
  R4P_VB_TRY(vb_linear(k, wide.get(), M, F, w.fc2_w, w.fc2_b, D, s.p2));
  vb_scale_add(k, z.get(), w.ls2, s.p2, M, D, a.y);
  return Status::Ok();
}

inline Status vit_block_bwd_driver(const VitBlockKernels& k, const VitBlockBwdArgs& a) {
  const BlockWeights& w = a.w;
  const BlockGrads& g = a.g;
  const int64_t B = a.B, N = a.N, M = B * N, D = w.D, H = w.H, F = w.F;
  R4P_VB_TRY(vb_check("vitBlockBackward", D, H));
  const int64_t Dh = D / H, W = std::max<int64_t>(3 * D, F);
  VbBuf bufA = vb_alloc(M * D), bufC = vb_alloc(M * D), t = vb_alloc(M * D), z = vb_alloc(M * D);
  VbBuf wide = vb_alloc(M * W), wide2 = vb_alloc(M * W), stats = vb_alloc(2 * M);
  VbPolicy pol;
  if (!bufA || !bufC || !t || !z || !wide || !wide2 || !stats || !vb_policy(a.policy, a.attn_eps, M, &pol))
    return vb_oom("vitBlockBackward");
  const VbSavedView s = vb_saved(const_cast<float*>(a.saved), M, D, F);  // read only below
  float* mean = stats.get();
  float* rstd = mean + M;

  // MLP branch: y = z + ls2 * (GELU(h) Wfc2^T + bfc2)
  vb_scale_add(k, a.x, w.ls1, s.p1, M, D, z.get());  // z, bit-identical to the forward's
  vb_colsum(k, a.dy, s.p2, M, D, g.ls2);
  vb_scale_add(k, nullptr, w.ls2, a.dy, M, D, bufA.get());  // dp2
  vb_colsum(k, bufA.get(), nullptr, M, D, g.fc2_b);
  R4P_VB_TRY(k.gelu_fwd({s.h, wide.get(), M * F}));
  R4P_VB_TRY(vb_linear_dw(k, bufA.get(), M, D, wide.get(), F, g.fc2_w));
  R4P_VB_TRY(vb_linear_dx(k, bufA.get(), M, D, w.fc2_w, F, wide2.get()));  // dg
  R4P_VB_TRY(k.gelu_bwd({wide2.get(), s.h, wide2.get(), M * F}));         // dh, in place
  vb_colsum(k, wide2.get(), nullptr, M, F, g.fc1_b);
  R4P_VB_TRY(k.ln_fwd({z.get(), w.norm2_w, w.norm2_b, t.get(), mean, rstd, M, D, a.ln_eps}));
  R4P_VB_TRY(vb_linear_dw(k, wide2.get(), M, F, t.get(), D, g.fc1_w));
  R4P_VB_TRY(vb_linear_dx(k, wide2.get(), M, F, w.fc1_w, D, bufC.get()));  // dLN2 out
  R4P_VB_TRY(k.ln_bwd({bufC.get(), z.get(), w.norm2_w, mean, rstd, bufA.get(), g.norm2_w, g.norm2_b, M, D}));
  vb_add_inplace(k, bufA.get(), a.dy, M * D);  // dz

  // attention branch: z = x + ls1 * (o Wproj^T + bproj)
  vb_colsum(k, bufA.get(), s.p1, M, D, g.ls1);
  vb_scale_add(k, nullptr, w.ls1, bufA.get(), M, D, bufC.get());  // dp1
  vb_colsum(k, bufC.get(), nullptr, M, D, g.proj_b);
  R4P_VB_TRY(vb_linear_dw(k, bufC.get(), M, D, s.o, D, g.proj_w));
  R4P_VB_TRY(vb_linear_dx(k, bufC.get(), M, D, w.proj_w, D, t.get()));  // do, token rows
  vb_heads(k, t.get(), z.get(), B, N, 1, H, Dh, /*to_heads=*/true);     // do, heads (z is free)
  {
    float* dqkv = wide.get();
    PolicyAttentionBwdArgs pb{s.qkv, s.qkv + M * D, s.qkv + 2 * M * D, pol.p, z.get(),
                              dqkv, dqkv + M * D, dqkv + 2 * M * D, a.policy ? a.dpolicy : nullptr,
                              B, H, N, Dh, 1.f / std::sqrt(static_cast<float>(Dh)), pol.eps};
    R4P_VB_TRY(k.attn_bwd(pb));
    vb_heads(k, wide2.get(), dqkv, B, N, 3, H, Dh, /*to_heads=*/false);  // dqkv token rows [M,3D]
  }
  vb_colsum(k, wide2.get(), nullptr, M, 3 * D, g.qkv_b);
  R4P_VB_TRY(k.ln_fwd({a.x, w.norm1_w, w.norm1_b, t.get(), mean, rstd, M, D, a.ln_eps}));
  R4P_VB_TRY(vb_linear_dw(k, wide2.get(), M, 3 * D, t.get(), D, g.qkv_w));
  R4P_VB_TRY(vb_linear_dx(k, wide2.get(), M, 3 * D, w.qkv_w, D, bufC.get()));
  R4P_VB_TRY(k.ln_bwd({bufC.get(), a.x, w.norm1_w, mean, rstd, a.dx, g.norm1_w, g.norm1_b, M, D}));
  vb_add_inplace(k, a.dx, bufA.get(), M * D);
  return Status::Ok();
}

#undef R4P_VB_TRY

}  // namespace
}  // namespace r4p
