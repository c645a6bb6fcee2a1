// convert.cc: see convert.h.
#include "napi/convert.h"

#include <cmath>
#include <limits>

namespace r4p::napi {

Napi::Error status_to_error(Napi::Env env, const Status& s) {
  switch (s.code) {
    case StatusCode::kTypeError: return Napi::TypeError::New(env, s.message);
    case StatusCode::kRangeError: return Napi::RangeError::New(env, s.message);
    default: return Napi::Error::New(env, s.message);
  }
}

void throw_if_error(Napi::Env env, const Status& s) {
  if (!s.ok()) throw status_to_error(env, s);
}

std::string kind_name(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_int8_array: return "Int8Array";
      case napi_uint8_array: return "Uint8Array";
      case napi_uint8_clamped_array: return "Uint8ClampedArray";
      case napi_int16_array: return "Int16Array";
      case napi_uint16_array: return "Uint16Array";
      case napi_int32_array: return "Int32Array";
      case napi_uint32_array: return "Uint32Array";
      case napi_float32_array: return "Float32Array";
      case napi_float64_array: return "Float64Array";
      case napi_bigint64_array: return "BigInt64Array";
      case napi_biguint64_array: return "BigUint64Array";
      default: return "TypedArray";
    }
  }
  if (v.IsArray()) return "Array";
  if (v.IsNumber()) return "number";
  if (v.IsBoolean()) return "boolean";
  if (v.IsString()) return "string";
  if (v.IsBigInt()) return "bigint";
  if (v.IsFunction()) return "function";
  if (v.IsSymbol()) return "symbol";
  return "object";
}

template <typename T>
static View<T> typed_view(Napi::Env env, const Napi::Value& v, const char* op, const std::string& what,
                          napi_typedarray_type want, const char* want_name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
    throw_type(env, op, ": expected ", what, " to be ", want_name, ", received ", kind_name(v));
  auto ta = v.As<Napi::TypedArray>();
  // Zero-copy: the view points into the caller's buffer at the array's byteOffset (napi_get_typedarray_info
  // returns that address). A SharedArrayBuffer is refused: another thread could change it while a kernel
  // reads it (indices checked here could go out of range before use), and `ArrayBuffer().Data()` fails on
  // it with a bare "Invalid argument".
  napi_typedarray_type type;
  size_t length = 0, byte_offset = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &byte_offset) != napi_ok)
    throw_type(env, op, ": expected ", what, " to be ", want_name, ", received a typed array whose buffer cannot be read");
  if (!Napi::Value(env, buffer).IsArrayBuffer())
    throw_type(env, op, ": expected ", what, " to be ", want_name, " backed by an ArrayBuffer, received ", kind_name(v),
               " on a SharedArrayBuffer");
  View<T> out;
  out.given = true;
  out.length = static_cast<int64_t>(length);
  out.data = out.length == 0 ? nullptr : static_cast<T*>(data);
  if (out.length > 0 && reinterpret_cast<uintptr_t>(out.data) % alignof(T) != 0)
    throw_range(env, op, ": expected ", what, " to be aligned to ", alignof(T), " bytes, received byteOffset ",
                ta.ByteOffset());
  return out;
}

static_assert(sizeof(float) == 4, "float32 is 4 bytes");
static_assert(sizeof(int32_t) == 4, "int32 is 4 bytes");

View<float> f32_view(Napi::Env env, const Napi::Value& v, const char* op, const std::string& what) {
  return typed_view<float>(env, v, op, what, napi_float32_array, "a Float32Array");
}
View<int32_t> i32_view(Napi::Env env, const Napi::Value& v, const char* op, const std::string& what) {
  return typed_view<int32_t>(env, v, op, what, napi_int32_array, "an Int32Array");
}
View<uint8_t> u8_view(Napi::Env env, const Napi::Value& v, const char* op, const std::string& what) {
  return typed_view<uint8_t>(env, v, op, what, napi_uint8_array, "a Uint8Array");
}

static bool absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

View<float> f32_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, bool optional) {
  if (optional && absent(info[i])) return {};
  return f32_view(info.Env(), info[i], op, name);
}
View<int32_t> i32_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, bool optional) {
  if (optional && absent(info[i])) return {};
  return i32_view(info.Env(), info[i], op, name);
}
View<uint8_t> u8_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, bool optional) {
  if (optional && absent(info[i])) return {};
  return u8_view(info.Env(), info[i], op, name);
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsNumber()) throw_type(info.Env(), op, ": expected ", name, " to be a number, received ", kind_name(v));
  return v.As<Napi::Number>().DoubleValue();
}

int64_t dim_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, int64_t min) {
  const double d = number_arg(info, i, op, name);
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) || d > 2147483647.0)
    throw_range(info.Env(), op, ": expected ", name, " to be an integer in [", min, ", 2147483647], received ", d);
  return static_cast<int64_t>(d);
}

float eps_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  const double e = number_arg(info, i, op, name);
  // The kernels take a float: reject values that vanish or overflow as float32 too (one rule for every LayerNorm
  // eps, host or CUDA: layerNorm's eps, the blocks' lnEps; and for the Gumbel temperature tau).
  if (!std::isfinite(e) || !(e > 0) || !std::isfinite(static_cast<float>(e)) || !(static_cast<float>(e) > 0.f))
    throw_range(info.Env(), op, ": expected ", name, " to be a finite number > 0 (as float32), received ", e);
  return static_cast<float>(e);
}

float attn_eps_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  const double e = number_arg(info, i, op, name);
  if (!std::isfinite(e) || e < 0 || !std::isfinite(static_cast<float>(e)))
    throw_range(info.Env(), op, ": expected ", name, " to be a finite number >= 0, received ", e);
  return static_cast<float>(e);
}

bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsBoolean()) throw_type(info.Env(), op, ": expected ", name, " to be a boolean, received ", kind_name(v));
  return v.As<Napi::Boolean>().Value();
}

uint64_t seed_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  Napi::Value v = info[i];
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t s = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) throw_range(info.Env(), op, ": expected ", name, " to be a BigInt in [0, 2^64), received an out-of-range BigInt");
    return s;
  }
  const double d = number_arg(info, i, op, name);
  if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > 9007199254740991.0)
    throw_range(info.Env(), op, ": expected ", name, " to be a non-negative safe integer, received ", d);
  return static_cast<uint64_t>(d);
}

void expect_arg_count(const Napi::CallbackInfo& info, size_t n, const char* op) {
  if (info.Length() != n) throw_type(info.Env(), op, ": expected ", n, " arguments, received ", info.Length());
}

int64_t checked_numel(Napi::Env env, const char* op, const char* name, const std::vector<int64_t>& dims) {
  // 2^53 keeps every element index exact in a JS number; byte counts stay far inside size_t.
  const long double limit = 9007199254740992.0L;
  long double n = 1;
  for (int64_t d : dims) {
    if (d < 0) throw_range(env, op, ": expected the dimensions of ", name, " to be non-negative, received ", shape_str(dims));
    n *= static_cast<long double>(d);
  }
  if (n >= limit) throw_range(env, op, ": ", name, " with shape ", shape_str(dims), " has too many elements (overflow)");
  return static_cast<int64_t>(n);
}

std::string shape_str(const std::vector<int64_t>& dims) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? "," : "") << dims[i];
  os << ']';
  return os.str();
}

void check_offsets(Napi::Env env, const char* op, const char* name, const int32_t* offsets, int64_t B, int64_t N,
                   int64_t total) {
  if (offsets[0] != 0) throw_range(env, op, ": expected ", name, "[0] = 0, received ", offsets[0]);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = int64_t(offsets[b + 1]) - offsets[b];
    if (len < 0 || len > N)
      throw_range(env, op, ": expected row lengths ", name, "[", b + 1, "] - ", name, "[", b, "] in [0, N=", N,
                  "], received ", offsets[b + 1], " - ", offsets[b], " = ", len);
  }
  if (offsets[B] != total)
    throw_range(env, op, ": expected ", name, "[B=", B, "] to equal the index count ", total, ", received ", offsets[B]);
}

void check_indices(Napi::Env env, const char* op, const char* name, const int32_t* idx, int64_t B, int64_t K,
                   int64_t N, bool no_duplicates, const int32_t* offsets) {
  std::vector<int64_t> seen;  // seen[n] = k + 1 of the first occurrence in the current row
  if (no_duplicates) seen.assign(static_cast<size_t>(N), 0);
  for (int64_t b = 0; b < B; ++b) {
    const int32_t* row = idx + (offsets ? offsets[b] : b * K);
    if (offsets) K = offsets[b + 1] - offsets[b];
    for (int64_t k = 0; k < K; ++k) {
      const int32_t t = row[k];
      if (t < 0 || t >= N)
        throw_range(env, op, ": ", name, "[", b, "][", k, "] = ", t, " is out of range [0, ", N, ")");
      if (no_duplicates) {
        if (seen[t] != 0)
          throw_range(env, op, ": ", name, " has duplicate index ", t, " in row ", b, " at positions ", seen[t] - 1,
                      " and ", k);
        seen[t] = k + 1;
      }
    }
    if (no_duplicates)
      for (int64_t k = 0; k < K; ++k) seen[row[k]] = 0;
  }
}

void expect_finite(Napi::Env env, const char* op, const char* name, const View<float>& v, int64_t cols) {
  for (size_t t = 0; t < v.length; ++t)
    if (!std::isfinite(v.data[t]))
      throw_range(env, op, ": expected ", name, " values to be finite, received ", name, "[", t / cols, "][", t % cols,
                  "] = ", v.data[t]);
}

void check_outputs_disjoint(Napi::Env env, const char* op, const std::vector<NamedF32>& outs,
                            const std::vector<NamedF32>& ins) {
  for (size_t i = 0; i < outs.size(); ++i) {
    for (const auto& in : ins) check_no_overlap(env, op, outs[i].name.c_str(), outs[i].view, in.name.c_str(), in.view);
    for (size_t j = i + 1; j < outs.size(); ++j)
      check_no_overlap(env, op, outs[i].name.c_str(), outs[i].view, outs[j].name.c_str(), outs[j].view);
  }
}

}  // namespace r4p::napi
