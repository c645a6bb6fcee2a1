// scatter_tokens_avx2.cc: SPEC §5 scatterTokens / backward, multi-threaded row copies.
// base[B,N,D], idx[B,K] (no duplicates: checked at the boundary), src[B,K,D] -> out[B,N,D].
// Forward: copy base (unless in-place), then each thread writes a disjoint set of idx rows.
#include <algorithm>
#include <cstring>

#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

static int64_t row_grain(int64_t D) { return std::max<int64_t>(1, (16 * 1024) / std::max<int64_t>(1, D)); }

Status scatter_tokens_fwd_avx2(const ScatterTokensArgs& a) {
  const size_t row_bytes = static_cast<size_t>(a.D) * sizeof(float);
  if (a.out != a.base)
    parallel_for(a.B * a.N, row_grain(a.D), [&](int64_t r0, int64_t r1) {
      std::memcpy(a.out + r0 * a.D, a.base + r0 * a.D, row_bytes * (r1 - r0));
    });
  parallel_for(a.B * a.K, row_grain(a.D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / a.K;
      std::memcpy(a.out + (b * a.N + a.idx[r]) * a.D, a.src + r * a.D, row_bytes);
    }
  });
  return Status::Ok();
}

Status scatter_tokens_bwd_avx2(const ScatterTokensBwdArgs& a) {
  const size_t row_bytes = static_cast<size_t>(a.D) * sizeof(float);
  if (a.dbase)
    parallel_for(a.B * a.N, row_grain(a.D), [&](int64_t r0, int64_t r1) {
      std::memcpy(a.dbase + r0 * a.D, a.dout + r0 * a.D, row_bytes * (r1 - r0));
    });
  parallel_for(a.B * a.K, row_grain(a.D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / a.K;
      const int64_t row = (b * a.N + a.idx[r]) * a.D;
      if (a.dsrc) std::memcpy(a.dsrc + r * a.D, a.dout + row, row_bytes);
      if (a.dbase) std::memset(a.dbase + row, 0, row_bytes);
    }
  });
  return Status::Ok();
}

}  // namespace r4p
