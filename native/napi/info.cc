// info.cc: info(), setThreads/getThreads, setKernel/getKernel: what was compiled and what runs.
#include <napi.h>

#include "kernels/registry.h"
#include "napi/convert.h"
#include "napi/registrar.h"
#include "runtime/cpu_features.h"
#include "runtime/cuda_info.h"
#include "runtime/thread_pool.h"

#ifndef R4P_VERSION
#define R4P_VERSION "0.0.0"
#endif
#ifndef R4P_BUILD_SYSTEM
#define R4P_BUILD_SYSTEM "unknown"
#endif

namespace r4p::napi {

static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("version", R4P_VERSION);
  out.Set("build", R4P_BUILD_SYSTEM);

  Napi::Object cpu = Napi::Object::New(env);
  cpu.Set("simd", cpu_simd_name());
  cpu.Set("threads", ThreadPool::instance().threads());
  cpu.Set("kernel", variant_name(active_cpu_variant()));
  cpu.Set("requestedKernel", variant_name(requested_variant()));
  Napi::Array variants = Napi::Array::New(env);
  uint32_t vi = 0;
  for (const auto& n : supported_variant_names()) variants.Set(vi++, n);
  cpu.Set("variants", variants);
  Napi::Array wide = Napi::Array::New(env);
  uint32_t wi = 0;
  for (const auto& n : avx512_op_names()) wide.Set(wi++, n);
  cpu.Set("avx512Ops", wide);
  cpu.Set("bf16", cpu_has_avx512_bf16());
  if (!kernel_env_error().empty()) cpu.Set("kernelEnvError", kernel_env_error());
  out.Set("cpu", cpu);

  const CudaInfo ci = cuda_info();
  Napi::Object cuda = Napi::Object::New(env);
  cuda.Set("compiled", ci.compiled);
  if (ci.compiled) {
    cuda.Set("archs", ci.archs);
    cuda.Set("runtimeVersion", ci.runtime_version);
    cuda.Set("driverVersion", ci.driver_version);
  }
  Napi::Array devs = Napi::Array::New(env, ci.devices.size());
  for (size_t i = 0; i < ci.devices.size(); ++i) {
    const auto& d = ci.devices[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", d.index);
    o.Set("name", d.name);
    o.Set("computeCapability", std::to_string(d.sm_major) + "." + std::to_string(d.sm_minor));
    o.Set("sm", d.sm_major * 10 + d.sm_minor);
    o.Set("multiprocessors", d.multiprocessors);
    o.Set("totalMemory", static_cast<double>(d.total_memory));
    devs.Set(static_cast<uint32_t>(i), o);
  }
  cuda.Set("devices", devs);
  if (!ci.error.empty()) cuda.Set("error", ci.error);
  out.Set("cuda", cuda);

  Napi::Array ops = Napi::Array::New(env);
  uint32_t i = 0;
  for (const auto& n : op_names()) ops.Set(i++, n);
  out.Set("ops", ops);
  return out;
}

static Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  expect_arg_count(info, 1, "setThreads");
  const int64_t n = dim_arg(info, 0, "setThreads", "n", 1);
  if (n > 256) throw_range(info.Env(), "setThreads: expected n to be an integer in [1, 256], received ", n);
  ThreadPool::instance().set_threads(static_cast<int>(n));
  return Napi::Number::New(info.Env(), ThreadPool::instance().threads());
}

static Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ThreadPool::instance().threads());
}

static Napi::Value SetKernel(const Napi::CallbackInfo& info) {
  expect_arg_count(info, 1, "setKernel");
  Napi::Value v = info[0];
  if (!v.IsString()) throw_type(info.Env(), "setKernel: expected kernel to be a string, received ", kind_name(v));
  const std::string s = v.As<Napi::String>().Utf8Value();
  KernelVariant k;
  if (!parse_variant(s, &k))
    throw_range(info.Env(), "setKernel: expected kernel to be 'auto', 'ref', 'avx2' or 'avx512', received '", s, "'");
  throw_if_error(info.Env(), set_requested_variant(k));
  return Napi::String::New(info.Env(), variant_name(active_cpu_variant()));
}

static Napi::Value GetKernel(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), variant_name(active_cpu_variant()));
}

static void Export(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("setKernel", Napi::Function::New(env, SetKernel, "setKernel"));
  exports.Set("getKernel", Napi::Function::New(env, GetKernel, "getKernel"));
}
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
