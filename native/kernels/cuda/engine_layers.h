// engine_layers.h: host launchers of the CUDA inference engine's non-block layers (docs/inference-forward.md
// steps 2-5; the CPU versions are native/engine/layers.cc, forward.cc, policy.cc and decode.cc). Plain C++
// (no CUDA headers): native/engine/cuda_engine.cc calls them; implemented by cuda/engine_layers.cu, stubbed
// by kernels/cuda_engine_layers_none.cc in CPU-only builds ("reg4pru was built without CUDA").
//
// All pointers are DEVICE pointers, FP32 (indices int32, masks uint8), except outputs with a *_bf16 flag:
// those feed a GEMM and may be stored as BF16 (rounded once, RNE; the engine's BF16 mode). Sizes are validated by the caller
// (the engine), each >= 1. Every launcher enqueues on the library stream and returns without waiting.
// Layouts as layers.h: rows [R, D] row-major, feature maps channels-last [B, h, w, D], mask logits planar
// [B, Q, h, w]. Reductions are FP32 in a fixed per-warp order (not the CPU's 8-lane order: results agree
// with the CPU to float rounding, ~1e-6 relative, not bit for bit).
//
// STATUS: compiled for sm_80 / sm_90a / compute_90 and checked on the CPU emulator (native/dev/cuda_emu,
// mode `engine`); NEVER RUN ON A GPU as of 2026-12-04.
#pragma once
#include <cstdint>

#include "common/status.h"

namespace r4p::cuda {

// img [B,3,Hi,Wi] -> cols [B*gh*gw, 3p^2], column (c*p + i)*p + j (layers.h im2col_patches).
Status engine_im2col_cuda(const float* img, int64_t B, int64_t Hi, int64_t Wi, int64_t p, void* cols, bool cols_bf16 = false);

// x [B,T,D]: rows row0 .. row0+n-1 of every batch row = src [n, D] (the cls / register / query rows).
Status engine_broadcast_rows_cuda(float* x, int64_t B, int64_t T, int64_t row0, const float* src, int64_t n, int64_t D);

// Step 4.1: x1 [B,Q+T0,D] = [queries [Q,D] | x0 [B,T0,D]].
Status engine_insert_queries_cuda(const float* x0, const float* queries, float* x1, int64_t B, int64_t Q, int64_t T0,
                                  int64_t D);

// y [B*n, D]: row r = norm(x[(r / n) * T + first + r % n]) over D; LayerNorm (w, b, eps) when rms is false,
// RMSNorm x / sqrt(mean(x^2) + eps) * w when true (b ignored). One warp per row, two-pass moments.
Status engine_row_norm_cuda(const float* x, int64_t B, int64_t T, int64_t first, int64_t n, int64_t D, const float* w,
                            const float* b, float eps, bool rms, void* y, bool y_bf16 = false);

// score[r] = softmax(logits[r, 0..2))[0], logits [rows, 2] (layers.h keep_scores).
Status engine_keep_scores_cuda(const float* logits, int64_t rows, float* score);

// After a top-k: active [B,Np] = 1 exactly at topk [B,k]; idx [B, fixed+k] = 0..fixed-1 then fixed + topk
// (the rows a block runs on, ascending: queries, cls, registers, kept patches). A topk value outside
// [0, Np) (the top-k kernel writes -1 for a failed row, and reports it) is skipped / mapped to row 0.
Status engine_select_rows_cuda(const int32_t* topk, uint8_t* active, int32_t* idx, int64_t B, int64_t Np, int64_t k,
                               int64_t fixed);

// probs [rows, C1-1] = softmax(logits [rows, C1]) without the last (no-object) class (layers.h class_probs).
Status engine_class_probs_cuda(const float* logits, int64_t rows, int64_t C1, float* probs);

// Depthwise 3x3 (zero padding 1, no bias; taps wt[(i*3+j)*D + c]) then LayerNorm2d over D per pixel:
// in, out [B,h,w,D] channels-last, out != in (layers.h depthwise3x3_layer_norm). One warp per pixel.
Status engine_depthwise3x3_ln_cuda(const float* in, void* out, int64_t B, int64_t h, int64_t w, int64_t D,
                                   const float* wt, const float* norm_w, const float* norm_b, float eps,
                                   bool out_bf16 = false);

// sem [B,C,Ho,Wo] = sum_q sigmoid(bilinear(masks [B,Q,h,w])) * probs [B,Q,C] (half-pixel centres,
// align_corners=False; layers.h resize_semantic, same lerp order and taps computed in double). One thread
// per output pixel, q ascending.
Status engine_resize_semantic_cuda(const float* masks, const float* probs, int64_t B, int64_t Q, int64_t C, int64_t h,
                                   int64_t w, int64_t Ho, int64_t Wo, float* sem);

}  // namespace r4p::cuda
