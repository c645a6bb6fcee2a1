// scatter_tokens_ref.cc: SPEC §5 scatterTokens and its gradient, written out literally.
// base[B,N,D], idx[B,K] (no duplicates), src[B,K,D] -> out[B,N,D];
// backward: dout[B,N,D] -> dbase (dout, rows idx zeroed), dsrc[B,K,D] = dout[idx] (overwrite).
#include "kernels/ops.h"

namespace r4p {

Status scatter_tokens_fwd_ref(const ScatterTokensArgs& a) {
  const int64_t total = a.B * a.N * a.D;
  if (a.out != a.base)
    for (int64_t i = 0; i < total; ++i) a.out[i] = a.base[i];
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t k = 0; k < a.K; ++k) {
      const int64_t n = a.idx[b * a.K + k];
      for (int64_t d = 0; d < a.D; ++d) a.out[(b * a.N + n) * a.D + d] = a.src[(b * a.K + k) * a.D + d];
    }
  return Status::Ok();
}

Status scatter_tokens_bwd_ref(const ScatterTokensBwdArgs& a) {
  for (int64_t b = 0; b < a.B; ++b) {
    if (a.dbase)
      for (int64_t i = 0; i < a.N * a.D; ++i) a.dbase[b * a.N * a.D + i] = a.dout[b * a.N * a.D + i];
    for (int64_t k = 0; k < a.K; ++k) {
      const int64_t n = a.idx[b * a.K + k];
      for (int64_t d = 0; d < a.D; ++d) {
        if (a.dsrc) a.dsrc[(b * a.K + k) * a.D + d] = a.dout[(b * a.N + n) * a.D + d];
        if (a.dbase) a.dbase[(b * a.N + n) * a.D + d] = 0.f;
      }
    }
  }
  return Status::Ok();
}

}  // namespace r4p
