// upscale_block_driver.h: the upscaleBlock training op (ops.h UpscaleBlockArgs / UpscaleBlockBwdArgs; SPEC §2
// mask head: ConvTranspose2d 2x2/2 -> GELU -> depthwise 3x3 -> LayerNorm2d) as a sequence of the op table's
// kernels. One driver, two instantiations:
//   upscale_block_ref.cc  : the *_ref kernels (literal GEMM loops, double-accumulated depthwise and LayerNorm
//                           statistics) and a serial loop for the glue: the oracle;
//   upscale_block_avx2.cc : the registry dispatchers (GEMM / GELU pick avx2 or avx512 by themselves) and the
//                           thread pool for the glue.
// Include only from those two files (unnamed namespace: each gets its own copy, compiled with its own flags).
//
// Letters: x [B,h,w,C] NHWC, Min = B*h*w input pixels, O output channels, P = B*2h*2w output pixels.
// The ConvTranspose's windows do not overlap, so it is a GEMM against the regrouped weight Wg [C,4O]
// (column (s, o), sub-pixel s = 2i + j: Wg[c, s*O + o] = conv1_w[c,o,i,j]). As in the engine's head
// (engine/decode.cc) it runs as two GEMMs of N = 2O, one per sub-pixel row i: sub-pixels (i,0) and (i,1) are
// adjacent output pixels, so a GEMM row of 2O outputs is one contiguous run of z, placed by the epilogue's row
// map c_rows (pair row (b*2h + 2p + i)*w + q of z viewed as [P/2, 2O]) with the bias [b, b] fused.
// Forward: z (saved) -> g = GELU(z) (in y's buffer) -> d = depthwise(g) -> y = LayerNorm(d) (mean, rstd saved).
// Backward (recomputes g and d: cheaper here than writing d to fresh pages of a larger saved output):
//   g = GELU(z);  d = depthwise(g);  dd = LNbwd(dy) (+ dnorm_w, dnorm_b);  dconv2_w = filter gradient of (g, dd);
//   dg = depthwise(dd, flipped filter);  dz = GELU'(z) dg;  dconv1_b = colsum(dz);
//   dzs [Min,4O] = dz regrouped by input pixel (the inverse of the c_rows placement);
//   dWg [C,4O] = x^T dzs (one GEMM reduced over the Min pixels) -> dconv1_w;  dx = dzs Wg^T.
// Every kernel here is deterministic (GEMM sums over k in a fixed order; LayerNorm's dw / db and the depthwise
// filter gradient over fixed chunks; column sums over rows ascending), so results do not depend on the thread
// count. Scratch comes from a grow-only per-thread buffer (runtime/scratch.h): no page faults after the first call.
#pragma once
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "kernels/train_glue.h"
#include "runtime/scratch.h"

namespace r4p {
namespace {

struct UpscaleBlockKernels {
  Status (*gemm)(const GemmArgs&);
  Status (*ln_fwd)(const LayerNormArgs&);
  Status (*ln_bwd)(const LayerNormBwdArgs&);
  Status (*gelu_fwd)(const GeluArgs&);
  Status (*gelu_bwd)(const GeluBwdArgs&);
  Status (*depthwise)(const DepthwiseArgs&);
  Status (*depthwise_filter_grad)(const DepthwiseFilterGradArgs&);
  GlueForRange for_range;  // train_glue.h
};

// Per-thread scratch of this driver (floats) and of its row maps.
struct UbScratch {
  ScratchBuffer floats;
  std::vector<int32_t> rows;
};
inline UbScratch& ub_scratch() {
  static thread_local UbScratch s;
  return s;
}

inline Status ub_oom(const char* op) {
  return Status::Make(StatusCode::kOutOfMemory, std::string(op) + ": out of memory for scratch");
}

// The sizes of one call (both Args structs carry B, h, w, C, O).
struct UbDims {
  int64_t B, h, w, C, O, Min, H2, W2, P;
};
template <typename Args>
UbDims ub_dims(const Args& a) {
  return UbDims{a.B, a.h, a.w, a.C, a.O, a.B * a.h * a.w, 2 * a.h, 2 * a.w, 4 * a.B * a.h * a.w};
}

// rows[i*Min + m]: the pair row of z ([P/2, 2O]) that input pixel m = (b*h + p)*w + q feeds for sub-pixel row i.
inline bool ub_pair_rows(int64_t B, int64_t h, int64_t w, std::vector<int32_t>* rows) {
  const int64_t Min = B * h * w;
  try {
    rows->resize(static_cast<size_t>(2 * Min));
  } catch (const std::bad_alloc&) {
    return false;
  }
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t p = 0; p < h; ++p)
        for (int64_t q = 0; q < w; ++q)
          (*rows)[i * Min + (b * h + p) * w + q] = static_cast<int32_t>((b * 2 * h + 2 * p + i) * w + q);
  return true;
}

// conv1_w [C,O,2,2] <-> Wg [C,4O] (Wg[c, (2i+j)*O + o] = conv1_w[c,o,i,j]): src -> dst, to_wg picks the direction.
inline void ub_regroup_conv1(const float* src, float* dst, int64_t C, int64_t O, bool to_wg) {
  for (int64_t c = 0; c < C; ++c)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t s = 0; s < 4; ++s) {
        const int64_t iw = (c * O + o) * 4 + s, ig = c * 4 * O + s * O + o;
        if (to_wg) dst[ig] = src[iw];
        else dst[iw] = src[ig];
      }
}

// conv2_w [O,1,3,3] <-> the depthwise kernels' filter [3,3,O]: src -> dst, to_filter picks the direction.
inline void ub_regroup_conv2(const float* src, float* dst, int64_t O, bool to_filter) {
  for (int64_t o = 0; o < O; ++o)
    for (int64_t t = 0; t < 9; ++t) {
      if (to_filter) dst[t * O + o] = src[o * 9 + t];
      else dst[o * 9 + t] = src[t * O + o];
    }
}

// The depthwise 3x3 (zero pad 1) over the [B,2h,2w,O] map, or with flip its input gradient.
inline DepthwiseArgs ub_depthwise(const float* in, const float* filt, float* out, int64_t B, int64_t H2, int64_t W2,
                                  int64_t O, bool flip) {
  return DepthwiseArgs{in, filt, out, B, H2, W2, O, 3, 3, 1, 1, H2, W2, flip};
}

struct UbSavedView {
  float *z, *mean, *rstd;
};
inline UbSavedView ub_saved(float* s, int64_t P, int64_t O) {
  return UbSavedView{s, s + P * O, s + P * O + P};
}

// Checks the sizes (int32 row maps, int64 offsets), fills the row maps and takes `floats` of scratch (*buf).
inline Status ub_prepare(const char* op, const UbDims& n, int64_t floats, UbScratch& sc, float** buf) {
  if (n.B < 1 || n.h < 1 || n.w < 1 || n.C < 1 || n.O < 1)
    return range_error(op, ": expected B, h, w, C, O >= 1, received B=", n.B, " h=", n.h, " w=", n.w, " C=", n.C, " O=", n.O);
  if (2 * n.Min > INT32_MAX)
    return range_error(op, ": expected B*2h*w <= 2^31-1 (the ConvTranspose row map is int32), received ", 2 * n.Min);
  *buf = sc.floats.get(static_cast<size_t>(floats));
  if (!*buf || !ub_pair_rows(n.B, n.h, n.w, &sc.rows)) return ub_oom(op);
  return Status::Ok();
}

inline Status upscale_block_fwd_driver(const UpscaleBlockKernels& k, const UpscaleBlockArgs& a) {
  const UbDims n = ub_dims(a);
  const int64_t B = n.B, C = n.C, O = n.O, Min = n.Min, H2 = n.H2, W2 = n.W2, P = n.P;
  UbScratch& sc = ub_scratch();
  float* d = nullptr;
  R4P_RETURN_IF_ERROR(ub_prepare("upscaleBlock", n, P * O + 4 * C * O + 2 * O + 9 * O, sc, &d));
  float* wg = d + P * O;
  float* bias2 = wg + 4 * C * O;
  float* filt = bias2 + 2 * O;
  ub_regroup_conv1(a.wt.conv1_w, wg, C, O, /*to_wg=*/true);
  std::memcpy(bias2, a.wt.conv1_b, sizeof(float) * O);
  std::memcpy(bias2 + O, a.wt.conv1_b, sizeof(float) * O);
  ub_regroup_conv2(a.wt.conv2_w, filt, O, /*to_filter=*/true);
  const UbSavedView s = ub_saved(a.saved, P, O);

  for (int64_t i = 0; i < 2; ++i) {  // z = ConvTranspose(x) + b, sub-pixel row i of every 2x2 block
    GemmArgs g;
    g.M = Min; g.N = 2 * O; g.K = C;
    g.A = a.x; g.lda = C;
    g.B = wg + i * 2 * O; g.ldb = 4 * O;
    g.C = s.z; g.ldc = 2 * O; g.c_rows = sc.rows.data() + i * Min;
    g.bias = bias2;
    R4P_RETURN_IF_ERROR(k.gemm(g));
  }
  R4P_RETURN_IF_ERROR(k.gelu_fwd({s.z, a.y, P * O}));  // g, in y until the LayerNorm overwrites it
  R4P_RETURN_IF_ERROR(k.depthwise(ub_depthwise(a.y, filt, d, B, H2, W2, O, /*flip=*/false)));
  return k.ln_fwd({d, a.wt.norm_w, a.wt.norm_b, a.y, s.mean, s.rstd, P, O, a.ln_eps});
}

inline Status upscale_block_bwd_driver(const UpscaleBlockKernels& k, const UpscaleBlockBwdArgs& a) {
  const UbDims n = ub_dims(a);
  const int64_t B = n.B, C = n.C, O = n.O, Min = n.Min, H2 = n.H2, W2 = n.W2, P = n.P;
  UbScratch& sc = ub_scratch();
  float* bufA = nullptr;
  R4P_RETURN_IF_ERROR(ub_prepare("upscaleBlockBackward", n, 3 * P * O + 8 * C * O + 18 * O, sc, &bufA));
  float* bufB = bufA + P * O;
  float* bufC = bufB + P * O;
  float* wg = bufC + P * O;
  float* dwg = wg + 4 * C * O;
  float* filt = dwg + 4 * C * O;
  float* dfilt = filt + 9 * O;
  const UbSavedView s = ub_saved(const_cast<float*>(a.saved), P, O);  // read only below

  // recompute g = GELU(z) (bufB) and d = depthwise(g) (bufC); LayerNorm2d backward -> dd (bufA)
  ub_regroup_conv2(a.wt.conv2_w, filt, O, /*to_filter=*/true);
  R4P_RETURN_IF_ERROR(k.gelu_fwd({s.z, bufB, P * O}));
  R4P_RETURN_IF_ERROR(k.depthwise(ub_depthwise(bufB, filt, bufC, B, H2, W2, O, /*flip=*/false)));
  R4P_RETURN_IF_ERROR(k.ln_bwd({a.dy, bufC, a.wt.norm_w, s.mean, s.rstd, bufA, a.g.norm_w, a.g.norm_b, P, O}));
  // depthwise 3x3: filter gradient of (g, dd), input gradient dg (bufC); then dz = GELU'(z) dg in place
  DepthwiseFilterGradArgs fg{bufB, bufA, dfilt, B, H2, W2, O, 3, 3, 1, 1, H2, W2};
  R4P_RETURN_IF_ERROR(k.depthwise_filter_grad(fg));
  ub_regroup_conv2(dfilt, a.g.conv2_w, O, /*to_filter=*/false);
  R4P_RETURN_IF_ERROR(k.depthwise(ub_depthwise(bufA, filt, bufC, B, H2, W2, O, /*flip=*/true)));
  R4P_RETURN_IF_ERROR(k.gelu_bwd({bufC, s.z, bufC, P * O}));
  glue_colsum(k.for_range, bufC, nullptr, P, O, a.g.conv1_b);

  // ConvTranspose: dz regrouped by input pixel (dzs [Min,4O] in bufA), then one GEMM per operand
  float* dzs = bufA;
  const int32_t* rows = sc.rows.data();
  k.for_range(Min, 64, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t i = 0; i < 2; ++i)
        std::memcpy(dzs + m * 4 * O + i * 2 * O, bufC + static_cast<int64_t>(rows[i * Min + m]) * 2 * O, sizeof(float) * 2 * O);
  });
  {
    GemmArgs g;  // dWg [C,4O] = x^T dzs
    g.M = C; g.N = 4 * O; g.K = Min;
    g.A = a.x; g.lda = C; g.transA = true;
    g.B = dzs; g.ldb = 4 * O;
    g.C = dwg; g.ldc = 4 * O;
    R4P_RETURN_IF_ERROR(k.gemm(g));
  }
  ub_regroup_conv1(dwg, a.g.conv1_w, C, O, /*to_wg=*/false);
  ub_regroup_conv1(a.wt.conv1_w, wg, C, O, /*to_wg=*/true);
  GemmArgs g;  // dx [Min,C] = dzs Wg^T
  g.M = Min; g.N = C; g.K = 4 * O;
  g.A = dzs; g.lda = 4 * O;
  g.B = wg; g.ldb = 4 * O; g.transB = true;
  g.C = a.dx; g.ldc = C;
  return k.gemm(g);
}

}  // namespace
}  // namespace r4p
