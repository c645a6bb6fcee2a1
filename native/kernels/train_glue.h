// train_glue.h: the scalar glue shared by the training-op drivers (vit_block_driver.h, upscale_block_driver.h):
// how a driver runs a loop (serially in the ref variant, on the thread pool in the avx2 one) and the column sums
// of the bias / scale gradients. Each output element has one writer and each column sums its rows in ascending
// order, so the results do not depend on the thread count. Include only from a driver header: everything lives
// in an unnamed namespace, so each variant's file gets its own copy compiled with its own flags.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>

#include "runtime/thread_pool.h"

namespace r4p {
namespace {

// for_range(n, grain, fn): fn(i0, i1) over contiguous chunks covering [0, n).
using GlueForRange = void (*)(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// The ref variants' loop: one chunk, on the calling thread.
inline void glue_serial_range(int64_t n, int64_t /*grain*/, const std::function<void(int64_t, int64_t)>& fn) {
  if (n > 0) fn(0, n);
}
// The optimised variants' loop: parallel_for on the pool (at least `grain` items a chunk).
inline void glue_pool_range(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n > 0) parallel_for(n, grain, fn);
}

constexpr int64_t kGlueColBlock = 16;

// out[c] = sum_r a[r,c] (* b[r,c] when b is given), rows ascending; tasks own blocks of 16 columns.
inline void glue_colsum(GlueForRange for_range, const float* a, const float* b, int64_t R, int64_t C, float* out) {
  for_range((C + kGlueColBlock - 1) / kGlueColBlock, 1, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t c0 = j * kGlueColBlock, c1 = std::min(C, c0 + kGlueColBlock);
      float acc[kGlueColBlock] = {};
      for (int64_t r = 0; r < R; ++r) {
        const float* ar = a + r * C;
        if (b) {
          const float* br = b + r * C;
          for (int64_t c = c0; c < c1; ++c) acc[c - c0] += ar[c] * br[c];
        } else {
          for (int64_t c = c0; c < c1; ++c) acc[c - c0] += ar[c];
        }
      }
      for (int64_t c = c0; c < c1; ++c) out[c] = acc[c - c0];
    }
  });
}

}  // namespace
}  // namespace r4p
