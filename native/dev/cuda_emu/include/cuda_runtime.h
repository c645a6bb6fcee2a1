// cuda_runtime.h (CUDA emulator stand-in, native/dev/cuda_emu): just enough of the CUDA runtime and device
// built-ins for the addon's .cu files (kernels/cuda: attention, GEMM, prunedBlock, token ops and the runtime
// itself) to compile as plain C++ (g++ -std=c++20 -DR4P_CUDA_EMU) and run with one host thread per CUDA
// thread. A dev lab, not part of the addon: it checks the kernels' index arithmetic, fragment packing,
// pipelines, launchers and the device-error path against the CPU ref kernels on a machine without a GPU.
// It does not model timing, memory ordering beyond barriers, or the real tensor-core rounding.
//   Blocks run one after another, in a shuffled order by default (EMU_BLOCK_ORDER=shuffle|reverse|forward, see
//   emu.cc: a kernel that depends on block order fails); the threads of a block run concurrently (std::thread) and meet at
//   std::barrier for __syncthreads / __syncwarp; shuffles, ballots and mma exchange through per-warp buffers
//   between two warp barriers, so every lane of a warp must reach them (true for the full-mask code
//   emulated here). __shared__ arrays become function statics (one block at a time), dynamic shared memory
//   a per-block buffer. Atomics take one global mutex.
#pragma once
#include <cmath>
#include <math.h>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
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
enum : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureWrongThread = 908
};
typedef void* cudaStream_t;
typedef struct EmuGraph* cudaGraph_t;
typedef struct EmuGraphExec* cudaGraphExec_t;
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal = 0, cudaStreamCaptureModeThreadLocal = 1, cudaStreamCaptureModeRelaxed = 2 };
enum cudaStreamCaptureStatus { cudaStreamCaptureStatusNone = 0, cudaStreamCaptureStatusActive = 1, cudaStreamCaptureStatusInvalidated = 2 };
typedef struct EmuEvent* cudaEvent_t;
typedef void* cudaMemPool_t;
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16, cudaDevAttrComputeCapabilityMajor = 75, cudaDevAttrComputeCapabilityMinor = 76, cudaDevAttrL2CacheSize = 38, cudaDevAttrMaxSharedMemoryPerBlockOptin = 97, cudaDevAttrMemoryPoolsSupported = 115 };
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
constexpr unsigned cudaStreamNonBlocking = 1, cudaEventDisableTiming = 2;

// Vector types (the alignment matters: 16-byte packets must come from 16-byte aligned addresses).
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(8) float2 { float x, y; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }

namespace emu {
unsigned char* dynamic_smem();
void sync_block();
void sync_warp();
uint64_t shfl_xor_bits(uint64_t v, int lane_mask);
uint64_t shfl_from(uint64_t v, int src_lane);  // lane src_lane's v (own v when that lane does not exist)
int lane_id();
unsigned ballot(bool pred);                    // bit L = lane L's pred, lanes of the calling warp
std::mutex& atomic_mutex();
void check_aligned(const void* p, size_t a, const char* what);
void mma_bf16_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2]);
// ldmatrix.sync.aligned.m8n8.x{count}{.trans}.shared.b16: lane 8i + r gives row r of matrix i (16 bytes, 16-byte
// aligned, in dynamic shared memory); lane l receives word l % 4 of row l / 4 of each matrix (.trans: the two
// 16-bit elements of column l / 4 in rows 2 (l % 4) and 2 (l % 4) + 1).
void ldmatrix_b16(uint32_t* r, int count, bool trans, const void* row);
void cp_async16(void* smem, const void* gmem, int src_bytes);
// wgmma.mma_async m64nNk16 BF16 -> FP32 with both operands in shared memory (descriptors, 128-byte swizzle, K-major;
// kernels/cuda/wgmma.cuh). The thread's own N/2 accumulators (its warp within the warpgroup, its lane) are computed
// at the issue AND again at the wait that retires the group; different operands at the two times (a stage
// overwritten too early, or read before it was filled) abort the run, and so does a group never waited for.
void wgmma_bf16_m64nk16(float* d, int n, uint64_t desc_a, uint64_t desc_b);
void wgmma_commit();
void wgmma_wait(int pending);
cudaError_t last_error(bool clear);
void set_error(cudaError_t e);
size_t max_dynamic_smem();
void run_grid(dim3 grid, dim3 block, size_t smem, void (*body)(void*), void* ctx);
// Stream capture (emu_graph.cc): while `s` captures, work enqueued on it is recorded for a graph instead of
// run; true when `op` was recorded. Alloc / free / synchronise from the capturing thread invalidate the capture
// (refuse_in_capture returns true and the caller fails with cudaErrorStreamCaptureUnsupported): stricter than
// CUDA, which allows stream-ordered allocation nodes, so a forward that allocates is caught here.
bool capture_record(cudaStream_t s, std::function<void()> op);
bool refuse_in_capture(cudaStream_t s, const char* what);
// Test hook: the next cudaStreamEndCapture reports the capture invalidated (exercises the no-graph fallback).
void fail_next_capture();

inline dim3 to_dim3(dim3 d) { return d; }
inline dim3 to_dim3(unsigned v) { return dim3(v); }
inline dim3 to_dim3(int v) { return dim3(static_cast<unsigned>(v)); }
inline dim3 to_dim3(long v) { return dim3(static_cast<unsigned>(v)); }

// kernel<<<grid, block, smem, stream>>>(args...) is rewritten by build.mjs to emu::launch(grid, block, smem,
// stream, kernel, args...): runs the grid now (the emulator's "stream" is synchronous).
template <typename K, typename... Args>
void launch(dim3 grid, dim3 block, size_t smem, cudaStream_t stream, K kernel, Args... args) {
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
  // Captured: the arguments are copied now (as cudaLaunchKernel copies them into the graph node); the grid runs
  // at each graph launch.
  if (capture_record(stream, [grid, block, smem, h]() mutable {
        run_grid(grid, block, smem, [](void* p) { auto* hh = static_cast<Holder*>(p); std::apply(hh->k, hh->a); }, &h);
      }))
    return;
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
inline unsigned __shfl_up_sync(unsigned, unsigned v, unsigned d) {
  const int l = emu::lane_id();
  const unsigned r = static_cast<unsigned>(emu::shfl_from(v, l - static_cast<int>(d)));
  return l >= static_cast<int>(d) ? r : v;  // lanes below d keep their own value, as on the device
}
inline int __shfl_up_sync(unsigned m, int v, unsigned d) { return static_cast<int>(__shfl_up_sync(m, static_cast<unsigned>(v), d)); }
inline unsigned __ballot_sync(unsigned, int pred) { return emu::ballot(pred != 0); }
inline int __ffs(unsigned x) { return x ? __builtin_ctz(x) + 1 : 0; }
inline float __expf(float x) { return std::exp(x); }
inline float rsqrtf(float x) { return 1.f / std::sqrt(x); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline long long __double_as_longlong(double d) { long long u; std::memcpy(&u, &d, 8); return u; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
[[noreturn]] void __trap();
// Atomics: one process-wide mutex (correct, not fast); they return the old value as on the device.
template <typename T, typename F>
T emu_atomic(T* p, F f) {
  std::lock_guard<std::mutex> l(emu::atomic_mutex());
  const T old = *p;
  *p = f(old);
  return old;
}
inline int atomicMin(int* p, int v) { return emu_atomic(p, [v](int o) { return v < o ? v : o; }); }
inline int atomicMax(int* p, int v) { return emu_atomic(p, [v](int o) { return v > o ? v : o; }); }
inline int atomicOr(int* p, int v) { return emu_atomic(p, [v](int o) { return o | v; }); }
inline int atomicAdd(int* p, int v) { return emu_atomic(p, [v](int o) { return o + v; }); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return emu_atomic(p, [v](unsigned o) { return o + v; }); }
inline int atomicCAS(int* p, int cmp, int v) { return emu_atomic(p, [cmp, v](int o) { return o == cmp ? v : o; }); }

// ---- runtime API
// Kernels run at launch, so every "stream" is synchronous and events record the host clock. Device
// memory is host memory from emu.cc's allocator: exact-size allocations poisoned with 0xFF (NaN as f32 and
// bf16, -1 as int32), registered so that frees and copies of unknown or too-short ranges fail loudly.
inline cudaError_t cudaGetLastError() { return emu::last_error(true); }
inline cudaError_t cudaPeekAtLastError() { return emu::last_error(false); }
const char* cudaGetErrorName(cudaError_t e);
const char* cudaGetErrorString(cudaError_t e);
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaGetDevice(int* d) { *d = 0; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int device);
template <typename T>
cudaError_t cudaFuncSetAttribute(T*, cudaFuncAttribute, int v) {
  return static_cast<size_t>(v) <= emu::max_dynamic_smem() ? cudaSuccess : cudaErrorInvalidConfiguration;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  return emu::refuse_in_capture(s, "cudaStreamSynchronize") ? cudaErrorStreamCaptureUnsupported : cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() {
  return emu::refuse_in_capture(nullptr, "cudaDeviceSynchronize") ? cudaErrorStreamCaptureUnsupported : cudaSuccess;
}
// Graphs (emu_graph.cc): a capture records the stream's launches, copies and memsets in order; a graph launch
// replays them at once (the emulator's streams are synchronous).
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g);
cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* st);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long flags);
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e);
cudaError_t cudaGraphDestroy(cudaGraph_t g);

cudaError_t cudaMalloc(void** p, size_t n);
cudaError_t cudaFree(void* p);
inline cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t s) {
  if (emu::refuse_in_capture(s, "cudaMallocAsync")) return cudaErrorStreamCaptureUnsupported;
  return cudaMalloc(p, n);
}
inline cudaError_t cudaFreeAsync(void* p, cudaStream_t s) {
  if (emu::refuse_in_capture(s, "cudaFreeAsync")) return cudaErrorStreamCaptureUnsupported;
  return cudaFree(p);
}
cudaError_t cudaMallocHost(void** p, size_t n);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);
inline cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int) { *pool = reinterpret_cast<cudaMemPool_t>(1); return cudaSuccess; }
inline cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) { return cudaSuccess; }
inline cudaError_t cudaMemPoolTrimTo(cudaMemPool_t, size_t) { return cudaSuccess; }
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t = nullptr);
inline cudaError_t cudaMemset(void* p, int v, size_t n) { return cudaMemsetAsync(p, v, n); }
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind kind, cudaStream_t = nullptr);

cudaError_t cudaEventCreate(cudaEvent_t* e);
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = nullptr);
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b);

namespace emu {
// The emulated device allocations, for tests: whether [p, p + n) lies inside one live allocation.
bool is_device_range(const void* p, size_t n);
size_t live_allocations();
// cudaMallocHost calls so far (pinned host buffers), for the runtime's staging-buffer reuse test.
size_t host_allocations();
}  // namespace emu
