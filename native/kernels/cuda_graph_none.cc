// cuda_graph_none.cc: the CPU-only build's side of the CUDA graph and timing-event entry points of
// cuda/cuda_runtime_api.h (implemented by cuda/graph.cu when nvcc was found). Each reports kUnavailable
// "<op>: CUDA is not available: reg4pru was built without CUDA"; CMake drops this file in CUDA builds.
#include "kernels/cuda/cuda_runtime_api.h"

namespace r4p::cuda {

namespace {
Status none(const char* op) {
  return Status::Make(StatusCode::kUnavailable, detail::concat(op, ": CUDA is not available: reg4pru was built without CUDA"));
}
}  // namespace

struct Graph {};
struct TimingEvent {};

bool capturing() { return false; }
Status graph_capture_begin(const char* op) { return none(op); }
Status graph_capture_end(const char* op, Graph** out) {
  *out = nullptr;
  return none(op);
}
Status graph_launch(const char* op, Graph*) { return none(op); }
void graph_destroy(Graph*) {}

Status event_create(const char* op, TimingEvent** out) {
  *out = nullptr;
  return none(op);
}
void event_destroy(TimingEvent*) {}
Status event_record(const char* op, TimingEvent*) { return none(op); }
Status event_elapsed_ms(const char* op, TimingEvent*, TimingEvent*, float* ms) {
  *ms = 0.f;
  return none(op);
}

}  // namespace r4p::cuda
