// gumbel_topk_ref.cc: SPEC §3/§5 gumbelTopK written out literally (the oracle for the fast variants).
// logits [B,N] f32, active [B,N] u8 (optional) -> out [B,k] int32, ascending.
//   key(b,n) = logits[b,n] + (noise ? g(seed, b, n) : 0)      in double (common/philox.h contract)
// Per row: every active token's (key, n), a full sort by key descending with ties to the lower index,
// the first k taken, then their indices sorted ascending. O(N log N); the avx2 variant selects in O(N)
// and must give bit-identical indices, which the total order (key desc, n asc) guarantees.
#include <algorithm>
#include <cmath>
#include <new>
#include <utility>
#include <vector>

#include "common/philox.h"
#include "kernels/ops.h"

namespace r4p {

// Shared by both variants through their own copies of the same few lines: checks that make the
// ordering well defined (no NaN) and that every row can supply k tokens.
static Status check_rows(const GumbelTopKArgs& a) {
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

Status gumbel_topk_ref(const GumbelTopKArgs& a) {
  if (a.k < 1 || a.k > a.N) return range_error("gumbelTopK: expected k to be in [1, ", a.N, "], received ", a.k);
  R4P_RETURN_IF_ERROR(check_rows(a));
  try {
    std::vector<std::pair<double, int32_t>> keys;
    std::vector<int32_t> chosen;
    for (int64_t b = 0; b < a.B; ++b) {
      keys.clear();
      for (int64_t n = 0; n < a.N; ++n) {
        if (a.active != nullptr && a.active[b * a.N + n] == 0) continue;
        double key = static_cast<double>(a.logits[b * a.N + n]);
        if (a.noise) key += philox_gumbel(philox_token(a.seed, b, n, kPhiloxStreamGumbelTopK).v[0]);
        keys.emplace_back(key, static_cast<int32_t>(n));
      }
      std::sort(keys.begin(), keys.end(), [](const std::pair<double, int32_t>& x, const std::pair<double, int32_t>& y) {
        return x.first > y.first || (x.first == y.first && x.second < y.second);
      });
      chosen.assign(a.k, 0);
      for (int64_t j = 0; j < a.k; ++j) chosen[j] = keys[j].second;
      std::sort(chosen.begin(), chosen.end());
      for (int64_t j = 0; j < a.k; ++j) a.out[b * a.k + j] = chosen[j];
    }
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "gumbelTopK: out of memory for the per-row keys");
  }
  return Status::Ok();
}

}  // namespace r4p
