// engine_layers.cu: the CUDA inference engine's non-block layers (engine_layers.h; docs/inference-forward.md
// steps 2-5). The GEMM layers (patch embedding, policy MLP, class head, mask MLP, ConvTranspose2d as four
// GEMMs, mask einsum) use the shared GEMM (gemm.cu) from native/engine/cuda_engine.cc; these are the rest:
//   im2col / broadcast / query insertion     one thread per output element (grid-stride)
//   row LayerNorm / RMSNorm                  one warp per row, mean then centred variance (FP32)
//   depthwise 3x3 + LayerNorm2d              one warp per pixel: lanes own channels d = lane + 32j; the conv
//                                            results stay in registers (D <= 1024; beyond, each pass
//                                            recomputes them), the normalised values are stored once
// Outputs that feed a GEMM (im2col columns, normalised rows, the depthwise map) may be stored as BF16 (the
// engine's BF16 mode: the GEMM then reads them on tensor cores); every computation before the store is FP32,
// and the store rounds to nearest even once, as the CPU engine rounds its GEMM operands.
//   resize + sigmoid + semantic map          one thread per output pixel, q ascending, 8 classes at a time
// Bilinear taps are computed in double exactly as layers.cc does (src = (o + 0.5) * in/out - 0.5, clamped).
// Compiled for sm_80 / sm_90a / compute_90; checked on the CPU emulator only, NEVER RUN ON A GPU as of
// 2026-12-04.
#include <cuda_runtime.h>

#include <climits>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/engine_layers.h"
#include "kernels/cuda/tc_common.cuh"

namespace r4p::cuda {

namespace {

constexpr int kThreads = 256;

#define R4P_GRID_LOOP(i, total) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (total); i += int64_t(gridDim.x) * blockDim.x)

// cols [B*gh*gw, 3p^2] <- img [B,3,Hi,Wi]
__global__ void __launch_bounds__(kThreads) im2col_kernel(const float* img, int64_t B, int64_t Hi, int64_t Wi, int64_t p,
                                                          void* cols, bool cols_bf16) {
  const int64_t gh = Hi / p, gw = Wi / p, Kc = 3 * p * p, total = B * gh * gw * Kc;
  R4P_GRID_LOOP(e, total) {
    const int64_t col = e % Kc, patch = e / Kc;
    const int64_t j = col % p, i = (col / p) % p, c = col / (p * p);
    const int64_t gx = patch % gw, gy = (patch / gw) % gh, b = patch / (gw * gh);
    dev::st_f(cols, cols_bf16, e, img[((b * 3 + c) * Hi + gy * p + i) * Wi + gx * p + j]);
  }
}

__global__ void __launch_bounds__(kThreads) broadcast_rows_kernel(float* x, int64_t B, int64_t T, int64_t row0,
                                                                  const float* src, int64_t n, int64_t D) {
  R4P_GRID_LOOP(e, B * n * D) {
    const int64_t d = e % D, r = (e / D) % n, b = e / (n * D);
    x[(b * T + row0 + r) * D + d] = src[r * D + d];
  }
}

__global__ void __launch_bounds__(kThreads) insert_queries_kernel(const float* x0, const float* queries, float* x1,
                                                                  int64_t B, int64_t Q, int64_t T0, int64_t D) {
  const int64_t T1 = Q + T0;
  R4P_GRID_LOOP(e, B * T1 * D) {
    const int64_t d = e % D, r = (e / D) % T1, b = e / (T1 * D);
    x1[e] = r < Q ? queries[r * D + d] : x0[(b * T0 + r - Q) * D + d];
  }
}

__global__ void __launch_bounds__(kThreads) row_norm_kernel(const float* x, int64_t rows, int64_t T, int64_t first,
                                                            int64_t n, int D, const float* w, const float* bvec, float eps,
                                                            bool rms, void* y, bool y_bf16) {
  const int64_t r = int64_t(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;  // warp-uniform
  const float* src = x + ((r / n) * T + first + r % n) * D;
  const int64_t dst = r * D;
  float mean = 0.f;
  if (!rms) {
    float s = 0.f;
    for (int d = lane; d < D; d += 32) s += src[d];
    mean = dev::warp_sum(s) / float(D);
  }
  float v = 0.f;
  for (int d = lane; d < D; d += 32) {
    const float c = src[d] - mean;
    v = fmaf(c, c, v);
  }
  const float rs = 1.f / sqrtf(dev::warp_sum(v) / float(D) + eps);
  for (int d = lane; d < D; d += 32)
    dev::st_f(y, y_bf16, dst + d, rms ? src[d] * rs * w[d] : (src[d] - mean) * rs * w[d] + bvec[d]);
}

__global__ void __launch_bounds__(kThreads) keep_scores_kernel(const float* logits, int64_t rows, float* score) {
  R4P_GRID_LOOP(r, rows) {
    const float l0 = logits[2 * r], l1 = logits[2 * r + 1], m = fmaxf(l0, l1);
    const float e0 = expf(l0 - m), e1 = expf(l1 - m);
    score[r] = e0 / (e0 + e1);
  }
}

__global__ void __launch_bounds__(kThreads) select_rows_kernel(const int32_t* topk, uint8_t* active, int32_t* idx,
                                                               int64_t B, int64_t Np, int64_t k, int64_t fixed) {
  const int64_t K = fixed + k;
  R4P_GRID_LOOP(e, B * K) {
    const int64_t j = e % K, b = e / K;
    if (j < fixed) {
      idx[e] = int32_t(j);
      continue;
    }
    const int32_t t = topk[b * k + j - fixed];
    const bool ok = t >= 0 && t < Np;  // a failed top-k row (-1) was reported by the top-k kernel already
    idx[e] = ok ? int32_t(fixed + t) : 0;
    if (ok) active[b * Np + t] = 1;
  }
}

__global__ void __launch_bounds__(kThreads) class_probs_kernel(const float* logits, int64_t rows, int64_t C1, float* probs) {
  R4P_GRID_LOOP(r, rows) {
    const float* l = logits + r * C1;
    float m = l[0];
    for (int64_t c = 1; c < C1; ++c) m = fmaxf(m, l[c]);
    float s = 0.f;
    for (int64_t c = 0; c < C1; ++c) s += expf(l[c] - m);
    for (int64_t c = 0; c + 1 < C1; ++c) probs[r * (C1 - 1) + c] = expf(l[c] - m) / s;
  }
}

// Channel d of the 3x3 depthwise conv at pixel (b, y, x): taps row-major over the window, as the CPU loop;
// out-of-image taps are zero padding.
__device__ __forceinline__ float depthwise_at(const float* in, const float* wt, int64_t b, int64_t y, int64_t x, int64_t h,
                                              int64_t w, int D, int d) {
  float acc = 0.f;
  for (int i = 0; i < 3; ++i) {
    const int64_t yy = y + i - 1;
    if (yy < 0 || yy >= h) continue;
    for (int j = 0; j < 3; ++j) {
      const int64_t xx = x + j - 1;
      if (xx < 0 || xx >= w) continue;
      acc += wt[(i * 3 + j) * D + d] * in[((b * h + yy) * w + xx) * D + d];
    }
  }
  return acc;
}

// kRegs: the lane's conv results in registers (D <= 32 * kMaxLane); else recomputed in each of the three passes.
constexpr int kMaxLane = 32;
template <bool kRegs>
__global__ void __launch_bounds__(kThreads) depthwise_ln_kernel(const float* in, void* out, bool out_bf16, int64_t B,
                                                                int64_t h, int64_t w, int D, const float* wt,
                                                                const float* nw, const float* nb, float eps) {
  const int64_t px = int64_t(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (px >= B * h * w) return;  // warp-uniform
  const int64_t x = px % w, y = (px / w) % h, b = px / (w * h);
  float acc[kRegs ? kMaxLane : 1];
  float s = 0.f;
  if constexpr (kRegs) {
#pragma unroll
    for (int j = 0; j < kMaxLane; ++j) {
      const int d = lane + 32 * j;
      acc[j] = d < D ? depthwise_at(in, wt, b, y, x, h, w, D, d) : 0.f;
      s += acc[j];
    }
  } else {
    for (int d = lane; d < D; d += 32) s += depthwise_at(in, wt, b, y, x, h, w, D, d);
  }
  const float mean = dev::warp_sum(s) / float(D);
  float v = 0.f;
  if constexpr (kRegs) {
#pragma unroll
    for (int j = 0; j < kMaxLane; ++j)
      if (lane + 32 * j < D) v = fmaf(acc[j] - mean, acc[j] - mean, v);
  } else {
    for (int d = lane; d < D; d += 32) {
      const float c = depthwise_at(in, wt, b, y, x, h, w, D, d) - mean;
      v = fmaf(c, c, v);
    }
  }
  const float rs = 1.f / sqrtf(dev::warp_sum(v) / float(D) + eps);
  if constexpr (kRegs) {
#pragma unroll
    for (int j = 0; j < kMaxLane; ++j) {
      const int d = lane + 32 * j;
      if (d < D) dev::st_f(out, out_bf16, px * D + d, (acc[j] - mean) * rs * nw[d] + nb[d]);
    }
  } else {
    for (int d = lane; d < D; d += 32)
      dev::st_f(out, out_bf16, px * D + d, (depthwise_at(in, wt, b, y, x, h, w, D, d) - mean) * rs * nw[d] + nb[d]);
  }
}

// Half-pixel source tap of output index o (layers.cc taps()).
__device__ __forceinline__ void tap(int64_t o, int64_t in, int64_t out, int64_t* lo, int64_t* hi, float* t) {
  double s = (double(o) + 0.5) * (double(in) / double(out)) - 0.5;
  s = s < 0.0 ? 0.0 : s > double(in - 1) ? double(in - 1) : s;
  *lo = int64_t(s);
  *hi = *lo + 1 < in ? *lo + 1 : in - 1;
  *t = float(s - double(*lo));
}

__global__ void __launch_bounds__(kThreads) resize_semantic_kernel(const float* masks, const float* probs, int64_t B,
                                                                   int64_t Q, int64_t C, int64_t h, int64_t w, int64_t Ho,
                                                                   int64_t Wo, float* sem) {
  constexpr int kC = 8;  // classes per pass (the sigmoids are recomputed per pass; C is small in practice)
  R4P_GRID_LOOP(e, B * Ho * Wo) {
    const int64_t x = e % Wo, y = (e / Wo) % Ho, b = e / (Wo * Ho);
    int64_t ylo, yhi, xlo, xhi;
    float ty, tx;
    tap(y, h, Ho, &ylo, &yhi, &ty);
    tap(x, w, Wo, &xlo, &xhi, &tx);
    for (int64_t c0 = 0; c0 < C; c0 += kC) {
      float acc[kC];
#pragma unroll
      for (int c = 0; c < kC; ++c) acc[c] = 0.f;
      for (int64_t q = 0; q < Q; ++q) {
        const float* m = masks + (b * Q + q) * h * w;
        // the CPU order: lerp along y into a row, then along x
        const float a = m[ylo * w + xlo] + ty * (m[yhi * w + xlo] - m[ylo * w + xlo]);
        const float bb = m[ylo * w + xhi] + ty * (m[yhi * w + xhi] - m[ylo * w + xhi]);
        const float v = a + tx * (bb - a);
        const float sig = 1.f / (1.f + expf(-v));
        const float* pq = probs + (b * Q + q) * C;
#pragma unroll
        for (int c = 0; c < kC; ++c)
          if (c0 + c < C) acc[c] += sig * pq[c0 + c];
      }
#pragma unroll
      for (int c = 0; c < kC; ++c)
        if (c0 + c < C) sem[((b * C + c0 + c) * Ho + y) * Wo + x] = acc[c];
    }
  }
}

unsigned warp_grid(int64_t rows, int64_t* blocks_out) {
  *blocks_out = (rows + kThreads / 32 - 1) / (kThreads / 32);
  return static_cast<unsigned>(*blocks_out);
}

}  // namespace

Status engine_im2col_cuda(const float* img, int64_t B, int64_t Hi, int64_t Wi, int64_t p, void* cols, bool cols_bf16) {
  const int64_t total = B * (Hi / p) * (Wi / p) * 3 * p * p;
  const unsigned grid = grid_for(total, kThreads);
  im2col_kernel<<<grid, kThreads, 0, lib_stream()>>>(img, B, Hi, Wi, p, cols, cols_bf16);
  return launch_status("cudaInferenceEngine(patch im2col)");
}

Status engine_broadcast_rows_cuda(float* x, int64_t B, int64_t T, int64_t row0, const float* src, int64_t n, int64_t D) {
  if (n == 0) return Status::Ok();
  const unsigned grid = grid_for(B * n * D, kThreads);
  broadcast_rows_kernel<<<grid, kThreads, 0, lib_stream()>>>(x, B, T, row0, src, n, D);
  return launch_status("cudaInferenceEngine(prefix rows)");
}

Status engine_insert_queries_cuda(const float* x0, const float* queries, float* x1, int64_t B, int64_t Q, int64_t T0,
                                  int64_t D) {
  const unsigned grid = grid_for(B * (Q + T0) * D, kThreads);
  insert_queries_kernel<<<grid, kThreads, 0, lib_stream()>>>(x0, queries, x1, B, Q, T0, D);
  return launch_status("cudaInferenceEngine(query insertion)");
}

Status engine_row_norm_cuda(const float* x, int64_t B, int64_t T, int64_t first, int64_t n, int64_t D, const float* w,
                            const float* b, float eps, bool rms, void* y, bool y_bf16) {
  const char* op = rms ? "cudaInferenceEngine(RMSNorm)" : "cudaInferenceEngine(LayerNorm)";
  if (D > INT_MAX) return range_error(op, ": D=", D, " is too large");
  int64_t blocks = 0;
  warp_grid(B * n, &blocks);
  if (blocks > INT_MAX) return range_error(op, ": too many rows (", B * n, ")");
  row_norm_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, lib_stream()>>>(x, B * n, T, first, n, int(D), w, b, eps,
                                                                                rms, y, y_bf16);
  return launch_status(op);
}

Status engine_keep_scores_cuda(const float* logits, int64_t rows, float* score) {
  const unsigned grid = grid_for(rows, kThreads);
  keep_scores_kernel<<<grid, kThreads, 0, lib_stream()>>>(logits, rows, score);
  return launch_status("cudaInferenceEngine(keep scores)");
}

Status engine_select_rows_cuda(const int32_t* topk, uint8_t* active, int32_t* idx, int64_t B, int64_t Np, int64_t k,
                               int64_t fixed) {
  const char* op = "cudaInferenceEngine(token selection)";
  R4P_CUDA_TRY(op, cudaMemsetAsync(active, 0, size_t(B * Np), lib_stream()));
  const unsigned grid = grid_for(B * (fixed + k), kThreads);
  select_rows_kernel<<<grid, kThreads, 0, lib_stream()>>>(topk, active, idx, B, Np, k, fixed);
  return launch_status(op);
}

Status engine_class_probs_cuda(const float* logits, int64_t rows, int64_t C1, float* probs) {
  const unsigned grid = grid_for(rows, kThreads);
  class_probs_kernel<<<grid, kThreads, 0, lib_stream()>>>(logits, rows, C1, probs);
  return launch_status("cudaInferenceEngine(class probabilities)");
}

Status engine_depthwise3x3_ln_cuda(const float* in, void* out, int64_t B, int64_t h, int64_t w, int64_t D,
                                   const float* wt, const float* norm_w, const float* norm_b, float eps, bool out_bf16) {
  const char* op = "cudaInferenceEngine(depthwise 3x3 + LayerNorm2d)";
  int64_t blocks = 0;
  warp_grid(B * h * w, &blocks);
  if (blocks > INT_MAX || D > INT_MAX) return range_error(op, ": map too large (B*h*w=", B * h * w, ", D=", D, ")");
  if (D <= 32 * kMaxLane)
    depthwise_ln_kernel<true><<<static_cast<unsigned>(blocks), kThreads, 0, lib_stream()>>>(in, out, out_bf16, B, h, w, int(D),
                                                                                          wt, norm_w, norm_b, eps);
  else
    depthwise_ln_kernel<false><<<static_cast<unsigned>(blocks), kThreads, 0, lib_stream()>>>(in, out, out_bf16, B, h, w, int(D),
                                                                                           wt, norm_w, norm_b, eps);
  return launch_status(op);
}

Status engine_resize_semantic_cuda(const float* masks, const float* probs, int64_t B, int64_t Q, int64_t C, int64_t h,
                                   int64_t w, int64_t Ho, int64_t Wo, float* sem) {
  const unsigned grid = grid_for(B * Ho * Wo, kThreads);
  resize_semantic_kernel<<<grid, kThreads, 0, lib_stream()>>>(masks, probs, B, Q, C, h, w, Ho,
                                                                                         Wo, sem);
  return launch_status("cudaInferenceEngine(resize + semantic map)");
}

}  // namespace r4p::cuda
