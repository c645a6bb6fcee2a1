// cuda_runtime.h (CUDA emulator stand-in, native/dev/cuda_emu): just enough of the CUDA runtime and device
// built-ins for cuda-attn's .cu files to compile as plain C++ (g++ -std=c++20 -DR4P_CUDA_EMU) and run with one
// host thread per CUDA thread. A dev lab, not part of the addon: it checks the kernels' index arithmetic,
// fragment packing, pipelines and launchers against the CPU ref kernels on a machine without a GPU. It does
// not model timing, memory ordering beyond barriers, or the real tensor-core rounding.
//   Blocks run one after another; the threads of a block run concurrently (std::thread) and meet at
//   std::barrier for __syncthreads / __syncwarp; shuffles and mma exchange through per-warp buffers between
//   two warp barriers, so every lane of a warp must reach them (true for the full-mask code emulated here).
//   __shared__ arrays become function statics (one block at a time), dynamic shared memory a per-block buffer.
#pragma once
#include <cmath>
#include <math.h>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) alignas(n)
#define __restrict__

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};

extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;

typedef int cudaError_t;
enum : int { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidConfiguration = 9, cudaErrorLaunchFailure = 719 };
typedef void* cudaStream_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin = 97 };

namespace emu {
unsigned char* dynamic_smem();
void sync_block();
void sync_warp();
uint64_t shfl_xor_bits(uint64_t v, int lane_mask);
void mma_bf16_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2]);
void cp_async16(void* smem, const void* gmem, int src_bytes);
cudaError_t last_error(bool clear);
void set_error(cudaError_t e);
size_t max_dynamic_smem();
void run_grid(dim3 grid, dim3 block, size_t smem, void (*body)(void*), void* ctx);

inline dim3 to_dim3(dim3 d) { return d; }
inline dim3 to_dim3(unsigned v) { return dim3(v); }
inline dim3 to_dim3(int v) { return dim3(static_cast<unsigned>(v)); }
inline dim3 to_dim3(long v) { return dim3(static_cast<unsigned>(v)); }

// kernel<<<grid, block, smem, stream>>>(args...) is rewritten by build.mjs to emu::launch(grid, block, smem,
// stream, kernel, args...): runs the grid now (the emulator's "stream" is synchronous).
template <typename K, typename... Args>
void launch(dim3 grid, dim3 block, size_t smem, cudaStream_t, K kernel, Args... args) {
  const unsigned threads = block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 ||
      grid.z > 65535 || smem > max_dynamic_smem()) {
    set_error(cudaErrorInvalidConfiguration);
    return;
  }
  struct Holder {
    K k;
    std::tuple<Args...> a;
  };
  Holder h{kernel, std::tuple<Args...>(args...)};
  run_grid(grid, block, smem, [](void* p) { auto* hh = static_cast<Holder*>(p); std::apply(hh->k, hh->a); }, &h);
}
template <typename G, typename B, typename K, typename... Args>
void launch(G grid, B block, size_t smem, cudaStream_t s, K kernel, Args... args) {
  launch(to_dim3(grid), to_dim3(block), smem, s, kernel, args...);
}
}  // namespace emu

// ---- device built-ins
inline void __syncthreads() { emu::sync_block(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::sync_warp(); }
inline float __shfl_xor_sync(unsigned, float v, int m) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u = static_cast<uint32_t>(emu::shfl_xor_bits(u, m));
  std::memcpy(&v, &u, 4);
  return v;
}
inline int __shfl_xor_sync(unsigned, int v, int m) { return static_cast<int>(emu::shfl_xor_bits(static_cast<uint32_t>(v), m)); }
inline float __expf(float x) { return std::exp(x); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
[[noreturn]] void __trap();
int atomicMin(int* p, int v);

// ---- runtime API
inline cudaError_t cudaGetLastError() { return emu::last_error(true); }
inline cudaError_t cudaPeekAtLastError() { return emu::last_error(false); }
inline const char* cudaGetErrorName(cudaError_t e) { return e == 0 ? "cudaSuccess" : e == 9 ? "cudaErrorInvalidConfiguration" : "cudaErrorEmulated"; }
inline const char* cudaGetErrorString(cudaError_t e) { return e == 0 ? "no error" : "emulated CUDA error"; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) { *v = static_cast<int>(emu::max_dynamic_smem()); return cudaSuccess; }
template <typename T>
cudaError_t cudaFuncSetAttribute(T*, cudaFuncAttribute, int v) {
  return static_cast<size_t>(v) <= emu::max_dynamic_smem() ? cudaSuccess : cudaErrorInvalidConfiguration;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t = nullptr) { std::memset(p, v, n); return cudaSuccess; }
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t = nullptr) { std::memmove(d, s, n); return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
