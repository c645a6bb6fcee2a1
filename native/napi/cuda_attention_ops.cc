// cuda_attention_ops.cc: bindings of the CUDA policyAttention (SPEC §4), GEMM and prunedBlock (SPEC §5)
// over DeviceTensors (native/napi/device_tensor.h); launchers in kernels/cuda/attention_ops.h.
//   cudaPolicyAttention(q, k, v, policy, eps, outDtype | null, rowMax | null, rowDen | null) -> out
//       q,k,v float32|bfloat16 [B,H,N,Dh] (one dtype), policy float32 [B,N], rowMax/rowDen float32 [B,H,N]
//       outputs; out [B,H,N,Dh] of outDtype (default q's dtype)
//   cudaPolicyAttentionBackward(q, k, v, policy, dout, eps) -> {dq, dk, dv: float32 [B,H,N,Dh], dpolicy: float32 [B,N]}
//   cudaLinear(a, w, bias | null, activation, colScale | null, residual | null, alpha, outDtype | null) -> [M,N]
//       a [M,K], w [N,K] (Linear weight layout), one dtype; bias/colScale [N], residual [M,N]: float32|bfloat16
//   cudaPrunedBlock(x, idx | null, weights, H, lnEps, inPlace) -> out [B,N,D] (x itself when inPlace)
//       weights: { 'norm1.weight': DeviceTensor, ... } the 14 names of one block, all float32 or all bfloat16
// Order of checks: argument kinds (TypeError naming the argument) -> a usable device (Error "<op>: CUDA is not
// available: <reason>") -> dtypes, ranks (TypeError), sizes, overlaps (RangeError). Values that live on the
// device are not read here: prunedBlock checks idx on the device (RangeError naming the position); the policy
// values are not checked for finiteness on this path (a non-finite policy gives non-finite outputs; the
// host-side `device: 'cuda'` option of src/ops/policyAttention.ts checks them before uploading).
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/cuda/attention_ops.h"
#include "napi/block_weights.h"
#include "napi/convert.h"
#include "napi/device_tensor.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

using r4p::cuda::DType;

bool absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

// Optional DeviceTensor argument: undefined / null -> not given.
bool opt_dev(Napi::Env env, const Napi::Value& v, const char* op, const char* what, DevView* out) {
  if (absent(v)) return false;
  *out = dev_view(env, v, op, what);
  return true;
}

// 'float32' | 'bfloat16', or undefined / null for `fallback`.
DType float_dtype_arg(Napi::Env env, const Napi::Value& v, const char* op, const char* what, DType fallback) {
  if (absent(v)) return fallback;
  if (!v.IsString()) throw_type(env, op, ": expected ", what, " to be 'float32' or 'bfloat16', received ", kind_name(v));
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "float32") return DType::F32;
  if (s == "bfloat16") return DType::BF16;
  throw_range(env, op, ": expected ", what, " to be 'float32' or 'bfloat16', received '", s, "'");
}

float eps_value(const Napi::CallbackInfo& info, size_t i, const char* op) {
  const double eps = number_arg(info, i, op, "eps");
  if (!std::isfinite(eps) || eps < 0 || eps > 3.4e38)
    throw_range(info.Env(), op, ": expected eps to be a finite number >= 0, received ", eps);
  return static_cast<float>(eps);
}

// Frees a result DeviceTensor (through its JS free()) and throws the kernel's error.
void fail_with(Napi::Env env, Napi::Object result, const Status& s) {
  result.Get("free").As<Napi::Function>().Call(result, {});
  throw_if_error(env, s);
}

// ---------------------------------------------------------------- policyAttention
Napi::Value CudaPolicyAttention(const Napi::CallbackInfo& info) {
  const char* op = "cudaPolicyAttention";
  Napi::Env env = info.Env();
  expect_arg_count(info, 8, op);
  DevView q = dev_view(env, info[0], op, "q");
  DevView k = dev_view(env, info[1], op, "k");
  DevView v = dev_view(env, info[2], op, "v");
  DevView pol = dev_view(env, info[3], op, "policy");
  const float eps = eps_value(info, 4, op);
  DevView rmax, rden;
  const bool has_max = opt_dev(env, info[6], op, "rowMax", &rmax);
  const bool has_den = opt_dev(env, info[7], op, "rowDen", &rden);
  require_cuda(env, op);
  expect_dtype(env, op, "q", q, {DType::F32, DType::BF16});
  const DType out_dtype = float_dtype_arg(env, info[5], op, "outDtype", q.dtype);
  expect_dev_shape(env, op, "q", q, {"B", "H", "N", "Dh"}, {-1, -1, -1, -1});
  const int64_t B = q.shape[0], H = q.shape[1], N = q.shape[2], Dh = q.shape[3];
  expect_dtype(env, op, "k", k, {q.dtype});
  expect_dtype(env, op, "v", v, {q.dtype});
  expect_dev_shape(env, op, "k", k, {"B", "H", "N", "Dh"}, {B, H, N, Dh});
  expect_dev_shape(env, op, "v", v, {"B", "H", "N", "Dh"}, {B, H, N, Dh});
  expect_dtype(env, op, "policy", pol, {DType::F32});
  expect_dev_shape(env, op, "policy", pol, {"B", "N"}, {B, N});
  if (has_max) {
    expect_dtype(env, op, "rowMax", rmax, {DType::F32});
    expect_dev_shape(env, op, "rowMax", rmax, {"B", "H", "N"}, {B, H, N});
  }
  if (has_den) {
    expect_dtype(env, op, "rowDen", rden, {DType::F32});
    expect_dev_shape(env, op, "rowDen", rden, {"B", "H", "N"}, {B, H, N});
  }
  if (Dh > 256) throw_range(env, op, ": expected Dh <= 256 (the CUDA kernels' limit), received Dh=", Dh);
  if (B * H > 65535) throw_range(env, op, ": expected B*H <= 65535 (the CUDA grid's limit), received B*H=", B * H);
  const std::vector<std::pair<const char*, const DevView*>> ins = {{"q", &q}, {"k", &k}, {"v", &v}, {"policy", &pol}};
  for (const auto& in : ins) {
    if (has_max) check_dev_no_overlap(env, op, "rowMax", rmax, in.first, *in.second);
    if (has_den) check_dev_no_overlap(env, op, "rowDen", rden, in.first, *in.second);
  }
  if (has_max && has_den) check_dev_no_overlap(env, op, "rowMax", rmax, "rowDen", rden);

  Napi::Object out = new_device_tensor(env, out_dtype, {B, H, N, Dh});
  DevView o = dev_view(env, out, op, "out");
  r4p::cuda::PolicyAttentionDevArgs a{};
  a.q = q.ptr; a.k = k.ptr; a.v = v.ptr; a.dtype = q.dtype;
  a.policy = static_cast<const float*>(pol.ptr);
  a.out = o.ptr; a.out_dtype = out_dtype;
  a.row_max = has_max ? static_cast<float*>(rmax.ptr) : nullptr;
  a.row_den = has_den ? static_cast<float*>(rden.ptr) : nullptr;
  a.B = B; a.H = H; a.N = N; a.Dh = Dh;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)));
  a.eps = eps;
  const Status s = r4p::cuda::policy_attention_fwd(a);
  if (!s.ok()) fail_with(env, out, s);
  return out;
}

Napi::Value CudaPolicyAttentionBackward(const Napi::CallbackInfo& info) {
  const char* op = "cudaPolicyAttentionBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 6, op);
  DevView q = dev_view(env, info[0], op, "q");
  DevView k = dev_view(env, info[1], op, "k");
  DevView v = dev_view(env, info[2], op, "v");
  DevView pol = dev_view(env, info[3], op, "policy");
  DevView dout = dev_view(env, info[4], op, "dout");
  const float eps = eps_value(info, 5, op);
  require_cuda(env, op);
  expect_dtype(env, op, "q", q, {DType::F32, DType::BF16});
  expect_dev_shape(env, op, "q", q, {"B", "H", "N", "Dh"}, {-1, -1, -1, -1});
  const int64_t B = q.shape[0], H = q.shape[1], N = q.shape[2], Dh = q.shape[3];
  for (const auto& [name, view] : {std::pair<const char*, const DevView*>{"k", &k}, {"v", &v}, {"dout", &dout}}) {
    expect_dtype(env, op, name, *view, {q.dtype});
    expect_dev_shape(env, op, name, *view, {"B", "H", "N", "Dh"}, {B, H, N, Dh});
  }
  expect_dtype(env, op, "policy", pol, {DType::F32});
  expect_dev_shape(env, op, "policy", pol, {"B", "N"}, {B, N});
  if (Dh > 256) throw_range(env, op, ": expected Dh <= 256 (the CUDA kernels' limit), received Dh=", Dh);
  if (B * H > 65535) throw_range(env, op, ": expected B*H <= 65535 (the CUDA grid's limit), received B*H=", B * H);

  Napi::Object dq = new_device_tensor(env, DType::F32, {B, H, N, Dh});
  Napi::Object dk = new_device_tensor(env, DType::F32, {B, H, N, Dh});
  Napi::Object dv = new_device_tensor(env, DType::F32, {B, H, N, Dh});
  Napi::Object dp = new_device_tensor(env, DType::F32, {B, N});
  r4p::cuda::PolicyAttentionBwdDevArgs a{};
  a.q = q.ptr; a.k = k.ptr; a.v = v.ptr; a.dout = dout.ptr; a.dtype = q.dtype;
  a.policy = static_cast<const float*>(pol.ptr);
  a.dq = static_cast<float*>(dev_view(env, dq, op, "dq").ptr);
  a.dk = static_cast<float*>(dev_view(env, dk, op, "dk").ptr);
  a.dv = static_cast<float*>(dev_view(env, dv, op, "dv").ptr);
  a.dpolicy = static_cast<float*>(dev_view(env, dp, op, "dpolicy").ptr);
  a.B = B; a.H = H; a.N = N; a.Dh = Dh;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)));
  a.eps = eps;
  const Status s = r4p::cuda::policy_attention_bwd(a);
  if (!s.ok()) {
    for (Napi::Object t : {dq, dk, dv}) t.Get("free").As<Napi::Function>().Call(t, {});
    fail_with(env, dp, s);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("dq", dq);
  r.Set("dk", dk);
  r.Set("dv", dv);
  r.Set("dpolicy", dp);
  return r;
}

// ---------------------------------------------------------------- GEMM
Napi::Value CudaLinear(const Napi::CallbackInfo& info) {
  const char* op = "cudaLinear";
  Napi::Env env = info.Env();
  expect_arg_count(info, 8, op);
  DevView A = dev_view(env, info[0], op, "a");
  DevView W = dev_view(env, info[1], op, "w");
  DevView bias, cs, res;
  const bool has_bias = opt_dev(env, info[2], op, "bias", &bias);
  if (!info[3].IsString()) throw_type(env, op, ": expected activation to be 'none', 'relu' or 'gelu', received ", kind_name(info[3]));
  const bool has_cs = opt_dev(env, info[4], op, "colScale", &cs);
  const bool has_res = opt_dev(env, info[5], op, "residual", &res);
  const double alpha = number_arg(info, 6, op, "alpha");
  require_cuda(env, op);
  const std::string act_s = info[3].As<Napi::String>().Utf8Value();
  Activation act;
  if (act_s == "none") act = Activation::kNone;
  else if (act_s == "relu") act = Activation::kRelu;
  else if (act_s == "gelu") act = Activation::kGelu;
  else throw_range(env, op, ": expected activation to be 'none', 'relu' or 'gelu', received '", act_s, "'");
  if (!std::isfinite(alpha) || std::fabs(alpha) > 3.4e38)
    throw_range(env, op, ": expected alpha to be a finite number, received ", alpha);
  expect_dtype(env, op, "a", A, {DType::F32, DType::BF16});
  const DType out_dtype = float_dtype_arg(env, info[7], op, "outDtype", A.dtype);
  expect_dev_shape(env, op, "a", A, {"M", "K"}, {-1, -1});
  const int64_t M = A.shape[0], K = A.shape[1];
  expect_dtype(env, op, "w", W, {A.dtype});
  expect_dev_shape(env, op, "w", W, {"N", "K"}, {-1, K});
  const int64_t N = W.shape[0];
  if (has_bias) {
    expect_dtype(env, op, "bias", bias, {DType::F32, DType::BF16});
    expect_dev_shape(env, op, "bias", bias, {"N"}, {N});
  }
  if (has_cs) {
    expect_dtype(env, op, "colScale", cs, {DType::F32, DType::BF16});
    expect_dev_shape(env, op, "colScale", cs, {"N"}, {N});
  }
  if (has_res) {
    expect_dtype(env, op, "residual", res, {DType::F32, DType::BF16});
    expect_dev_shape(env, op, "residual", res, {"M", "N"}, {M, N});
  }
  Napi::Object out = new_device_tensor(env, out_dtype, {M, N});
  DevView C = dev_view(env, out, op, "out");
  r4p::cuda::GemmDevArgs g{};
  g.M = M; g.N = N; g.K = K;
  g.A = A.ptr; g.lda = K;
  g.W = W.ptr; g.ldw = K; g.ab_dtype = A.dtype;
  g.C = C.ptr; g.ldc = N; g.c_dtype = out_dtype;
  g.alpha = static_cast<float>(alpha);
  if (has_bias) { g.bias = bias.ptr; g.bias_dtype = bias.dtype; }
  g.act = act;
  if (has_cs) { g.col_scale = cs.ptr; g.col_scale_dtype = cs.dtype; }
  if (has_res) { g.residual = res.ptr; g.residual_dtype = res.dtype; g.ldr = N; }
  const Status s = r4p::cuda::gemm(g);
  if (!s.ok()) fail_with(env, out, s);
  return out;
}

// ---------------------------------------------------------------- prunedBlock
Napi::Value CudaPrunedBlock(const Napi::CallbackInfo& info) {
  const char* op = "cudaPrunedBlock";
  Napi::Env env = info.Env();
  // (x, idx, weights, H, lnEps, inPlace[, offsets[, maxLen]]): offsets = varlen rows (DeviceTensor int32 [B+1])
  if (info.Length() < 6 || info.Length() > 8) expect_arg_count(info, 6, op);
  DevView offsets;
  const bool varlen = info.Length() > 6 && opt_dev(env, info[6], op, "offsets", &offsets);
  const int64_t max_len = info.Length() > 7 ? dim_arg(info, 7, op, "maxLen", 0) : 0;
  if (max_len > 0 && !varlen) throw_range(env, op, ": maxLen applies to variable-length rows (offsets) only");
  DevView x = dev_view(env, info[0], op, "x");
  DevView idx;
  const bool has_idx = opt_dev(env, info[1], op, "idx", &idx);
  if (!info[2].IsObject() || info[2].IsArray() || info[2].IsTypedArray() || info[2].IsFunction() || is_device_tensor(info[2]))
    throw_type(env, op, ": expected weights to be an object of DeviceTensors, received ", kind_name(info[2]));
  Napi::Object wobj = info[2].As<Napi::Object>();
  DevView wv[14];
  std::string wname[14];
  for (int i = 0; i < 14; ++i) {
    wname[i] = std::string("weights['") + kBlockWeightNames[i] + "']";
    wv[i] = dev_view(env, wobj.Get(kBlockWeightNames[i]), op, wname[i].c_str());
  }
  const int64_t H = dim_arg(info, 3, op, "H");
  const double ln_eps = number_arg(info, 4, op, "lnEps");
  const bool in_place = bool_arg(info, 5, op, "inPlace");
  require_cuda(env, op);
  if (!std::isfinite(ln_eps) || !(ln_eps > 0) || ln_eps > 3.4e38)
    throw_range(env, op, ": expected lnEps to be a finite number > 0, received ", ln_eps);
  expect_dtype(env, op, "x", x, {DType::F32, DType::BF16});
  expect_dev_shape(env, op, "x", x, {"B", "N", "D"}, {-1, -1, -1});
  const int64_t B = x.shape[0], N = x.shape[1], D = x.shape[2];
  int64_t K = N;
  if (varlen) {
    if (!has_idx) throw_range(env, op, ": expected idx (the packed row indices, int32 [K]) with offsets, received null");
    expect_dtype(env, op, "offsets", offsets, {DType::I32});
    expect_dev_shape(env, op, "offsets", offsets, {"B+1"}, {B + 1});
    expect_dtype(env, op, "idx", idx, {DType::I32});
    expect_dev_shape(env, op, "idx", idx, {"K"}, {-1});
    K = idx.shape[0];
    if (K > B * N) throw_range(env, op, ": expected K <= B*N, received idx [", K, "] for B=", B, " N=", N);
    if (max_len > N) throw_range(env, op, ": expected maxLen in [0, N=", N, "], received ", max_len);
  } else if (has_idx) {
    expect_dtype(env, op, "idx", idx, {DType::I32});
    expect_dev_shape(env, op, "idx", idx, {"B", "K"}, {B, -1});
    K = idx.shape[1];
    if (K > N) throw_range(env, op, ": expected K <= N, received idx [", B, ",", K, "] for N=", N);
  }
  if (D % H != 0) throw_range(env, op, ": expected D to be a multiple of H, received D=", D, " H=", H);
  if (D / H > 256) throw_range(env, op, ": expected Dh = D/H <= 256 (the CUDA kernels' limit), received Dh=", D / H);
  if (B * H > 65535) throw_range(env, op, ": expected B*H <= 65535 (the CUDA grid's limit), received B*H=", B * H);
  if (B * N > 2147483647) throw_range(env, op, ": expected B*N < 2^31, received B*N=", B * N);
  expect_dtype(env, op, wname[0].c_str(), wv[0], {DType::F32, DType::BF16});
  const DType wt = wv[0].dtype;
  expect_dev_shape(env, op, wname[10].c_str(), wv[10], {"F"}, {-1});
  const int64_t F = wv[10].shape[0];
  const std::vector<std::vector<const char*>> letters = {{"D"}, {"D"}, {"3D", "D"}, {"3D"}, {"D", "D"}, {"D"}, {"D"},
                                                         {"D"}, {"D"}, {"F", "D"},  {"F"},  {"D", "F"}, {"D"}, {"D"}};
  const std::vector<std::vector<int64_t>> dims = {{D}, {D}, {3 * D, D}, {3 * D}, {D, D}, {D}, {D},
                                                  {D}, {D}, {F, D},     {F},     {D, F}, {D}, {D}};
  for (int i = 0; i < 14; ++i) {
    expect_dtype(env, op, wname[i].c_str(), wv[i], {wt});
    expect_dev_shape(env, op, wname[i].c_str(), wv[i], letters[i], dims[i]);
    if (in_place) check_dev_no_overlap(env, op, "x", x, wname[i].c_str(), wv[i]);
  }
  if (in_place && has_idx) check_dev_no_overlap(env, op, "x", x, "idx", idx);
  if (in_place && varlen) check_dev_no_overlap(env, op, "x", x, "offsets", offsets);

  Napi::Object out = in_place ? info[0].As<Napi::Object>() : new_device_tensor(env, x.dtype, {B, N, D});
  DevView o = in_place ? x : dev_view(env, out, op, "out");
  r4p::cuda::PrunedBlockDevArgs a{};
  a.x = x.ptr; a.x_dtype = x.dtype;
  a.idx = has_idx ? static_cast<const int32_t*>(idx.ptr) : nullptr;
  a.out = o.ptr;
  a.B = B; a.N = N; a.K = K;
  a.w = r4p::cuda::BlockWeightsDev{wv[0].ptr, wv[1].ptr, wv[2].ptr,  wv[3].ptr,  wv[4].ptr,  wv[5].ptr,  wv[6].ptr,
                                   wv[7].ptr, wv[8].ptr, wv[9].ptr,  wv[10].ptr, wv[11].ptr, wv[12].ptr, wv[13].ptr,
                                   wt,        D,         H,          F};
  a.ln_eps = static_cast<float>(ln_eps);
  a.offsets = varlen ? static_cast<const int32_t*>(offsets.ptr) : nullptr;
  a.max_len = max_len;
  const Status s = r4p::cuda::pruned_block_fwd(a);
  if (!s.ok()) {
    if (in_place) throw_if_error(env, s);
    fail_with(env, out, s);
  }
  return out;
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaPolicyAttention", Napi::Function::New(env, CudaPolicyAttention, "cudaPolicyAttention"));
  exports.Set("cudaPolicyAttentionBackward",
              Napi::Function::New(env, CudaPolicyAttentionBackward, "cudaPolicyAttentionBackward"));
  exports.Set("cudaLinear", Napi::Function::New(env, CudaLinear, "cudaLinear"));
  exports.Set("cudaPrunedBlock", Napi::Function::New(env, CudaPrunedBlock, "cudaPrunedBlock"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
