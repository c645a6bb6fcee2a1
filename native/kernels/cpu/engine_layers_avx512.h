// engine_layers_avx512.h: the engine head's hot loops with AVX-512F (engine_layers_avx512.cc), used by
// native/engine/layers.cc under the 'avx512' variant. Each gives the bits of its AVX2 / GEMM counterpart
// (same operations per element in the same order), so the variants agree exactly.
#pragma once
#include <cstdint>

namespace r4p::engine {

// out[q*ldo + p] = sum_d emb[q*D + d] * up[p*D + d] for q < Q, p in [p0, p1): the mask-logit einsum on the
// channels-last upscaled map, one FMA chain per element over d ascending from 0 (the GEMM's chain, so
// the avx2 GEMM path gives the same bits). Single-threaded over its pixel range; ut: 16 * D floats of
// scratch (16 pixels transposed).
void mask_logits_avx512(const float* emb, int64_t Q, int64_t D, const float* up, int64_t p0, int64_t p1, float* out,
                        int64_t ldo, float* ut);

// One output row of the fused depthwise 3x3 + LayerNorm2d (layers.h), as depthwise3x3_layer_norm_row_avx2.
void depthwise3x3_layer_norm_row_avx512(const float* const rows[3], float* out, int64_t w, int64_t D, const float* wt,
                                        const float* norm_w, const float* norm_b, float eps);

// True when lerp_sigmoid_avx512 may run on these taps: every 16 consecutive outputs read source indices
// within 32 of the block's first lo (always so when upsampling).
bool lerp_taps_fit_avx512(const int32_t* lo, const int32_t* hi, int64_t n);

// sig[x] = 1 / (1 + exp(-(row[lo[x]] + t[x] * (row[hi[x]] - row[lo[x]])))) for x < n, as lerp_sigmoid_avx2,
// with two-register permutes instead of gathers (the tail past n & ~7 scalar, as there). `row` must stay
// readable 32 floats past max(lo).
void lerp_sigmoid_avx512(const float* row, const int32_t* lo, const int32_t* hi, const float* t, int64_t n, float* sig);

// y[x] += a * s[x] (one FMA per element, as axpy_avx2).
void axpy_avx512(float a, const float* s, float* y, int64_t n);

}  // namespace r4p::engine
