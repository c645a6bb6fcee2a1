// engine_layers_avx2.h: AVX2/FMA inner loops of the inference engine's non-GEMM head layers
// (native/engine/layers.cc calls them when the avx2 variant is active; the scalar loops there are the
// ref path). Declarations only: the intrinsics stay in engine_layers_avx2.cc.
#pragma once
#include <cstdint>

namespace r4p::engine {

// One output row of depthwise 3x3 (zero padding, taps wt[(i*3+j)*D + c]) + LayerNorm2d over D on a
// channels-last map: rows[i] is input row y + i - 1 ([w,D]; nullptr outside the map), out the row [w,D].
void depthwise3x3_layer_norm_row_avx2(const float* const rows[3], float* out, int64_t w, int64_t D, const float* wt,
                                      const float* norm_w, const float* norm_b, float eps);

// sig[x] = sigmoid(row[lo[x]] + t[x] * (row[hi[x]] - row[lo[x]])), x < n (horizontal bilinear tap).
void lerp_sigmoid_avx2(const float* row, const int32_t* lo, const int32_t* hi, const float* t, int64_t n, float* sig);

// y[x] += a * s[x], x < n.
void axpy_avx2(float a, const float* s, float* y, int64_t n);

}  // namespace r4p::engine
