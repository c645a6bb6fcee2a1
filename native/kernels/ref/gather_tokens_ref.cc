// gather_tokens_ref.cc: SPEC §5 gatherTokens and its gradient, written out literally.
// x[B,N,D], idx[B,K] -> out[B,K,D]; backward: dout[B,K,D] -> dx[B,N,D] (scatter-add, overwrite).
#include "kernels/ops.h"

namespace r4p {

Status gather_tokens_fwd_ref(const GatherTokensArgs& a) {
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t k = 0; k < a.K; ++k) {
      const int64_t n = a.idx[b * a.K + k];
      for (int64_t d = 0; d < a.D; ++d) a.out[(b * a.K + k) * a.D + d] = a.x[(b * a.N + n) * a.D + d];
    }
  return Status::Ok();
}

Status gather_tokens_bwd_ref(const GatherTokensBwdArgs& a) {
  for (int64_t i = 0; i < a.B * a.N * a.D; ++i) a.dx[i] = 0.f;
  // Fixed order (k ascending) so repeated indices accumulate the same way every time.
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t k = 0; k < a.K; ++k) {
      const int64_t n = a.idx[b * a.K + k];
      for (int64_t d = 0; d < a.D; ++d) a.dx[(b * a.N + n) * a.D + d] += a.dout[(b * a.K + k) * a.D + d];
    }
  return Status::Ok();
}

}  // namespace r4p
