// gumbel_topk.cc: bindings for SPEC §3/§5 gumbelTopK and the Philox primitive it draws from.
//   gumbelTopK(logits f32[B*N], active u8[B*N] | null, out i32[B*k], B, N, k, seed, noise) -> out
//   philox4x32(counter u32|i32[4], key u32|i32[2]) -> Uint32Array(4)   (known-answer tests, interop)
// Shapes, k, seed and overlap are checked here; NaN logits (the ranking is undefined) and a row with
// fewer than k active tokens come back from the kernel as RangeErrors naming the position / row (the
// kernels check both before any work, so one pass serves every caller, the engine's included).
#include <napi.h>

#include <cmath>
#include <cstring>

#include "common/philox.h"
#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {

// A Uint32Array (or an Int32Array, read as the same bits) of exactly n elements, copied out.
static void u32_words_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, size_t n,
                          uint32_t* dst) {
  Napi::Value v = info[i];
  const bool ok_kind = v.IsTypedArray() && (v.As<Napi::TypedArray>().TypedArrayType() == napi_uint32_array ||
                                            v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array);
  if (!ok_kind) throw_type(info.Env(), op, ": expected ", name, " to be a Uint32Array or Int32Array, received ", kind_name(v));
  auto ta = v.As<Napi::TypedArray>();
  if (ta.ElementLength() != n)
    throw_range(info.Env(), op, ": expected ", name, " to have ", n, " elements, received ", ta.ElementLength());
  // napi_get_typedarray_info gives the element address (byteOffset applied) for an ArrayBuffer and for a
  // SharedArrayBuffer alike (ArrayBuffer().Data() fails on the latter); the words are copied at once.
  void* data = nullptr;
  if (napi_get_typedarray_info(info.Env(), v, nullptr, nullptr, &data, nullptr, nullptr) != napi_ok)
    throw_type(info.Env(), op, ": expected ", name, " to be a readable Uint32Array or Int32Array");
  const auto* base = static_cast<const uint8_t*>(data);
  for (size_t j = 0; j < n; ++j) {
    uint32_t w;
    std::memcpy(&w, base + 4 * j, 4);  // byteOffset alignment is not ours to assume
    dst[j] = w;
  }
}

static Napi::Value Philox4x32Binding(const Napi::CallbackInfo& info) {
  const char* op = "philox4x32";
  expect_arg_count(info, 2, op);
  uint32_t c[4], k[2];
  u32_words_arg(info, 0, op, "counter", 4, c);
  u32_words_arg(info, 1, op, "key", 2, k);
  const Philox4x32 x = philox4x32_10(c[0], c[1], c[2], c[3], k[0], k[1]);
  Napi::Env env = info.Env();
  auto out = Napi::Uint32Array::New(env, 4);
  for (int j = 0; j < 4; ++j) out[j] = x.v[j];
  return out;
}

static Napi::Value GumbelTopK(const Napi::CallbackInfo& info) {
  const char* op = "gumbelTopK";
  expect_arg_count(info, 8, op);
  auto logits = f32_arg(info, 0, op, "logits");
  auto active = u8_arg(info, 1, op, "active", /*optional=*/true);
  auto out = i32_arg(info, 2, op, "out");
  const int64_t B = dim_arg(info, 3, op, "B"), N = dim_arg(info, 4, op, "N"), k = dim_arg(info, 5, op, "k");
  const uint64_t seed = seed_arg(info, 6, op, "seed");
  const bool noise = bool_arg(info, 7, op, "noise");
  Napi::Env env = info.Env();
  if (k > N) throw_range(env, op, ": expected k to be an integer in [1, N=", N, "], received ", k);
  expect_shape(env, op, "logits", logits, "[B,N]", {B, N});
  const bool has_active = !info[1].IsUndefined() && !info[1].IsNull();
  if (has_active) expect_shape(env, op, "active", active, "[B,N]", {B, N});
  expect_shape(env, op, "out", out, "[B,k]", {B, k});
  check_no_overlap(env, op, "out", out, "logits", logits);
  if (has_active) check_no_overlap(env, op, "out", out, "active", active);
  throw_if_error(env, gumbel_topk({logits.data, has_active ? active.data : nullptr, out.data, B, N, k, seed, noise}));
  return info[2];
}

static void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("gumbelTopK", Napi::Function::New(env, GumbelTopK, "gumbelTopK"));
  exports.Set("philox4x32", Napi::Function::New(env, Philox4x32Binding, "philox4x32"));
}
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
