// cuda_args.h: the argument unpacking every CUDA op binding shares (cuda_token_ops.cc, cuda_attention_ops.cc):
// DeviceTensor arguments (required or optional), the dtype and shape expectation of one of them in one call,
// the 'float32' | 'bfloat16' option, result DeviceTensors that are freed again when the launch fails, and the
// attention kernels' size limits. The DeviceTensor object itself and its lower-level checks are in
// device_tensor.h; host scalars (dims, eps, seeds, booleans) in convert.h.
//
// Every CUDA op binding checks in this order, so a malformed call reports the same thing with or without a
// device (and the fuzz test can check every scalar argument on a CPU-only build):
//   1. the argument count (TypeError);
//   2. scalar and option arguments: kinds and values (TypeError / RangeError naming the argument);
//   3. DeviceTensor arguments: kinds (TypeError naming the argument; Error when one was freed);
//   4. a usable device (Error "<op>: CUDA is not available: <reason>");
//   5. dtypes and ranks (TypeError), sizes, limits and overlaps (RangeError);
//   6. results, then the launch (a failed launch frees the results and throws its Status).
#pragma once
#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "common/status.h"
#include "napi/device_tensor.h"

namespace r4p::napi {

// float32 or bfloat16: the float dtypes every CUDA op takes for its data.
inline constexpr std::initializer_list<r4p::cuda::DType> kFloatDtypes = {r4p::cuda::DType::F32, r4p::cuda::DType::BF16};

// Argument i, which must be a live DeviceTensor (see dev_view).
DevView dev_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
// Argument i, a DeviceTensor or undefined / null (returns false, *out untouched).
bool opt_dev_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, DevView* out);

// v's dtype is one of `allowed` (TypeError), then its shape is `letters` with dims[i] >= 0 fixed (rank:
// TypeError, size: RangeError): expect_dtype + expect_dev_shape.
void expect_dev(Napi::Env env, const char* op, const char* name, const DevView& v,
                std::initializer_list<r4p::cuda::DType> allowed, const std::vector<const char*>& letters,
                const std::vector<int64_t>& dims);
// b has a's dtype (TypeError "expected src to have the dtype of base (float32), received bfloat16").
void expect_same_dtype(Napi::Env env, const char* op, const char* a_name, const DevView& a, const char* b_name,
                       const DevView& b);

// Argument i: 'float32' | 'bfloat16' (TypeError for another kind, RangeError for another string), or undefined /
// null: returns false and leaves *out as it is.
bool float_dtype_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, r4p::cuda::DType* out);

// The policy-attention kernels' limits (RangeError): Dh <= 256 and B*H <= 65535 (the grid's y dimension).
void expect_attention_limits(Napi::Env env, const char* op, int64_t B, int64_t H, int64_t Dh);

// A new result DeviceTensor (contents uninitialised) and its view in *view.
Napi::Object new_result(Napi::Env env, const char* op, r4p::cuda::DType dtype, std::vector<int64_t> shape,
                        DevView* view);
// Unless s is ok: frees each of `results` (their JS free(), so each object reads as freed) and throws s.
void free_on_error(Napi::Env env, const Status& s, std::initializer_list<Napi::Object> results);

}  // namespace r4p::napi
