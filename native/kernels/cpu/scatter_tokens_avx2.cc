// scatter_tokens_avx2.cc: SPEC §5 scatterTokens / backward, multi-threaded row copies.
// base[B,N,D], idx[B,K] (no duplicates: checked at the boundary), src[B,K,D] -> out[B,N,D].
// Forward: copy the rows of base that idx does not replace (unless in-place; contiguous runs as one
// memcpy), then each thread writes a disjoint set of idx rows. Skipping the replaced rows saves
// K/N of the base copy (70% at the paper's keep ratio).
#include <algorithm>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

static int64_t row_grain(int64_t D) { return std::max<int64_t>(1, (16 * 1024) / std::max<int64_t>(1, D)); }

Status scatter_tokens_fwd_avx2(const ScatterTokensArgs& a) {
  const size_t row_bytes = static_cast<size_t>(a.D) * sizeof(float);
  if (a.out != a.base) {
    std::vector<uint8_t> replaced;
    try {
      replaced.assign(static_cast<size_t>(a.B * a.N), 0);
    } catch (const std::bad_alloc&) {
      return Status::Make(StatusCode::kOutOfMemory, "scatterTokens: out of memory for the row mask");
    }
    for (int64_t r = 0; r < a.B * a.K; ++r) replaced[(r / a.K) * a.N + a.idx[r]] = 1;
    parallel_for(a.B * a.N, row_grain(a.D), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1;) {
        if (replaced[r]) {
          ++r;
          continue;
        }
        int64_t e = r + 1;
        while (e < r1 && !replaced[e]) ++e;
        std::memcpy(a.out + r * a.D, a.base + r * a.D, row_bytes * (e - r));
        r = e;
      }
    });
  }
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
