// layers.cc: see layers.h. The scalar loops here are the ref path (written so that -O3 vectorises
// the channel-wise independent lanes, with fixed-order reductions); when the avx2 variant is active
// (registry), the two heavy head layers call the AVX2/FMA inner loops of
// kernels/cpu/engine_layers_avx2.cc instead. Either way the thread split is over output rows only.
#include "engine/layers.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/depthwise3x3_taps.h"
#include "kernels/cpu/engine_layers_avx2.h"
#include "kernels/cpu/engine_layers_avx512.h"
#include "kernels/registry.h"
#include "runtime/thread_pool.h"

namespace r4p::engine {
namespace {

// Sum of x[0..n) as 8 interleaved partial sums combined pairwise: a fixed order for any caller.
inline float sum8(const float* x, int64_t n) {
  float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) a[l] += x[i + l];
  for (int l = 0; i < n; ++i, ++l) a[l] += x[i];
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// Sum of (x - m)^2 in the same order.
inline float sumsq8(const float* x, int64_t n, float m) {
  float a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) {
      const float d = x[i + l] - m;
      a[l] += d * d;
    }
  for (int l = 0; i < n; ++i, ++l) {
    const float d = x[i] - m;
    a[l] += d * d;
  }
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

// Two-pass LayerNorm of one row (x may equal y).
inline void ln_row(const float* x, float* y, int64_t D, const float* w, const float* b, float eps) {
  const float mean = sum8(x, D) / static_cast<float>(D);
  const float var = sumsq8(x, D, mean) / static_cast<float>(D);
  const float rs = 1.f / std::sqrt(var + eps);
  for (int64_t d = 0; d < D; ++d) y[d] = (x[d] - mean) * rs * w[d] + b[d];
}

int64_t row_grain(int64_t D) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(D, 1)); }

}  // namespace

void layer_norm_rows(int64_t rows, int64_t D, const std::function<const float*(int64_t)>& src, float* y,
                     const float* w, const float* b, float eps) {
  parallel_for(rows, row_grain(D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) ln_row(src(r), y + r * D, D, w, b, eps);
  });
}

void rms_norm_rows(int64_t rows, int64_t D, const std::function<const float*(int64_t)>& src, float* y,
                   const float* w, float eps) {
  parallel_for(rows, row_grain(D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* x = src(r);
      const float ms = sumsq8(x, D, 0.f) / static_cast<float>(D);
      const float rs = 1.f / std::sqrt(ms + eps);
      float* o = y + r * D;
      for (int64_t d = 0; d < D; ++d) o[d] = x[d] * rs * w[d];
    }
  });
}

void im2col_patches(const float* img, int64_t B, int64_t Hi, int64_t Wi, int64_t p, float* cols) {
  const int64_t gh = Hi / p, gw = Wi / p, Kc = 3 * p * p;
  // one task = one (b, gy) row of patches: gw patches x 3 channels x p rows, each a contiguous p-run
  parallel_for(B * gh, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / gh, gy = t % gh;
      for (int64_t gx = 0; gx < gw; ++gx) {
        float* dst = cols + ((b * gh + gy) * gw + gx) * Kc;
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t i = 0; i < p; ++i) {
            const float* src = img + ((b * 3 + c) * Hi + gy * p + i) * Wi + gx * p;
            std::copy(src, src + p, dst + (c * p + i) * p);
          }
      }
    }
  });
}

namespace {

// One output row of the depthwise 3x3 + LayerNorm2d, the active variant: rows[i] is input row y + i - 1
// ([w,D], nullptr outside the map), out the output row [w,D].
void depthwise3x3_layer_norm_row(const float* const rows[3], float* out, int64_t w, int64_t D, const float* wt,
                                 const float* norm_w, const float* norm_b, float eps) {
  if (active_cpu_variant() == KernelVariant::kAvx512) {
    depthwise3x3_layer_norm_row_avx512(rows, out, w, D, wt, norm_w, norm_b, eps);
    return;
  }
  if (active_at_least_avx2()) {
    depthwise3x3_layer_norm_row_avx2(rows, out, w, D, wt, norm_w, norm_b, eps);
    return;
  }
  for (int64_t x = 0; x < w; ++x) {
    float* o = out + x * D;
    std::fill(o, o + D, 0.f);
    // taps in a fixed order (row-major over the 3x3 window); out-of-image taps are zero padding
    const float* src[9];
    const float* ker[9];
    const int nt = depthwise3x3_taps(rows, wt, w, D, x, src, ker);
    for (int t = 0; t < nt; ++t)
      for (int64_t c = 0; c < D; ++c) o[c] += ker[t][c] * src[t][c];
    ln_row(o, o, D, norm_w, norm_b, eps);
  }
}

}  // namespace

void depthwise3x3_layer_norm(const float* in, float* out, int64_t B, int64_t h, int64_t w, int64_t D,
                             const float* wt, const float* norm_w, const float* norm_b, float eps) {
  for (int64_t b = 0; b < B; ++b)
    depthwise3x3_layer_norm_rows(in + b * h * w * D, 0, out + b * h * w * D, 0, h, w, D, 0, h, wt, norm_w, norm_b, eps);
}

void depthwise3x3_layer_norm_rows(const float* in, int64_t in_row0, float* out, int64_t out_row0, int64_t h, int64_t w,
                                  int64_t D, int64_t y0, int64_t y1, const float* wt, const float* norm_w,
                                  const float* norm_b, float eps) {
  parallel_for(y1 - y0, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t y = y0 + t0; y < y0 + t1; ++y) {
      const float* rows[3];
      for (int64_t i = 0; i < 3; ++i) {
        const int64_t yy = y + i - 1;
        rows[i] = yy < 0 || yy >= h ? nullptr : in + (yy - in_row0) * w * D;
      }
      depthwise3x3_layer_norm_row(rows, out + (y - out_row0) * w * D, w, D, wt, norm_w, norm_b, eps);
    }
  });
}

void class_probs(const float* logits, int64_t rows, int64_t C1, float* probs) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* l = logits + r * C1;
    float m = l[0];
    for (int64_t c = 1; c < C1; ++c) m = std::max(m, l[c]);
    float s = 0.f;
    for (int64_t c = 0; c < C1; ++c) s += std::exp(l[c] - m);
    for (int64_t c = 0; c + 1 < C1; ++c) probs[r * (C1 - 1) + c] = std::exp(l[c] - m) / s;
  }
}

void keep_scores(const float* logits, int64_t rows, float* score) {
  parallel_for(rows, 4096, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float l0 = logits[2 * r], l1 = logits[2 * r + 1], m = std::max(l0, l1);
      const float e0 = std::exp(l0 - m), e1 = std::exp(l1 - m);
      score[r] = e0 / (e0 + e1);
    }
  });
}

Status mask_logits_pixels(const float* emb, const float* up, int64_t Q, int64_t HW, int64_t D, int64_t p0, int64_t p1,
                          float* out) {
  if (p1 <= p0) return Status::Ok();
  if (active_cpu_variant() == KernelVariant::kAvx512) {
    // tasks of 64 pixels; each writes only its own columns of out (a pixel's sums do not depend on the task edges)
    const int64_t blocks = (p1 - p0 + 63) / 64;
    parallel_for(blocks, 1, [&](int64_t t0, int64_t t1) {
      std::vector<float> ut(static_cast<size_t>(16 * D));
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t a = p0 + t * 64;
        mask_logits_avx512(emb, Q, D, up, a, std::min(p1, a + 64), out, HW, ut.data());
      }
    });
    return Status::Ok();
  }
  GemmArgs g;
  g.M = Q; g.N = p1 - p0; g.K = D;
  g.A = emb; g.lda = D;
  g.B = up + p0 * D; g.ldb = D; g.transB = true;
  g.C = out + p0; g.ldc = HW;
  return gemm(g);
}

namespace {
// Half-pixel source coordinate of output index o (PyTorch align_corners=False, clamped at 0):
// low index, high index (clamped to in-1) and the weight of the high one.
struct Tap {
  int64_t lo, hi;
  float t;
};
std::vector<Tap> taps(int64_t in, int64_t out) {
  std::vector<Tap> v(static_cast<size_t>(out));
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t o = 0; o < out; ++o) {
    double s = (o + 0.5) * scale - 0.5;
    s = std::min(std::max(s, 0.0), static_cast<double>(in - 1));
    const int64_t lo = static_cast<int64_t>(s);
    const int64_t hi = std::min(lo + 1, in - 1);
    v[static_cast<size_t>(o)] = Tap{lo, hi, static_cast<float>(s - static_cast<double>(lo))};
  }
  return v;
}
}  // namespace

void resize_semantic(const float* masks, const float* probs, int64_t B, int64_t Q, int64_t C, int64_t h, int64_t w,
                     int64_t Ho, int64_t Wo, float* sem) {
  const std::vector<Tap> ty = taps(h, Ho), tx = taps(w, Wo);
  const bool avx2 = active_at_least_avx2();
  std::vector<int32_t> xlo(static_cast<size_t>(Wo)), xhi(static_cast<size_t>(Wo));
  std::vector<float> xt(static_cast<size_t>(Wo));
  for (int64_t x = 0; x < Wo; ++x) {
    xlo[x] = static_cast<int32_t>(tx[x].lo);
    xhi[x] = static_cast<int32_t>(tx[x].hi);
    xt[x] = tx[x].t;
  }
  const bool avx512 = active_cpu_variant() == KernelVariant::kAvx512 && lerp_taps_fit_avx512(xlo.data(), xhi.data(), Wo);
  parallel_for(B * Ho, 1, [&](int64_t t0, int64_t t1) {
    // row: 32 floats of slack past w for the avx512 kernel's two-register window loads
    std::vector<float> row(static_cast<size_t>(w + 32), 0.f), sig(static_cast<size_t>(Wo));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / Ho, y = t % Ho;
      const Tap vy = ty[static_cast<size_t>(y)];
      for (int64_t c = 0; c < C; ++c) std::fill(sem + ((b * C + c) * Ho + y) * Wo, sem + ((b * C + c) * Ho + y + 1) * Wo, 0.f);
      for (int64_t q = 0; q < Q; ++q) {
        const float* m = masks + (b * Q + q) * h * w;
        const float* r0 = m + vy.lo * w;
        const float* r1 = m + vy.hi * w;
        for (int64_t x = 0; x < w; ++x) row[x] = r0[x] + vy.t * (r1[x] - r0[x]);
        if (avx512) {
          lerp_sigmoid_avx512(row.data(), xlo.data(), xhi.data(), xt.data(), Wo, sig.data());
          for (int64_t c = 0; c < C; ++c)
            axpy_avx512(probs[(b * Q + q) * C + c], sig.data(), sem + ((b * C + c) * Ho + y) * Wo, Wo);
          continue;
        }
        if (avx2) {
          lerp_sigmoid_avx2(row.data(), xlo.data(), xhi.data(), xt.data(), Wo, sig.data());
          for (int64_t c = 0; c < C; ++c)
            axpy_avx2(probs[(b * Q + q) * C + c], sig.data(), sem + ((b * C + c) * Ho + y) * Wo, Wo);
          continue;
        }
        for (int64_t x = 0; x < Wo; ++x) {
          const float v = row[xlo[x]] + xt[x] * (row[xhi[x]] - row[xlo[x]]);
          sig[x] = 1.f / (1.f + std::exp(-v));
        }
        for (int64_t c = 0; c < C; ++c) {
          const float pc = probs[(b * Q + q) * C + c];
          float* s = sem + ((b * C + c) * Ho + y) * Wo;
          for (int64_t x = 0; x < Wo; ++x) s[x] += sig[x] * pc;
        }
      }
    }
  });
}

}  // namespace r4p::engine
