// gumbel_topk_avx2.cc: SPEC §3/§5 gumbelTopK, multi-threaded, O(N) selection per row.
// logits [B,N] f32, active [B,N] u8 (optional) -> out [B,k] int32, ascending.
// Two passes, both thread-count independent:
//   1. keys[b,n] = logits[b,n] + g(seed, b, n) in double, split over all B*N tokens (the two double
//      logs per token are the cost; splitting tokens, not rows, keeps B=1 parallel too). Every key is
//      a pure function of (seed, b, n), so the split cannot change a value.
//   2. rows split over the pool; per row, std::nth_element on (key, n) pairs under the total order
//      (key desc, n asc) puts exactly the ref's k winners first (a total order has one k-prefix), then
//      a mark-and-sweep over n writes them ascending in O(N) instead of sorting k indices.
// Philox runs 8 tokens per AVX2 step (kernels/cpu/philox_avx2.h, integer: bit-identical); the double
// log stays libm's, the same one the ref calls, so keys match the ref bit for bit.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <new>
#include <utility>
#include <vector>

#include "common/philox.h"
#include "kernels/cpu/philox_avx2.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

namespace {

// No NaN (the order would be undefined, and nth_element could misbehave) and >= k active per row.
// Serial and cheap next to the logs; the first bad row/position is reported, as in the ref.
Status check_rows_avx2(const GumbelTopKArgs& a) {
  for (int64_t b = 0; b < a.B; ++b) {
    int64_t count = 0;
    for (int64_t n = 0; n < a.N; ++n) {
      if (std::isnan(a.logits[b * a.N + n]))
        return range_error("gumbelTopK: expected logits to contain no NaN (the order is undefined), received logits[", b,
                           "][", n, "] = NaN");
      count += (a.active == nullptr || a.active[b * a.N + n] != 0) ? 1 : 0;
    }
    if (count < a.k)
      return range_error("gumbelTopK: active[", b, "] has ", count, " active tokens, fewer than k=", a.k);
  }
  return Status::Ok();
}

struct KeyIdx {
  double key;
  int32_t n;
};

inline bool before(const KeyIdx& x, const KeyIdx& y) { return x.key > y.key || (x.key == y.key && x.n < y.n); }

}  // namespace

Status gumbel_topk_avx2(const GumbelTopKArgs& a) {
  if (a.k < 1 || a.k > a.N) return range_error("gumbelTopK: expected k to be in [1, ", a.N, "], received ", a.k);
  R4P_RETURN_IF_ERROR(check_rows_avx2(a));
  std::vector<double> keys;
  try {
    keys.resize(static_cast<size_t>(a.B * a.N));
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "gumbelTopK: out of memory for the keys");
  }
  if (a.noise) {
    parallel_for(a.B * a.N, 1024, [&](int64_t i0, int64_t i1) {
      int64_t b = i0 / a.N, n = i0 - b * a.N;  // one division per chunk, then walk (b, n)
      alignas(32) uint32_t w0[8];
      for (int64_t i = i0; i < i1; i += 8) {
        const int64_t m = std::min<int64_t>(8, i1 - i);
        philox_walk_x8(a.seed, a.N, &b, &n, kPhiloxStreamGumbelTopK, w0, nullptr);
        for (int64_t j = 0; j < m; ++j) keys[i + j] = static_cast<double>(a.logits[i + j]) + philox_gumbel(w0[j]);
      }
    });
  } else {
    for (int64_t i = 0; i < a.B * a.N; ++i) keys[i] = static_cast<double>(a.logits[i]);
  }

  std::atomic<bool> oom{false};
  parallel_for(a.B, 1, [&](int64_t b0, int64_t b1) {
    try {
      std::vector<KeyIdx> row;
      std::vector<uint8_t> mark;
      row.reserve(static_cast<size_t>(a.N));
      mark.resize(static_cast<size_t>(a.N));
      for (int64_t b = b0; b < b1; ++b) {
        const double* kb = keys.data() + b * a.N;
        const uint8_t* act = a.active == nullptr ? nullptr : a.active + b * a.N;
        row.clear();
        for (int64_t n = 0; n < a.N; ++n)
          if (act == nullptr || act[n] != 0) row.push_back({kb[n], static_cast<int32_t>(n)});
        std::fill(mark.begin(), mark.end(), 0);
        if (static_cast<int64_t>(row.size()) > a.k)
          std::nth_element(row.begin(), row.begin() + (a.k - 1), row.end(), before);
        for (int64_t j = 0; j < a.k; ++j) mark[row[j].n] = 1;
        int32_t* out = a.out + b * a.k;
        int64_t j = 0;
        for (int64_t n = 0; n < a.N; ++n)
          if (mark[n]) out[j++] = static_cast<int32_t>(n);
      }
    } catch (const std::bad_alloc&) {
      oom.store(true);
    }
  });
  if (oom.load()) return Status::Make(StatusCode::kOutOfMemory, "gumbelTopK: out of memory for the row scratch");
  return Status::Ok();
}

}  // namespace r4p
