// emu_graph.cc: stream capture and CUDA graphs in the CUDA emulator (see include/cuda_runtime.h). The emulator's
// streams are synchronous, so a capture is what makes a graph checkable at all: while a stream captures, every
// kernel launch, memset and device-to-device copy enqueued on it is RECORDED (kernel arguments copied, as
// cudaLaunchKernel copies them into the node) and nothing runs; cudaGraphLaunch replays the records in order.
// What this catches in code that captures a forward:
//   - host logic that reads device results during the capture (they are stale: nothing ran), as on a GPU;
//   - a graph replayed after its buffers were freed or reallocated (ASan: the records keep raw pointers);
//   - inputs baked in at capture time instead of read from device buffers at replay time;
//   - allocation, free, host copies, synchronisation or event records from the capturing thread: each one
//     invalidates the capture (cudaStreamEndCapture then fails with cudaErrorStreamCaptureInvalidated). That is
//     STRICTER than CUDA (which records stream-ordered allocations as memory nodes and events as event nodes):
//     the engine's forward is meant to do none of these.
// Capture mode is ThreadLocal-like: only the capturing thread's unsafe calls are refused; other threads' work on
// other streams runs at once. One capture per stream; the thread that began it must end it.
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cuda_runtime.h"

struct EmuGraph {
  std::vector<std::function<void()>> ops;
};
struct EmuGraphExec {
  std::vector<std::function<void()>> ops;
};

namespace emu {
namespace {

struct Capture {
  std::thread::id owner;
  bool invalid = false;
  std::string why;
  std::vector<std::function<void()>> ops;
};

std::mutex g_cap_mu;
std::map<cudaStream_t, std::unique_ptr<Capture>> g_caps;  // streams that capture now
thread_local cudaStream_t tl_capturing = nullptr;          // the stream this thread captures on, if any
bool g_fail_next = false;

}  // namespace

bool capture_record(cudaStream_t s, std::function<void()> op) {
  if (s == nullptr) return false;
  std::lock_guard<std::mutex> l(g_cap_mu);
  auto it = g_caps.find(s);
  if (it == g_caps.end()) return false;
  if (!it->second->invalid) it->second->ops.push_back(std::move(op));
  return true;  // recorded (or dropped: an invalidated capture records nothing more), never run now
}

bool refuse_in_capture(cudaStream_t s, const char* what) {
  std::lock_guard<std::mutex> l(g_cap_mu);
  Capture* c = nullptr;
  if (s != nullptr) {
    auto it = g_caps.find(s);
    if (it != g_caps.end()) c = it->second.get();
  }
  if (c == nullptr && s == nullptr && tl_capturing != nullptr) {  // not stream-bound: unsafe from a capturing thread
    auto it = g_caps.find(tl_capturing);
    if (it != g_caps.end()) c = it->second.get();
  }
  if (c == nullptr) return false;
  if (!c->invalid) {
    c->invalid = true;
    c->why = what;
  }
  return true;
}

void fail_next_capture() {
  std::lock_guard<std::mutex> l(g_cap_mu);
  g_fail_next = true;
}

}  // namespace emu

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  if (s == nullptr) return cudaErrorStreamCaptureUnsupported;  // the legacy default stream cannot capture
  std::lock_guard<std::mutex> l(emu::g_cap_mu);
  if (emu::g_caps.count(s) || emu::tl_capturing != nullptr) return cudaErrorInvalidValue;
  auto c = std::make_unique<emu::Capture>();
  c->owner = std::this_thread::get_id();
  emu::g_caps[s] = std::move(c);
  emu::tl_capturing = s;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  *g = nullptr;
  std::unique_ptr<emu::Capture> c;
  {
    std::lock_guard<std::mutex> l(emu::g_cap_mu);
    auto it = emu::g_caps.find(s);
    if (it == emu::g_caps.end()) return cudaErrorInvalidValue;
    if (it->second->owner != std::this_thread::get_id()) return cudaErrorStreamCaptureWrongThread;
    c = std::move(it->second);
    emu::g_caps.erase(it);
    emu::tl_capturing = nullptr;
    if (emu::g_fail_next) {
      emu::g_fail_next = false;
      c->invalid = true;
      c->why = "emu::fail_next_capture()";
    }
  }
  if (c->invalid) {
    std::fprintf(stderr, "emu: capture invalidated by %s\n", c->why.c_str());
    return cudaErrorStreamCaptureInvalidated;
  }
  *g = new EmuGraph{std::move(c->ops)};
  return cudaSuccess;
}

cudaError_t cudaStreamIsCapturing(cudaStream_t s, cudaStreamCaptureStatus* st) {
  std::lock_guard<std::mutex> l(emu::g_cap_mu);
  auto it = emu::g_caps.find(s);
  *st = it == emu::g_caps.end() ? cudaStreamCaptureStatusNone
                                : it->second->invalid ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  *e = nullptr;
  if (g == nullptr) return cudaErrorInvalidValue;
  *e = new EmuGraphExec{g->ops};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  if (e == nullptr) return cudaErrorInvalidResourceHandle;
  if (emu::refuse_in_capture(s, "cudaGraphLaunch into a capturing stream")) return cudaErrorStreamCaptureUnsupported;
  for (auto& op : e->ops) op();
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}
