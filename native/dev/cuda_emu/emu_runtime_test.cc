// emu_runtime_test.cc: the runtime's two-phase download (kernels/cuda/runtime.cu download_begin / download_finish,
// what a DeviceTensor's Promise download runs) on the emulator: the bytes arrive whole (FP32 as they are, BF16
// widened), and its pinned staging buffers are reused: a second download of the same or a smaller size allocates
// no pinned memory (cudaMallocHost, counted by the emulator), a larger one allocates once, several downloads in
// flight at once each get their own buffer, and every one of them is reused afterwards.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_runtime.h"  // emu::host_allocations
#include "emu_check.h"
#include "kernels/cuda/cuda_runtime_api.h"

using namespace r4p;
using namespace emu_check;

namespace {

struct Device {
  void* p = nullptr;
  explicit Device(const std::vector<float>& v) {
    if (!cuda::device_alloc(&p, v.size() * 4).ok() || !cuda::upload(p, v.data(), v.size() * 4).ok()) std::abort();
  }
  ~Device() { cuda::device_free(p); }
};

std::vector<float> ramp(size_t n, float base) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = base + 0.25f * static_cast<float>(i);
  return v;
}

// Starts a download of n floats of d and returns its handle (nullptr after reporting a failure).
cuda::PendingDownload* begin(const std::string& what, const Device& d, size_t n) {
  cuda::PendingDownload* h = nullptr;
  Status s = cuda::download_begin(d.p, n * 4, &h);
  if (!s.ok()) report(what + " begin", false, s.message);
  return h;
}

bool finish(cuda::PendingDownload* h, const std::vector<float>& want, size_t n) {
  std::vector<float> got(n, -1.f);
  return h != nullptr && cuda::download_finish(h, got.data(), false).ok() && std::memcmp(got.data(), want.data(), n * 4) == 0;
}

}  // namespace

void runtime_checks() {
  const std::vector<float> a = ramp(100000, 1.f), b = ramp(300000, -7.f);
  const Device da(a), db(b);
  const size_t before = emu::host_allocations();
  report("download 100000 floats", finish(begin("download a", da, a.size()), a, a.size()), "");
  const size_t first = emu::host_allocations() - before;
  report("the first download allocates one pinned buffer", first == 1, std::to_string(first) + " cudaMallocHost calls");
  for (int i = 0; i < 3; ++i) report("download again (same size)", finish(begin("again", da, a.size()), a, a.size()), "");
  report("smaller download", finish(begin("smaller", da, 1000), a, 1000), "");
  report("zero-byte download", finish(begin("empty", da, 0), a, 0), "");
  const size_t reused = emu::host_allocations() - before;
  report("same, smaller and empty downloads reuse it", reused == 1, std::to_string(reused) + " cudaMallocHost calls");
  report("larger download", finish(begin("larger", db, b.size()), b, b.size()), "");
  const size_t larger = emu::host_allocations() - before;
  report("a larger download allocates once more", larger == 2, std::to_string(larger) + " cudaMallocHost calls");
  // two in flight: each its own buffer (both kept ones), then a third concurrent one needs a new buffer
  cuda::PendingDownload* h1 = begin("in flight 1", db, b.size());
  cuda::PendingDownload* h2 = begin("in flight 2", da, a.size());
  cuda::PendingDownload* h3 = begin("in flight 3", da, a.size());
  const bool ok3 = finish(h3, a, a.size()), ok2 = finish(h2, a, a.size()), ok1 = finish(h1, b, b.size());
  report("three downloads in flight, finished out of order", ok1 && ok2 && ok3, "");
  const size_t concurrent = emu::host_allocations() - before;
  report("two kept buffers serve two of them, the third allocates", concurrent == 3, std::to_string(concurrent) + " cudaMallocHost calls");
  for (int i = 0; i < 3; ++i) report("download after the burst", finish(begin("after", db, b.size()), b, b.size()), "");
  const size_t after = emu::host_allocations() - before;
  report("all three buffers are kept for reuse", after == 3, std::to_string(after) + " cudaMallocHost calls");
}
