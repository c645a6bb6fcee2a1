// gemm.cc: binding for the internal GEMM (ops.h GemmArgs; the Linear layers of SPEC §2/§5).
//   gemm(A f32, B f32, C f32, M, N, K, lda, ldb, ldc, transA, transB, opts?) -> C
//   opts: { alpha, beta, bias f32[N], activation 'none'|'relu'|'gelu', colScale f32[N],
//           residual f32, ldr (default N), aRows i32[M], cRows i32[M], rRows i32[M] }
// Buffers are strided row-major matrices: A is [M rows, K] (or [K rows, M] with transA), B is
// [K rows, N] (or [N rows, K] with transB), C / residual are [rows, N]; a buffer "has" r rows of
// width w at leading dim ld when its length >= (r-1)*ld + w. Row maps index those rows, so each
// buffer must hold max(map)+1 rows (or M rows without a map). All sizes are int64 (dims <= 2^31-1,
// so products stay below 2^62). C may not overlap any input; residual may be C exactly (in-place
// x += ls * (A B)), with the same ldr and row map, since each element then reads only itself.
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <utility>
#include <string>
#include <vector>

#include "kernels/cpu/gemm_avx2.h"
#include "kernels/cpu/gemm_avx512.h"
#include "kernels/precision.h"
#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace r4p::napi {
namespace {

constexpr const char* kOp = "gemm";

// An optional typed-array property of opts. Every dim is >= 1, so an empty array is never a valid
// vector or map (and must not read as absent).
template <typename T>
View<T> typed_prop(Napi::Env env, const Napi::Object& o, const char* name,
                   View<T> (*view)(Napi::Env, const Napi::Value&, const char*, const std::string&)) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() || v.IsNull()) return {};
  View<T> out = view(env, v, kOp, std::string("opts.") + name);
  if (out.length == 0) throw_range(env, kOp, ": expected opts.", name, " to be non-empty, received length 0");
  return out;
}

bool number_prop(Napi::Env env, const Napi::Object& o, const char* name, double* out) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return false;
  if (!v.IsNumber()) throw_type(env, kOp, ": expected opts.", name, " to be a number, received ", kind_name(v));
  *out = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(*out)) throw_range(env, kOp, ": expected opts.", name, " to be finite, received ", *out);
  return true;
}

// Rows of width w available in a buffer of `len` elements at leading dim ld.
int64_t rows_in(size_t len, int64_t ld, int64_t w) {
  const int64_t n = static_cast<int64_t>(len);
  return n < w ? 0 : (n - w) / ld + 1;
}

// The rows a matrix argument must hold: M without a map, else max(map)+1; every map entry >= 0.
int64_t rows_needed(Napi::Env env, const char* map_name, const View<int32_t>& map, int64_t M) {
  if (!map.present()) return M;
  int64_t mx = -1;
  for (int64_t m = 0; m < M; ++m) {
    if (map.data[m] < 0) throw_range(env, kOp, ": ", map_name, "[", m, "] = ", map.data[m], " is negative");
    mx = std::max<int64_t>(mx, map.data[m]);
  }
  return mx + 1;
}

void expect_rows(Napi::Env env, const char* name, size_t len, int64_t ld, int64_t w, int64_t need,
                 const char* map_name, const View<int32_t>* map) {
  const int64_t have = rows_in(len, ld, w);
  if (have >= need) return;
  if (map && map->present())
    throw_range(env, kOp, ": ", map_name, " refers to row ", need - 1, " of ", name, ", which has ", have,
                " rows of width ", w, " at leading dimension ", ld, " (", len, " elements)");
  throw_range(env, kOp, ": expected ", name, " to hold ", need, " rows of width ", w, " at leading dimension ", ld,
              " (at least ", (need - 1) * ld + w, " elements), received ", len);
}

void expect_ld(Napi::Env env, const char* name, int64_t ld, int64_t width, const char* what) {
  if (ld < width) throw_range(env, kOp, ": expected ", name, " >= ", width, " (", what, "), received ", ld);
}

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 11 && info.Length() != 12)
    throw_type(env, kOp, ": expected 11 or 12 arguments, received ", info.Length());
  auto A = f32_arg(info, 0, kOp, "A");
  auto B = f32_arg(info, 1, kOp, "B");
  auto C = f32_arg(info, 2, kOp, "C");
  GemmArgs g;
  g.M = dim_arg(info, 3, kOp, "M");
  g.N = dim_arg(info, 4, kOp, "N");
  g.K = dim_arg(info, 5, kOp, "K");
  g.lda = dim_arg(info, 6, kOp, "lda");
  g.ldb = dim_arg(info, 7, kOp, "ldb");
  g.ldc = dim_arg(info, 8, kOp, "ldc");
  g.transA = bool_arg(info, 9, kOp, "transA");
  g.transB = bool_arg(info, 10, kOp, "transB");
  const int64_t M = g.M, N = g.N, K = g.K;

  View<float> bias, col_scale, residual;
  View<int32_t> a_rows, c_rows, r_rows;
  bool has_ldr = false;
  MatmulPrecision precision = MatmulPrecision::kFp32;
  if (info.Length() == 12 && !info[11].IsUndefined() && !info[11].IsNull()) {
    if (!info[11].IsObject() || info[11].IsArray() || info[11].IsTypedArray() || info[11].IsFunction())
      throw_type(env, kOp, ": expected opts to be an object, received ", kind_name(info[11]));
    Napi::Object o = info[11].As<Napi::Object>();
    double d;
    if (number_prop(env, o, "alpha", &d)) g.alpha = static_cast<float>(d);
    if (number_prop(env, o, "beta", &d)) g.beta = static_cast<float>(d);
    bias = typed_prop<float>(env, o, "bias", f32_view);
    col_scale = typed_prop<float>(env, o, "colScale", f32_view);
    residual = typed_prop<float>(env, o, "residual", f32_view);
    a_rows = typed_prop<int32_t>(env, o, "aRows", i32_view);
    c_rows = typed_prop<int32_t>(env, o, "cRows", i32_view);
    r_rows = typed_prop<int32_t>(env, o, "rRows", i32_view);
    Napi::Value act = o.Get("activation");
    if (!act.IsUndefined()) {
      if (!act.IsString()) throw_type(env, kOp, ": expected opts.activation to be a string, received ", kind_name(act));
      const std::string s = act.As<Napi::String>().Utf8Value();
      if (s == "none") g.act = Activation::kNone;
      else if (s == "relu") g.act = Activation::kRelu;
      else if (s == "gelu") g.act = Activation::kGelu;
      else throw_range(env, kOp, ": expected opts.activation to be 'none', 'relu' or 'gelu', received '", s, "'");
    }
    Napi::Value prec = o.Get("precision");
    if (!prec.IsUndefined()) {
      if (!prec.IsString()) throw_type(env, kOp, ": expected opts.precision to be a string, received ", kind_name(prec));
      const std::string s = prec.As<Napi::String>().Utf8Value();
      if (s == "bf16") precision = MatmulPrecision::kBf16;
      else if (s != "fp32") throw_range(env, kOp, ": expected opts.precision to be 'fp32' or 'bf16', received '", s, "'");
    }
    Napi::Value ldr = o.Get("ldr");
    if (!ldr.IsUndefined()) {
      if (!ldr.IsNumber()) throw_type(env, kOp, ": expected opts.ldr to be an integer, received ", kind_name(ldr));
      const double v = ldr.As<Napi::Number>().DoubleValue();
      if (!std::isfinite(v) || v != std::floor(v) || v < 1 || v > 2147483647.0)
        throw_range(env, kOp, ": expected opts.ldr to be an integer in [1, 2147483647], received ", v);
      g.ldr = static_cast<int64_t>(v);
      has_ldr = true;
    }
  }

  // Leading dimensions cover the row widths.
  expect_ld(env, "lda", g.lda, g.transA ? M : K, g.transA ? "M, A is [K,M] with transA" : "K, A is [M,K]");
  expect_ld(env, "ldb", g.ldb, g.transB ? K : N, g.transB ? "K, B is [N,K] with transB" : "N, B is [K,N]");
  expect_ld(env, "ldc", g.ldc, N, "N, C is [M,N]");
  if (!residual.present() && (has_ldr || r_rows.present()))
    throw_range(env, kOp, ": opts.ldr / opts.rRows given without opts.residual");
  if (!has_ldr) g.ldr = N;
  if (residual.present()) expect_ld(env, "opts.ldr", g.ldr, N, "N, residual is [M,N]");

  // Per-column vectors and row maps have exact lengths.
  auto expect_len = [&](const char* name, size_t len, int64_t want, const char* letters) {
    if (static_cast<int64_t>(len) != want)
      throw_range(env, kOp, ": expected ", name, " to have ", want, " elements (", letters, "), received ", len);
  };
  if (bias.present()) expect_len("opts.bias", bias.length, N, "[N]");
  if (col_scale.present()) expect_len("opts.colScale", col_scale.length, N, "[N]");
  if (a_rows.present()) {
    if (g.transA) throw_range(env, kOp, ": opts.aRows (a row gather) is not supported with transA");
    expect_len("opts.aRows", a_rows.length, M, "[M]");
  }
  if (c_rows.present()) expect_len("opts.cRows", c_rows.length, M, "[M]");
  if (r_rows.present()) expect_len("opts.rRows", r_rows.length, M, "[M]");

  // Every buffer holds every row it will be asked for.
  if (g.transA) expect_rows(env, "A", A.length, g.lda, M, K, nullptr, nullptr);
  else expect_rows(env, "A", A.length, g.lda, K, rows_needed(env, "opts.aRows", a_rows, M), "opts.aRows", &a_rows);
  if (g.transB) expect_rows(env, "B", B.length, g.ldb, K, N, nullptr, nullptr);
  else expect_rows(env, "B", B.length, g.ldb, N, K, nullptr, nullptr);
  expect_rows(env, "C", C.length, g.ldc, N, rows_needed(env, "opts.cRows", c_rows, M), "opts.cRows", &c_rows);
  if (residual.present())
    expect_rows(env, "opts.residual", residual.length, g.ldr, N, rows_needed(env, "opts.rRows", r_rows, M),
                "opts.rRows", &r_rows);

  // cRows: no row written twice (the result would depend on which thread stores last). Sorting
  // (row, position) pairs needs O(M) memory whatever the row values are.
  if (c_rows.present()) {
    std::vector<std::pair<int32_t, int64_t>> order;
    try {
      order.resize(static_cast<size_t>(M));
    } catch (const std::bad_alloc&) {
      throw Napi::Error::New(env, "gemm: out of memory checking opts.cRows for duplicates");
    }
    for (int64_t m = 0; m < M; ++m) order[m] = {c_rows.data[m], m};
    std::sort(order.begin(), order.end());
    for (int64_t i = 1; i < M; ++i)
      if (order[i].first == order[i - 1].first)
        throw_range(env, kOp, ": opts.cRows has duplicate row ", order[i].first, " at positions ", order[i - 1].second,
                    " and ", order[i].second);
  }

  // C is written while the inputs are read.
  check_no_overlap(env, kOp, "C", C, "A", A);
  check_no_overlap(env, kOp, "C", C, "B", B);
  check_no_overlap(env, kOp, "C", C, "opts.bias", bias);
  check_no_overlap(env, kOp, "C", C, "opts.colScale", col_scale);
  check_no_overlap(env, kOp, "C", C, "opts.aRows", a_rows);
  check_no_overlap(env, kOp, "C", C, "opts.cRows", c_rows);
  check_no_overlap(env, kOp, "C", C, "opts.rRows", r_rows);
  check_no_overlap(env, kOp, "C", C, "opts.residual", residual, /*allow_identical=*/true);
  if (residual.present() && residual.data == C.data) {
    // In place: each element must read the residual at exactly the position it writes.
    bool same_rows = g.ldr == g.ldc && c_rows.present() == r_rows.present();
    for (int64_t m = 0; same_rows && c_rows.present() && m < M; ++m) same_rows = c_rows.data[m] == r_rows.data[m];
    if (!same_rows)
      throw_range(env, kOp, ": opts.residual is C (in place), so expected ldr == ldc and rRows == cRows");
  }

  g.A = A.data;
  g.B = B.data;
  g.C = C.data;
  g.bias = bias.data;
  g.col_scale = col_scale.data;
  g.residual = residual.data;
  g.a_rows = a_rows.data;
  g.c_rows = c_rows.data;
  g.r_rows = r_rows.data;
  const ScopedMatmulPrecision scope(precision);
  throw_if_error(env, gemm(g));
  return info[2];
}

// gemmPeakProbe(threads, iters, bits) -> GFLOP/s of a register-only FMA loop with 256- or 512-bit
// registers (bench/lib/peak.ts reports the widest the CPU has).
Napi::Value GemmPeakProbe(const Napi::CallbackInfo& info) {
  const char* op = "gemmPeakProbe";
  expect_arg_count(info, 3, op);
  const int64_t threads = dim_arg(info, 0, op, "threads");
  const int64_t iters = dim_arg(info, 1, op, "iters");
  const int64_t bits = dim_arg(info, 2, op, "bits");
  if (bits != 256 && bits != 512) throw_range(info.Env(), op, ": expected bits to be 256 or 512, received ", bits);
  if (bits == 256 && !cpu_has_avx2()) throw Napi::Error::New(info.Env(), "gemmPeakProbe: this CPU has no AVX2+FMA");
  if (bits == 512 && !cpu_has_avx512()) throw Napi::Error::New(info.Env(), "gemmPeakProbe: this CPU has no AVX-512");
  const int n = static_cast<int>(std::min<int64_t>(threads, ThreadPool::instance().threads()));
  return Napi::Number::New(info.Env(), bits == 512 ? fma_peak_gflops_avx512(n, iters) : fma_peak_gflops_avx2(n, iters));
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
  exports.Set("gemmPeakProbe", Napi::Function::New(env, GemmPeakProbe, "gemmPeakProbe"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
