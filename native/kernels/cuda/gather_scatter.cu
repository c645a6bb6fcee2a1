// gather_scatter.cu: SPEC §5 gatherTokens / scatterTokens and their gradients on CUDA (token_ops.h).
// Compiled for sm_80 / sm_90a / compute_90; NEVER RUN ON A GPU as of 2026-11-22 (no device was
// available to the author): correctness rests on review and on test/gpu/, which has not run yet.
//
// Layouts: x, base, out, dx, dbase [B,N,D]; src, dout (gather), dsrc [B,K,D]; idx int32 [B,K].
//
// Forward gather/scatter and the scatter gradient only MOVE rows, so they are byte copies: one warp
// per output row, each lane moving packets of the widest width (16, 8, 4 or 2 bytes) that divides
// the row's byte size D*sizeof(T) and both base pointers. Every row then starts aligned, so there
// is no tail (an odd-D bf16 row simply moves 2-byte packets). Four packets per lane are loaded
// before any is stored, to keep several loads in flight.
//
// Duplicates and determinism, without atomics on data:
//   - an inverse map inv[b,n] (int32, -1 = not selected) is built with atomicMax over k. Scatter
//     keeps the LAST k (as the CPU ref, whose later writes win); the gather gradient stores K-1-k,
//     so the max is the FIRST k, and flags rows that contain duplicates;
//   - gather gradient: each dx row is produced by one warp: zero, or dout[first k], or, in a row with
//     duplicates, the FP32 sum over every k with idx[b,k] == n in ascending k (a warp ballot scan of
//     idx from the first k). That is the CPU ref's summation order, so F32 results are bit-identical
//     to it; BF16 rounds once at the end. The duplicate scan costs O(K) per selected row of such a
//     batch row only (pruning indices are normally distinct).
// Out-of-range indices are never dereferenced: the gathered row is zeroed, a scattered row skipped,
// and the first one reported through the DeviceError record (RangeError at the next sync).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/elem.cuh"
#include "kernels/cuda/token_ops.h"

namespace r4p::cuda {

namespace {

constexpr int kWarpsPerBlock = 8;  // 256 threads, one row per warp
constexpr int kUnroll = 4;         // packets in flight per lane

// ---------------------------------------------------------------- row movers (byte packets V)
template <typename V>
__device__ __forceinline__ void copy_row(V* __restrict__ dst, const V* __restrict__ src, int64_t nvec, int lane) {
  for (int64_t base = 0; base < nvec; base += 32 * kUnroll) {
    V r[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * 32 + lane;
      if (i < nvec) r[u] = src[i];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * 32 + lane;
      if (i < nvec) dst[i] = r[u];
    }
  }
}

template <typename V>
__device__ __forceinline__ void zero_row(V* __restrict__ dst, int64_t nvec, int lane) {
  const V z{};
  for (int64_t i = lane; i < nvec; i += 32) dst[i] = z;
}

__device__ __forceinline__ int64_t warp_id_global() {
  return static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
}
__device__ __forceinline__ int64_t warps_in_grid() { return static_cast<int64_t>(gridDim.x) * (blockDim.x / 32); }

// out[b,k,:] = x[b, idx[b,k], :]  (bytes); rows of out-of-range indices are zeroed and reported.
template <typename V>
__global__ void __launch_bounds__(256) gather_rows_kernel(const V* __restrict__ x, const int32_t* __restrict__ idx,
                                                          V* __restrict__ out, int64_t B, int64_t N, int64_t K,
                                                          int64_t nvec, DeviceError* err, int32_t op) {
  const int lane = threadIdx.x & 31;
  for (int64_t row = warp_id_global(); row < B * K; row += warps_in_grid()) {
    const int64_t b = row / K;
    const int32_t n = idx[row];
    V* dst = out + row * nvec;
    if (n < 0 || n >= N) {
      if (lane == 0) report_device_error(err, kDevErrIndexRange, op, b, row - b * K, n, N);
      zero_row(dst, nvec, lane);
      continue;
    }
    copy_row(dst, x + (b * N + n) * nvec, nvec, lane);
  }
}

// inv[b, idx[b,k]] = max over k of (reverse ? K-1-k : k); inv must start at -1. With dup != null,
// dup[b] |= 1 when a row index repeats. Out-of-range indices are reported and skipped.
__global__ void mark_rows_kernel(const int32_t* __restrict__ idx, int32_t* __restrict__ inv, int32_t* __restrict__ dup,
                                 int64_t B, int64_t N, int64_t K, bool reverse, DeviceError* err, int32_t op) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < B * K;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / K, k = i - b * K;
    const int32_t n = idx[i];
    if (n < 0 || n >= N) {
      report_device_error(err, kDevErrIndexRange, op, b, k, n, N);
      continue;
    }
    const int32_t v = static_cast<int32_t>(reverse ? K - 1 - k : k);
    const int32_t old = atomicMax(&inv[b * N + n], v);
    if (dup != nullptr && old != -1) atomicOr(&dup[b], 1);
  }
}

// out[b,n,:] = inv[b,n] >= 0 ? (src ? src[b, inv[b,n], :] : 0) : base[b,n,:]   (bytes)
// Scatter forward (src = src rows, out != base) and the scatter gradient's dbase (src = null: zero).
template <typename V>
__global__ void __launch_bounds__(256) select_rows_kernel(const V* __restrict__ base, const int32_t* __restrict__ inv,
                                                          const V* __restrict__ src, V* __restrict__ out, int64_t B,
                                                          int64_t N, int64_t K, int64_t nvec) {
  const int lane = threadIdx.x & 31;
  for (int64_t row = warp_id_global(); row < B * N; row += warps_in_grid()) {
    const int64_t b = row / N;
    const int32_t k = inv[row];
    V* dst = out + row * nvec;
    if (k < 0)
      copy_row(dst, base + row * nvec, nvec, lane);
    else if (src != nullptr)
      copy_row(dst, src + (b * K + k) * nvec, nvec, lane);
    else
      zero_row(dst, nvec, lane);
  }
}

// In-place scatter: out[b, idx[b,k], :] = src[b,k,:] for the winning (last) k of each index only.
template <typename V>
__global__ void __launch_bounds__(256) scatter_rows_inplace_kernel(const int32_t* __restrict__ idx,
                                                                   const int32_t* __restrict__ inv,
                                                                   const V* __restrict__ src, V* __restrict__ out,
                                                                   int64_t B, int64_t N, int64_t K, int64_t nvec) {
  const int lane = threadIdx.x & 31;
  for (int64_t row = warp_id_global(); row < B * K; row += warps_in_grid()) {
    const int64_t b = row / K, k = row - b * K;
    const int32_t n = idx[row];
    if (n < 0 || n >= N) continue;  // reported by mark_rows_kernel
    if (inv[b * N + n] != k) continue;
    copy_row(out + (b * N + n) * nvec, src + row * nvec, nvec, lane);
  }
}

// ---------------------------------------------------------------- gather gradient (sums)
// dx[b,n,:] = sum_{k : idx[b,k] == n} dout[b,k,:] in ascending k, FP32 accumulation; each lane step
// covers one 16-byte packet (kPacked: 4 f32 or 8 bf16) or one element. first_rev[b,n] = K-1-(first k)
// or -1. The d loop has a warp-uniform trip count (lanes past D idle) because the duplicate scan
// uses __ballot_sync over the full warp.
template <typename T, bool kPacked>
__global__ void __launch_bounds__(256) gather_bwd_kernel(const T* __restrict__ dout, const int32_t* __restrict__ idx,
                                                         const int32_t* __restrict__ first_rev,
                                                         const int32_t* __restrict__ dup, T* __restrict__ dx, int64_t B,
                                                         int64_t N, int64_t K, int64_t D) {
  constexpr int kP = kPacked ? Pack16<T>::kElems : 1;
  const int lane = threadIdx.x & 31;
  for (int64_t row = warp_id_global(); row < B * N; row += warps_in_grid()) {
    const int64_t b = row / N, n = row - b * N;
    const int32_t fr = first_rev[row];
    T* out = dx + row * D;
    const int64_t k0 = fr < 0 ? -1 : K - 1 - fr;
    const bool has_dup = fr >= 0 && dup[b] != 0;  // uniform across the warp (same row)
    for (int64_t dbase = 0; dbase < D; dbase += 32 * kP) {  // uniform trip count
      const int64_t d0 = dbase + static_cast<int64_t>(lane) * kP;
      const bool mine = d0 < D;
      float acc[kP];
#pragma unroll
      for (int j = 0; j < kP; ++j) acc[j] = 0.f;
      if (k0 >= 0 && mine) {
        const T* r = dout + (b * K + k0) * D + d0;
        float v[kP];
        if constexpr (kPacked) Pack16<T>::load(r, v);
        else v[0] = load_f32(r);
#pragma unroll
        for (int j = 0; j < kP; ++j) acc[j] += v[j];  // 0 + v: exact, as the CPU ref's first add
      }
      if (has_dup) {
        // Later k with the same index, in ascending order: 32 indices per step, matches by ballot.
        for (int64_t kb = k0 + 1; kb < K; kb += 32) {
          const int64_t kk = kb + lane;
          const bool hit = kk < K && idx[b * K + kk] == static_cast<int32_t>(n);
          unsigned m = __ballot_sync(0xffffffffu, hit);
          while (m != 0) {
            const int t = __ffs(m) - 1;
            m &= m - 1;
            if (mine) {
              const T* r = dout + (b * K + kb + t) * D + d0;
              float v[kP];
              if constexpr (kPacked) Pack16<T>::load(r, v);
              else v[0] = load_f32(r);
#pragma unroll
              for (int j = 0; j < kP; ++j) acc[j] += v[j];
            }
          }
        }
      }
      if (mine) {
        if constexpr (kPacked) Pack16<T>::store(out + d0, acc);
        else store_f32(out + d0, acc[0]);
      }
    }
  }
}

// ---------------------------------------------------------------- launch helpers
unsigned row_grid(int64_t rows) { return grid_for(rows, kWarpsPerBlock); }

bool aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

// Widest packet dividing the row bytes and every base pointer.
size_t packet_bytes(size_t row_bytes, std::initializer_list<const void*> ptrs) {
  for (size_t w : {size_t(16), size_t(8), size_t(4), size_t(2)}) {
    if (row_bytes % w != 0) continue;
    bool ok = true;
    for (const void* p : ptrs) ok = ok && (p == nullptr || aligned(p, w));
    if (ok) return w;
  }
  return 1;
}

template <typename F>
Status dispatch_packet(size_t w, F&& f) {
  switch (w) {
    case 16: return f(uint4{});
    case 8: return f(uint2{});
    case 4: return f(uint32_t{});
    case 2: return f(uint16_t{});
    default: return f(uint8_t{});
  }
}

bool float_dtype(DType t) { return t == DType::F32 || t == DType::BF16; }

Status bad_dtype(const char* op, DType t) {
  return type_error(op, ": expected a float32 or bfloat16 tensor, received ", dtype_name(t));
}

// Scratch inv map [B*N] int32 set to -1 (all bytes 0xff), plus optional dup flags [B] set to 0.
Status alloc_inv(const char* op, int64_t B, int64_t N, int32_t** inv, int32_t** dup) {
  void* p = nullptr;
  R4P_RETURN_IF_ERROR(device_alloc(&p, static_cast<size_t>(B * N + (dup ? B : 0)) * sizeof(int32_t)));
  *inv = static_cast<int32_t*>(p);
  cudaError_t e = cudaMemsetAsync(*inv, 0xff, static_cast<size_t>(B * N) * sizeof(int32_t), lib_stream());
  if (e == cudaSuccess && dup) {
    *dup = *inv + B * N;
    e = cudaMemsetAsync(*dup, 0, static_cast<size_t>(B) * sizeof(int32_t), lib_stream());
  }
  if (e != cudaSuccess) {
    device_free(p);
    return cuda_status(op, e);
  }
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------- launchers
Status gather_tokens_fwd_cuda(DType dtype, const void* x, const int32_t* idx, void* out, int64_t B, int64_t N, int64_t K,
                              int64_t D) {
  const char* op = "cudaGatherTokens";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (!float_dtype(dtype)) return bad_dtype(op, dtype);
  const size_t row_bytes = static_cast<size_t>(D) * dtype_size(dtype);
  const size_t w = packet_bytes(row_bytes, {x, out});
  const int64_t nvec = static_cast<int64_t>(row_bytes / w);
  return dispatch_packet(w, [&](auto v) {
    using V = decltype(v);
    gather_rows_kernel<V><<<row_grid(B * K), 32 * kWarpsPerBlock, 0, lib_stream()>>>(
        static_cast<const V*>(x), idx, static_cast<V*>(out), B, N, K, nvec, device_error_record(), kOpGatherTokens);
    return launch_status(op);
  });
}

Status gather_tokens_bwd_cuda(DType dtype, const void* dout, const int32_t* idx, void* dx, int64_t B, int64_t N,
                              int64_t K, int64_t D) {
  const char* op = "cudaGatherTokensBackward";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (!float_dtype(dtype)) return bad_dtype(op, dtype);
  int32_t *first_rev = nullptr, *dup = nullptr;
  R4P_RETURN_IF_ERROR(alloc_inv(op, B, N, &first_rev, &dup));
  mark_rows_kernel<<<grid_for(B * K, 256), 256, 0, lib_stream()>>>(idx, first_rev, dup, B, N, K, true,
                                                                    device_error_record(), kOpGatherTokensBackward);
  Status s = launch_status(op);
  if (s.ok()) {
    const int pack = dtype == DType::F32 ? 4 : 8;
    const bool packed = D % pack == 0 && aligned(dout, 16) && aligned(dx, 16);
    const unsigned grid = row_grid(B * N);
    auto launch = [&](auto tag) {
      using T = decltype(tag);
      if (packed)
        gather_bwd_kernel<T, true><<<grid, 32 * kWarpsPerBlock, 0, lib_stream()>>>(
            static_cast<const T*>(dout), idx, first_rev, dup, static_cast<T*>(dx), B, N, K, D);
      else
        gather_bwd_kernel<T, false><<<grid, 32 * kWarpsPerBlock, 0, lib_stream()>>>(
            static_cast<const T*>(dout), idx, first_rev, dup, static_cast<T*>(dx), B, N, K, D);
    };
    if (dtype == DType::F32) launch(float{});
    else launch(__nv_bfloat16{});
    s = launch_status(op);
  }
  device_free(first_rev);  // stream-ordered: released after the kernels above
  return s;
}

Status scatter_tokens_fwd_cuda(DType dtype, const void* base, const int32_t* idx, const void* src, void* out, int64_t B,
                               int64_t N, int64_t K, int64_t D) {
  const char* op = "cudaScatterTokens";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (!float_dtype(dtype)) return bad_dtype(op, dtype);
  int32_t* inv = nullptr;
  R4P_RETURN_IF_ERROR(alloc_inv(op, B, N, &inv, nullptr));
  mark_rows_kernel<<<grid_for(B * K, 256), 256, 0, lib_stream()>>>(idx, inv, nullptr, B, N, K, false,
                                                                    device_error_record(), kOpScatterTokens);
  Status s = launch_status(op);
  if (s.ok()) {
    const size_t row_bytes = static_cast<size_t>(D) * dtype_size(dtype);
    const bool in_place = out == base;
    const size_t w = packet_bytes(row_bytes, {base, src, out});
    const int64_t nvec = static_cast<int64_t>(row_bytes / w);
    s = dispatch_packet(w, [&](auto v) {
      using V = decltype(v);
      if (in_place)  // only the K selected rows move
        scatter_rows_inplace_kernel<V><<<row_grid(B * K), 32 * kWarpsPerBlock, 0, lib_stream()>>>(
            idx, inv, static_cast<const V*>(src), static_cast<V*>(out), B, N, K, nvec);
      else  // every out row read once from base or src: N rows in, N rows out
        select_rows_kernel<V><<<row_grid(B * N), 32 * kWarpsPerBlock, 0, lib_stream()>>>(
            static_cast<const V*>(base), inv, static_cast<const V*>(src), static_cast<V*>(out), B, N, K, nvec);
      return launch_status(op);
    });
  }
  device_free(inv);
  return s;
}

Status scatter_tokens_bwd_cuda(DType dtype, const void* dout, const int32_t* idx, void* dbase, void* dsrc, int64_t B,
                               int64_t N, int64_t K, int64_t D) {
  const char* op = "cudaScatterTokensBackward";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (!float_dtype(dtype)) return bad_dtype(op, dtype);
  const size_t row_bytes = static_cast<size_t>(D) * dtype_size(dtype);
  if (dsrc != nullptr) {
    const size_t w = packet_bytes(row_bytes, {dout, dsrc});
    const int64_t nvec = static_cast<int64_t>(row_bytes / w);
    R4P_RETURN_IF_ERROR(dispatch_packet(w, [&](auto v) {
      using V = decltype(v);
      gather_rows_kernel<V><<<row_grid(B * K), 32 * kWarpsPerBlock, 0, lib_stream()>>>(
          static_cast<const V*>(dout), idx, static_cast<V*>(dsrc), B, N, K, nvec, device_error_record(),
          kOpScatterTokensBackward);
      return launch_status(op);
    }));
  }
  if (dbase == nullptr) return Status::Ok();
  int32_t* inv = nullptr;
  R4P_RETURN_IF_ERROR(alloc_inv(op, B, N, &inv, nullptr));
  mark_rows_kernel<<<grid_for(B * K, 256), 256, 0, lib_stream()>>>(idx, inv, nullptr, B, N, K, false,
                                                                    device_error_record(), kOpScatterTokensBackward);
  Status s = launch_status(op);
  if (s.ok()) {
    const size_t w = packet_bytes(row_bytes, {dout, dbase});
    const int64_t nvec = static_cast<int64_t>(row_bytes / w);
    s = dispatch_packet(w, [&](auto v) {
      using V = decltype(v);
      select_rows_kernel<V><<<row_grid(B * N), 32 * kWarpsPerBlock, 0, lib_stream()>>>(
          static_cast<const V*>(dout), inv, nullptr, static_cast<V*>(dbase), B, N, K, nvec);
      return launch_status(op);
    });
  }
  device_free(inv);
  return s;
}

}  // namespace r4p::cuda
