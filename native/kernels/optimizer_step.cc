// optimizer_step.cc: see kernels/optimizer_step.h. Memory-bound elementwise loops (AdamW reads 4 and writes
// 3 floats per value), split over the thread pool in chunks; the compiler vectorises the loop bodies.
// FMA contraction is off: each line must round like the TF.js op it replaces.
#pragma GCC optimize("fp-contract=off")
#include "kernels/optimizer_step.h"

#include <cmath>

#include "runtime/thread_pool.h"

namespace r4p {

namespace {
constexpr int64_t kGrain = 1 << 14;  // values per task: below this a second thread costs more than it saves
}

Status adamw_step(const AdamWStepArgs& a) {
  if (a.n <= 0) return Status::Ok();
  parallel_for(a.n, kGrain, [&](int64_t i0, int64_t i1) {
    float* __restrict p = a.p;
    float* __restrict m = a.m;
    float* __restrict v = a.v;
    const float* __restrict g = a.g;
    for (int64_t i = i0; i < i1; ++i) {
      const float gi = g[i];
      const float mi = a.b1 * m[i] + a.c1 * gi;
      const float vi = a.b2 * v[i] + a.c2 * (gi * gi);
      m[i] = mi;
      v[i] = vi;
      if (a.update_p) {
        const float upd = (mi / a.bc1) / (std::sqrt(vi / a.bc2) + a.eps);
        p[i] = a.wd * p[i] - a.lr * upd;
      }
    }
  });
  return Status::Ok();
}

Status ema_step(const EmaStepArgs& a) {
  if (a.n <= 0) return Status::Ok();
  parallel_for(a.n, kGrain, [&](int64_t i0, int64_t i1) {
    float* __restrict e = a.e;
    const float* __restrict p = a.p;
    for (int64_t i = i0; i < i1; ++i) e[i] = a.d * e[i] + a.c * p[i];
  });
  return Status::Ok();
}

}  // namespace r4p
