// pointwise_avx2.cc: LayerNorm and exact GELU of the TF.js training graph (SPEC §2 numerics), forward and
// backward, multi-threaded with AVX2/FMA (ops.h LayerNormArgs / GeluArgs; the literal loops are in
// ref/pointwise_ref.cc).
//
// LayerNorm x [R,C]. Forward: rows split over the pool, each row by layer_norm_row (layer_norm_avx2.h, the
// same arithmetic as prunedBlock's LN: float32 two-pass mean / centred variance in 8 lanes), which also
// hands back the row's mean and rstd for the backward.
// Backward, per row (xhat = (x - mean) rstd, g = dy w): pass 1 sums g and g xhat in 8 lanes, pass 2 writes
//   dx = rstd (g - mean(g) - xhat mean(g xhat))
// and adds dy xhat, dy into the partial dw, db of the row's chunk. Chunks are fixed runs of
// layer_norm_bwd_chunk_rows(C) rows; a thread owns whole chunks, and the partials are then summed in chunk
// order. Every output is written by one thread in a fixed order: no dependence on the thread count.
// g is recomputed in pass 2 rather than stored; GCC's default -ffp-contract=fast may fuse dy * w into
// g - mean(g) there, so pass 2 can see g unrounded: a float32 rounding difference of ~ulp(g) * rstd, visible
// only where dx cancels to 0 exactly (C = 1).
//
// GELU: y = 0.5 x (1 + erf(x / sqrt 2)) with vec::gelu_ps (A&S 7.1.26 erf, |error| <= 1.5e-7 absolute, the
// same formula TF.js's cpu Erf uses); backward dx = dy (Phi(x) + x phi(x)) with Phi from erf_ps and
// phi = exp_ps(-x^2 / 2) / sqrt(2 pi). Elementwise in blocks of 8 lanes, masked tails.
#include <immintrin.h>

#include <algorithm>
#include <new>
#include <vector>

#include "kernels/cpu/layer_norm_avx2.h"
#include "kernels/cpu/vec_math_avx2.h"
#include "kernels/ops.h"
#include "runtime/thread_pool.h"

namespace r4p {

namespace {

// Elements per pool task for the elementwise GELU (keeps small tensors on one thread).
constexpr int64_t kGeluGrain = 16 * 1024;

// One row of the LayerNorm backward; adds dy * xhat into pw and dy into pb when they are non-null.
void layer_norm_bwd_row(const float* dy, const float* x, const float* w, float mean, float rstd, float* dx,
                        int64_t C, float* pw, float* pb) {
  const int64_t C8 = C & ~int64_t(7);
  const int tail = static_cast<int>(C - C8);
  const __m256i tm = vec::tail_mask(tail);
  const __m256 vm = _mm256_set1_ps(mean), vr = _mm256_set1_ps(rstd);
  __m256 sg = _mm256_setzero_ps(), sgx = _mm256_setzero_ps();
  for (int64_t c = 0; c < C8; c += 8) {
    const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vr);
    const __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dy + c), _mm256_loadu_ps(w + c));
    sg = _mm256_add_ps(sg, g);
    sgx = _mm256_fmadd_ps(g, xh, sgx);
  }
  if (tail) {
    // Masked-off lanes load 0, so g = 0 there and neither sum changes.
    const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + C8, tm), vm), vr);
    const __m256 g = _mm256_mul_ps(_mm256_maskload_ps(dy + C8, tm), _mm256_maskload_ps(w + C8, tm));
    sg = _mm256_add_ps(sg, g);
    sgx = _mm256_fmadd_ps(g, xh, sgx);
  }
  const float inv_c = 1.f / static_cast<float>(C);
  const __m256 mg = _mm256_set1_ps(vec::hsum_ps(sg) * inv_c);
  const __m256 mgx = _mm256_set1_ps(vec::hsum_ps(sgx) * inv_c);
  for (int64_t c = 0; c < C8; c += 8) {
    const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + c), vm), vr);
    const __m256 d = _mm256_loadu_ps(dy + c);
    const __m256 g = _mm256_mul_ps(d, _mm256_loadu_ps(w + c));
    _mm256_storeu_ps(dx + c, _mm256_mul_ps(vr, _mm256_fnmadd_ps(xh, mgx, _mm256_sub_ps(g, mg))));
    if (pw) _mm256_storeu_ps(pw + c, _mm256_fmadd_ps(d, xh, _mm256_loadu_ps(pw + c)));
    if (pb) _mm256_storeu_ps(pb + c, _mm256_add_ps(d, _mm256_loadu_ps(pb + c)));
  }
  if (tail) {
    const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(x + C8, tm), vm), vr);
    const __m256 d = _mm256_maskload_ps(dy + C8, tm);
    const __m256 g = _mm256_mul_ps(d, _mm256_maskload_ps(w + C8, tm));
    _mm256_maskstore_ps(dx + C8, tm, _mm256_mul_ps(vr, _mm256_fnmadd_ps(xh, mgx, _mm256_sub_ps(g, mg))));
    if (pw) _mm256_maskstore_ps(pw + C8, tm, _mm256_fmadd_ps(d, xh, _mm256_maskload_ps(pw + C8, tm)));
    if (pb) _mm256_maskstore_ps(pb + C8, tm, _mm256_add_ps(d, _mm256_maskload_ps(pb + C8, tm)));
  }
}

// out[c] = sum over k in order of part[k*C + c], k < nk.
void sum_chunks(const float* part, int64_t nk, int64_t C, float* out) {
  const int64_t C8 = C & ~int64_t(7);
  for (int64_t c = 0; c < C8; c += 8) {
    __m256 s = _mm256_setzero_ps();
    for (int64_t k = 0; k < nk; ++k) s = _mm256_add_ps(s, _mm256_loadu_ps(part + k * C + c));
    _mm256_storeu_ps(out + c, s);
  }
  for (int64_t c = C8; c < C; ++c) {
    float s = 0.f;
    for (int64_t k = 0; k < nk; ++k) s += part[k * C + c];
    out[c] = s;
  }
}

// GELU backward factor Phi(x) + x phi(x) on 8 lanes.
inline __m256 gelu_grad_ps(__m256 x) {
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(_mm256_set1_ps(1.f), vec::erf_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)))));
  const __m256 e = vec::exp_ps(_mm256_mul_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(x, x)));
  const __m256 pdf = _mm256_mul_ps(_mm256_set1_ps(0.39894228040143268f), e);
  return _mm256_fmadd_ps(x, pdf, cdf);
}

}  // namespace

Status layer_norm_fwd_avx2(const LayerNormArgs& a) {
  const int64_t C = a.C;
  parallel_for(a.R, std::max<int64_t>(1, 4096 / C), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      layer_norm_row(a.x + r * C, a.y + r * C, C, a.w, a.b, a.eps, a.mean ? a.mean + r : nullptr, a.rstd ? a.rstd + r : nullptr);
  });
  return Status::Ok();
}

Status layer_norm_bwd_avx2(const LayerNormBwdArgs& a) {
  const int64_t C = a.C, R = a.R;
  const int64_t rows = layer_norm_bwd_chunk_rows(C);
  const int64_t nk = (R + rows - 1) / rows;
  const bool params = a.dw != nullptr || a.db != nullptr;
  std::vector<float> part;
  if (params) {
    try {
      part.assign(static_cast<size_t>(2 * nk * C), 0.f);
    } catch (const std::bad_alloc&) {
      return Status::Make(StatusCode::kOutOfMemory, "layerNormBackward: out of memory for the dw/db partial sums");
    }
  }
  float* pw = params ? part.data() : nullptr;
  float* pb = params ? part.data() + nk * C : nullptr;
  // About 4096 floats of rows per task, in whole chunks.
  const int64_t grain = std::max<int64_t>(1, 4096 / (rows * C));
  parallel_for(nk, grain, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t e = std::min(R, (k + 1) * rows);
      for (int64_t r = k * rows; r < e; ++r)
        layer_norm_bwd_row(a.dy + r * C, a.x + r * C, a.w, a.mean[r], a.rstd[r], a.dx + r * C, C,
                           pw ? pw + k * C : nullptr, pb ? pb + k * C : nullptr);
    }
  });
  if (a.dw) sum_chunks(pw, nk, C, a.dw);
  if (a.db) sum_chunks(pb, nk, C, a.db);
  return Status::Ok();
}

Status gelu_fwd_avx2(const GeluArgs& a) {
  parallel_for(a.n, kGeluGrain, [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8) _mm256_storeu_ps(a.y + i, vec::gelu_ps(_mm256_loadu_ps(a.x + i)));
    if (i < i1) {
      const __m256i tm = vec::tail_mask(static_cast<int>(i1 - i));
      _mm256_maskstore_ps(a.y + i, tm, vec::gelu_ps(_mm256_maskload_ps(a.x + i, tm)));
    }
  });
  return Status::Ok();
}

Status gelu_bwd_avx2(const GeluBwdArgs& a) {
  parallel_for(a.n, kGeluGrain, [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8)
      _mm256_storeu_ps(a.dx + i, _mm256_mul_ps(_mm256_loadu_ps(a.dy + i), gelu_grad_ps(_mm256_loadu_ps(a.x + i))));
    if (i < i1) {
      const __m256i tm = vec::tail_mask(static_cast<int>(i1 - i));
      _mm256_maskstore_ps(a.dx + i, tm, _mm256_mul_ps(_mm256_maskload_ps(a.dy + i, tm), gelu_grad_ps(_mm256_maskload_ps(a.x + i, tm))));
    }
  });
  return Status::Ok();
}

}  // namespace r4p
