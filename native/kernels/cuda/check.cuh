// check.cuh: CUDA-call checking for .cu files only (includes cuda_runtime.h). Turns a cudaError_t into
// the Status contract of cuda_runtime_api.h: "<op>: <cudaErrorName>: <message>", out-of-memory as
// kOutOfMemory. Also the launchers' shared checks (16-byte alignment, the dynamic shared memory opt-in) and the
// device-side half of the DeviceError record.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/cuda_runtime_api.h"

// Evaluates a CUDA runtime call; on failure returns its Status from the enclosing function.
#define R4P_CUDA_TRY(op, call)                                          \
  do {                                                                  \
    cudaError_t r4p_cuda_err_ = (call);                                 \
    if (r4p_cuda_err_ != cudaSuccess) return ::r4p::cuda::cuda_status((op), r4p_cuda_err_); \
  } while (0)

namespace r4p::cuda {

// Status for a failed CUDA call. Clears the runtime's last-error slot for non-sticky errors so the
// next call starts clean (a sticky error, e.g. an illegal address, keeps failing: the context is lost).
inline Status cuda_status(const char* op, cudaError_t err) {
  if (err == cudaSuccess) return Status::Ok();
  cudaGetLastError();
  const StatusCode code = err == cudaErrorMemoryAllocation ? StatusCode::kOutOfMemory : StatusCode::kInternal;
  return Status::Make(code, detail::concat(op, ": ", cudaGetErrorName(err), ": ", cudaGetErrorString(err)));
}

// Error of the launch just made (bad configuration, too many resources); execution errors surface at
// the next synchronisation.
inline Status launch_status(const char* op) { return cuda_status(op, cudaGetLastError()); }

inline cudaStream_t lib_stream() { return static_cast<cudaStream_t>(stream()); }

// Grid size for a grid-stride loop over `work` items at `per_block` items per block, capped so that
// gridDim.x stays far below 2^31 - 1 (the loops cover the rest).
inline unsigned grid_for(int64_t work, int64_t per_block, int64_t cap = int64_t(1) << 20) {
  int64_t g = (work + per_block - 1) / per_block;
  if (g < 1) g = 1;
  if (g > cap) g = cap;
  return static_cast<unsigned>(g);
}

// True when ptr is 16-byte aligned (the cp.async and vector paths' condition).
inline bool aligned16(const void* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15u) == 0; }

// Before launching `kernel` with `smem` bytes of dynamic shared memory: above the default 48 KiB, raises the
// kernel's limit, or returns kUnavailable "<op>: <what> needs N bytes of shared memory per block, the device
// allows M (Dh = ..)" when the device cannot. (Not the launch itself: native/dev/cuda_emu rewrites launches in
// .cu files only.)
template <typename Kernel>
Status allow_dynamic_smem(Kernel kernel, size_t smem, const char* op, const char* what, int Dh) {
  if (smem <= 48 * 1024) return Status::Ok();
  int dev = 0, optin = 0;
  R4P_CUDA_TRY(op, cudaGetDevice(&dev));
  R4P_CUDA_TRY(op, cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  if (smem > size_t(optin))
    return Status::Make(StatusCode::kUnavailable, detail::concat(op, ": ", what, " needs ", smem,
                                                                 " bytes of shared memory per block, the device allows ",
                                                                 optin, " (Dh = ", Dh, ")"));
  R4P_CUDA_TRY(op, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  return Status::Ok();
}

#if defined(__CUDACC__) || defined(R4P_CUDA_EMU)  // R4P_CUDA_EMU: native/dev/cuda_emu
// First reporter wins: code is swapped from 0 with atomicCAS, then the details written. The host reads
// the record only after the stream is idle, so the non-atomic detail writes are complete by then.
__device__ __forceinline__ void report_device_error(DeviceError* rec, int32_t code, int32_t op, int64_t a, int64_t b,
                                                    int64_t c, int64_t d) {
  if (rec == nullptr) return;
  if (atomicCAS(&rec->code, 0, code) == 0) {
    rec->op = op;
    rec->v[0] = a;
    rec->v[1] = b;
    rec->v[2] = c;
    rec->v[3] = d;
  }
}
#endif

}  // namespace r4p::cuda
