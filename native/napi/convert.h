// convert.h: argument checking and zero-copy TypedArray views for the bindings (STYLE §5, §6).
// Every check throws a Napi::TypeError (wrong kind / dtype) or Napi::RangeError (bad value, shape,
// index) whose message names the op, the argument, what was expected and what was received.
// Built with NAPI_CPP_EXCEPTIONS: a throw here becomes a JS exception, never a crash.
#pragma once
#include <napi.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "common/status.h"

namespace r4p::napi {

template <typename... Parts>
[[noreturn]] void throw_type(Napi::Env env, Parts&&... parts) {
  throw Napi::TypeError::New(env, r4p::detail::concat(std::forward<Parts>(parts)...));
}
template <typename... Parts>
[[noreturn]] void throw_range(Napi::Env env, Parts&&... parts) {
  throw Napi::RangeError::New(env, r4p::detail::concat(std::forward<Parts>(parts)...));
}
// Turns a kernel's non-ok Status into the matching JS error.
void throw_if_error(Napi::Env env, const Status& s);
// The Error object for a Status (for AsyncWorker::OnError paths).
Napi::Error status_to_error(Napi::Env env, const Status& s);

template <typename T>
struct View {
  T* data = nullptr;
  size_t length = 0;
  bool given = false;  // false only for an optional argument passed as undefined/null
  bool present() const { return given; }
};

// Name of a JS value's kind for messages: "Float32Array", "number", "undefined", ...
std::string kind_name(const Napi::Value& v);

// Positional argument i must be a Float32Array / Int32Array / Uint8Array. With optional=true,
// undefined/null give an empty View.
View<float> f32_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, bool optional = false);
View<int32_t> i32_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, bool optional = false);
View<uint8_t> u8_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, bool optional = false);

// Zero-copy views of any JS value (an object property, an array element) that must be a
// Float32Array / Int32Array / Uint8Array; `what` names it in messages ("opts.bias", "weights['ls1.gamma']").
View<float> f32_view(Napi::Env env, const Napi::Value& v, const char* op, const std::string& what);
View<int32_t> i32_view(Napi::Env env, const Napi::Value& v, const char* op, const std::string& what);
View<uint8_t> u8_view(Napi::Env env, const Napi::Value& v, const char* op, const std::string& what);

// A non-negative integer dimension in [min, 2^31-1].
int64_t dim_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, int64_t min = 1);
double number_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
// A positive float32 scalar (a LayerNorm epsilon, a Gumbel temperature tau): finite and > 0 both as a double and
// after rounding to float32 (RangeError), one rule for every op (the TS side: expectEps in src/validate.ts).
float eps_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
// The attention formula's eps (SPEC §4): finite, >= 0 and finite as float32 (RangeError).
float attn_eps_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
// A seed: a non-negative safe-integer number or a BigInt in [0, 2^64).
uint64_t seed_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);

void expect_arg_count(const Napi::CallbackInfo& info, size_t n, const char* op);

// Product of dims with overflow check (elements must fit in 2^53 and bytes in size_t).
int64_t checked_numel(Napi::Env env, const char* op, const char* name, const std::vector<int64_t>& dims);
// "[2,5]" for messages.
std::string shape_str(const std::vector<int64_t>& dims);
// Length of a view must equal the product of dims, else RangeError naming the shape letters.
template <typename T>
void expect_shape(Napi::Env env, const char* op, const char* name, const View<T>& v, const char* letters,
                  const std::vector<int64_t>& dims) {
  const int64_t n = checked_numel(env, op, name, dims);
  if (static_cast<int64_t>(v.length) != n)
    throw_range(env, op, ": expected ", name, " to have ", n, " elements (", letters, " = ", shape_str(dims),
                "), received ", v.length);
}

// Every value finite, the buffer read as rows of `cols` (RangeError "expected policy values to be finite,
// received policy[1][3] = NaN").
void expect_finite(Napi::Env env, const char* op, const char* name, const View<float>& v, int64_t cols);

// Every idx[b][k] in [0, N); with no_duplicates, no value twice within a row. With offsets (varlen, [B+1],
// checked by check_offsets first) row b is idx[offsets[b] .. offsets[b+1]) and K is unused.
void check_indices(Napi::Env env, const char* op, const char* name, const int32_t* idx, int64_t B, int64_t K,
                   int64_t N, bool no_duplicates, const int32_t* offsets = nullptr);
// Variable-length row offsets (FlashAttention's cu_seqlens): offsets[0] = 0, each row length offsets[b+1] -
// offsets[b] in [0, N], offsets[B] = total (the packed index count).
void check_offsets(Napi::Env env, const char* op, const char* name, const int32_t* offsets, int64_t B, int64_t N,
                   int64_t total);

}  // namespace r4p::napi

namespace r4p::napi {
// Two buffers may not share memory (an output that overlaps an input would be read while written).
// allow_identical: exactly the same range is fine (documented in-place ops).
template <typename T, typename U>
void check_no_overlap(Napi::Env env, const char* op, const char* a_name, const View<T>& a, const char* b_name,
                      const View<U>& b, bool allow_identical = false) {
  if (a.length == 0 || b.length == 0) return;
  const auto a0 = reinterpret_cast<uintptr_t>(a.data), a1 = a0 + a.length * sizeof(T);
  const auto b0 = reinterpret_cast<uintptr_t>(b.data), b1 = b0 + b.length * sizeof(U);
  if (allow_identical && a0 == b0 && a1 == b1) return;
  if (a0 < b1 && b0 < a1)
    throw_range(env, op, ": expected ", a_name, " and ", b_name, " not to share memory, received overlapping buffers");
}
}  // namespace r4p::napi

namespace r4p::napi {
// A named float buffer, for the overlap checks of ops with several outputs.
struct NamedF32 {
  std::string name;
  View<float> view;
};
// Every output disjoint from every input and from the other outputs (RangeError naming the pair).
void check_outputs_disjoint(Napi::Env env, const char* op, const std::vector<NamedF32>& outs,
                            const std::vector<NamedF32>& ins);
}  // namespace r4p::napi
