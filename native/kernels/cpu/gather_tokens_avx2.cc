// gather_tokens_avx2.cc: SPEC §5 gatherTokens / backward, multi-threaded row copies.
// x[B,N,D], idx[B,K] -> out[B,K,D]. Pure bandwidth: each output row is one memcpy of D floats
// (libc's memcpy is already AVX2), rows split across the pool.
// Backward (scatter-add) must not race on repeated indices: threads own disjoint ranges of
// destination rows n and each walks k in ascending order, so sums are thread-count independent.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

// Rows per task so that a task moves at least ~64 KiB.
static int64_t row_grain(int64_t D) { return std::max<int64_t>(1, (16 * 1024) / std::max<int64_t>(1, D)); }

Status gather_tokens_fwd_avx2(const GatherTokensArgs& a) {
  const size_t row_bytes = static_cast<size_t>(a.D) * sizeof(float);
  parallel_for(a.B * a.K, row_grain(a.D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / a.K;
      const int64_t n = a.idx[r];
      std::memcpy(a.out + r * a.D, a.x + (b * a.N + n) * a.D, row_bytes);
    }
  });
  return Status::Ok();
}

Status gather_tokens_bwd_avx2(const GatherTokensBwdArgs& a) {
  // For each batch row, list the k's that hit each destination n (counting sort, k ascending).
  const int64_t BN = a.B * a.N;
  std::vector<int64_t> start(BN + 1, 0), order(a.B * a.K);
  for (int64_t b = 0; b < a.B; ++b)
    for (int64_t k = 0; k < a.K; ++k) ++start[b * a.N + a.idx[b * a.K + k] + 1];
  for (int64_t i = 0; i < BN; ++i) start[i + 1] += start[i];
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t b = 0; b < a.B; ++b)
      for (int64_t k = 0; k < a.K; ++k) order[fill[b * a.N + a.idx[b * a.K + k]]++] = b * a.K + k;
  }
  const size_t row_bytes = static_cast<size_t>(a.D) * sizeof(float);
  parallel_for(BN, row_grain(a.D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* dst = a.dx + r * a.D;
      const int64_t s = start[r], e = start[r + 1];
      if (s == e) {
        std::memset(dst, 0, row_bytes);
        continue;
      }
      std::memcpy(dst, a.dout + order[s] * a.D, row_bytes);
      for (int64_t j = s + 1; j < e; ++j) {
        const float* src = a.dout + order[j] * a.D;
        for (int64_t d = 0; d < a.D; ++d) dst[d] += src[d];
      }
    }
  });
  return Status::Ok();
}

}  // namespace r4p
