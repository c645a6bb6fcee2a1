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
// Order of checks: cuda_args.h (argument count; scalars and options; DeviceTensor kinds; the device; dtypes, ranks,
// sizes, overlaps; results, launch). Values that live on the
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
#include "napi/cuda_args.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

using r4p::cuda::DType;

// ---------------------------------------------------------------- policyAttention
Napi::Value CudaPolicyAttention(const Napi::CallbackInfo& info) {
  const char* op = "cudaPolicyAttention";
  Napi::Env env = info.Env();
  expect_arg_count(info, 8, op);
  const float eps = attn_eps_arg(info, 4, op, "eps");
  DType out_dtype = DType::F32;
  const bool has_out_dtype = float_dtype_arg(info, 5, op, "outDtype", &out_dtype);
  DevView q = dev_arg(info, 0, op, "q");
  DevView k = dev_arg(info, 1, op, "k");
  DevView v = dev_arg(info, 2, op, "v");
  DevView pol = dev_arg(info, 3, op, "policy");
  DevView rmax, rden;
  const bool has_max = opt_dev_arg(info, 6, op, "rowMax", &rmax);
  const bool has_den = opt_dev_arg(info, 7, op, "rowDen", &rden);
  require_cuda(env, op);
  expect_dev(env, op, "q", q, kFloatDtypes, {"B", "H", "N", "Dh"}, {-1, -1, -1, -1});
  if (!has_out_dtype) out_dtype = q.dtype;
  const int64_t B = q.shape[0], H = q.shape[1], N = q.shape[2], Dh = q.shape[3];
  expect_dev(env, op, "k", k, {q.dtype}, {"B", "H", "N", "Dh"}, {B, H, N, Dh});
  expect_dev(env, op, "v", v, {q.dtype}, {"B", "H", "N", "Dh"}, {B, H, N, Dh});
  expect_dev(env, op, "policy", pol, {DType::F32}, {"B", "N"}, {B, N});
  if (has_max) expect_dev(env, op, "rowMax", rmax, {DType::F32}, {"B", "H", "N"}, {B, H, N});
  if (has_den) expect_dev(env, op, "rowDen", rden, {DType::F32}, {"B", "H", "N"}, {B, H, N});
  expect_attention_limits(env, op, B, H, Dh);
  const std::vector<std::pair<const char*, const DevView*>> ins = {{"q", &q}, {"k", &k}, {"v", &v}, {"policy", &pol}};
  for (const auto& in : ins) {
    if (has_max) check_dev_no_overlap(env, op, "rowMax", rmax, in.first, *in.second);
    if (has_den) check_dev_no_overlap(env, op, "rowDen", rden, in.first, *in.second);
  }
  if (has_max && has_den) check_dev_no_overlap(env, op, "rowMax", rmax, "rowDen", rden);

  DevView o;
  Napi::Object out = new_result(env, op, out_dtype, {B, H, N, Dh}, &o);
  r4p::cuda::PolicyAttentionDevArgs a{};
  a.q = q.ptr; a.k = k.ptr; a.v = v.ptr; a.dtype = q.dtype;
  a.policy = static_cast<const float*>(pol.ptr);
  a.out = o.ptr; a.out_dtype = out_dtype;
  a.row_max = has_max ? static_cast<float*>(rmax.ptr) : nullptr;
  a.row_den = has_den ? static_cast<float*>(rden.ptr) : nullptr;
  a.B = B; a.H = H; a.N = N; a.Dh = Dh;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)));
  a.eps = eps;
  free_on_error(env, r4p::cuda::policy_attention_fwd(a), {out});
  return out;
}

Napi::Value CudaPolicyAttentionBackward(const Napi::CallbackInfo& info) {
  const char* op = "cudaPolicyAttentionBackward";
  Napi::Env env = info.Env();
  expect_arg_count(info, 6, op);
  const float eps = attn_eps_arg(info, 5, op, "eps");
  DevView q = dev_arg(info, 0, op, "q");
  DevView k = dev_arg(info, 1, op, "k");
  DevView v = dev_arg(info, 2, op, "v");
  DevView pol = dev_arg(info, 3, op, "policy");
  DevView dout = dev_arg(info, 4, op, "dout");
  require_cuda(env, op);
  expect_dev(env, op, "q", q, kFloatDtypes, {"B", "H", "N", "Dh"}, {-1, -1, -1, -1});
  const int64_t B = q.shape[0], H = q.shape[1], N = q.shape[2], Dh = q.shape[3];
  for (const auto& [name, view] : {std::pair<const char*, const DevView*>{"k", &k}, {"v", &v}, {"dout", &dout}})
    expect_dev(env, op, name, *view, {q.dtype}, {"B", "H", "N", "Dh"}, {B, H, N, Dh});
  expect_dev(env, op, "policy", pol, {DType::F32}, {"B", "N"}, {B, N});
  expect_attention_limits(env, op, B, H, Dh);

  DevView dqv, dkv, dvv, dpv;
  Napi::Object dq = new_result(env, op, DType::F32, {B, H, N, Dh}, &dqv);
  Napi::Object dk = new_result(env, op, DType::F32, {B, H, N, Dh}, &dkv);
  Napi::Object dv = new_result(env, op, DType::F32, {B, H, N, Dh}, &dvv);
  Napi::Object dp = new_result(env, op, DType::F32, {B, N}, &dpv);
  r4p::cuda::PolicyAttentionBwdDevArgs a{};
  a.q = q.ptr; a.k = k.ptr; a.v = v.ptr; a.dout = dout.ptr; a.dtype = q.dtype;
  a.policy = static_cast<const float*>(pol.ptr);
  a.dq = static_cast<float*>(dqv.ptr);
  a.dk = static_cast<float*>(dkv.ptr);
  a.dv = static_cast<float*>(dvv.ptr);
  a.dpolicy = static_cast<float*>(dpv.ptr);
  a.B = B; a.H = H; a.N = N; a.Dh = Dh;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)));
  a.eps = eps;
  free_on_error(env, r4p::cuda::policy_attention_bwd(a), {dq, dk, dv, dp});
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
  if (!info[3].IsString()) throw_type(env, op, ": expected activation to be 'none', 'relu' or 'gelu', received ", kind_name(info[3]));
  const std::string act_s = info[3].As<Napi::String>().Utf8Value();
  Activation act;
  if (act_s == "none") act = Activation::kNone;
  else if (act_s == "relu") act = Activation::kRelu;
  else if (act_s == "gelu") act = Activation::kGelu;
  else throw_range(env, op, ": expected activation to be 'none', 'relu' or 'gelu', received '", act_s, "'");
  const double alpha = number_arg(info, 6, op, "alpha");
  if (!std::isfinite(alpha) || !std::isfinite(static_cast<float>(alpha)))
    throw_range(env, op, ": expected alpha to be a finite number, received ", alpha);
  DType out_dtype = DType::F32;
  const bool has_out_dtype = float_dtype_arg(info, 7, op, "outDtype", &out_dtype);
  DevView A = dev_arg(info, 0, op, "a");
  DevView W = dev_arg(info, 1, op, "w");
  DevView bias, cs, res;
  const bool has_bias = opt_dev_arg(info, 2, op, "bias", &bias);
  const bool has_cs = opt_dev_arg(info, 4, op, "colScale", &cs);
  const bool has_res = opt_dev_arg(info, 5, op, "residual", &res);
  require_cuda(env, op);
  expect_dev(env, op, "a", A, kFloatDtypes, {"M", "K"}, {-1, -1});
  if (!has_out_dtype) out_dtype = A.dtype;
  const int64_t M = A.shape[0], K = A.shape[1];
  expect_dev(env, op, "w", W, {A.dtype}, {"N", "K"}, {-1, K});
  const int64_t N = W.shape[0];
  if (has_bias) expect_dev(env, op, "bias", bias, kFloatDtypes, {"N"}, {N});
  if (has_cs) expect_dev(env, op, "colScale", cs, kFloatDtypes, {"N"}, {N});
  if (has_res) expect_dev(env, op, "residual", res, kFloatDtypes, {"M", "N"}, {M, N});

  DevView C;
  Napi::Object out = new_result(env, op, out_dtype, {M, N}, &C);
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
  free_on_error(env, r4p::cuda::gemm(g), {out});
  return out;
}

// ---------------------------------------------------------------- prunedBlock
// The 14 weights' shapes in kBlockWeightNames order, as letters and as sizes for D and F.
const std::vector<std::vector<const char*>> kWeightLetters = {{"D"}, {"D"}, {"3D", "D"}, {"3D"}, {"D", "D"}, {"D"}, {"D"},
                                                               {"D"}, {"D"}, {"F", "D"},  {"F"},  {"D", "F"}, {"D"}, {"D"}};
std::vector<std::vector<int64_t>> weight_dims(int64_t D, int64_t F) {
  return {{D}, {D}, {3 * D, D}, {3 * D}, {D, D}, {D}, {D}, {D}, {D}, {F, D}, {F}, {D, F}, {D}, {D}};
}

Napi::Value CudaPrunedBlock(const Napi::CallbackInfo& info) {
  const char* op = "cudaPrunedBlock";
  Napi::Env env = info.Env();
  // (x, idx, weights, H, lnEps, inPlace[, offsets[, maxLen]]): offsets = varlen rows (DeviceTensor int32 [B+1])
  if (info.Length() < 6 || info.Length() > 8) expect_arg_count(info, 6, op);
  const int64_t H = dim_arg(info, 3, op, "H");
  const float ln_eps = eps_arg(info, 4, op, "lnEps");  // the one LayerNorm eps rule (convert.h)
  const bool in_place = bool_arg(info, 5, op, "inPlace");
  DevView offsets;
  const bool varlen = info.Length() > 6 && opt_dev_arg(info, 6, op, "offsets", &offsets);
  const int64_t max_len = info.Length() > 7 ? dim_arg(info, 7, op, "maxLen", 0) : 0;
  if (max_len > 0 && !varlen) throw_range(env, op, ": maxLen applies to variable-length rows (offsets) only");
  DevView x = dev_arg(info, 0, op, "x");
  DevView idx;
  const bool has_idx = opt_dev_arg(info, 1, op, "idx", &idx);
  if (!info[2].IsObject() || info[2].IsArray() || info[2].IsTypedArray() || info[2].IsFunction() || is_device_tensor(info[2]))
    throw_type(env, op, ": expected weights to be an object of DeviceTensors, received ", kind_name(info[2]));
  Napi::Object wobj = info[2].As<Napi::Object>();
  DevView wv[14];
  std::string wname[14];
  for (int i = 0; i < 14; ++i) {
    wname[i] = std::string("weights['") + kBlockWeightNames[i] + "']";
    wv[i] = dev_view(env, wobj.Get(kBlockWeightNames[i]), op, wname[i].c_str());
  }
  require_cuda(env, op);
  expect_dev(env, op, "x", x, kFloatDtypes, {"B", "N", "D"}, {-1, -1, -1});
  const int64_t B = x.shape[0], N = x.shape[1], D = x.shape[2];
  int64_t K = N;
  if (varlen) {
    if (!has_idx) throw_range(env, op, ": expected idx (the packed row indices, int32 [K]) with offsets, received null");
    expect_dev(env, op, "offsets", offsets, {DType::I32}, {"B+1"}, {B + 1});
    expect_dev(env, op, "idx", idx, {DType::I32}, {"K"}, {-1});
    K = idx.shape[0];
    if (K > B * N) throw_range(env, op, ": expected K <= B*N, received idx [", K, "] for B=", B, " N=", N);
    if (max_len > N) throw_range(env, op, ": expected maxLen in [0, N=", N, "], received ", max_len);
  } else if (has_idx) {
    expect_dev(env, op, "idx", idx, {DType::I32}, {"B", "K"}, {B, -1});
    K = idx.shape[1];
    if (K > N) throw_range(env, op, ": expected K <= N, received idx [", B, ",", K, "] for N=", N);
  }
  if (D % H != 0) throw_range(env, op, ": expected D to be a multiple of H, received D=", D, " H=", H);
  expect_attention_limits(env, op, B, H, D / H);
  if (B * N > 2147483647) throw_range(env, op, ": expected B*N < 2^31, received B*N=", B * N);
  expect_dtype(env, op, wname[0].c_str(), wv[0], kFloatDtypes);
  const DType wt = wv[0].dtype;
  expect_dev_shape(env, op, wname[10].c_str(), wv[10], {"F"}, {-1});
  const int64_t F = wv[10].shape[0];
  const std::vector<std::vector<int64_t>> dims = weight_dims(D, F);
  for (int i = 0; i < 14; ++i) {
    expect_dev(env, op, wname[i].c_str(), wv[i], {wt}, kWeightLetters[i], dims[i]);
    if (in_place) check_dev_no_overlap(env, op, "x", x, wname[i].c_str(), wv[i]);
  }
  if (in_place && has_idx) check_dev_no_overlap(env, op, "x", x, "idx", idx);
  if (in_place && varlen) check_dev_no_overlap(env, op, "x", x, "offsets", offsets);

  DevView o = x;
  Napi::Object out = in_place ? info[0].As<Napi::Object>() : new_result(env, op, x.dtype, {B, N, D}, &o);
  r4p::cuda::PrunedBlockDevArgs a{};
  a.x = x.ptr; a.x_dtype = x.dtype;
  a.idx = has_idx ? static_cast<const int32_t*>(idx.ptr) : nullptr;
  a.out = o.ptr;
  a.B = B; a.N = N; a.K = K;
  a.w = r4p::cuda::BlockWeightsDev{wv[0].ptr, wv[1].ptr, wv[2].ptr,  wv[3].ptr,  wv[4].ptr,  wv[5].ptr,  wv[6].ptr,
                                   wv[7].ptr, wv[8].ptr, wv[9].ptr,  wv[10].ptr, wv[11].ptr, wv[12].ptr, wv[13].ptr,
                                   wt,        D,         H,          F};
  a.ln_eps = ln_eps;
  a.offsets = varlen ? static_cast<const int32_t*>(offsets.ptr) : nullptr;
  a.max_len = max_len;
  const Status s = r4p::cuda::pruned_block_fwd(a);
  if (in_place) throw_if_error(env, s);  // x is the caller's: never freed here
  else free_on_error(env, s, {out});
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
