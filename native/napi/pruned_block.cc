// pruned_block.cc: bindings for SPEC §5 prunedBlock (inference only), sync and Promise-returning.
//   prunedBlock(x f32[B*N*D], idx i32[B*K] | null, out f32[B*N*D], B, N, K, D, H, weights, lnEps[, precision[, offsets]])
//   precision: 'fp32' (default) | 'bf16' (BF16 GEMM and attention operands, FP32 sums: kernels/precision.h)
//   offsets: i32[B+1] | null | undefined: variable length (ops.h): row b runs on idx[offsets[b] .. offsets[b+1]),
//            idx is then the packed list i32[K] with K = offsets[B] (required), each row length in [0, N]
//   prunedBlockAsync(...same...) -> Promise<out>
// weights: a plain object mapping one block's §8 names without "blocks.{i}." to Float32Arrays;
// F (MLP width) is read from mlp.fc1.bias's length. out may be x itself (in-place); otherwise out
// may not share memory with x, idx or any weight.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kernels/precision.h"
#include "kernels/registry.h"
#include "napi/async_work.h"
#include "napi/block_weights.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

constexpr const char* kOp = "prunedBlock";

struct Parsed {
  PrunedBlockArgs args{};
  MatmulPrecision precision = MatmulPrecision::kFp32;
  std::vector<Napi::Value> keep;  // every buffer the kernel touches (for the async worker)
  // Async only: the worker's own copy of idx (and offsets), checked after copying. The caller may change (or
  // detach the buffer of) them while the Promise is pending; the kernel then still indexes only checked rows.
  std::shared_ptr<std::vector<int32_t>> idx_copy, offsets_copy;
};

// Checks all 10 (to 12) arguments and builds the kernel's Args (both entry points share it).
Parsed parse(const Napi::CallbackInfo& info, const char* op, bool copy_idx) {
  Napi::Env env = info.Env();
  if (info.Length() != 11 && info.Length() != 12) expect_arg_count(info, 10, op);
  const bool varlen = info.Length() == 12 && !info[11].IsUndefined() && !info[11].IsNull();
  auto x = f32_arg(info, 0, op, "x");
  auto idx = i32_arg(info, 1, op, "idx", /*optional=*/true);
  const bool has_idx = !(info[1].IsUndefined() || info[1].IsNull());
  auto out = f32_arg(info, 2, op, "out");
  const int64_t B = dim_arg(info, 3, op, "B"), N = dim_arg(info, 4, op, "N"), K = dim_arg(info, 5, op, "K"),
                D = dim_arg(info, 6, op, "D"), H = dim_arg(info, 7, op, "H");
  if (!info[8].IsObject() || info[8].IsArray() || info[8].IsTypedArray() || info[8].IsFunction())
    throw_type(env, op, ": expected weights to be an object of Float32Arrays, received ", kind_name(info[8]));
  const float eps = eps_arg(info, 9, op, "lnEps");
  if (D % H != 0) throw_range(env, op, ": expected D to be a multiple of H, received D=", D, " H=", H);
  if (!has_idx && K != N)
    throw_range(env, op, ": expected K = N when idx is null (all tokens), received K=", K, " N=", N);
  if (varlen && !has_idx) throw_range(env, op, ": expected idx (the packed row indices) with offsets, received null");
  if (K > N && !varlen) throw_range(env, op, ": expected K <= N, received K=", K, " N=", N);
  View<int32_t> offsets;
  if (varlen) {
    offsets = i32_arg(info, 11, op, "offsets");
    expect_shape(env, op, "offsets", offsets, "[B+1]", {B + 1});
  }

  expect_shape(env, op, "x", x, "[B,N,D]", {B, N, D});
  if (has_idx && varlen) expect_shape(env, op, "idx", idx, "[K]", {K});
  else if (has_idx) expect_shape(env, op, "idx", idx, "[B,K]", {B, K});
  expect_shape(env, op, "out", out, "[B,N,D]", {B, N, D});
  check_no_overlap(env, op, "out", out, "x", x, /*allow_identical=*/true);
  if (has_idx) check_no_overlap(env, op, "out", out, "idx", idx);
  if (varlen) check_no_overlap(env, op, "out", out, "offsets", offsets);

  Parsed p;
  if (info.Length() >= 11 && !info[10].IsUndefined()) {
    if (!info[10].IsString()) throw_type(env, op, ": expected precision to be a string, received ", kind_name(info[10]));
    const std::string prec = info[10].As<Napi::String>().Utf8Value();
    if (prec == "bf16") p.precision = MatmulPrecision::kBf16;
    else if (prec != "fp32") throw_range(env, op, ": expected precision to be 'fp32' or 'bf16', received '", prec, "'");
  }
  const BlockWeights bw = parse_block_weights(env, op, info[8], D, H, out, &p.keep);
  const int32_t* idx_data = has_idx ? idx.data : nullptr;
  if (has_idx && copy_idx) {
    p.idx_copy = std::make_shared<std::vector<int32_t>>(idx.data, idx.data + (varlen ? K : B * K));
    idx_data = p.idx_copy->data();
  }
  const int32_t* off_data = varlen ? offsets.data : nullptr;
  if (varlen && copy_idx) {
    p.offsets_copy = std::make_shared<std::vector<int32_t>>(offsets.data, offsets.data + B + 1);
    off_data = p.offsets_copy->data();
  }
  if (varlen) check_offsets(env, op, "offsets", off_data, B, N, K);
  if (has_idx) check_indices(env, op, "idx", idx_data, B, K, N, /*no_duplicates=*/true, off_data);

  PrunedBlockArgs& a = p.args;
  a.x = x.data; a.idx = idx_data; a.out = out.data;
  a.B = B; a.N = N; a.K = K;
  a.w = bw;
  a.ln_eps = eps;
  a.offsets = off_data;
  p.keep.insert(p.keep.end(), {info[0], info[1], info[2], info[8]});
  return p;
}

Napi::Value PrunedBlock(const Napi::CallbackInfo& info) {
  Parsed p = parse(info, kOp, /*copy_idx=*/false);
  const ScopedMatmulPrecision scope(p.precision);
  throw_if_error(info.Env(), pruned_block_fwd(p.args));
  return info[2];
}

Napi::Value PrunedBlockAsync(const Napi::CallbackInfo& info) {
  Parsed p = parse(info, "prunedBlockAsync", /*copy_idx=*/true);
  const PrunedBlockArgs args = p.args;
  // the copies live as long as the worker's closure
  std::shared_ptr<std::vector<int32_t>> idx_copy = p.idx_copy, offsets_copy = p.offsets_copy;
  const MatmulPrecision precision = p.precision;
  return KernelWorker::Queue(
      info.Env(),
      [args, idx_copy, offsets_copy, precision]() {
        const ScopedMatmulPrecision scope(precision);  // on the worker thread that runs the block
        return pruned_block_fwd(args);
      },
      p.keep, info[2]);
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("prunedBlock", Napi::Function::New(env, PrunedBlock, "prunedBlock"));
  exports.Set("prunedBlockAsync", Napi::Function::New(env, PrunedBlockAsync, "prunedBlockAsync"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
