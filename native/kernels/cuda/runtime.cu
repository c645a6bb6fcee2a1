// runtime.cu: the CUDA implementation of cuda_runtime_api.h (issue 6, device memory and errors).
// Ran on an H200 on 2026-12-04: every GPU test passing, compute-sanitizer clean (docs/gpu-results.md).
//
// One process-wide Runtime, created on first use under std::call_once: device 0, one non-blocking
// stream, the DeviceError record (device) plus a pinned host copy of it, two timing events. It is
// deliberately leaked: destructors at process exit would run after cudart has unloaded.
// Stream-ordered allocation (cudaMallocAsync) when the device supports memory pools; the default
// pool's release threshold is raised so repeated alloc/free cycles reuse memory instead of going back
// to the driver at every synchronisation. On an allocation failure the pool is trimmed and the
// allocation retried once before reporting kOutOfMemory.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/cuda_runtime_api.h"

namespace r4p::cuda {

namespace {

struct Runtime {
  bool ok = false;
  std::string why;
  cudaStream_t stream = nullptr;
  bool pools = false;
  DeviceError* err_dev = nullptr;   // the record kernels report into
  DeviceError* err_host = nullptr;  // pinned host copy read by synchronize() / download()
  cudaEvent_t t0 = nullptr, t1 = nullptr;
  void* l2_buf = nullptr;
  size_t l2_bytes = 0;
  unsigned l2_fill = 0;
  // Pinned staging buffers of finished downloads, kept for the next ones (cudaMallocHost costs a driver call and
  // cudaFreeHost synchronises the whole device): at most kPinnedKeepCount buffers, kPinnedKeepBytes in all.
  struct Pinned {
    void* p;
    size_t cap;
  };
  std::vector<Pinned> pinned_free;
  size_t pinned_free_bytes = 0;
  std::mutex mu;  // guards err_host, the L2 buffer and the pinned buffers (downloads may finish on worker threads)
};

constexpr size_t kPinnedKeepCount = 8;
constexpr size_t kPinnedKeepBytes = size_t(256) << 20;
constexpr size_t kPinnedGranule = size_t(64) << 10;

Runtime& rt() {
  static Runtime* r = new Runtime();
  return *r;
}

std::string err_text(const char* what, cudaError_t e) {
  return detail::concat(what, ": ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

void init() {
  Runtime& r = rt();
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    r.why = err_text("cudaGetDeviceCount", e);
    cudaGetLastError();
    return;
  }
  if (count == 0) {
    r.why = "no CUDA device found";
    return;
  }
  auto fail = [&](const char* what, cudaError_t err) {
    r.why = err_text(what, err);
    cudaGetLastError();
  };
  if ((e = cudaSetDevice(0)) != cudaSuccess) return fail("cudaSetDevice", e);
  if ((e = cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking)) != cudaSuccess)
    return fail("cudaStreamCreateWithFlags", e);
  int pools = 0;
  if (cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, 0) != cudaSuccess) pools = 0;
  cudaGetLastError();
  if (pools) {
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, 0) == cudaSuccess) {
      uint64_t threshold = std::numeric_limits<uint64_t>::max();
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold);
      r.pools = true;
    }
    cudaGetLastError();
  }
  if ((e = cudaMalloc(reinterpret_cast<void**>(&r.err_dev), sizeof(DeviceError))) != cudaSuccess)
    return fail("cudaMalloc(DeviceError)", e);
  if ((e = cudaMemset(r.err_dev, 0, sizeof(DeviceError))) != cudaSuccess) return fail("cudaMemset(DeviceError)", e);
  if ((e = cudaMallocHost(reinterpret_cast<void**>(&r.err_host), sizeof(DeviceError))) != cudaSuccess)
    return fail("cudaMallocHost(DeviceError)", e);
  std::memset(r.err_host, 0, sizeof(DeviceError));
  if ((e = cudaEventCreate(&r.t0)) != cudaSuccess) return fail("cudaEventCreate", e);
  if ((e = cudaEventCreate(&r.t1)) != cudaSuccess) return fail("cudaEventCreate", e);
  if ((e = cudaDeviceSynchronize()) != cudaSuccess) return fail("cudaDeviceSynchronize", e);
  r.ok = true;
}

std::once_flag g_init_once;

Runtime* ready_runtime() {
  std::call_once(g_init_once, init);
  Runtime& r = rt();
  return r.ok ? &r : nullptr;
}

// Enqueues "copy the error record to `slot`, then clear it": the snapshot is ordered after all work
// enqueued so far, and the clear before all later work, so each error is reported exactly once.
Status enqueue_error_capture(const char* op, Runtime& r, DeviceError* slot) {
  R4P_CUDA_TRY(op, cudaMemcpyAsync(slot, r.err_dev, sizeof(DeviceError), cudaMemcpyDeviceToHost, r.stream));
  R4P_CUDA_TRY(op, cudaMemsetAsync(r.err_dev, 0, sizeof(DeviceError), r.stream));
  return Status::Ok();
}

uint16_t f32_to_bf16_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN stays (quiet) NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even; overflow rounds to +-inf as it should
  return static_cast<uint16_t>(u >> 16);
}

float bf16_bits_to_f32(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

bool available(std::string* why) {
  Runtime* r = ready_runtime();
  if (r == nullptr && why != nullptr) *why = rt().why;
  return r != nullptr;
}

Status ensure_ready(const char* op) {
  if (ready_runtime() == nullptr)
    return Status::Make(StatusCode::kUnavailable, detail::concat(op, ": CUDA is not available: ", rt().why));
  // The current device is per host thread; Promise work finishes on libuv worker threads.
  thread_local bool device_set = false;
  if (!device_set) {
    R4P_CUDA_TRY(op, cudaSetDevice(0));
    device_set = true;
  }
  return Status::Ok();
}

namespace {
thread_local cudaStream_t tl_stream = nullptr;  // set while this thread captures (graph.cu)

// A forward being captured must not allocate or wait: the allocation would happen now, outside the graph, and
// a wait would see none of the captured work done.
Status refuse_in_capture(const char* op) {
  if (tl_stream == nullptr) return Status::Ok();
  return internal_error(op, ": called during CUDA graph capture (a captured forward must not allocate, copy to or "
                            "from the host, or synchronise)");
}
}  // namespace

void set_thread_stream(cudaStream_t s) { tl_stream = s; }
bool capturing() { return tl_stream != nullptr; }

void* stream() {
  if (tl_stream != nullptr) return static_cast<void*>(tl_stream);
  Runtime* r = ready_runtime();
  return r ? static_cast<void*>(r->stream) : nullptr;
}

DeviceError* device_error_record() {
  Runtime* r = ready_runtime();
  return r ? r->err_dev : nullptr;
}

Status device_alloc(void** ptr, size_t bytes) {
  *ptr = nullptr;
  R4P_RETURN_IF_ERROR(ensure_ready("cudaMalloc"));
  R4P_RETURN_IF_ERROR(refuse_in_capture("cudaMalloc"));
  if (bytes == 0) return Status::Ok();
  Runtime& r = rt();
  auto try_alloc = [&]() { return r.pools ? cudaMallocAsync(ptr, bytes, r.stream) : cudaMalloc(ptr, bytes); };
  cudaError_t e = try_alloc();
  if (e == cudaErrorMemoryAllocation) {
    // Give cached pool memory back to the driver and try once more.
    cudaGetLastError();
    cudaStreamSynchronize(r.stream);
    if (r.pools) {
      cudaMemPool_t pool;
      if (cudaDeviceGetDefaultMemPool(&pool, 0) == cudaSuccess) cudaMemPoolTrimTo(pool, 0);
    }
    cudaGetLastError();
    e = try_alloc();
  }
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    *ptr = nullptr;
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    return Status::Make(StatusCode::kOutOfMemory,
                        detail::concat("cudaMalloc: cudaErrorMemoryAllocation: out of device memory allocating ", bytes,
                                       " bytes (", free_b, " of ", total_b, " bytes free)"));
  }
  if (e != cudaSuccess) {
    *ptr = nullptr;
    return cuda_status("cudaMalloc", e);
  }
  return Status::Ok();
}

void device_free(void* ptr) {
  if (ptr == nullptr) return;
  Runtime* r = ready_runtime();
  if (r == nullptr) return;
  cudaSetDevice(0);
  // Errors here (cudart already unloading at exit, a lost context) have nowhere to go: drop them, but
  // clear the last-error slot so they do not leak into the next checked call.
  if (r->pools)
    cudaFreeAsync(ptr, r->stream);
  else
    cudaFree(ptr);
  cudaGetLastError();
}

Status upload(void* dst, const void* src, size_t bytes) {
  R4P_RETURN_IF_ERROR(ensure_ready("cudaUpload"));
  R4P_RETURN_IF_ERROR(refuse_in_capture("cudaUpload"));
  if (bytes == 0) return Status::Ok();
  Runtime& r = rt();
  R4P_CUDA_TRY("cudaUpload", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, r.stream));
  // The caller's host buffer may change as soon as we return.
  R4P_CUDA_TRY("cudaUpload", cudaStreamSynchronize(r.stream));
  return Status::Ok();
}

Status download(void* dst, const void* src, size_t bytes) {
  R4P_RETURN_IF_ERROR(ensure_ready("download"));
  R4P_RETURN_IF_ERROR(refuse_in_capture("download"));
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  if (bytes > 0) R4P_CUDA_TRY("download", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, r.stream));
  R4P_RETURN_IF_ERROR(enqueue_error_capture("download", r, r.err_host));
  R4P_CUDA_TRY("download", cudaStreamSynchronize(r.stream));
  if (r.err_host->code != kDevErrNone) return device_error_status(*r.err_host);
  return Status::Ok();
}

Status f32_to_bf16_upload(void* dst, const float* src, size_t n) {
  R4P_RETURN_IF_ERROR(ensure_ready("cudaUpload"));
  std::vector<uint16_t> tmp;
  try {
    tmp.resize(n);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, detail::concat("cudaUpload: out of host memory converting ", n,
                                                                 " values to bfloat16"));
  }
  for (size_t i = 0; i < n; ++i) tmp[i] = f32_to_bf16_bits(src[i]);
  return upload(dst, tmp.data(), n * 2);
}

Status bf16_to_f32_download(float* dst, const void* src, size_t n) {
  std::vector<uint16_t> tmp;
  try {
    tmp.resize(n);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, detail::concat("download: out of host memory for ", n,
                                                                 " bfloat16 values"));
  }
  R4P_RETURN_IF_ERROR(download(tmp.data(), src, n * 2));
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_bits_to_f32(tmp[i]);
  return Status::Ok();
}

Status copy_d2d(void* dst, const void* src, size_t bytes) {
  R4P_RETURN_IF_ERROR(ensure_ready("cudaCopy"));
  if (bytes == 0 || dst == src) return Status::Ok();
  R4P_CUDA_TRY("cudaCopy", cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, lib_stream()));
  return Status::Ok();
}

Status memset_zero(void* dst, size_t bytes) {
  R4P_RETURN_IF_ERROR(ensure_ready("cudaMemset"));
  if (bytes == 0) return Status::Ok();
  R4P_CUDA_TRY("cudaMemset", cudaMemsetAsync(dst, 0, bytes, lib_stream()));
  return Status::Ok();
}

Status synchronize() {
  R4P_RETURN_IF_ERROR(ensure_ready("cudaSynchronize"));
  R4P_RETURN_IF_ERROR(refuse_in_capture("cudaSynchronize"));
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  R4P_RETURN_IF_ERROR(enqueue_error_capture("cudaSynchronize", r, r.err_host));
  R4P_CUDA_TRY("cudaSynchronize", cudaStreamSynchronize(r.stream));
  if (r.err_host->code != kDevErrNone) return device_error_status(*r.err_host);
  return Status::Ok();
}

// ---------------------------------------------------------------- two-phase download
struct PendingDownload {
  void* pinned = nullptr;  // bytes of data, then (16-byte aligned) one DeviceError
  size_t cap = 0;          // the staging buffer's size (>= err_offset + sizeof(DeviceError))
  size_t bytes = 0;
  size_t err_offset = 0;
  cudaEvent_t done = nullptr;
};

// A pinned buffer of at least `need` bytes: the smallest kept one that fits, else a new one (64 KiB granules).
static cudaError_t pinned_take(size_t need, void** p, size_t* cap) {
  Runtime& r = rt();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    size_t best = r.pinned_free.size();
    for (size_t i = 0; i < r.pinned_free.size(); ++i)
      if (r.pinned_free[i].cap >= need && (best == r.pinned_free.size() || r.pinned_free[i].cap < r.pinned_free[best].cap)) best = i;
    if (best < r.pinned_free.size()) {
      *p = r.pinned_free[best].p;
      *cap = r.pinned_free[best].cap;
      r.pinned_free_bytes -= *cap;
      r.pinned_free.erase(r.pinned_free.begin() + static_cast<std::ptrdiff_t>(best));
      return cudaSuccess;
    }
  }
  *cap = (need + kPinnedGranule - 1) / kPinnedGranule * kPinnedGranule;
  return cudaMallocHost(p, *cap);
}

// Keeps the buffer for a later download, or frees it when the pool is full. A copy still in flight into it is
// harmless: every copy into a staging buffer is on the runtime's one stream, so a later download's copy lands after
// it and is waited for before its bytes are read; and cudaFreeHost waits for the device.
static void pinned_give(void* p, size_t cap) {
  Runtime& r = rt();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.pinned_free.size() < kPinnedKeepCount && r.pinned_free_bytes + cap <= kPinnedKeepBytes) {
      r.pinned_free.push_back({p, cap});
      r.pinned_free_bytes += cap;
      return;
    }
  }
  cudaFreeHost(p);
}

static void release_pending(PendingDownload* h) {
  if (h == nullptr) return;
  if (h->done) cudaEventDestroy(h->done);
  if (h->pinned) pinned_give(h->pinned, h->cap);
  cudaGetLastError();
  delete h;
}

Status download_begin(const void* src, size_t bytes, PendingDownload** out) {
  *out = nullptr;
  R4P_RETURN_IF_ERROR(ensure_ready("download"));
  R4P_RETURN_IF_ERROR(refuse_in_capture("download"));
  Runtime& r = rt();
  auto* h = new (std::nothrow) PendingDownload();
  if (h == nullptr) return Status::Make(StatusCode::kOutOfMemory, "download: out of host memory");
  h->bytes = bytes;
  h->err_offset = (bytes + 15) / 16 * 16;
  auto fail = [&](Status s) {
    release_pending(h);
    return s;
  };
  cudaError_t e = pinned_take(h->err_offset + sizeof(DeviceError), &h->pinned, &h->cap);
  if (e != cudaSuccess) {
    h->pinned = nullptr;
    return fail(cuda_status("download (pinned staging)", e));
  }
  auto* slot = reinterpret_cast<DeviceError*>(static_cast<char*>(h->pinned) + h->err_offset);
  std::memset(slot, 0, sizeof(DeviceError));
  if ((e = cudaEventCreateWithFlags(&h->done, cudaEventDisableTiming)) != cudaSuccess) {
    h->done = nullptr;
    return fail(cuda_status("download", e));
  }
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (bytes > 0 && (e = cudaMemcpyAsync(h->pinned, src, bytes, cudaMemcpyDeviceToHost, r.stream)) != cudaSuccess)
      return fail(cuda_status("download", e));
    Status s = enqueue_error_capture("download", r, slot);
    if (!s.ok()) return fail(s);
    if ((e = cudaEventRecord(h->done, r.stream)) != cudaSuccess) return fail(cuda_status("download", e));
  }
  *out = h;
  return Status::Ok();
}

Status download_finish(PendingDownload* h, void* dst, bool to_f32_from_bf16) {
  if (h == nullptr) return internal_error("download: no pending download");
  Status s = ensure_ready("download");
  if (s.ok()) {
    cudaError_t e = cudaEventSynchronize(h->done);
    if (e != cudaSuccess) s = cuda_status("download", e);
  }
  if (s.ok()) {
    const auto* slot = reinterpret_cast<const DeviceError*>(static_cast<const char*>(h->pinned) + h->err_offset);
    if (slot->code != kDevErrNone) s = device_error_status(*slot);
  }
  if (s.ok()) {
    if (to_f32_from_bf16) {
      const auto* src = static_cast<const uint16_t*>(h->pinned);
      float* d = static_cast<float*>(dst);
      for (size_t i = 0; i < h->bytes / 2; ++i) d[i] = bf16_bits_to_f32(src[i]);
    } else if (h->bytes > 0) {
      std::memcpy(dst, h->pinned, h->bytes);
    }
  }
  release_pending(h);
  return s;
}

// ---------------------------------------------------------------- timing
Status timer_start() {
  R4P_RETURN_IF_ERROR(ensure_ready("cudaTimerStart"));
  R4P_CUDA_TRY("cudaTimerStart", cudaEventRecord(rt().t0, rt().stream));
  return Status::Ok();
}

Status timer_stop(float* ms) {
  *ms = 0.f;
  R4P_RETURN_IF_ERROR(ensure_ready("cudaTimerStop"));
  Runtime& r = rt();
  R4P_CUDA_TRY("cudaTimerStop", cudaEventRecord(r.t1, r.stream));
  R4P_CUDA_TRY("cudaTimerStop", cudaEventSynchronize(r.t1));
  R4P_CUDA_TRY("cudaTimerStop", cudaEventElapsedTime(ms, r.t0, r.t1));
  return Status::Ok();
}

Status flush_l2() {
  R4P_RETURN_IF_ERROR(ensure_ready("cudaFlushL2"));
  Runtime& r = rt();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.l2_buf == nullptr) {
    int l2 = 0;
    R4P_CUDA_TRY("cudaFlushL2", cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
    r.l2_bytes = std::max<size_t>(size_t(2) * static_cast<size_t>(l2), size_t(8) << 20);
    R4P_CUDA_TRY("cudaFlushL2", cudaMalloc(&r.l2_buf, r.l2_bytes));  // kept for the process lifetime
  }
  // A different byte each call, so no layer can skip the writes as redundant.
  R4P_CUDA_TRY("cudaFlushL2", cudaMemsetAsync(r.l2_buf, static_cast<int>(++r.l2_fill & 0xff), r.l2_bytes, r.stream));
  return Status::Ok();
}

// ---------------------------------------------------------------- device-side errors
const char* device_op_name(int32_t op) {
  switch (op) {
    case kOpGatherTokens: return "cudaGatherTokens";
    case kOpGatherTokensBackward: return "cudaGatherTokensBackward";
    case kOpScatterTokens: return "cudaScatterTokens";
    case kOpScatterTokensBackward: return "cudaScatterTokensBackward";
    case kOpGumbelTopK: return "cudaGumbelTopK";
    case kOpGumbelSoftmaxST: return "cudaGumbelSoftmaxST";
    case kOpPolicyAttention: return "cudaPolicyAttention";
    case kOpPolicyAttentionBackward: return "cudaPolicyAttentionBackward";
    case kOpPrunedBlock: return "cudaPrunedBlock";
    default: return "cuda kernel";
  }
}

Status device_error_status(const DeviceError& e) {
  const char* op = device_op_name(e.op);
  switch (e.code) {
    case kDevErrNone: return Status::Ok();
    case kDevErrIndexRange:
      return range_error(op, ": idx[", e.v[0], "][", e.v[1], "] = ", e.v[2], " is out of range [0, ", e.v[3],
                         ") (found on the device; the output rows of out-of-range indices were zeroed or skipped)");
    case kDevErrNaN:
      return range_error(op, ": expected logits to contain no NaN (the order is undefined), received logits[", e.v[0],
                         "][", e.v[1], "] = NaN (found on the device)");
    case kDevErrTooFewActive:
      return range_error(op, ": active[", e.v[0], "] has ", e.v[1], " active tokens, fewer than k=", e.v[2],
                         " (found on the device; that output row was filled with -1)");
    default: return internal_error(op, ": unknown device error code ", e.code);
  }
}

}  // namespace r4p::cuda
