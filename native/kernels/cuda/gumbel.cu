// gumbel.cu: SPEC §3-§5 gumbelTopK and gumbelSoftmaxST (+ straight-through backward) on CUDA.
// Compiled for sm_80 / sm_90a / compute_90; NEVER RUN ON A GPU as of 2026-11-22 (no device was
// available to the author): correctness rests on review and on test/gpu/, which has not run yet.
//
// Randomness: exactly the common/philox.h contract the CPU kernels use (the header is __host__
// __device__): counter (token n, row b, stream, 0), key = seed, Gumbel g = -log(-log(u)) in double.
// CUDA's double log is within ~1 ulp of glibc's, so keys agree with the CPU to ~1e-16 relative and
// the chosen sets are identical unless two keys of a row tie to that precision (see philox.h).
//
// gumbelTopK, logits [B,N] (f32|bf16), active [B,N] u8 or null -> out int32 [B,k] ascending:
//   1. keys kernel, grid-stride over all B*N tokens (B = 1 still fills the GPU): key = logit + g in
//      double, mapped to a uint64 whose unsigned order is the double order (sign bit flipped for
//      x >= 0, all bits for x < 0; -0 is first made +0 because the CPU compares -0 == +0); inactive
//      tokens get 0, below every real key (the image of -inf is 0x000F...F). A NaN logit marks the row.
//   2. select kernel, one block per row: MSB-first radix select, 8 bits per pass (8 passes over the
//      row's keys, which stay in L2: 32 KB at N = 4101), finds the k-th largest key T and how many of
//      the keys equal to T to take (kk). A last pass in index order keeps keys > T and the first kk
//      keys == T (ties to the lower index: the CPU's total order key desc, n asc), and compacts them
//      with a block prefix sum, which writes the indices already ascending.
//   Rows with a NaN or fewer than k active tokens are filled with -1 and reported (RangeError at the
//   next sync), as the CPU kernel refuses them.
// gumbelSoftmaxST: one thread per token, double math as gumbel_softmax_st_ref (hard = y0 >= y1,
// soft = 1/(1+exp(y1-y0)) rounded once); backward g = dhard*(s(1-s))/tau in float, the ref's order.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "common/philox.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/elem.cuh"
#include "kernels/cuda/token_ops.h"

namespace r4p::cuda {

namespace {

constexpr int kSelectThreads = 512;

__device__ __forceinline__ uint64_t ordered_key(double x) {
  if (x == 0.0) x = 0.0;  // -0 -> +0
  const uint64_t u = static_cast<uint64_t>(__double_as_longlong(x));
  return (u >> 63) ? ~u : (u | 0x8000000000000000ull);
}

template <typename T>
__global__ void __launch_bounds__(256) topk_keys_kernel(const T* __restrict__ logits, const uint8_t* __restrict__ active,
                                                        uint64_t* __restrict__ keys, int32_t* __restrict__ rowbad,
                                                        int64_t B, int64_t N, uint64_t seed, bool noise,
                                                        DeviceError* err) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < B * N;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / N, n = i - b * N;
    const float l = load_f32(logits + i);
    if (isnan(l)) {
      report_device_error(err, kDevErrNaN, kOpGumbelTopK, b, n, 0, 0);
      atomicOr(&rowbad[b], 1);
      keys[i] = 0;
      continue;
    }
    if (active != nullptr && active[i] == 0) {
      keys[i] = 0;
      continue;
    }
    double key = static_cast<double>(l);
    if (noise) key += philox_gumbel(philox_token(seed, b, n, kPhiloxStreamGumbelTopK).v[0]);
    keys[i] = ordered_key(key);
  }
}

// Exclusive prefix sum of v over the block (blockDim.x a multiple of 32); *total = the block's sum.
// smem: at least 33 ints. Every thread of the block must call it.
__device__ int block_exclusive_scan(int v, int* total, int* smem) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  int x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) smem[warp] = x;
  __syncthreads();
  if (warp == 0) {
    const int w = lane < nwarps ? smem[lane] : 0;
    int incl = w;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o) incl += y;
    }
    smem[lane] = incl - w;
    if (lane == 31) smem[32] = incl;
  }
  __syncthreads();
  const int res = smem[warp] + x - v;
  *total = smem[32];
  __syncthreads();  // smem may be reused right after
  return res;
}

__global__ void __launch_bounds__(kSelectThreads) topk_select_kernel(const uint64_t* __restrict__ keys,
                                                                     const int32_t* __restrict__ rowbad,
                                                                     int32_t* __restrict__ out, int64_t B, int64_t N,
                                                                     int64_t k, DeviceError* err) {
  __shared__ unsigned hist[256];
  __shared__ int scan_smem[33];
  __shared__ unsigned long long s_prefix, s_mask;
  __shared__ int s_kk;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  for (int64_t b = blockIdx.x; b < B; b += gridDim.x) {  // block-uniform loop
    const uint64_t* row = keys + b * N;
    int32_t* orow = out + b * k;
    // Active count (keys != 0) for the k check.
    int mine = 0;
    for (int64_t n = tid; n < N; n += blockDim.x) mine += row[n] != 0 ? 1 : 0;
    int count = 0;
    block_exclusive_scan(mine, &count, scan_smem);
    const bool bad = rowbad[b] != 0;
    if (bad || count < k) {
      if (!bad && tid == 0) report_device_error(err, kDevErrTooFewActive, kOpGumbelTopK, b, count, k, 0);
      for (int64_t j = tid; j < k; j += blockDim.x) orow[j] = -1;
      continue;
    }
    if (tid == 0) {
      s_prefix = 0;
      s_mask = 0;
      s_kk = static_cast<int>(k);
    }
    __syncthreads();
    // Radix select of the k-th largest key, 8 bits per pass from the top.
    for (int shift = 56; shift >= 0; shift -= 8) {
      for (int i = tid; i < 256; i += blockDim.x) hist[i] = 0;
      __syncthreads();
      const uint64_t prefix = s_prefix, mask = s_mask;
      for (int64_t n = tid; n < N; n += blockDim.x) {
        const uint64_t u = row[n];
        if (u != 0 && (u & mask) == prefix) atomicAdd(&hist[(u >> shift) & 0xff], 1u);
      }
      __syncthreads();
      if (warp == 0) {
        // Lane L owns bins 255-8L .. 255-8L-7 (descending); an inclusive scan over lanes gives the
        // count of candidates at or above each lane's lowest bin.
        const unsigned kk = static_cast<unsigned>(s_kk);
        unsigned s = 0;
#pragma unroll
        for (int j = 0; j < 8; ++j) s += hist[255 - 8 * lane - j];
        unsigned c = s;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const unsigned y = __shfl_up_sync(0xffffffffu, c, o);
          if (lane >= o) c += y;
        }
        const unsigned ball = __ballot_sync(0xffffffffu, c >= kk);
        if (ball != 0 && lane == __ffs(ball) - 1) {
          unsigned cum = c - s;  // candidates in higher bins
          for (int j = 0; j < 8; ++j) {
            const int d = 255 - 8 * lane - j;
            const unsigned h = hist[d];
            if (cum + h >= kk) {
              s_prefix = prefix | (static_cast<unsigned long long>(d) << shift);
              s_mask = mask | (0xffull << shift);
              s_kk = static_cast<int>(kk - cum);
              break;
            }
            cum += h;
          }
        }
      }
      __syncthreads();
    }
    const uint64_t T = s_prefix;
    const int take_eq = s_kk;  // keys == T to keep, the lowest indices first
    // Compaction in index order: keys > T, and the first take_eq keys == T.
    int run_eq = 0, run_sel = 0;
    for (int64_t n0 = 0; n0 < N; n0 += blockDim.x) {
      const int64_t n = n0 + tid;
      const uint64_t u = n < N ? row[n] : 0;
      const int gt = (u != 0 && u > T) ? 1 : 0;
      const int eq = (u != 0 && u == T) ? 1 : 0;
      int eq_total = 0, sel_total = 0;
      const int eq_rank = run_eq + block_exclusive_scan(eq, &eq_total, scan_smem);
      const int sel = gt || (eq && eq_rank < take_eq);
      const int pos = run_sel + block_exclusive_scan(sel, &sel_total, scan_smem);
      if (sel && pos < k) orow[pos] = static_cast<int32_t>(n);
      run_eq += eq_total;
      run_sel += sel_total;
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(256) gumbel_softmax_fwd_kernel(const T* __restrict__ logits, T* __restrict__ hard,
                                                                 T* __restrict__ soft, int64_t B, int64_t N, double tau,
                                                                 uint64_t seed) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < B * N;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / N, n = i - b * N;
    const Philox4x32 x = philox_token(seed, b, n, kPhiloxStreamGumbelSoftmax);
    const double y0 = (static_cast<double>(load_f32(logits + 2 * i)) + philox_gumbel(x.v[0])) / tau;
    const double y1 = (static_cast<double>(load_f32(logits + 2 * i + 1)) + philox_gumbel(x.v[1])) / tau;
    store_f32(soft + i, static_cast<float>(1.0 / (1.0 + exp(y1 - y0))));
    store_f32(hard + i, y0 >= y1 ? 1.f : 0.f);
  }
}

template <typename T>
__global__ void __launch_bounds__(256) gumbel_softmax_bwd_kernel(const T* __restrict__ dhard, const T* __restrict__ soft,
                                                                 T* __restrict__ dlogits, int64_t total, float tau) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float s = load_f32(soft + i);
    const float g = __fdiv_rn(__fmul_rn(load_f32(dhard + i), __fmul_rn(s, __fsub_rn(1.f, s))), tau);
    store_f32(dlogits + 2 * i, g);
    store_f32(dlogits + 2 * i + 1, -g);
  }
}

bool float_dtype(DType t) { return t == DType::F32 || t == DType::BF16; }

}  // namespace

size_t gumbel_topk_scratch_bytes(int64_t B, int64_t N) {
  return static_cast<size_t>(B * N) * sizeof(uint64_t) + static_cast<size_t>(B) * sizeof(int32_t);
}

Status gumbel_topk_cuda(DType dtype, const void* logits, const uint8_t* active, int32_t* out, int64_t B, int64_t N,
                        int64_t k, uint64_t seed, bool noise, void* given, size_t given_bytes) {
  const char* op = "cudaGumbelTopK";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (!float_dtype(dtype)) return type_error(op, ": expected logits to be float32 or bfloat16, received ", dtype_name(dtype));
  if (k < 1 || k > N) return range_error(op, ": expected k to be in [1, ", N, "], received ", k);
  const size_t key_bytes = static_cast<size_t>(B * N) * sizeof(uint64_t);
  void* scratch = given;
  if (given != nullptr) {
    if (given_bytes < gumbel_topk_scratch_bytes(B, N) || (reinterpret_cast<uintptr_t>(given) & 7u) != 0)
      return internal_error(op, ": scratch of ", given_bytes, " bytes given, ", gumbel_topk_scratch_bytes(B, N), " needed");
  } else {
    R4P_RETURN_IF_ERROR(device_alloc(&scratch, gumbel_topk_scratch_bytes(B, N)));
  }
  auto* keys = static_cast<uint64_t*>(scratch);
  auto* rowbad = reinterpret_cast<int32_t*>(static_cast<char*>(scratch) + key_bytes);
  Status s = cuda_status(op, cudaMemsetAsync(rowbad, 0, static_cast<size_t>(B) * sizeof(int32_t), lib_stream()));
  if (s.ok()) {
    const unsigned grid = grid_for(B * N, 256);
    if (dtype == DType::F32)
      topk_keys_kernel<float><<<grid, 256, 0, lib_stream()>>>(static_cast<const float*>(logits), active, keys, rowbad, B,
                                                              N, seed, noise, device_error_record());
    else
      topk_keys_kernel<__nv_bfloat16><<<grid, 256, 0, lib_stream()>>>(static_cast<const __nv_bfloat16*>(logits), active,
                                                                      keys, rowbad, B, N, seed, noise,
                                                                      device_error_record());
    s = launch_status(op);
  }
  if (s.ok()) {
    topk_select_kernel<<<grid_for(B, 1, 65535), kSelectThreads, 0, lib_stream()>>>(keys, rowbad, out, B, N, k,
                                                                                    device_error_record());
    s = launch_status(op);
  }
  if (given == nullptr) device_free(scratch);
  return s;
}

Status gumbel_softmax_st_fwd_cuda(DType dtype, const void* logits, void* hard, void* soft, int64_t B, int64_t N, float tau,
                                  uint64_t seed) {
  const char* op = "cudaGumbelSoftmaxST";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (!float_dtype(dtype)) return type_error(op, ": expected logits to be float32 or bfloat16, received ", dtype_name(dtype));
  if (!(tau > 0.f) || !std::isfinite(tau)) return range_error(op, ": expected tau to be a finite number > 0, received ", tau);
  const unsigned grid = grid_for(B * N, 256);
  if (dtype == DType::F32)
    gumbel_softmax_fwd_kernel<float><<<grid, 256, 0, lib_stream()>>>(
        static_cast<const float*>(logits), static_cast<float*>(hard), static_cast<float*>(soft), B, N, tau, seed);
  else
    gumbel_softmax_fwd_kernel<__nv_bfloat16><<<grid, 256, 0, lib_stream()>>>(
        static_cast<const __nv_bfloat16*>(logits), static_cast<__nv_bfloat16*>(hard), static_cast<__nv_bfloat16*>(soft),
        B, N, tau, seed);
  return launch_status(op);
}

Status gumbel_softmax_st_bwd_cuda(DType dtype, const void* dhard, const void* soft, void* dlogits, int64_t B, int64_t N,
                                  float tau) {
  const char* op = "cudaGumbelSoftmaxSTBackward";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (!float_dtype(dtype)) return type_error(op, ": expected dhard to be float32 or bfloat16, received ", dtype_name(dtype));
  if (!(tau > 0.f) || !std::isfinite(tau)) return range_error(op, ": expected tau to be a finite number > 0, received ", tau);
  const unsigned grid = grid_for(B * N, 256);
  if (dtype == DType::F32)
    gumbel_softmax_bwd_kernel<float><<<grid, 256, 0, lib_stream()>>>(
        static_cast<const float*>(dhard), static_cast<const float*>(soft), static_cast<float*>(dlogits), B * N, tau);
  else
    gumbel_softmax_bwd_kernel<__nv_bfloat16><<<grid, 256, 0, lib_stream()>>>(
        static_cast<const __nv_bfloat16*>(dhard), static_cast<const __nv_bfloat16*>(soft),
        static_cast<__nv_bfloat16*>(dlogits), B * N, tau);
  return launch_status(op);
}

}  // namespace r4p::cuda
