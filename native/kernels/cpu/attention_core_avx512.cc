// attention_core_avx512.cc: the flash-attention core (attention_core.h; SPEC §4 / §5) with the AVX-512
// micro-kernels of attention_tiles_avx512.h (12 rows x 32 keys); the algorithm, the online softmax and the
// packed layout are attention_core_impl.h's, shared with the AVX2 core: the two give identical bits.
#include <immintrin.h>

#include "kernels/cpu/attention_core.h"
#include "kernels/cpu/attention_core_impl.h"
#include "kernels/cpu/attention_tiles_avx512.h"

namespace r4p {

namespace {
struct Avx512Tiles {
  static constexpr int RMAX = attn512::RMAX;
  static_assert(RMAX <= kAttnRowsMax && QS % RMAX == 0, "super-block rows must split into micro-blocks");
  static void scores(int R, const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s, int64_t lds) {
    attn512::dispatch_rows<attn512::ScoresF>(R, a, lda, Dh, xt, ngroups, s, lds);
  }
  static void pv(int R, const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo, int64_t lds) {
    attn512::dispatch_rows<attn512::PvF>(R, p, n, xr, Dp, o, ldo, lds);
  }
  static void softmax(float* s, int n, int ngroups, float* m, float* l, float* o, int64_t Dp, const float* polt, int64_t jd) {
    attn512::softmax_step(s, n, ngroups, m, l, o, Dp, polt, jd);
  }
};
}  // namespace

void attention_tiles_scores_avx512(int R, const float* a, int64_t lda, int64_t Dh, const float* xt, int ngroups, float* s) {
  attn512::dispatch_rows<attn512::ScoresF>(R, a, lda, Dh, xt, ngroups, s, int64_t{KT});
}

void attention_tiles_pv_avx512(int R, const float* p, int n, const float* xr, int64_t Dp, float* o, int64_t ldo) {
  attn512::dispatch_rows<attn512::PvF>(R, p, n, xr, Dp, o, ldo, int64_t{KT});
}

void attention_core_rows_avx512(const AttentionCoreArgs& a, int64_t i0, int64_t i1, float* scratch) {
  attention_rows_impl<Avx512Tiles>(a, nullptr, i0, i1, scratch);
}

void attention_core_rows_packed_avx512(const AttentionCoreArgs& a, const float* packed, int64_t i0, int64_t i1,
                                       float* scratch) {
  attention_rows_impl<Avx512Tiles>(a, packed, i0, i1, scratch);
}

}  // namespace r4p
