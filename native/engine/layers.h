// layers.h: the engine's non-GEMM layers (docs/inference-forward.md), plain C++ on the thread pool.
// Each output element is written by exactly one task and every reduction runs in a fixed order (8
// interleaved partial sums combined pairwise), so results do not depend on the thread count. The
// 8-lane partial sums also let the compiler vectorise the loops without -ffast-math.
// Layouts: rows [R, D] row-major; feature maps channels-last [B, h, w, D] (the GEMMs' natural layout;
// SPEC's [B, D, h, w] is the same tensor transposed); mask logits planar [B, Q, h, w].
#pragma once
#include <cstdint>
#include <functional>

#include "common/status.h"

namespace r4p::engine {

// y[r] = LayerNorm(src(r)) over D (eps), weight w / bias b; src(r) returns row r's input pointer.
void layer_norm_rows(int64_t rows, int64_t D, const std::function<const float*(int64_t)>& src, float* y,
                     const float* w, const float* b, float eps);

// y[r] = src(r) / sqrt(mean(src(r)^2) + eps) * w (RMSNorm, SPEC §3 policy predictor).
void rms_norm_rows(int64_t rows, int64_t D, const std::function<const float*(int64_t)>& src, float* y,
                   const float* w, float eps);

// Conv2d p x p stride p as im2col: img [B,3,Hi,Wi] -> cols [B*gh*gw, 3*p*p], column (c*p + i)*p + j.
void im2col_patches(const float* img, int64_t B, int64_t Hi, int64_t Wi, int64_t p, float* cols);

// Depthwise 3x3 (zero padding 1, no bias; taps wt[(i*3+j)*D + c]) then LayerNorm2d over D per pixel:
// in, out [B,h,w,D] channels-last, out != in.
void depthwise3x3_layer_norm(const float* in, float* out, int64_t B, int64_t h, int64_t w, int64_t D,
                             const float* wt, const float* norm_w, const float* norm_b, float eps);
// The same on output rows [y0, y1) of one h x w image, from a window of its rows: `in` holds input rows from
// in_row0 on (the rows read are y0-1 .. y1, those inside the image), `out` output rows from out_row0 on.
void depthwise3x3_layer_norm_rows(const float* in, int64_t in_row0, float* out, int64_t out_row0, int64_t h, int64_t w,
                                  int64_t D, int64_t y0, int64_t y1, const float* wt, const float* norm_w,
                                  const float* norm_b, float eps);

// probs[r, c] = softmax(logits[r, 0..C1))[c] for c < C1 - 1 (no-object dropped): [rows, C1] -> [rows, C1-1].
void class_probs(const float* logits, int64_t rows, int64_t C1, float* probs);

// Keep score of a policy predictor: score[r] = softmax(logits[r, 0..2))[0], logits [rows, 2].
void keep_scores(const float* logits, int64_t rows, float* score);

// Mask logits, SPEC's einsum, for one image and its pixels [p0, p1): out[q, p] = sum_d emb[q, d] * up[p, d],
// emb [Q,D], up [HW,D] channels-last, out [Q,HW] planar (columns p0..p1-1 written). Under 'avx512' a dedicated
// kernel (16 pixels transposed in registers against all queries: no packing of the [HW, D] map), else the
// GEMM; the same bits either way, and whatever the pixel range (a pixel's sum is one chain over d).
Status mask_logits_pixels(const float* emb, const float* up, int64_t Q, int64_t HW, int64_t D, int64_t p0, int64_t p1,
                          float* out);

// Bilinear resize (half-pixel centres, align_corners=False) of masks [B,Q,h,w] to [Ho,Wo], then
// sem[b,c,y,x] = sum_q sigmoid(m[b,q,y,x]) * probs[b,q,c] -> sem [B,C,Ho,Wo]. Fused per output row:
// the resized logits never exist as a tensor.
void resize_semantic(const float* masks, const float* probs, int64_t B, int64_t Q, int64_t C, int64_t h, int64_t w,
                     int64_t Ho, int64_t Wo, float* sem);

}  // namespace r4p::engine
