// depthwise_avx2.cc: NHWC depthwise correlation and its filter gradient (ops.h DepthwiseArgs) with
// AVX2/FMA over the contiguous channel axis and the thread pool over output rows.
// Forward / input gradient: each output row (b, i) is written by one thread; per pixel the in-range taps
// are listed once, then every 8-channel group sums its taps in (r, s) order with FMA (float32 sums of at
// most fh*fw terms). Filter gradient: the (b, i) rows are cut into fixed chunks (their size depends on
// the problem only, never on the thread count), each chunk sums into its own [fh,fw,C] partial, and the
// partials are added in chunk order: bit-identical results for any thread count.
#include <immintrin.h>

#include <algorithm>
#include <new>
#include <vector>

#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

namespace {

// Larger filters (never seen in the model) run the reference loops instead of needing heap tap lists.
constexpr int64_t kMaxTaps = 64;

// Taps of output pixel (i, j) that land inside the input: x offsets (pixel index * C) and w offsets.
int pixel_taps(int64_t i, int64_t j, int64_t H, int64_t W, int64_t C, int64_t fh, int64_t fw, int64_t top,
               int64_t left, bool flip, int64_t xbase, int64_t* xo, int64_t* wo) {
  const int64_t r0 = std::max<int64_t>(0, top - i), r1 = std::min<int64_t>(fh, H + top - i);
  const int64_t s0 = std::max<int64_t>(0, left - j), s1 = std::min<int64_t>(fw, W + left - j);
  int n = 0;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t s = s0; s < s1; ++s) {
      xo[n] = xbase + ((i + r - top) * W + (j + s - left)) * C;
      wo[n] = ((flip ? fh - 1 - r : r) * fw + (flip ? fw - 1 - s : s)) * C;
      ++n;
    }
  return n;
}

}  // namespace

Status depthwise_avx2(const DepthwiseArgs& a) {
  if (a.fh * a.fw > kMaxTaps) return depthwise_ref(a);
  const int64_t C = a.C, body = C - C % 8;
  const __m256i tm = vec::tail_mask(static_cast<int>(C % 8));
  {
    parallel_for(a.B * a.oh, 1, [&](int64_t q0, int64_t q1) {
      int64_t xo[kMaxTaps], wo[kMaxTaps];
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t b = q / a.oh, i = q % a.oh;
        float* out = a.out + q * a.ow * C;
        for (int64_t j = 0; j < a.ow; ++j, out += C) {
          const int n = pixel_taps(i, j, a.H, a.W, C, a.fh, a.fw, a.top, a.left, a.flip, b * a.H * a.W * C, xo, wo);
          for (int64_t c = 0; c < body; c += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int t = 0; t < n; ++t) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a.x + xo[t] + c), _mm256_loadu_ps(a.w + wo[t] + c), acc);
            _mm256_storeu_ps(out + c, acc);
          }
          if (body < C) {
            __m256 acc = _mm256_setzero_ps();
            for (int t = 0; t < n; ++t)
              acc = _mm256_fmadd_ps(_mm256_maskload_ps(a.x + xo[t] + body, tm), _mm256_maskload_ps(a.w + wo[t] + body, tm), acc);
            _mm256_maskstore_ps(out + body, tm, acc);
          }
        }
      }
    });
  }
  return Status::Ok();
}

Status depthwise_filter_grad_avx2(const DepthwiseFilterGradArgs& a) {
  if (a.fh * a.fw > kMaxTaps) return depthwise_filter_grad_ref(a);
  const int64_t rows = a.B * a.oh;
  const int64_t C = a.C, body = C - C % 8, wsize = a.fh * a.fw * C;
  const __m256i tm = vec::tail_mask(static_cast<int>(C % 8));
  // At most 64 chunks of at least 4 rows: a function of the shape only.
  const int64_t chunk = std::max<int64_t>(4, (rows + 63) / 64);
  const int64_t nchunks = (rows + chunk - 1) / chunk;
  std::vector<float> partial;
  try {
    partial.assign(static_cast<size_t>(nchunks * wsize), 0.f);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, "depthwiseFilterGrad: out of memory for the per-chunk partial sums");
  }
  parallel_for(nchunks, 1, [&](int64_t k0, int64_t k1) {
    int64_t xo[kMaxTaps], wo[kMaxTaps];
    for (int64_t k = k0; k < k1; ++k) {
      float* acc = partial.data() + k * wsize;
      for (int64_t q = k * chunk; q < std::min(rows, (k + 1) * chunk); ++q) {
        const int64_t b = q / a.oh, i = q % a.oh;
        const float* dy = a.dy + q * a.ow * C;
        for (int64_t j = 0; j < a.ow; ++j, dy += C) {
          const int n = pixel_taps(i, j, a.H, a.W, C, a.fh, a.fw, a.top, a.left, false, b * a.H * a.W * C, xo, wo);
          for (int64_t c = 0; c < body; c += 8) {
            const __m256 g = _mm256_loadu_ps(dy + c);
            for (int t = 0; t < n; ++t) {
              float* p = acc + wo[t] + c;
              _mm256_storeu_ps(p, _mm256_fmadd_ps(_mm256_loadu_ps(a.x + xo[t] + c), g, _mm256_loadu_ps(p)));
            }
          }
          if (body < C) {
            const __m256 g = _mm256_maskload_ps(dy + body, tm);
            for (int t = 0; t < n; ++t) {
              float* p = acc + wo[t] + body;
              _mm256_maskstore_ps(p, tm, _mm256_fmadd_ps(_mm256_maskload_ps(a.x + xo[t] + body, tm), g, _mm256_maskload_ps(p, tm)));
            }
          }
        }
      }
    }
  });
  // Chunk partials in chunk order (parallel over weight positions).
  parallel_for(wsize, 4096, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      float s = 0.f;
      for (int64_t k = 0; k < nchunks; ++k) s += partial[k * wsize + e];
      a.dw[e] = s;
    }
  });
  return Status::Ok();
}

}  // namespace r4p
