// binary.cc: binding for the TF.js backend's broadcast arithmetic (ops.h BinaryArgs).
//   binaryBroadcast(op 0..3 (add, sub, mul, div), a f32, b f32, out f32, size number[], sa number[], sb number[]) -> out
// The caller merges the broadcast into <= 8 axes; here every extent is re-checked: out has prod(size)
// elements and the largest offset each stride pattern reaches lies inside a / b, so no input can make
// the kernel read or write out of bounds.
#include <napi.h>

#include <string>
#include <vector>

#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

constexpr const char* kOp = "binaryBroadcast";

std::vector<int64_t> int_list(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min) {
  Napi::Env env = info.Env();
  if (!info[i].IsArray()) throw_type(env, kOp, ": expected ", name, " to be an array of integers, received ", kind_name(info[i]));
  Napi::Array arr = info[i].As<Napi::Array>();
  const uint32_t n = arr.Length();
  if (n > static_cast<uint32_t>(kBinaryMaxDims))
    throw_range(env, kOp, ": expected ", name, " to have at most ", kBinaryMaxDims, " entries, received ", n);
  std::vector<int64_t> out;
  for (uint32_t k = 0; k < n; ++k) {
    Napi::Value v = arr.Get(k);
    if (!v.IsNumber()) throw_type(env, kOp, ": expected ", name, "[", k, "] to be an integer, received ", kind_name(v));
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= static_cast<double>(min) && d <= 2147483647.0) || d != static_cast<double>(static_cast<int64_t>(d)))
      throw_range(env, kOp, ": expected ", name, "[", k, "] to be an integer in [", min, ", 2^31-1], received ", d);
    out.push_back(static_cast<int64_t>(d));
  }
  return out;
}

Napi::Value BinaryBroadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  expect_arg_count(info, 7, kOp);
  if (!info[0].IsNumber()) throw_type(env, kOp, ": expected op to be 0 (add), 1 (sub), 2 (mul) or 3 (div), received ", kind_name(info[0]));
  const double opv = info[0].As<Napi::Number>().DoubleValue();
  if (!(opv == 0 || opv == 1 || opv == 2 || opv == 3))
    throw_range(env, kOp, ": expected op to be 0 (add), 1 (sub), 2 (mul) or 3 (div), received ", opv);
  auto x = f32_arg(info, 1, kOp, "a");
  auto y = f32_arg(info, 2, kOp, "b");
  auto out = f32_arg(info, 3, kOp, "out");
  const auto size = int_list(info, 4, "size", 1);
  const auto sa = int_list(info, 5, "sa", 0);
  const auto sb = int_list(info, 6, "sb", 0);
  if (size.empty()) throw_range(env, kOp, ": expected size to have 1 to ", kBinaryMaxDims, " entries, received 0");
  if (sa.size() != size.size() || sb.size() != size.size())
    throw_range(env, kOp, ": expected size, sa and sb to have the same length, received ", size.size(), ", ", sa.size(), ", ", sb.size());
  const int64_t n = checked_numel(env, kOp, "out", size);
  if (static_cast<int64_t>(out.length) != n)
    throw_range(env, kOp, ": expected out to have prod(size) = ", n, " elements, received ", out.length);
  // Largest offset reached in each operand (strides and sizes are < 2^31, ndim <= 8: no overflow).
  int64_t maxa = 0, maxb = 0;
  for (size_t i = 0; i < size.size(); ++i) {
    maxa += (size[i] - 1) * sa[i];
    maxb += (size[i] - 1) * sb[i];
  }
  if (maxa >= static_cast<int64_t>(x.length))
    throw_range(env, kOp, ": expected a to have more than ", maxa, " elements (its largest offset), received ", x.length);
  if (maxb >= static_cast<int64_t>(y.length))
    throw_range(env, kOp, ": expected b to have more than ", maxb, " elements (its largest offset), received ", y.length);
  check_no_overlap(env, kOp, "out", out, "a", x);
  check_no_overlap(env, kOp, "out", out, "b", y);
  BinaryArgs a;
  a.op = static_cast<BinaryOp>(static_cast<int>(opv));
  a.a = x.data;
  a.b = y.data;
  a.out = out.data;
  a.ndim = static_cast<int>(size.size());
  for (size_t i = 0; i < size.size(); ++i) {
    a.size[i] = size[i];
    a.sa[i] = sa[i];
    a.sb[i] = sb[i];
  }
  throw_if_error(env, binary(a));
  return info[3];
}

void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("binaryBroadcast", Napi::Function::New(env, BinaryBroadcast, "binaryBroadcast"));
}

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
