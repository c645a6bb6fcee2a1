// device_tensor.cc: the DeviceTensor ObjectWrap and the cuda* runtime bindings (see device_tensor.h).
// Identity check by N-API type tag (not instanceof), so a DeviceTensor is recognised whatever
// realm or module copy it came through, and a look-alike plain object is not.
#include "napi/device_tensor.h"

#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {

using r4p::cuda::DType;

namespace {

// Random 128-bit tag: "this object is a reg4pru DeviceTensor".
const napi_type_tag kDeviceTensorTag = {0x7a3c51e2b9d04f68ULL, 0x91e8c3a4d27f5b06ULL};

// What new_device_tensor hands the constructor through an External (JS cannot forge one with this
// magic: it would need a pointer to a live Payload).
struct Payload {
  uint64_t magic = 0x52345044544e5352ULL;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  size_t numel = 0;
  void* ptr = nullptr;  // ownership moves to the DeviceTensor
  size_t bytes = 0;
};
constexpr uint64_t kPayloadMagic = 0x52345044544e5352ULL;

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "float32") *out = DType::F32;
  else if (s == "bfloat16") *out = DType::BF16;
  else if (s == "int32") *out = DType::I32;
  else if (s == "uint8") *out = DType::U8;
  else return false;
  return true;
}

// Shape argument: an Array of at most 8 integers, each in [1, 2^31 - 1].
std::vector<int64_t> shape_value(Napi::Env env, const Napi::Value& v, const char* op, const char* what) {
  if (!v.IsArray()) throw_type(env, op, ": expected ", what, " to be an array of integers, received ", kind_name(v));
  auto arr = v.As<Napi::Array>();
  if (arr.Length() > 8) throw_range(env, op, ": expected ", what, " to have at most 8 dims, received ", arr.Length());
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value d = arr.Get(i);
    if (!d.IsNumber()) throw_type(env, op, ": expected ", what, "[", i, "] to be an integer, received ", kind_name(d));
    const double x = d.As<Napi::Number>().DoubleValue();
    if (!(x >= 1 && x <= 2147483647.0) || x != static_cast<double>(static_cast<int64_t>(x)))
      throw_range(env, op, ": expected ", what, "[", i, "] to be an integer in [1, 2147483647], received ", x);
    shape.push_back(static_cast<int64_t>(x));
  }
  return shape;
}

DType dtype_value(Napi::Env env, const Napi::Value& v, const char* op, const char* what) {
  if (!v.IsString())
    throw_type(env, op, ": expected ", what, " to be 'float32', 'bfloat16', 'int32' or 'uint8', received ", kind_name(v));
  DType t;
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (!parse_dtype(s, &t))
    throw_range(env, op, ": expected ", what, " to be 'float32', 'bfloat16', 'int32' or 'uint8', received '", s, "'");
  return t;
}

}  // namespace

// ---------------------------------------------------------------- DeviceTensor
class DeviceTensor : public Napi::ObjectWrap<DeviceTensor> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DeviceTensor",
                       {InstanceAccessor<&DeviceTensor::Shape>("shape"), InstanceAccessor<&DeviceTensor::Dtype>("dtype"),
                        InstanceAccessor<&DeviceTensor::Bytes>("bytes"), InstanceAccessor<&DeviceTensor::Freed>("freed"),
                        InstanceMethod<&DeviceTensor::Download>("download"),
                        InstanceMethod<&DeviceTensor::DownloadSync>("downloadSync"),
                        InstanceMethod<&DeviceTensor::Free>("free")});
  }

  explicit DeviceTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceTensor>(info) {
    Napi::Env env = info.Env();
    Payload* p = nullptr;
    if (info.Length() == 1 && info[0].IsExternal()) p = info[0].As<Napi::External<Payload>>().Data();
    if (p == nullptr || p->magic != kPayloadMagic)
      throw_type(env, "DeviceTensor: not constructible from JS; use cudaUpload(data, shape, dtype) or cudaZeros(shape, dtype)");
    dtype_ = p->dtype;
    shape_ = p->shape;
    numel_ = p->numel;
    bytes_ = p->bytes;
    ptr_ = p->ptr;
    p->ptr = nullptr;  // owned here from now on
    info.This().As<Napi::Object>().TypeTag(&kDeviceTensorTag);
  }

  ~DeviceTensor() override { release(); }

  DevView view() const { return DevView{ptr_, dtype_, shape_, numel_}; }
  bool freed() const { return freed_; }
  // Gives the allocation back (stream-ordered, so work already enqueued on it still completes).
  void release() {
    if (ptr_ != nullptr) r4p::cuda::device_free(ptr_);
    ptr_ = nullptr;
    freed_ = true;
  }

 private:

  Napi::Value Shape(const Napi::CallbackInfo& info) {
    Napi::Array a = Napi::Array::New(info.Env(), shape_.size());
    for (size_t i = 0; i < shape_.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(shape_[i]));
    return a;
  }
  Napi::Value Dtype(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), r4p::cuda::dtype_name(dtype_)); }
  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(bytes_)); }
  Napi::Value Freed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), freed_); }

  // Host array of the download: bfloat16 widens to Float32Array.
  Napi::Value new_host_array(Napi::Env env, void** data) const {
    switch (dtype_) {
      case DType::F32:
      case DType::BF16: {
        auto a = Napi::Float32Array::New(env, numel_);
        *data = a.Data();
        return a;
      }
      case DType::I32: {
        auto a = Napi::Int32Array::New(env, numel_);
        *data = a.Data();
        return a;
      }
      case DType::U8: {
        auto a = Napi::Uint8Array::New(env, numel_);
        *data = a.Data();
        return a;
      }
    }
    throw_type(env, "download: unknown dtype");
  }

  Napi::Value DownloadSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (freed_) throw Napi::Error::New(env, "downloadSync: DeviceTensor was freed");
    void* data = nullptr;
    Napi::Value arr = new_host_array(env, &data);
    if (dtype_ == DType::BF16)
      throw_if_error(env, r4p::cuda::bf16_to_f32_download(static_cast<float*>(data), ptr_, numel_));
    else
      throw_if_error(env, r4p::cuda::download(data, ptr_, bytes_));
    return arr;
  }

  // Promise: the copy is enqueued now (ordered with earlier and later work on the stream); the wait
  // and the copy out of pinned staging run on a worker thread.
  class DownloadWorker : public Napi::AsyncWorker {
   public:
    DownloadWorker(Napi::Env env, r4p::cuda::PendingDownload* h, Napi::Value arr, void* data, bool bf16)
        : Napi::AsyncWorker(env, "reg4pru:DeviceTensor.download"),
          deferred_(Napi::Promise::Deferred::New(env)),
          h_(h),
          data_(data),
          bf16_(bf16) {
      arr_ = Napi::Persistent(arr.As<Napi::Object>());
    }
    Napi::Promise promise() { return deferred_.Promise(); }

   protected:
    void Execute() override {
      status_ = r4p::cuda::download_finish(h_, data_, bf16_);
      h_ = nullptr;
    }
    void OnOK() override {
      Napi::HandleScope scope(Env());
      if (status_.ok())
        deferred_.Resolve(arr_.Value());
      else
        deferred_.Reject(status_to_error(Env(), status_).Value());
      arr_.Reset();
    }
    void OnError(const Napi::Error& e) override {
      Napi::HandleScope scope(Env());
      deferred_.Reject(e.Value());
      arr_.Reset();
    }

   private:
    Napi::Promise::Deferred deferred_;
    r4p::cuda::PendingDownload* h_;
    void* data_;
    bool bf16_;
    Status status_;
    Napi::ObjectReference arr_;
  };

  Napi::Value Download(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (freed_) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Reject(Napi::Error::New(env, "download: DeviceTensor was freed").Value());
      return d.Promise();
    }
    void* data = nullptr;
    Napi::Value arr = new_host_array(env, &data);
    r4p::cuda::PendingDownload* h = nullptr;
    Status s = r4p::cuda::download_begin(ptr_, bytes_, &h);
    if (!s.ok()) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Reject(status_to_error(env, s).Value());
      return d.Promise();
    }
    auto* w = new DownloadWorker(env, h, arr, data, dtype_ == DType::BF16);
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  Napi::Value Free(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }

  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  size_t numel_ = 0;
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  bool freed_ = false;
};

// ---------------------------------------------------------------- per-environment constructor
namespace {
std::mutex g_ctor_mu;
std::unordered_map<napi_env, Napi::FunctionReference*>& ctors() {
  static auto* m = new std::unordered_map<napi_env, Napi::FunctionReference*>();
  return *m;
}
Napi::Function ctor_for(Napi::Env env) {
  std::lock_guard<std::mutex> lock(g_ctor_mu);
  auto it = ctors().find(env);
  if (it == ctors().end()) throw Napi::Error::New(env, "DeviceTensor: class not initialised in this environment");
  return it->second->Value();
}
}  // namespace

bool is_device_tensor(const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&kDeviceTensorTag);
}

DevView dev_view(Napi::Env env, const Napi::Value& v, const char* op, const char* what) {
  if (!is_device_tensor(v)) throw_type(env, op, ": expected ", what, " to be a DeviceTensor, received ", kind_name(v));
  DeviceTensor* t = DeviceTensor::Unwrap(v.As<Napi::Object>());
  if (t == nullptr) throw_type(env, op, ": expected ", what, " to be a DeviceTensor, received object");
  if (t->freed()) throw Napi::Error::New(env, detail::concat(op, ": ", what, ": DeviceTensor was freed"));
  return t->view();
}

void require_cuda(Napi::Env env, const char* op) {
  throw_if_error(env, r4p::cuda::ensure_ready(op));
}

Napi::Object new_device_tensor(Napi::Env env, DType dtype, std::vector<int64_t> shape) {
  Payload p;
  p.dtype = dtype;
  p.numel = static_cast<size_t>(checked_numel(env, "DeviceTensor", "shape", shape));
  if (p.numel > SIZE_MAX / r4p::cuda::dtype_size(dtype))
    throw_range(env, "DeviceTensor: shape ", shape_str(shape), " is too large");
  p.bytes = p.numel * r4p::cuda::dtype_size(dtype);
  p.shape = std::move(shape);
  throw_if_error(env, r4p::cuda::device_alloc(&p.ptr, p.bytes));
  try {
    Napi::Object o = ctor_for(env).New({Napi::External<Payload>::New(env, &p)});
    return o;
  } catch (...) {
    r4p::cuda::device_free(p.ptr);  // still ours if the constructor did not take it
    throw;
  }
}

void expect_dtype(Napi::Env env, const char* op, const char* what, const DevView& v,
                  std::initializer_list<DType> allowed) {
  std::string names;
  size_t i = 0;
  for (DType t : allowed) {
    if (t == v.dtype) return;
    names += (i == 0 ? "" : (i + 1 == allowed.size() ? " or " : ", "));
    names += r4p::cuda::dtype_name(t);
    ++i;
  }
  throw_type(env, op, ": expected ", what, " to be ", names, ", received ", r4p::cuda::dtype_name(v.dtype), " ",
             shape_str(v.shape));
}

void expect_dev_shape(Napi::Env env, const char* op, const char* what, const DevView& v,
                      const std::vector<const char*>& letters, const std::vector<int64_t>& dims) {
  auto want = [&]() {
    std::string s = "[";
    for (size_t i = 0; i < letters.size(); ++i) s += std::string(i ? "," : "") + letters[i];
    s += "]";
    std::string fixed;
    for (size_t i = 0; i < letters.size() && i < dims.size(); ++i)
      if (dims[i] >= 0) fixed += detail::concat(fixed.empty() ? " with " : ", ", letters[i], "=", dims[i]);
    return s + fixed;
  };
  if (v.shape.size() != letters.size())
    throw_type(env, op, ": expected ", what, " to be ", r4p::cuda::dtype_name(v.dtype), " ", want(), " (rank ",
               letters.size(), "), received ", shape_str(v.shape), " (rank ", v.shape.size(), ")");
  for (size_t i = 0; i < letters.size() && i < dims.size(); ++i)
    if (dims[i] >= 0 && v.shape[i] != dims[i])
      throw_range(env, op, ": expected ", what, " to be ", want(), ", received ", shape_str(v.shape));
}

void check_dev_no_overlap(Napi::Env env, const char* op, const char* a_name, const DevView& a, const char* b_name,
                          const DevView& b, bool allow_identical) {
  const auto a0 = reinterpret_cast<uintptr_t>(a.ptr), a1 = a0 + a.numel * r4p::cuda::dtype_size(a.dtype);
  const auto b0 = reinterpret_cast<uintptr_t>(b.ptr), b1 = b0 + b.numel * r4p::cuda::dtype_size(b.dtype);
  if (a0 == a1 || b0 == b1) return;
  if (allow_identical && a0 == b0 && a1 == b1) return;
  if (a0 < b1 && b0 < a1)
    throw_range(env, op, ": expected ", a_name, " and ", b_name, " not to share memory, received overlapping DeviceTensors");
}

// ---------------------------------------------------------------- runtime bindings
static Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  std::string why;
  const bool ok = r4p::cuda::available(&why);
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("ok", ok);
  o.Set("reason", ok ? std::string() : why);
  return o;
}

static Napi::Value CudaUpload(const Napi::CallbackInfo& info) {
  const char* op = "cudaUpload";
  Napi::Env env = info.Env();
  if (info.Length() < 2 || info.Length() > 3)
    throw_type(env, op, ": expected (data, shape, dtype?), received ", info.Length(), " arguments");
  Napi::Value data = info[0];
  const bool is_f32 = data.IsTypedArray() && data.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
  const bool is_i32 = data.IsTypedArray() && data.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
  const bool is_u8 = data.IsTypedArray() && data.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
  if (!is_f32 && !is_i32 && !is_u8)
    throw_type(env, op, ": expected data to be a Float32Array, Int32Array or Uint8Array, received ", kind_name(data));
  std::vector<int64_t> shape = shape_value(env, info[1], op, "shape");
  DType dtype = is_f32 ? DType::F32 : is_i32 ? DType::I32 : DType::U8;
  if (info.Length() == 3 && !info[2].IsUndefined()) dtype = dtype_value(env, info[2], op, "dtype");
  const bool compatible = (is_f32 && (dtype == DType::F32 || dtype == DType::BF16)) || (is_i32 && dtype == DType::I32) ||
                          (is_u8 && dtype == DType::U8);
  if (!compatible)
    throw_type(env, op, ": expected dtype to match data (", kind_name(data), " uploads as ",
               is_f32 ? "'float32' or 'bfloat16'" : is_i32 ? "'int32'" : "'uint8'", "), received '",
               r4p::cuda::dtype_name(dtype), "'");
  const int64_t n = checked_numel(env, op, "shape", shape);
  const size_t len = data.As<Napi::TypedArray>().ElementLength();
  if (static_cast<int64_t>(len) != n)
    throw_range(env, op, ": expected data to have ", n, " elements for shape ", shape_str(shape), ", received ", len);
  // The element kind is known to match; the view also rejects a SharedArrayBuffer (TypeError), before the device.
  const void* src = nullptr;
  if (is_f32) src = f32_view(env, data, op, "data").data;
  if (is_i32) src = i32_view(env, data, op, "data").data;
  if (is_u8) src = u8_view(env, data, op, "data").data;
  require_cuda(env, op);
  Napi::Object t = new_device_tensor(env, dtype, shape);
  DevView v = dev_view(env, t, op, "result");
  const Status s = dtype == DType::BF16 ? r4p::cuda::f32_to_bf16_upload(v.ptr, static_cast<const float*>(src), v.numel)
                                        : r4p::cuda::upload(v.ptr, src, v.numel * r4p::cuda::dtype_size(dtype));
  if (!s.ok()) {
    DeviceTensor::Unwrap(t)->release();
    throw_if_error(env, s);
  }
  return t;
}

static Napi::Value CudaZeros(const Napi::CallbackInfo& info) {
  const char* op = "cudaZeros";
  Napi::Env env = info.Env();
  expect_arg_count(info, 2, op);
  std::vector<int64_t> shape = shape_value(env, info[0], op, "shape");
  const DType dtype = dtype_value(env, info[1], op, "dtype");
  require_cuda(env, op);
  Napi::Object t = new_device_tensor(env, dtype, shape);
  DevView v = dev_view(env, t, op, "result");
  throw_if_error(env, r4p::cuda::memset_zero(v.ptr, v.numel * r4p::cuda::dtype_size(dtype)));
  return t;
}

static Napi::Value CudaCopy(const Napi::CallbackInfo& info) {
  const char* op = "cudaCopy";
  Napi::Env env = info.Env();
  expect_arg_count(info, 2, op);
  DevView dst = dev_view(env, info[0], op, "dst");
  DevView src = dev_view(env, info[1], op, "src");
  const size_t db = dst.numel * r4p::cuda::dtype_size(dst.dtype), sb = src.numel * r4p::cuda::dtype_size(src.dtype);
  if (db != sb) throw_range(env, op, ": expected dst and src to have the same byte size, received ", db, " and ", sb);
  check_dev_no_overlap(env, op, "dst", dst, "src", src, true);
  throw_if_error(env, r4p::cuda::copy_d2d(dst.ptr, src.ptr, sb));
  return info[0];
}

static Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  expect_arg_count(info, 0, "cudaSynchronize");
  throw_if_error(info.Env(), r4p::cuda::synchronize());
  return info.Env().Undefined();
}

static Napi::Value CudaTimerStart(const Napi::CallbackInfo& info) {
  expect_arg_count(info, 0, "cudaTimerStart");
  throw_if_error(info.Env(), r4p::cuda::timer_start());
  return info.Env().Undefined();
}

static Napi::Value CudaTimerStop(const Napi::CallbackInfo& info) {
  expect_arg_count(info, 0, "cudaTimerStop");
  float ms = 0.f;
  throw_if_error(info.Env(), r4p::cuda::timer_stop(&ms));
  return Napi::Number::New(info.Env(), ms);
}

static Napi::Value CudaFlushL2(const Napi::CallbackInfo& info) {
  expect_arg_count(info, 0, "cudaFlushL2");
  throw_if_error(info.Env(), r4p::cuda::flush_l2());
  return info.Env().Undefined();
}

static void Export(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DeviceTensor::Define(env);
  {
    std::lock_guard<std::mutex> lock(g_ctor_mu);
    auto* ref = new Napi::FunctionReference(Napi::Persistent(ctor));
    ctors()[env] = ref;
  }
  napi_env raw = env;
  env.AddCleanupHook([raw]() {
    std::lock_guard<std::mutex> lock(g_ctor_mu);
    auto it = ctors().find(raw);
    if (it != ctors().end()) {
      delete it->second;
      ctors().erase(it);
    }
  });
  exports.Set("DeviceTensor", ctor);
  exports.Set("cudaAvailable", Napi::Function::New(env, CudaAvailable, "cudaAvailable"));
  exports.Set("cudaUpload", Napi::Function::New(env, CudaUpload, "cudaUpload"));
  exports.Set("cudaZeros", Napi::Function::New(env, CudaZeros, "cudaZeros"));
  exports.Set("cudaCopy", Napi::Function::New(env, CudaCopy, "cudaCopy"));
  exports.Set("cudaSynchronize", Napi::Function::New(env, CudaSynchronize, "cudaSynchronize"));
  exports.Set("cudaTimerStart", Napi::Function::New(env, CudaTimerStart, "cudaTimerStart"));
  exports.Set("cudaTimerStop", Napi::Function::New(env, CudaTimerStop, "cudaTimerStop"));
  exports.Set("cudaFlushL2", Napi::Function::New(env, CudaFlushL2, "cudaFlushL2"));
}
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
