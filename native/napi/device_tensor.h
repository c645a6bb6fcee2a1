// device_tensor.h: DeviceTensor, a JS object that owns one device allocation (issue 6, item 1), and
// the helpers CUDA bindings use to read DeviceTensor arguments and create DeviceTensor results.
// Compiled in every build: without CUDA every entry point throws "<op>: CUDA is not available:
// reg4pru was built without CUDA" (cuda_runtime_none.cc), after the argument-kind checks.
//
// JS surface (exported on the addon by device_tensor.cc):
//   cudaAvailable() -> {ok, reason}
//   cudaUpload(data: Float32Array|Int32Array|Uint8Array, shape: number[], dtype?: 'float32'|'bfloat16'|'int32'|'uint8')
//       -> DeviceTensor   (bfloat16 from a Float32Array, rounded to nearest even; default dtype from data)
//   cudaZeros(shape, dtype) -> DeviceTensor;  cudaCopy(dst, src) -> dst (device-to-device, same byte size)
//   cudaSynchronize();  cudaTimerStart();  cudaTimerStop() -> ms;  cudaFlushL2()
//   DeviceTensor: .shape (number[]), .dtype, .bytes, .freed, .download() -> Promise<typed array>,
//                 .downloadSync() -> typed array (bfloat16 comes back as Float32Array), .free() (idempotent)
// `new DeviceTensor()` from JS is a TypeError: instances come from cudaUpload / cudaZeros / the ops.
// Device memory is invisible to V8's GC heuristics: free() (or `using`) rather than relying on GC.
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "kernels/cuda/cuda_runtime_api.h"

namespace r4p::napi {

struct DevView {
  void* ptr = nullptr;
  r4p::cuda::DType dtype = r4p::cuda::DType::F32;
  std::vector<int64_t> shape;
  size_t numel = 0;
};

// True for a (live or freed) DeviceTensor object.
bool is_device_tensor(const Napi::Value& v);
// The allocation behind a live DeviceTensor argument. TypeError naming op + what if v is not a
// DeviceTensor; Error "<op>: <what>: DeviceTensor was freed" after free().
DevView dev_view(Napi::Env env, const Napi::Value& v, const char* op, const char* what);
// Allocates a DeviceTensor of the given dtype and shape (contents uninitialised). Throws a JS Error
// (never crashes) on out-of-memory or when no device is usable.
Napi::Object new_device_tensor(Napi::Env env, r4p::cuda::DType dtype, std::vector<int64_t> shape);

// Throws Error "<op>: CUDA is not available: <reason>" unless a device is usable.
void require_cuda(Napi::Env env, const char* op);
// dtype must be one of `allowed` (TypeError: "<op>: expected <what> to be float32 or bfloat16, received int32").
void expect_dtype(Napi::Env env, const char* op, const char* what, const DevView& v,
                  std::initializer_list<r4p::cuda::DType> allowed);
// Rank must be letters' length (TypeError); each dims[i] >= 0 must match (RangeError); dims[i] < 0 = free.
// Message: "<op>: expected x to be [B,N,D] with B=2, received [3,5,7]".
void expect_dev_shape(Napi::Env env, const char* op, const char* what, const DevView& v,
                      const std::vector<const char*>& letters, const std::vector<int64_t>& dims);
// Two device views must not share memory (same rules as check_no_overlap for host views).
void check_dev_no_overlap(Napi::Env env, const char* op, const char* a_name, const DevView& a, const char* b_name,
                          const DevView& b, bool allow_identical = false);

}  // namespace r4p::napi
