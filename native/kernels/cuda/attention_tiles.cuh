// attention_tiles.cuh: the tile steps the policyAttention kernels share, forward (policy_attention_fwd.cu) and
// backward (policy_attention_bwd_simt.cu, policy_attention_bwd_mma.cu): the score products of a CTA's own rows
// against a streamed tile, the accumulation of a weight tile times the streamed rows, and the cp.async double
// buffering between tiles. Each accumulator sees the same sequence of operations in every kernel that uses these,
// so a kernel's bits do not depend on which of them it calls. .cu-only (device code).
#pragma once
#include "kernels/cuda/tc_common.cuh"

namespace r4p::cuda::dev {

// ---------------------------------------------------------------- SIMT (FP32; warp w owns RW rows, lane = streamed row)
// s[r] = sum_d own[(w*RW + r) * own_ld + d] * str[lane * str_ld + d], d < Dh: the scores of the warp's own rows
// against the lane's streamed row (fmaf in ascending d).
template <int RW>
__device__ __forceinline__ void simt_scores(float s[RW], const float* own, int own_ld, const float* str, int str_ld, int Dh,
                                            int w, int lane) {
#pragma unroll
  for (int r = 0; r < RW; ++r) s[r] = 0.f;
  for (int d = 0; d < Dh; ++d) {
    const float x = str[lane * str_ld + d];
#pragma unroll
    for (int r = 0; r < RW; ++r) s[r] = fmaf(own[(w * RW + r) * own_ld + d], x, s[r]);
  }
}

// acc[r][c] += sum_jj wt[r * 32 + jj] * tile[jj * ld + lane + 32c] (jj ascending, 32 streamed rows): the warp's RW
// rows of a [RW][32] weight tile (P, S or dA) times the streamed rows; columns lane + 32c >= Dh read as 0.
template <int RW, int NDV>
__device__ __forceinline__ void simt_accumulate(float acc[RW][NDV], const float* wt, const float* tile, int ld, int Dh,
                                                int lane) {
  for (int jj = 0; jj < 32; ++jj) {
#pragma unroll
    for (int c = 0; c < NDV; ++c) {
      const int d = lane + 32 * c;
      const float x = d < Dh ? tile[jj * ld + d] : 0.f;
#pragma unroll
      for (int r = 0; r < RW; ++r) acc[r][c] = fmaf(wt[r * 32 + jj], x, acc[r][c]);
    }
  }
}

// ---------------------------------------------------------------- tensor cores (BF16 operands, FP32 accumulators)
// s[mt] = A B^T for the MW row tiles of 16 own rows (r0 + 16 mt ..) of `own` against the NT*8 rows of `str` (both
// [rows][LD], K = KC*16 columns): the score tiles of one warp (Q K^T; K Q^T, V dO^T and dO V^T in the backward).
// Each fragment of `str` is loaded once and used by all MW row tiles; the arithmetic per score is the same for any MW.
template <int LD, int NT, int KC, int MW>
__device__ __forceinline__ void mma_scores_rows(float (*s)[NT][4], const bf16* own, int r0, const bf16* str, int g, int t) {
#pragma unroll
  for (int mt = 0; mt < MW; ++mt)
#pragma unroll
    for (int n = 0; n < NT; ++n) s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.f;
#pragma unroll
  for (int kc = 0; kc < KC; ++kc) {
    uint32_t a[MW][4];
#pragma unroll
    for (int mt = 0; mt < MW; ++mt) frag_a<LD>(a[mt], own, r0 + 16 * mt, kc * 16, g, t);
#pragma unroll
    for (int n = 0; n + 1 < NT; n += 2) {  // two n-tiles per fragment load
      uint32_t b0[2], b1[2];
      frag_b2<LD>(b0, b1, str, n * 8, kc * 16, g, t);
#pragma unroll
      for (int mt = 0; mt < MW; ++mt) {
        mma_bf16(s[mt][n], a[mt], b0);
        mma_bf16(s[mt][n + 1], a[mt], b1);
      }
    }
    if constexpr (NT % 2 != 0) {
      uint32_t b[2];
      frag_b<LD>(b, str, (NT - 1) * 8, kc * 16, g, t);
#pragma unroll
      for (int mt = 0; mt < MW; ++mt) mma_bf16(s[mt][NT - 1], a[mt], b);
    }
  }
}
template <int LD, int NT, int KC>
__device__ __forceinline__ void mma_scores(float s[NT][4], const bf16* own, int r0, const bf16* str, int g, int t) {
  mma_scores_rows<LD, NT, KC, 1>(reinterpret_cast<float(*)[NT][4]>(s), own, r0, str, g, t);
}

// acc[mt][dn] += C tile : the warp's MW row tiles of 16 x (KCH*16) held as score C fragments c[mt][2*KCH][4] (P, S or
// dA, rounded to BF16 here), times the [KCH*16][DT*8] rows of `tile` ([k][n], row stride LD): O += P V, dq += dA K,
// dv += S^T dO. Each fragment of `tile` is loaded once for all MW row tiles.
template <int LD, int KCH, int DT, int MW>
__device__ __forceinline__ void mma_accumulate_rows(float (*acc)[DT][4], float (*c)[2 * KCH][4], const bf16* tile, int g, int t) {
#pragma unroll
  for (int kc = 0; kc < KCH; ++kc) {
    uint32_t a[MW][4];
#pragma unroll
    for (int mt = 0; mt < MW; ++mt) frag_a_from_c(a[mt], c[mt][2 * kc], c[mt][2 * kc + 1]);
#pragma unroll
    for (int dn = 0; dn + 1 < DT; dn += 2) {
      uint32_t b0[2], b1[2];
      frag_b_kn2<LD>(b0, b1, tile, kc * 16, dn * 8, g, t);
#pragma unroll
      for (int mt = 0; mt < MW; ++mt) {
        mma_bf16(acc[mt][dn], a[mt], b0);
        mma_bf16(acc[mt][dn + 1], a[mt], b1);
      }
    }
    if constexpr (DT % 2 != 0) {
      uint32_t b[2];
      frag_b_kn<LD>(b, tile, kc * 16, (DT - 1) * 8, g, t);
#pragma unroll
      for (int mt = 0; mt < MW; ++mt) mma_bf16(acc[mt][DT - 1], a[mt], b);
    }
  }
}
template <int LD, int KCH, int DT>
__device__ __forceinline__ void mma_accumulate(float acc[DT][4], float c[2 * KCH][4], const bf16* tile, int g, int t) {
  mma_accumulate_rows<LD, KCH, DT, 1>(reinterpret_cast<float(*)[DT][4]>(acc), reinterpret_cast<float(*)[2 * KCH][4]>(c), tile, g, t);
}

// The double-buffered tile loop's step: when there is a next tile, issue its copies (`issue`, cp.async and plain
// stores into the other stage) and commit them, then wait until the current tile has landed; then a block barrier.
template <typename Issue>
__device__ __forceinline__ void next_tile(bool has_next, Issue issue) {
  if (has_next) {
    issue();
    cp_async_commit();
    cp_async_wait<1>();  // everything but the group just issued has landed
  } else {
    cp_async_wait<0>();
  }
  __syncthreads();
}

}  // namespace r4p::cuda::dev
