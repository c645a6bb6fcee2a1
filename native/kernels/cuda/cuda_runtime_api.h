// cuda_runtime_api.h: the addon's CUDA runtime as seen from plain C++ (issue 6: device memory, one
// library stream, errors as Status). Deliberately free of cuda_runtime.h so g++-compiled bindings
// (native/napi/*.cc) include it; implemented by cuda/runtime.cu when nvcc was found, else by
// kernels/cuda_runtime_none.cc, whose every function returns "reg4pru was built without CUDA".
//
// Model:
//   - one device (ordinal 0) and one non-blocking library stream, created on first use; every
//     launcher and copy below is enqueued on that stream, so work runs in call order;
//   - allocations are stream-ordered (cudaMallocAsync / cudaFreeAsync where the device supports
//     memory pools), so freeing a buffer right after enqueueing a kernel that reads it is safe;
//   - every Status from a CUDA failure reads "<op>: <cudaErrorName>: <message>"; no device (or no
//     CUDA in the build) is StatusCode::kUnavailable "<op>: CUDA is not available: <reason>";
//     out of memory is kOutOfMemory naming the byte count;
//   - kernels never read or write out of range. A condition that only the device can see (an index
//     out of range, a NaN logit, too few active tokens) is written once into a device-side
//     DeviceError record (first error wins); synchronize() and the downloads read and clear it, so
//     it surfaces as a RangeError at the next synchronisation point, naming the op that saw it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace r4p::cuda {

enum class DType : int { F32 = 0, BF16 = 1, I32 = 2, U8 = 3 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::BF16: return "bfloat16";
    case DType::I32: return "int32";
    case DType::U8: return "uint8";
  }
  return "unknown";
}

// ---------------------------------------------------------------- availability, memory, copies
// True when a device exists and the stream could be created; otherwise *why (if given) says why.
bool available(std::string* why);
// Ok when available (and the calling host thread has device 0 current); else kUnavailable
// "<op>: CUDA is not available: <reason>". Every launcher calls it first.
Status ensure_ready(const char* op);

Status device_alloc(void** ptr, size_t bytes);   // stream-ordered; bytes == 0 gives nullptr
void device_free(void* ptr);                     // stream-ordered; nullptr is a no-op; never fails loudly
Status upload(void* dst, const void* src, size_t bytes);    // host -> device, enqueued then synced
Status download(void* dst, const void* src, size_t bytes);  // device -> host after all queued work
Status f32_to_bf16_upload(void* dst, const float* src, size_t n);    // round-to-nearest-even on the host
Status bf16_to_f32_download(float* dst, const void* src, size_t n);  // exact widening
Status copy_d2d(void* dst, const void* src, size_t bytes);  // enqueued, no sync
Status memset_zero(void* dst, size_t bytes);                // enqueued, no sync
Status synchronize();  // waits for the stream; returns the first async CUDA error or device error
void* stream();        // the library's cudaStream_t, as void* (nullptr when unavailable)

// Two-phase download for Promise-returning APIs. begin() runs on the JS thread: it enqueues the copy
// into pinned staging NOW, so it is ordered after everything enqueued before the call and before
// anything enqueued after (a later free or overwrite cannot affect it). finish() may run on any
// thread: it waits for the copy, converts (bf16 -> f32 when to_f32_from_bf16) into dst, reads the
// device error record captured with the copy, and releases the handle in every case. A handle that
// is never finished leaks its staging (only at environment teardown).
struct PendingDownload;
Status download_begin(const void* src, size_t bytes, PendingDownload** out);
Status download_finish(PendingDownload* h, void* dst, bool to_f32_from_bf16);

// ---------------------------------------------------------------- timing (benchmarks)
// One library-wide pair of CUDA events (not re-entrant: start, enqueue work, stop).
Status timer_start();
Status timer_stop(float* ms);  // records the stop event, waits for it, returns the elapsed milliseconds
// Overwrites a scratch buffer twice the device's L2 size (enqueued), so the next timed kernel reads
// its inputs from DRAM rather than from L2 (STYLE §9, llm.c's benchmark_kernel).
Status flush_l2();

// ---------------------------------------------------------------- CUDA graphs (cuda/graph.cu)
// For forwards that repeat with the same shapes (the CUDA engine): capture once, replay many times.
// graph_capture_begin() makes THIS host thread's launchers enqueue on a private capture stream
// (cudaStreamCaptureModeThreadLocal) until graph_capture_end(); other threads keep using the library stream
// and are not captured. While a thread captures, device_alloc / upload / download / synchronize called from it
// fail (a captured forward must neither allocate nor wait), so such a forward fails its capture instead of
// being recorded wrong; the caller then runs it without a graph. graph_capture_end() ends the capture in every
// case (after a failed forward too) and instantiates the graph when the capture is intact.
struct Graph;
bool capturing();  // whether the calling thread is capturing
Status graph_capture_begin(const char* op);
Status graph_capture_end(const char* op, Graph** out);  // *out = nullptr on failure
Status graph_launch(const char* op, Graph* g);           // on the library stream, ordered with all other work
void graph_destroy(Graph* g);                             // nullptr is a no-op

// ---------------------------------------------------------------- timing events (cuda/graph.cu)
// Caller-owned CUDA events for timing a stretch of library-stream work (re-entrant, unlike timer_start/stop).
struct TimingEvent;
Status event_create(const char* op, TimingEvent** out);
void event_destroy(TimingEvent* e);  // nullptr is a no-op
Status event_record(const char* op, TimingEvent* e);  // on the library stream
// Milliseconds between two recorded events; waits for `stop` to complete.
Status event_elapsed_ms(const char* op, TimingEvent* start, TimingEvent* stop, float* ms);

// ---------------------------------------------------------------- device-side errors
// Codes a kernel may report; the values of v[] per code are documented next to each code.
enum DeviceErrorCode : int32_t {
  kDevErrNone = 0,
  kDevErrIndexRange = 1,   // v = {b, k, idx value, N}: idx[b][k] out of [0, N)
  kDevErrNaN = 2,          // v = {b, n, 0, 0}: logits[b][n] is NaN
  kDevErrTooFewActive = 3  // v = {b, active count, k, 0}
};
// Which op reported it (names used in the message). Helper B's ops have their own ids.
enum DeviceOp : int32_t {
  kOpGatherTokens = 1,
  kOpGatherTokensBackward = 2,
  kOpScatterTokens = 3,
  kOpScatterTokensBackward = 4,
  kOpGumbelTopK = 5,
  kOpGumbelSoftmaxST = 6,
  kOpPolicyAttention = 20,
  kOpPolicyAttentionBackward = 21,
  kOpPrunedBlock = 22
};
const char* device_op_name(int32_t op);

struct DeviceError {
  int32_t code;  // DeviceErrorCode; 0 = none (the first reporter swaps it from 0 with atomicCAS)
  int32_t op;    // DeviceOp
  int64_t v[4];
};
// Device address of the library's DeviceError record (nullptr when unavailable). Pass it to kernels;
// cuda/check.cuh has the device-side report_device_error().
DeviceError* device_error_record();
// The host-side message for a reported error ("gatherTokens: idx[1][3] = 4101 is out of range ...").
Status device_error_status(const DeviceError& e);

}  // namespace r4p::cuda
