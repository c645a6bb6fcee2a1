// attention_core.h: the shared single-head flash-attention core used by policyAttention (SPEC §4)
// and by prunedBlock's attention over gathered tokens (SPEC §5). Implemented in
// attention_core_avx2.cc; include only from *_avx2.cc files.
//
// For query rows i in [i0, i1) of one head:
//   A_ij = scale * q_i . k_j                           j in [0, Nk)
//   policy == null : out_i = softmax_j(A_i) v                     (plain attention)
//   policy != null : M_ij = 1 if j == i + diag_offset else policy[j]
//                    E_ij = exp(A_ij - max_j A_ij) * M_ij  (max over ALL keys)
//                    out_i = sum_j (E_ij + eps/Nk) v_j / (sum_j E_ij + eps)
// Tiled with an online softmax (running max, rescaled sums): no Nq x Nk buffer exists.
// Rows are strided (ld* in floats) so Q/K/V can be read straight out of a fused qkv [T, 3D] buffer.
#pragma once
#include <cstddef>
#include <cstdint>

namespace r4p {

struct AttentionCoreArgs {
  const float* q = nullptr; int64_t ldq = 0;  // row i at q + i*ldq, Dh contiguous floats
  const float* k = nullptr; int64_t ldk = 0;
  const float* v = nullptr; int64_t ldv = 0;
  float* out = nullptr; int64_t ldo = 0;
  int64_t Nq = 0, Nk = 0, Dh = 0;
  float scale = 1.f;
  const float* policy = nullptr;  // [Nk] or null
  float eps = 0.f;                // used only with policy
  int64_t diag_offset = 0;        // key index of query row i's self-loop is i + diag_offset
  float* row_max = nullptr;       // [Nq] optional: max_j A_ij
  float* row_den = nullptr;       // [Nq] optional: sum_j E_ij (+ eps with policy), relative to row_max
};

// The most query rows any variant's micro-block holds (scratch is sized for it).
constexpr int64_t kAttnRowsMax = 12;

// Floats of scratch one call needs (per thread).
size_t attention_core_scratch_floats(const AttentionCoreArgs& a);
// Single-threaded: computes query rows [i0, i1). Callers parallelise over (batch, head, row block).
// Packs each K/V tile it uses itself (cost ~ Nk*Dh per call: pass long row ranges).
void attention_core_rows_avx2(const AttentionCoreArgs& a, int64_t i0, int64_t i1, float* scratch);

// Whole-head packing, for callers that run many row ranges over the same keys: all of K (transposed
// tiles) and V (padded rows), plus colsum(V) with a policy, packed once and then read-only (any
// number of threads may share it). Only a.k, ldk, v, ldv, Nk, Dh, policy, eps are read.
// Results are bit-identical to attention_core_rows_avx2's.
size_t attention_core_packed_floats(const AttentionCoreArgs& a);
void attention_core_pack_avx2(const AttentionCoreArgs& a, float* packed);
void attention_core_rows_packed_avx2(const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1,
                                     float* scratch);
// The same with the AVX-512 micro-kernels (call only when cpu_has_avx512()).
void attention_core_rows_avx512(const AttentionCoreArgs& a, int64_t i0, int64_t i1, float* scratch);
void attention_core_rows_packed_avx512(const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1,
                                       float* scratch);
// BF16 operands, FP32 sums (AVX512_BF16; attention_core_bf16_avx512.cc): its own packed layout (within
// attention_core_packed_floats), packed path only. Call only when cpu_has_avx512_bf16().
void attention_core_pack_bf16_avx512(const AttentionCoreArgs& a, float* packed);
void attention_core_rows_packed_bf16_avx512(const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1,
                                            float* scratch);

// Which core a caller runs, decided ONCE on the calling thread before it fans out to the pool (the matmul
// precision is thread-local; pool workers do not inherit it): avx512 under the 'avx512' variant, its BF16
// form when the thread's matmul precision is BF16 (kernels/precision.h), else avx2.
enum class AttnKernel { kAvx2, kAvx512, kAvx512Bf16 };
AttnKernel attention_core_kernel();
void attention_core_pack(AttnKernel k, const AttentionCoreArgs& a, float* packed);
void attention_core_rows_packed(AttnKernel k, const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1,
                                float* scratch);
// The tile micro-kernels (attention_tiles_avx2.h layouts: xt [Dh][KT], xr [KT][Dp], s [R][KT]) as plain
// functions, for the policy-attention backward: the avx512 ones under 'avx512' (same FMA chains, so the same
// bits), else avx2. R <= attn::RMAX (6) rows.
using AttnScoresFn = void (*)(int R, const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s);
using AttnPvFn = void (*)(int R, const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo);
struct AttnTileFns {
  AttnScoresFn scores;
  AttnPvFn pv;
};
AttnTileFns attention_tile_fns();
void attention_tiles_scores_avx512(int R, const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s);
void attention_tiles_pv_avx512(int R, const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo);

// Unpacked rows (FP32 always): avx512 under 'avx512', else avx2.
void attention_core_rows(const AttentionCoreArgs& a, int64_t i0, int64_t i1, float* scratch);

}  // namespace r4p
