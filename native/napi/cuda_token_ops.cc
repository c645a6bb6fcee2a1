// cuda_token_ops.cc: bindings of the CUDA token ops (SPEC §3-§5, issue 6 part A) over DeviceTensors.
//   cudaGatherTokens(x [B,N,D] f32|bf16, idx [B,K] i32) -> [B,K,D]
//   cudaGatherTokensBackward(dout [B,K,D], idx [B,K], N) -> dx [B,N,D]
//   cudaScatterTokens(base [B,N,D], idx [B,K], src [B,K,D], inPlace) -> out [B,N,D] (base itself when inPlace)
//   cudaScatterTokensBackward(dout [B,N,D], idx [B,K], wantDbase, wantDsrc) -> [dbase|null, dsrc|null]
//   cudaGumbelTopK(logits [B,N] f32|bf16, active [B,N] u8 | null, k, seed, noise) -> int32 [B,k]
//   cudaGumbelSoftmaxST(logits [B,N,2], tau, seed) -> [hard [B,N], soft [B,N]]   (logits' dtype)
//   cudaGumbelSoftmaxSTBackward(dhard [B,N], soft [B,N], tau) -> dlogits [B,N,2]  (dhard's dtype)
// Order of checks: argument count and kinds (TypeError), dtypes and shapes (TypeError/RangeError),
// scalar values (RangeError), then the device (Error naming the reason when there is none), then
// allocation of the results and the launch. Index values live on the device and are not checked
// here: kernels skip out-of-range ones and report the first at the next synchronisation
// (token_ops.h), so an out-of-range index is a RangeError there, never a wild access.
#include <napi.h>

#include <cmath>

#include "kernels/cuda/token_ops.h"
#include "napi/convert.h"
#include "napi/device_tensor.h"
#include "napi/registrar.h"

namespace r4p::napi {

using r4p::cuda::DType;

namespace {

constexpr std::initializer_list<DType> kFloat = {DType::F32, DType::BF16};

void expect_same_dtype(Napi::Env env, const char* op, const char* a_name, const DevView& a, const char* b_name,
                       const DevView& b) {
  if (a.dtype != b.dtype)
    throw_type(env, op, ": expected ", b_name, " to have the dtype of ", a_name, " (", r4p::cuda::dtype_name(a.dtype),
               "), received ", r4p::cuda::dtype_name(b.dtype));
}

float tau_arg(const Napi::CallbackInfo& info, size_t i, const char* op) {
  const double t = number_arg(info, i, op, "tau");
  const float tf = static_cast<float>(t);
  if (!(t > 0) || !std::isfinite(t) || !(tf > 0.f) || !std::isfinite(tf))
    throw_range(info.Env(), op, ": expected tau to be a finite number > 0 (as float32), received ", t);
  return tf;
}

Napi::Object result(Napi::Env env, DType dtype, std::vector<int64_t> shape, DevView* view, const char* op) {
  Napi::Object t = new_device_tensor(env, dtype, std::move(shape));
  *view = dev_view(env, t, op, "result");
  return t;
}

}  // namespace

static Napi::Value CudaGatherTokens(const Napi::CallbackInfo& info) {
  const char* op = "cudaGatherTokens";
  Napi::Env env = info.Env();
  expect_arg_count(info, 2, op);
  DevView x = dev_view(env, info[0], op, "x");
  DevView idx = dev_view(env, info[1], op, "idx");
  expect_dtype(env, op, "x", x, kFloat);
  expect_dtype(env, op, "idx", idx, {DType::I32});
  expect_dev_shape(env, op, "x", x, {"B", "N", "D"}, {});
  const int64_t B = x.shape[0], N = x.shape[1], D = x.shape[2];
  expect_dev_shape(env, op, "idx", idx, {"B", "K"}, {B, -1});
  const int64_t K = idx.shape[1];
  require_cuda(env, op);
  DevView out;
  Napi::Object o = result(env, x.dtype, {B, K, D}, &out, op);
  throw_if_error(env, r4p::cuda::gather_tokens_fwd_cuda(x.dtype, x.ptr, static_cast<const int32_t*>(idx.ptr), out.ptr, B,
                                                        N, K, D));
  return o;
}

static Napi::Value CudaGatherTokensBackward(const Napi::CallbackInfo& info) {
  const char* op = "cudaGatherTokensBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 3, op);
  DevView dout = dev_view(env, info[0], op, "dout");
  DevView idx = dev_view(env, info[1], op, "idx");
  const int64_t N = dim_arg(info, 2, op, "N");
  expect_dtype(env, op, "dout", dout, kFloat);
  expect_dtype(env, op, "idx", idx, {DType::I32});
  expect_dev_shape(env, op, "dout", dout, {"B", "K", "D"}, {});
  const int64_t B = dout.shape[0], K = dout.shape[1], D = dout.shape[2];
  expect_dev_shape(env, op, "idx", idx, {"B", "K"}, {B, K});
  require_cuda(env, op);
  DevView dx;
  Napi::Object o = result(env, dout.dtype, {B, N, D}, &dx, op);
  throw_if_error(env, r4p::cuda::gather_tokens_bwd_cuda(dout.dtype, dout.ptr, static_cast<const int32_t*>(idx.ptr), dx.ptr,
                                                        B, N, K, D));
  return o;
}

static Napi::Value CudaScatterTokens(const Napi::CallbackInfo& info) {
  const char* op = "cudaScatterTokens";
  Napi::Env env = info.Env();
  expect_arg_count(info, 4, op);
  DevView base = dev_view(env, info[0], op, "base");
  DevView idx = dev_view(env, info[1], op, "idx");
  DevView src = dev_view(env, info[2], op, "src");
  const bool in_place = bool_arg(info, 3, op, "inPlace");
  expect_dtype(env, op, "base", base, kFloat);
  expect_dtype(env, op, "idx", idx, {DType::I32});
  expect_same_dtype(env, op, "base", base, "src", src);
  expect_dev_shape(env, op, "base", base, {"B", "N", "D"}, {});
  const int64_t B = base.shape[0], N = base.shape[1], D = base.shape[2];
  expect_dev_shape(env, op, "idx", idx, {"B", "K"}, {B, -1});
  const int64_t K = idx.shape[1];
  expect_dev_shape(env, op, "src", src, {"B", "K", "D"}, {B, K, D});
  check_dev_no_overlap(env, op, "base", base, "src", src);
  require_cuda(env, op);
  if (in_place) {
    throw_if_error(env, r4p::cuda::scatter_tokens_fwd_cuda(base.dtype, base.ptr, static_cast<const int32_t*>(idx.ptr),
                                                           src.ptr, base.ptr, B, N, K, D));
    return info[0];
  }
  DevView out;
  Napi::Object o = result(env, base.dtype, {B, N, D}, &out, op);
  throw_if_error(env, r4p::cuda::scatter_tokens_fwd_cuda(base.dtype, base.ptr, static_cast<const int32_t*>(idx.ptr),
                                                         src.ptr, out.ptr, B, N, K, D));
  return o;
}

static Napi::Value CudaScatterTokensBackward(const Napi::CallbackInfo& info) {
  const char* op = "cudaScatterTokensBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 4, op);
  DevView dout = dev_view(env, info[0], op, "dout");
  DevView idx = dev_view(env, info[1], op, "idx");
  const bool want_dbase = bool_arg(info, 2, op, "wantDbase");
  const bool want_dsrc = bool_arg(info, 3, op, "wantDsrc");
  expect_dtype(env, op, "dout", dout, kFloat);
  expect_dtype(env, op, "idx", idx, {DType::I32});
  expect_dev_shape(env, op, "dout", dout, {"B", "N", "D"}, {});
  const int64_t B = dout.shape[0], N = dout.shape[1], D = dout.shape[2];
  expect_dev_shape(env, op, "idx", idx, {"B", "K"}, {B, -1});
  const int64_t K = idx.shape[1];
  require_cuda(env, op);
  Napi::Array pair = Napi::Array::New(env, 2);
  DevView dbase, dsrc;
  pair.Set(0u, want_dbase ? Napi::Value(result(env, dout.dtype, {B, N, D}, &dbase, op)) : env.Null());
  pair.Set(1u, want_dsrc ? Napi::Value(result(env, dout.dtype, {B, K, D}, &dsrc, op)) : env.Null());
  if (want_dbase || want_dsrc)
    throw_if_error(env, r4p::cuda::scatter_tokens_bwd_cuda(dout.dtype, dout.ptr, static_cast<const int32_t*>(idx.ptr),
                                                           dbase.ptr, dsrc.ptr, B, N, K, D));
  return pair;
}

static Napi::Value CudaGumbelTopK(const Napi::CallbackInfo& info) {
  const char* op = "cudaGumbelTopK";
  Napi::Env env = info.Env();
  expect_arg_count(info, 5, op);
  DevView logits = dev_view(env, info[0], op, "logits");
  const bool has_active = !(info[1].IsNull() || info[1].IsUndefined());
  DevView active;
  if (has_active) active = dev_view(env, info[1], op, "active");
  const int64_t k = dim_arg(info, 2, op, "k");
  const uint64_t seed = seed_arg(info, 3, op, "seed");
  const bool noise = bool_arg(info, 4, op, "noise");
  expect_dtype(env, op, "logits", logits, kFloat);
  expect_dev_shape(env, op, "logits", logits, {"B", "N"}, {});
  const int64_t B = logits.shape[0], N = logits.shape[1];
  if (has_active) {
    expect_dtype(env, op, "active", active, {DType::U8});
    expect_dev_shape(env, op, "active", active, {"B", "N"}, {B, N});
  }
  if (k > N) throw_range(env, op, ": expected k to be an integer in [1, ", N, "], received ", k);
  require_cuda(env, op);
  DevView out;
  Napi::Object o = result(env, DType::I32, {B, k}, &out, op);
  throw_if_error(env, r4p::cuda::gumbel_topk_cuda(logits.dtype, logits.ptr,
                                                  has_active ? static_cast<const uint8_t*>(active.ptr) : nullptr,
                                                  static_cast<int32_t*>(out.ptr), B, N, k, seed, noise));
  return o;
}

static Napi::Value CudaGumbelSoftmaxST(const Napi::CallbackInfo& info) {
  const char* op = "cudaGumbelSoftmaxST";
  Napi::Env env = info.Env();
  expect_arg_count(info, 3, op);
  DevView logits = dev_view(env, info[0], op, "logits");
  const float tau = tau_arg(info, 1, op);
  const uint64_t seed = seed_arg(info, 2, op, "seed");
  expect_dtype(env, op, "logits", logits, kFloat);
  expect_dev_shape(env, op, "logits", logits, {"B", "N", "C"}, {-1, -1, 2});
  const int64_t B = logits.shape[0], N = logits.shape[1];
  require_cuda(env, op);
  DevView hard, soft;
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, result(env, logits.dtype, {B, N}, &hard, op));
  pair.Set(1u, result(env, logits.dtype, {B, N}, &soft, op));
  throw_if_error(env, r4p::cuda::gumbel_softmax_st_fwd_cuda(logits.dtype, logits.ptr, hard.ptr, soft.ptr, B, N, tau, seed));
  return pair;
}

static Napi::Value CudaGumbelSoftmaxSTBackward(const Napi::CallbackInfo& info) {
  const char* op = "cudaGumbelSoftmaxSTBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 3, op);
  DevView dhard = dev_view(env, info[0], op, "dhard");
  DevView soft = dev_view(env, info[1], op, "soft");
  const float tau = tau_arg(info, 2, op);
  expect_dtype(env, op, "dhard", dhard, kFloat);
  expect_same_dtype(env, op, "dhard", dhard, "soft", soft);
  expect_dev_shape(env, op, "dhard", dhard, {"B", "N"}, {});
  const int64_t B = dhard.shape[0], N = dhard.shape[1];
  expect_dev_shape(env, op, "soft", soft, {"B", "N"}, {B, N});
  require_cuda(env, op);
  DevView dlogits;
  Napi::Object o = result(env, dhard.dtype, {B, N, 2}, &dlogits, op);
  throw_if_error(env, r4p::cuda::gumbel_softmax_st_bwd_cuda(dhard.dtype, dhard.ptr, soft.ptr, dlogits.ptr, B, N, tau));
  return o;
}

static void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaGatherTokens", Napi::Function::New(env, CudaGatherTokens, "cudaGatherTokens"));
  exports.Set("cudaGatherTokensBackward", Napi::Function::New(env, CudaGatherTokensBackward, "cudaGatherTokensBackward"));
  exports.Set("cudaScatterTokens", Napi::Function::New(env, CudaScatterTokens, "cudaScatterTokens"));
  exports.Set("cudaScatterTokensBackward", Napi::Function::New(env, CudaScatterTokensBackward, "cudaScatterTokensBackward"));
  exports.Set("cudaGumbelTopK", Napi::Function::New(env, CudaGumbelTopK, "cudaGumbelTopK"));
  exports.Set("cudaGumbelSoftmaxST", Napi::Function::New(env, CudaGumbelSoftmaxST, "cudaGumbelSoftmaxST"));
  exports.Set("cudaGumbelSoftmaxSTBackward",
              Napi::Function::New(env, CudaGumbelSoftmaxSTBackward, "cudaGumbelSoftmaxSTBackward"));
}
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
