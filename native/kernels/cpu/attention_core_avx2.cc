// attention_core_avx2.cc: the flash-attention core (SPEC §4 policy attention, §5 prunedBlock's plain
// attention; interface and formula in attention_core.h) with the AVX2 micro-kernels (6 rows x 16 keys);
// the algorithm is attention_core_impl.h's. Also the whole-head packing (the same layout for every
// variant) and the per-variant entry points.
#include "kernels/cpu/attention_core.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/attention_core_impl.h"
#include "kernels/cpu/attention_tiles_avx2.h"
#include "kernels/precision.h"
#include "kernels/registry.h"
#include "runtime/cpu_features.h"

namespace r4p {

namespace {
struct Avx2Tiles {
  static constexpr int RMAX = attn::RMAX;
  static void scores(int R, const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s, int64_t lds) {
    attn::dispatch_rows<attn::ScoresF>(R, a, lda, Dh, xt, ngroups, s, lds);
  }
  static void pv(int R, const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo, int64_t lds) {
    attn::dispatch_rows<attn::PvF>(R, p, n, xr, Dp, o, ldo, lds);
  }
  static void softmax(float* s, int n, int ngroups, float* m, float* l, float* o, int64_t Dp, const float* polt, int64_t jd) {
    attn_softmax_step(s, n, ngroups, m, l, o, Dp, polt, jd);
  }
};
}  // namespace

size_t attention_core_scratch_floats(const AttentionCoreArgs& a) {
  const int64_t Dh = a.Dh, Dp = attn::pad8(Dh);
  return static_cast<size_t>(CTMAX * attn_tile_floats(Dh, Dp) + CKMAX + QS * Dh + QS * Dp + 2 * QS + kAttnRowsMax * LDS + Dp + 64);
}

size_t attention_core_packed_floats(const AttentionCoreArgs& a) {
  const int64_t Dh = a.Dh, Dp = attn::pad8(Dh), ntiles = (a.Nk + KT - 1) / KT;
  return static_cast<size_t>(ntiles * attn_tile_floats(Dh, Dp) + Dp);
}

void attention_core_pack_avx2(const AttentionCoreArgs& a, float* packed) {
  const int64_t Dh = a.Dh, Dp = attn::pad8(Dh), Nk = a.Nk, tf = attn_tile_floats(Dh, Dp);
  int64_t t = 0;
  for (int64_t j0 = 0; j0 < Nk; j0 += KT, ++t) {
    const int n = static_cast<int>(std::min<int64_t>(KT, Nk - j0));
    float* kt = packed + t * tf;
    float* vr = kt + Dh * KT;
    attn::pack_t(a.k, a.ldk, j0, n, Dh, kt);
    attn::pack_rows(a.v, a.ldv, j0, n, Dh, Dp, vr);
    std::fill(vr + n * Dp, vr + KT * Dp, 0.f);
  }
  float* vsum = packed + t * tf;
  if (attn_needs_colsum(a)) attn_v_colsum(a, vsum);
  else std::fill(vsum, vsum + Dp, 0.f);
}

void attention_core_rows_avx2(const AttentionCoreArgs& a, int64_t i0, int64_t i1, float* scratch) {
  attention_rows_impl<Avx2Tiles>(a, nullptr, i0, i1, scratch);
}

void attention_core_rows_packed_avx2(const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1,
                                     float* scratch) {
  attention_rows_impl<Avx2Tiles>(a, packed, i0, i1, scratch);
}

void attention_core_rows(const AttentionCoreArgs& a, int64_t i0, int64_t i1, float* scratch) {
  if (active_cpu_variant() == KernelVariant::kAvx512) attention_core_rows_avx512(a, i0, i1, scratch);
  else attention_core_rows_avx2(a, i0, i1, scratch);
}

static void scores_avx2(int R, const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s) {
  attn::dispatch_rows<attn::ScoresF>(R, a, lda, Dh, xt, ngroups, s, int64_t{KT});
}
static void pv_avx2(int R, const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo) {
  attn::dispatch_rows<attn::PvF>(R, p, n, xr, Dp, o, ldo, int64_t{KT});
}

AttnTileFns attention_tile_fns() {
  if (active_cpu_variant() == KernelVariant::kAvx512) return {attention_tiles_scores_avx512, attention_tiles_pv_avx512};
  return {scores_avx2, pv_avx2};
}

AttnKernel attention_core_kernel() {
  if (active_cpu_variant() != KernelVariant::kAvx512) return AttnKernel::kAvx2;
  return matmul_precision() == MatmulPrecision::kBf16 && cpu_has_avx512_bf16() ? AttnKernel::kAvx512Bf16 : AttnKernel::kAvx512;
}

void attention_core_pack(AttnKernel k, const AttentionCoreArgs& a, float* packed) {
  if (k == AttnKernel::kAvx512Bf16) attention_core_pack_bf16_avx512(a, packed);
  else attention_core_pack_avx2(a, packed);
}

void attention_core_rows_packed(AttnKernel k, const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1,
                                float* scratch) {
  switch (k) {
    case AttnKernel::kAvx512Bf16: attention_core_rows_packed_bf16_avx512(a, packed, i0, i1, scratch); break;
    case AttnKernel::kAvx512: attention_core_rows_packed_avx512(a, packed, i0, i1, scratch); break;
    default: attention_core_rows_packed_avx2(a, packed, i0, i1, scratch); break;
  }
}

}  // namespace r4p
