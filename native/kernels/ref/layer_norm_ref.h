// layer_norm_ref.h: the reference LayerNorm over the rows of x [M, D] (SPEC §2 numerics), written out
// literally: mean and biased variance accumulated in double, rstd = 1 / sqrt(var + eps) in double, each output
// rounded to float once. One home for the training op's reference (pointwise_ref.cc layer_norm_fwd_ref) and
// the block references (block_parts_ref.cc, tome_block_ref.cc). Header-only so that every file that links one
// of them (the addon, the CUDA emulator's checks) gets it without another source file.
#pragma once
#include <cmath>
#include <cstdint>

namespace r4p::ref {

// y[m, :] = (x[m, :] - mean_m) * rstd_m * w + b; mean_m / rstd_m also stored when mean / rstd are non-null.
inline void layer_norm(const float* x, float* y, int64_t M, int64_t D, const float* w, const float* b, float eps,
                       float* mean = nullptr, float* rstd = nullptr) {
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * D;
    double mu = 0;
    for (int64_t d = 0; d < D; ++d) mu += xr[d];
    mu /= static_cast<double>(D);
    double var = 0;
    for (int64_t d = 0; d < D; ++d) var += (xr[d] - mu) * (xr[d] - mu);
    const double rs = 1.0 / std::sqrt(var / static_cast<double>(D) + static_cast<double>(eps));
    for (int64_t d = 0; d < D; ++d) y[m * D + d] = static_cast<float>((xr[d] - mu) * rs * w[d] + b[d]);
    if (mean) mean[m] = static_cast<float>(mu);
    if (rstd) rstd[m] = static_cast<float>(rs);
  }
}

}  // namespace r4p::ref
