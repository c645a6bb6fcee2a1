// graph.cu: CUDA graphs and caller-owned timing events (cuda_runtime_api.h, issue 11 item 1: "the whole forward
// captured as a CUDA graph per (batch, keep) shape and replayed").
// Capture: each host thread gets one private non-blocking capture stream (created on its first capture, kept
// for the thread's lifetime: the N-API worker threads are few and long-lived). While the thread captures,
// r4p::cuda::stream() on that thread returns it (runtime.cu, set_thread_stream), so every launcher called from
// the thread records into the graph, in cudaStreamCaptureModeThreadLocal: other threads' work on the library
// stream is neither captured nor refused. A graph is launched on the library stream, so it is ordered after
// the upload that fed it and before the download that reads it.
// Checked on the CPU emulator (native/dev/cuda_emu/emu_graph.cc models capture and replay); NEVER RUN ON A GPU
// as of 2026-12-05.
#include <cuda_runtime.h>

#include <new>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/cuda_runtime_api.h"

namespace r4p::cuda {

struct Graph {
  cudaGraphExec_t exec = nullptr;
};

struct TimingEvent {
  cudaEvent_t ev = nullptr;
};

namespace {
thread_local cudaStream_t tl_capture_stream = nullptr;
}  // namespace

Status graph_capture_begin(const char* op) {
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  if (capturing()) return internal_error(op, ": a CUDA graph capture is already in progress on this thread");
  if (tl_capture_stream == nullptr) R4P_CUDA_TRY(op, cudaStreamCreateWithFlags(&tl_capture_stream, cudaStreamNonBlocking));
  R4P_CUDA_TRY(op, cudaStreamBeginCapture(tl_capture_stream, cudaStreamCaptureModeThreadLocal));
  set_thread_stream(tl_capture_stream);
  return Status::Ok();
}

Status graph_capture_end(const char* op, Graph** out) {
  *out = nullptr;
  if (!capturing()) return internal_error(op, ": no CUDA graph capture in progress on this thread");
  set_thread_stream(nullptr);
  cudaGraph_t g = nullptr;
  const cudaError_t e = cudaStreamEndCapture(tl_capture_stream, &g);
  if (e != cudaSuccess || g == nullptr) {
    if (g != nullptr) cudaGraphDestroy(g);
    return cuda_status(op, e != cudaSuccess ? e : cudaErrorStreamCaptureInvalidated);
  }
  auto* h = new (std::nothrow) Graph();
  if (h == nullptr) {
    cudaGraphDestroy(g);
    return Status::Make(StatusCode::kOutOfMemory, detail::concat(op, ": out of host memory"));
  }
  const cudaError_t ie = cudaGraphInstantiate(&h->exec, g, 0);
  cudaGraphDestroy(g);  // the executable graph is independent of its template
  if (ie != cudaSuccess) {
    delete h;
    return cuda_status(op, ie);
  }
  *out = h;
  return Status::Ok();
}

Status graph_launch(const char* op, Graph* g) {
  if (g == nullptr || g->exec == nullptr) return internal_error(op, ": no graph to launch");
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  R4P_CUDA_TRY(op, cudaGraphLaunch(g->exec, lib_stream()));
  return Status::Ok();
}

void graph_destroy(Graph* g) {
  if (g == nullptr) return;
  if (g->exec != nullptr) cudaGraphExecDestroy(g->exec);
  cudaGetLastError();
  delete g;
}

Status event_create(const char* op, TimingEvent** out) {
  *out = nullptr;
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  auto* e = new (std::nothrow) TimingEvent();
  if (e == nullptr) return Status::Make(StatusCode::kOutOfMemory, detail::concat(op, ": out of host memory"));
  const cudaError_t err = cudaEventCreate(&e->ev);
  if (err != cudaSuccess) {
    delete e;
    return cuda_status(op, err);
  }
  *out = e;
  return Status::Ok();
}

void event_destroy(TimingEvent* e) {
  if (e == nullptr) return;
  if (e->ev != nullptr) cudaEventDestroy(e->ev);
  cudaGetLastError();
  delete e;
}

Status event_record(const char* op, TimingEvent* e) {
  if (e == nullptr) return internal_error(op, ": no event");
  R4P_CUDA_TRY(op, cudaEventRecord(e->ev, lib_stream()));
  return Status::Ok();
}

Status event_elapsed_ms(const char* op, TimingEvent* start, TimingEvent* stop, float* ms) {
  *ms = 0.f;
  if (start == nullptr || stop == nullptr) return internal_error(op, ": no event");
  R4P_CUDA_TRY(op, cudaEventSynchronize(stop->ev));
  R4P_CUDA_TRY(op, cudaEventElapsedTime(ms, start->ev, stop->ev));
  return Status::Ok();
}

}  // namespace r4p::cuda
