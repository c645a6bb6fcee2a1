// block_parts_ref.cc: see block_parts_ref.h.
#include "kernels/ref/block_parts_ref.h"

#include <cmath>
#include <vector>

namespace r4p::ref {

void linear(const float* x, float* y, int64_t M, int64_t in, int64_t out, const float* W, const float* bias) {
  for (int64_t m = 0; m < M; ++m)
    for (int64_t o = 0; o < out; ++o) {
      double acc = bias[o];
      for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(x[m * in + i]) * W[o * in + i];
      y[m * out + o] = static_cast<float>(acc);
    }
}

void attn_half(const BlockWeights& w, const float* X, float* z, int64_t K, float eps) {
  const int64_t D = w.D, H = w.H, Dh = D / H;
  std::vector<float> t(K * D), qkv(K * 3 * D), att(K * D);
  layer_norm(X, t.data(), K, D, w.norm1_w, w.norm1_b, eps);
  linear(t.data(), qkv.data(), K, D, 3 * D, w.qkv_w, w.qkv_b);
  const double scale = 1.0 / std::sqrt(static_cast<double>(Dh));
  std::vector<double> S(K * K);
  for (int64_t hd = 0; hd < H; ++hd) {
    const int64_t qo = hd * Dh, ko = D + hd * Dh, vo = 2 * D + hd * Dh;
    for (int64_t i = 0; i < K; ++i) {
      double mx = -INFINITY;
      for (int64_t j = 0; j < K; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < Dh; ++e) dot += static_cast<double>(qkv[i * 3 * D + qo + e]) * qkv[j * 3 * D + ko + e];
        S[i * K + j] = dot * scale;
        if (S[i * K + j] > mx) mx = S[i * K + j];
      }
      double sum = 0;
      for (int64_t j = 0; j < K; ++j) {
        S[i * K + j] = std::exp(S[i * K + j] - mx);
        sum += S[i * K + j];
      }
      for (int64_t j = 0; j < K; ++j) S[i * K + j] /= sum;
    }
    for (int64_t i = 0; i < K; ++i)
      for (int64_t e = 0; e < Dh; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < K; ++j) acc += S[i * K + j] * qkv[j * 3 * D + vo + e];
        att[i * D + hd * Dh + e] = static_cast<float>(acc);
      }
  }
  linear(att.data(), t.data(), K, D, D, w.proj_w, w.proj_b);
  for (int64_t i = 0; i < K * D; ++i) z[i] = X[i] + w.ls1[i % D] * t[i];
}

void mlp_half(const BlockWeights& w, const float* z, float* y, int64_t K, float eps) {
  const int64_t D = w.D, F = w.F;
  std::vector<float> t(K * D), h(K * F);
  layer_norm(z, t.data(), K, D, w.norm2_w, w.norm2_b, eps);
  linear(t.data(), h.data(), K, D, F, w.fc1_w, w.fc1_b);
  for (float& v : h) v = static_cast<float>(0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
  linear(h.data(), t.data(), K, F, D, w.fc2_w, w.fc2_b);
  for (int64_t i = 0; i < K * D; ++i) y[i] = z[i] + w.ls2[i % D] * t[i];
}

}  // namespace r4p::ref
