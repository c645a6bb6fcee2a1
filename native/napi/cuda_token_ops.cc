// cuda_token_ops.cc: bindings of the CUDA token ops (SPEC §3-§5, issue 6 part A) over DeviceTensors.
//   cudaGatherTokens(x [B,N,D] f32|bf16, idx [B,K] i32) -> [B,K,D]
//   cudaGatherTokensBackward(dout [B,K,D], idx [B,K], N) -> dx [B,N,D]
//   cudaScatterTokens(base [B,N,D], idx [B,K], src [B,K,D], inPlace) -> out [B,N,D] (base itself when inPlace)
//   cudaScatterTokensBackward(dout [B,N,D], idx [B,K], wantDbase, wantDsrc) -> [dbase|null, dsrc|null]
//   cudaGumbelTopK(logits [B,N] f32|bf16, active [B,N] u8 | null, k, seed, noise) -> int32 [B,k]
//   cudaGumbelSoftmaxST(logits [B,N,2], tau, seed) -> [hard [B,N], soft [B,N]]   (logits' dtype)
//   cudaGumbelSoftmaxSTBackward(dhard [B,N], soft [B,N], tau) -> dlogits [B,N,2]  (dhard's dtype)
// Order of checks: cuda_args.h (argument count; scalars; DeviceTensor kinds; the device; dtypes and shapes; results,
// launch). Index values live on the device and are not checked
// here: kernels skip out-of-range ones and report the first at the next synchronisation
// (token_ops.h), so an out-of-range index is a RangeError there, never a wild access.
#include <napi.h>

#include "kernels/cuda/token_ops.h"
#include "napi/convert.h"
#include "napi/cuda_args.h"
#include "napi/registrar.h"

namespace r4p::napi {

using r4p::cuda::DType;

static Napi::Value CudaGatherTokens(const Napi::CallbackInfo& info) {
  const char* op = "cudaGatherTokens";
  Napi::Env env = info.Env();
  expect_arg_count(info, 2, op);
  DevView x = dev_arg(info, 0, op, "x");
  DevView idx = dev_arg(info, 1, op, "idx");
  require_cuda(env, op);
  expect_dev(env, op, "x", x, kFloatDtypes, {"B", "N", "D"}, {});
  const int64_t B = x.shape[0], N = x.shape[1], D = x.shape[2];
  expect_dev(env, op, "idx", idx, {DType::I32}, {"B", "K"}, {B, -1});
  const int64_t K = idx.shape[1];
  DevView out;
  Napi::Object o = new_result(env, op, x.dtype, {B, K, D}, &out);
  free_on_error(env, r4p::cuda::gather_tokens_fwd_cuda(x.dtype, x.ptr, static_cast<const int32_t*>(idx.ptr), out.ptr, B, N, K, D), {o});
  return o;
}

static Napi::Value CudaGatherTokensBackward(const Napi::CallbackInfo& info) {
  const char* op = "cudaGatherTokensBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 3, op);
  const int64_t N = dim_arg(info, 2, op, "N");
  DevView dout = dev_arg(info, 0, op, "dout");
  DevView idx = dev_arg(info, 1, op, "idx");
  require_cuda(env, op);
  expect_dev(env, op, "dout", dout, kFloatDtypes, {"B", "K", "D"}, {});
  const int64_t B = dout.shape[0], K = dout.shape[1], D = dout.shape[2];
  expect_dev(env, op, "idx", idx, {DType::I32}, {"B", "K"}, {B, K});
  DevView dx;
  Napi::Object o = new_result(env, op, dout.dtype, {B, N, D}, &dx);
  free_on_error(env, r4p::cuda::gather_tokens_bwd_cuda(dout.dtype, dout.ptr, static_cast<const int32_t*>(idx.ptr), dx.ptr, B, N, K, D), {o});
  return o;
}

static Napi::Value CudaScatterTokens(const Napi::CallbackInfo& info) {
  const char* op = "cudaScatterTokens";
  Napi::Env env = info.Env();
  expect_arg_count(info, 4, op);
  const bool in_place = bool_arg(info, 3, op, "inPlace");
  DevView base = dev_arg(info, 0, op, "base");
  DevView idx = dev_arg(info, 1, op, "idx");
  DevView src = dev_arg(info, 2, op, "src");
  require_cuda(env, op);
  expect_dev(env, op, "base", base, kFloatDtypes, {"B", "N", "D"}, {});
  const int64_t B = base.shape[0], N = base.shape[1], D = base.shape[2];
  expect_dev(env, op, "idx", idx, {DType::I32}, {"B", "K"}, {B, -1});
  const int64_t K = idx.shape[1];
  expect_same_dtype(env, op, "base", base, "src", src);
  expect_dev_shape(env, op, "src", src, {"B", "K", "D"}, {B, K, D});
  check_dev_no_overlap(env, op, "base", base, "src", src);
  const auto* idx_ptr = static_cast<const int32_t*>(idx.ptr);
  if (in_place) {
    throw_if_error(env, r4p::cuda::scatter_tokens_fwd_cuda(base.dtype, base.ptr, idx_ptr, src.ptr, base.ptr, B, N, K, D));
    return info[0];
  }
  DevView out;
  Napi::Object o = new_result(env, op, base.dtype, {B, N, D}, &out);
  free_on_error(env, r4p::cuda::scatter_tokens_fwd_cuda(base.dtype, base.ptr, idx_ptr, src.ptr, out.ptr, B, N, K, D), {o});
  return o;
}

static Napi::Value CudaScatterTokensBackward(const Napi::CallbackInfo& info) {
  const char* op = "cudaScatterTokensBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 4, op);
  const bool want_dbase = bool_arg(info, 2, op, "wantDbase");
  const bool want_dsrc = bool_arg(info, 3, op, "wantDsrc");
  DevView dout = dev_arg(info, 0, op, "dout");
  DevView idx = dev_arg(info, 1, op, "idx");
  require_cuda(env, op);
  expect_dev(env, op, "dout", dout, kFloatDtypes, {"B", "N", "D"}, {});
  const int64_t B = dout.shape[0], N = dout.shape[1], D = dout.shape[2];
  expect_dev(env, op, "idx", idx, {DType::I32}, {"B", "K"}, {B, -1});
  const int64_t K = idx.shape[1];
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, env.Null());
  pair.Set(1u, env.Null());
  if (!want_dbase && !want_dsrc) return pair;
  DevView dbase, dsrc;
  Napi::Object db = want_dbase ? new_result(env, op, dout.dtype, {B, N, D}, &dbase) : Napi::Object();
  Napi::Object ds = want_dsrc ? new_result(env, op, dout.dtype, {B, K, D}, &dsrc) : Napi::Object();
  const Status s = r4p::cuda::scatter_tokens_bwd_cuda(dout.dtype, dout.ptr, static_cast<const int32_t*>(idx.ptr), dbase.ptr, dsrc.ptr, B, N, K, D);
  if (want_dbase && want_dsrc) free_on_error(env, s, {db, ds});
  else free_on_error(env, s, {want_dbase ? db : ds});
  if (want_dbase) pair.Set(0u, db);
  if (want_dsrc) pair.Set(1u, ds);
  return pair;
}

static Napi::Value CudaGumbelTopK(const Napi::CallbackInfo& info) {
  const char* op = "cudaGumbelTopK";
  Napi::Env env = info.Env();
  expect_arg_count(info, 5, op);
  const int64_t k = dim_arg(info, 2, op, "k");
  const uint64_t seed = seed_arg(info, 3, op, "seed");
  const bool noise = bool_arg(info, 4, op, "noise");
  DevView logits = dev_arg(info, 0, op, "logits");
  DevView active;
  const bool has_active = opt_dev_arg(info, 1, op, "active", &active);
  require_cuda(env, op);
  expect_dev(env, op, "logits", logits, kFloatDtypes, {"B", "N"}, {});
  const int64_t B = logits.shape[0], N = logits.shape[1];
  if (has_active) expect_dev(env, op, "active", active, {DType::U8}, {"B", "N"}, {B, N});
  if (k > N) throw_range(env, op, ": expected k to be an integer in [1, ", N, "], received ", k);
  DevView out;
  Napi::Object o = new_result(env, op, DType::I32, {B, k}, &out);
  free_on_error(env, r4p::cuda::gumbel_topk_cuda(logits.dtype, logits.ptr, has_active ? static_cast<const uint8_t*>(active.ptr) : nullptr,
                                                 static_cast<int32_t*>(out.ptr), B, N, k, seed, noise), {o});
  return o;
}

static Napi::Value CudaGumbelSoftmaxST(const Napi::CallbackInfo& info) {
  const char* op = "cudaGumbelSoftmaxST";
  Napi::Env env = info.Env();
  expect_arg_count(info, 3, op);
  const float tau = eps_arg(info, 1, op, "tau");
  const uint64_t seed = seed_arg(info, 2, op, "seed");
  DevView logits = dev_arg(info, 0, op, "logits");
  require_cuda(env, op);
  expect_dev(env, op, "logits", logits, kFloatDtypes, {"B", "N", "C"}, {-1, -1, 2});
  const int64_t B = logits.shape[0], N = logits.shape[1];
  DevView hard, soft;
  Napi::Object h = new_result(env, op, logits.dtype, {B, N}, &hard);
  Napi::Object so = new_result(env, op, logits.dtype, {B, N}, &soft);
  free_on_error(env, r4p::cuda::gumbel_softmax_st_fwd_cuda(logits.dtype, logits.ptr, hard.ptr, soft.ptr, B, N, tau, seed), {h, so});
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, h);
  pair.Set(1u, so);
  return pair;
}

static Napi::Value CudaGumbelSoftmaxSTBackward(const Napi::CallbackInfo& info) {
  const char* op = "cudaGumbelSoftmaxSTBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 3, op);
  const float tau = eps_arg(info, 2, op, "tau");
  DevView dhard = dev_arg(info, 0, op, "dhard");
  DevView soft = dev_arg(info, 1, op, "soft");
  require_cuda(env, op);
  expect_dev(env, op, "dhard", dhard, kFloatDtypes, {"B", "N"}, {});
  const int64_t B = dhard.shape[0], N = dhard.shape[1];
  expect_same_dtype(env, op, "dhard", dhard, "soft", soft);
  expect_dev_shape(env, op, "soft", soft, {"B", "N"}, {B, N});
  DevView dlogits;
  Napi::Object o = new_result(env, op, dhard.dtype, {B, N, 2}, &dlogits);
  free_on_error(env, r4p::cuda::gumbel_softmax_st_bwd_cuda(dhard.dtype, dhard.ptr, soft.ptr, dlogits.ptr, B, N, tau), {o});
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
