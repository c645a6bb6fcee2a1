// cuda_args.cc: see cuda_args.h.
#include "napi/cuda_args.h"

#include <string>

#include "napi/convert.h"

namespace r4p::napi {

using r4p::cuda::DType;

DevView dev_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return dev_view(info.Env(), info[i], op, name);
}

bool opt_dev_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, DevView* out) {
  if (info[i].IsUndefined() || info[i].IsNull()) return false;
  *out = dev_view(info.Env(), info[i], op, name);
  return true;
}

void expect_dev(Napi::Env env, const char* op, const char* name, const DevView& v, std::initializer_list<DType> allowed,
                const std::vector<const char*>& letters, const std::vector<int64_t>& dims) {
  expect_dtype(env, op, name, v, allowed);
  expect_dev_shape(env, op, name, v, letters, dims);
}

void expect_same_dtype(Napi::Env env, const char* op, const char* a_name, const DevView& a, const char* b_name,
                       const DevView& b) {
  if (a.dtype != b.dtype)
    throw_type(env, op, ": expected ", b_name, " to have the dtype of ", a_name, " (", r4p::cuda::dtype_name(a.dtype),
               "), received ", r4p::cuda::dtype_name(b.dtype));
}

bool float_dtype_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, DType* out) {
  const Napi::Value v = info[i];
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsString()) throw_type(info.Env(), op, ": expected ", name, " to be 'float32' or 'bfloat16', received ", kind_name(v));
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "float32") *out = DType::F32;
  else if (s == "bfloat16") *out = DType::BF16;
  else throw_range(info.Env(), op, ": expected ", name, " to be 'float32' or 'bfloat16', received '", s, "'");
  return true;
}

void expect_attention_limits(Napi::Env env, const char* op, int64_t B, int64_t H, int64_t Dh) {
  if (Dh > 256) throw_range(env, op, ": expected Dh <= 256 (the CUDA kernels' limit), received Dh=", Dh);
  if (B * H > 65535) throw_range(env, op, ": expected B*H <= 65535 (the CUDA grid's limit), received B*H=", B * H);
}

Napi::Object new_result(Napi::Env env, const char* op, DType dtype, std::vector<int64_t> shape, DevView* view) {
  Napi::Object t = new_device_tensor(env, dtype, std::move(shape));
  *view = dev_view(env, t, op, "result");
  return t;
}

void free_on_error(Napi::Env env, const Status& s, std::initializer_list<Napi::Object> results) {
  if (s.ok()) return;
  for (Napi::Object t : results) t.Get("free").As<Napi::Function>().Call(t, {});
  throw_if_error(env, s);
}

}  // namespace r4p::napi
