// emu.cc: the CUDA emulator's machinery (see include/cuda_runtime.h): a block's threads as std::threads,
// barriers for __syncthreads / __syncwarp, per-warp exchange buffers for shuffles, ballots and mma.sync,
// cp.async as an immediate copy, and the CUDA runtime API over host memory (the addon's own
// kernels/cuda/runtime.cu runs on top of it). Device allocations are exact-size host allocations filled
// with 0xFF bytes (NaN as float / bfloat16, -1 as int32), so a kernel that reads memory nothing wrote, or
// leaves an output element unwritten, shows up as NaN in the comparisons; built with AddressSanitizer
// (build.mjs default) any access outside an allocation aborts the run.
#include <atomic>
#include <barrier>
#include <chrono>
#include <map>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cuda_runtime.h"

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace emu {
namespace {

struct Warp {
  std::unique_ptr<std::barrier<>> bar;
  int lanes = 32;
  uint64_t xchg[32];
  uint32_t a[32][4];
  uint32_t b[32][2];
};
struct Block {
  std::unique_ptr<std::barrier<>> bar;
  std::vector<Warp> warps;
  unsigned char* smem = nullptr;
  size_t smem_bytes = 0;  // the launch's dynamic shared memory
};

thread_local Block* tl_block = nullptr;
thread_local int tl_lane = 0, tl_warp = 0;
std::mutex g_mu;
cudaError_t g_err = cudaSuccess;

float bf_lo(uint32_t v) {
  const uint32_t u = v << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
float bf_hi(uint32_t v) {
  const uint32_t u = v & 0xffff0000u;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

unsigned char* dynamic_smem() { return tl_block->smem; }
void sync_block() { tl_block->bar->arrive_and_wait(); }
void sync_warp() { tl_block->warps[tl_warp].bar->arrive_and_wait(); }

int lane_id() { return tl_lane; }
std::mutex& atomic_mutex() {
  static std::mutex m;
  return m;
}

// Lane src's v; lanes that do not exist (outside 0..31, or past a partial last warp) give the caller's own.
uint64_t shfl_from(uint64_t v, int src) {
  Warp& w = tl_block->warps[tl_warp];
  w.xchg[tl_lane] = v;
  w.bar->arrive_and_wait();
  const int lanes = w.lanes;
  const uint64_t r = src >= 0 && src < lanes ? w.xchg[src] : v;
  w.bar->arrive_and_wait();
  return r;
}

unsigned ballot(bool pred) {
  Warp& w = tl_block->warps[tl_warp];
  w.xchg[tl_lane] = pred ? 1 : 0;
  w.bar->arrive_and_wait();
  unsigned m = 0;
  for (int l = 0; l < w.lanes; ++l) m |= unsigned(w.xchg[l] != 0) << l;
  w.bar->arrive_and_wait();
  return m;
}

uint64_t shfl_xor_bits(uint64_t v, int m) {
  Warp& w = tl_block->warps[tl_warp];
  w.xchg[tl_lane] = v;
  w.bar->arrive_and_wait();
  const uint64_t r = w.xchg[(tl_lane ^ m) & 31];
  w.bar->arrive_and_wait();
  return r;
}

// The PTX ISA m16n8k16 fragment layout, rebuilt from all 32 lanes (g = lane / 4, t = lane % 4).
void mma_bf16_m16n8k16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
  Warp& w = tl_block->warps[tl_warp];
  for (int i = 0; i < 4; ++i) w.a[tl_lane][i] = a[i];
  for (int i = 0; i < 2; ++i) w.b[tl_lane][i] = b[i];
  w.bar->arrive_and_wait();
  float A[16][16], B[16][8];
  for (int L = 0; L < 32; ++L) {
    const int g = L >> 2, t = L & 3;
    A[g][2 * t] = bf_lo(w.a[L][0]);
    A[g][2 * t + 1] = bf_hi(w.a[L][0]);
    A[g + 8][2 * t] = bf_lo(w.a[L][1]);
    A[g + 8][2 * t + 1] = bf_hi(w.a[L][1]);
    A[g][2 * t + 8] = bf_lo(w.a[L][2]);
    A[g][2 * t + 9] = bf_hi(w.a[L][2]);
    A[g + 8][2 * t + 8] = bf_lo(w.a[L][3]);
    A[g + 8][2 * t + 9] = bf_hi(w.a[L][3]);
    B[2 * t][g] = bf_lo(w.b[L][0]);
    B[2 * t + 1][g] = bf_hi(w.b[L][0]);
    B[2 * t + 8][g] = bf_lo(w.b[L][1]);
    B[2 * t + 9][g] = bf_hi(w.b[L][1]);
  }
  w.bar->arrive_and_wait();  // every lane has read the buffers before the next mma overwrites them
  const int g = tl_lane >> 2, t = tl_lane & 3;
  for (int e = 0; e < 4; ++e) {
    const int row = g + 8 * (e >> 1), col = 2 * t + (e & 1);
    float s = d[e];
    for (int k = 0; k < 16; ++k) s += A[row][k] * B[k][col];
    d[e] = s;
  }
}

// Every lane publishes its row address; the fragments are then read as the PTX ISA lays them out. The lanes
// whose addresses the instruction uses (8 per matrix) are checked: 16-byte aligned, inside the block's dynamic
// shared memory (generic addresses outside .shared are undefined behaviour on the device).
void ldmatrix_b16(uint32_t* r, int count, bool trans, const void* row) {
  Warp& w = tl_block->warps[tl_warp];
  w.xchg[tl_lane] = reinterpret_cast<uint64_t>(row);
  w.bar->arrive_and_wait();
  const unsigned char* lo = tl_block->smem;
  const unsigned char* hi = lo + tl_block->smem_bytes;
  for (int i = 0; i < count; ++i) {
    for (int rr = 0; rr < 8; ++rr) {
      const auto* a = reinterpret_cast<const unsigned char*>(w.xchg[8 * i + rr]);
      if (reinterpret_cast<uintptr_t>(a) % 16 != 0 || a < lo || a + 16 > hi) {
        std::fprintf(stderr, "emu: ldmatrix row address %p (matrix %d row %d) not 16-byte aligned dynamic shared memory\n",
                     static_cast<const void*>(a), i, rr);
        std::abort();
      }
    }
    const int g = tl_lane >> 2, t = tl_lane & 3;
    if (!trans) {
      std::memcpy(&r[i], reinterpret_cast<const unsigned char*>(w.xchg[8 * i + g]) + 4 * t, 4);
    } else {
      uint16_t e0, e1;
      std::memcpy(&e0, reinterpret_cast<const unsigned char*>(w.xchg[8 * i + 2 * t]) + 2 * g, 2);
      std::memcpy(&e1, reinterpret_cast<const unsigned char*>(w.xchg[8 * i + 2 * t + 1]) + 2 * g, 2);
      r[i] = static_cast<uint32_t>(e0) | (static_cast<uint32_t>(e1) << 16);
    }
  }
  w.bar->arrive_and_wait();  // every lane has read the addresses before the next exchange overwrites them
}

void cp_async16(void* smem, const void* gmem, int src_bytes) {
  if (src_bytes < 0 || src_bytes > 16) {
    std::fprintf(stderr, "emu: cp.async src_bytes %d\n", src_bytes);
    std::abort();
  }
  std::memcpy(smem, gmem, static_cast<size_t>(src_bytes));
  std::memset(static_cast<unsigned char*>(smem) + src_bytes, 0, static_cast<size_t>(16 - src_bytes));
}

// ---- wgmma (kernels/cuda/wgmma.cuh). Element (row, k) of a K-major BF16 operand with the 128-byte swizzle: logical
// byte address start + (row / 8) * SBO + (row % 8) * 128 + 2k, then the 16-byte chunk bits (4-6) XORed with bits
// 7-9, on the shared-window address (the emulator's window starts 1024-byte aligned, as the kernel assumes).
namespace {
struct WgmmaOp {
  float* d;
  int n;
  uint64_t da, db;
  std::vector<float> prod;  // this thread's n/2 products, as read at the issue
};
thread_local std::vector<WgmmaOp> tl_wg_open;                  // issued since the last commit
thread_local std::vector<std::vector<WgmmaOp>> tl_wg_groups;   // committed, oldest first

float wg_elem(uint64_t desc, int row, int k, const char* which) {
  const uint32_t start = uint32_t(desc & 0x3FFF) << 4, sbo = uint32_t((desc >> 32) & 0x3FFF) << 4;
  if ((desc >> 62) != 1 || ((desc >> 49) & 7) != 0 || sbo != 1024) {
    std::fprintf(stderr, "emu: wgmma %s descriptor %#llx: only the 128-byte swizzle with SBO 1024 is modelled\n", which,
                 static_cast<unsigned long long>(desc));
    std::abort();
  }
  const uint32_t logical = start + uint32_t(row / 8) * sbo + uint32_t(row % 8) * 128 + uint32_t(k) * 2;
  const uint32_t phys = logical ^ (((logical >> 7) & 7) << 4);
  if (phys + 2 > tl_block->smem_bytes) {
    std::fprintf(stderr, "emu: wgmma %s operand (row %d, k %d) at shared byte %u, outside the %zu dynamic bytes\n", which,
                 row, k, phys, tl_block->smem_bytes);
    std::abort();
  }
  uint16_t v;
  std::memcpy(&v, tl_block->smem + phys, 2);
  return bf_lo(v);
}

// This thread's products: D[16w + g + 8h][8j + 2t + e] for the layout of wgmma.cuh, k ascending.
std::vector<float> wg_products(int n, uint64_t da, uint64_t db) {
  const int w = tl_warp % 4, g = tl_lane >> 2, t = tl_lane & 3;
  std::vector<float> out(size_t(n / 2));
  for (int j = 0; j < n / 8; ++j)
    for (int h = 0; h < 2; ++h)
      for (int e = 0; e < 2; ++e) {
        const int row = 16 * w + g + 8 * h, col = 8 * j + 2 * t + e;
        float s = 0.f;
        for (int k = 0; k < 16; ++k) s += wg_elem(da, row, k, "A") * wg_elem(db, col, k, "B");
        out[size_t(4 * j + 2 * h + e)] = s;
      }
  return out;
}
}  // namespace

void wgmma_bf16_m64nk16(float* d, int n, uint64_t desc_a, uint64_t desc_b) {
  if (blockDim.x * blockDim.y * blockDim.z % 128 != 0) {
    std::fprintf(stderr, "emu: wgmma in a block of %u threads (whole warpgroups of 128 needed)\n", blockDim.x * blockDim.y * blockDim.z);
    std::abort();
  }
  tl_wg_open.push_back(WgmmaOp{d, n, desc_a, desc_b, wg_products(n, desc_a, desc_b)});
}
void wgmma_commit() {
  tl_wg_groups.push_back(std::move(tl_wg_open));
  tl_wg_open.clear();
}
void wgmma_wait(int pending) {
  while (int(tl_wg_groups.size()) > pending) {
    for (WgmmaOp& op : tl_wg_groups.front()) {
      const std::vector<float> now = wg_products(op.n, op.da, op.db);
      if (std::memcmp(now.data(), op.prod.data(), now.size() * sizeof(float)) != 0) {
        std::fprintf(stderr, "emu: wgmma operands changed between the issue and the wait (block %u,%u thread %u)\n", blockIdx.x,
                     blockIdx.y, threadIdx.x);
        std::abort();
      }
      for (int i = 0; i < op.n / 2; ++i) op.d[i] += op.prod[size_t(i)];
    }
    tl_wg_groups.erase(tl_wg_groups.begin());
  }
}
void wgmma_thread_exit() {
  if (!tl_wg_open.empty() || !tl_wg_groups.empty()) {
    std::fprintf(stderr, "emu: thread %u of block %u,%u exits with wgmma work not waited for\n", threadIdx.x, blockIdx.x, blockIdx.y);
    std::abort();
  }
}

cudaError_t last_error(bool clear) {
  std::lock_guard<std::mutex> l(g_mu);
  const cudaError_t e = g_err;
  if (clear) g_err = cudaSuccess;
  return e;
}
void set_error(cudaError_t e) {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_err == cudaSuccess) g_err = e;
}
size_t max_dynamic_smem() {
  static const size_t v = [] {
    const char* e = std::getenv("EMU_SMEM_KB");
    return size_t(e ? std::atoi(e) : 227) * 1024;
  }();
  return v;
}

// Blocks run one at a time, in the order EMU_BLOCK_ORDER names: "shuffle" (default: a pseudo-random
// permutation, different for each launch of a run, the same from run to run), "reverse" or "forward". A GPU
// runs blocks in any order and concurrently, so a kernel whose result depends on the block order (two blocks
// writing one element, "the later block wins") fails here under shuffle / reverse instead of passing by luck.
std::vector<uint64_t> block_order(uint64_t nblocks) {
  static const std::string mode = std::getenv("EMU_BLOCK_ORDER") ? std::getenv("EMU_BLOCK_ORDER") : "shuffle";
  static uint64_t launches = 0;
  std::vector<uint64_t> order(nblocks);
  for (uint64_t i = 0; i < nblocks; ++i) order[i] = mode == "reverse" ? nblocks - 1 - i : i;
  if (mode == "shuffle") {
    uint64_t s = 0x9E3779B97F4A7C15ull * ++launches;
    for (uint64_t i = nblocks; i > 1; --i) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(order[i - 1], order[(s >> 33) % i]);
    }
  }
  return order;
}

void run_grid(dim3 grid, dim3 block, size_t smem, void (*body)(void*), void* ctx) {
  const unsigned nt = block.x * block.y * block.z;
  // Exactly smem bytes, so ASan flags an access past the dynamic shared memory.
  void* raw = nullptr;
  if (posix_memalign(&raw, 1024, smem ? smem : 1) != 0) std::abort();  // 1024: wgmma's swizzle atoms
  std::unique_ptr<void, void (*)(void*)> buf(raw, std::free);
  unsigned char* sm = static_cast<unsigned char*>(raw);
  for (const uint64_t blin : block_order(uint64_t(grid.x) * grid.y * grid.z)) {
    const unsigned bx = unsigned(blin % grid.x), by = unsigned(blin / grid.x % grid.y), bz = unsigned(blin / grid.x / grid.y);
    std::memset(sm, 0xff, smem);  // shared memory starts as garbage (NaN)
    Block blk;
    blk.bar = std::make_unique<std::barrier<>>(nt);
    blk.warps.resize((nt + 31) / 32);
    for (unsigned w = 0; w < blk.warps.size(); ++w) {
      blk.warps[w].lanes = int(std::min(32u, nt - 32 * w));
      blk.warps[w].bar = std::make_unique<std::barrier<>>(blk.warps[w].lanes);
    }
    blk.smem = sm;
    blk.smem_bytes = smem;
    std::vector<std::thread> th;
    th.reserve(nt);
    for (unsigned t = 0; t < nt; ++t)
      th.emplace_back([&, t] {
        threadIdx.x = t % block.x;
        threadIdx.y = (t / block.x) % block.y;
        threadIdx.z = t / (block.x * block.y);
        blockIdx.x = bx;
        blockIdx.y = by;
        blockIdx.z = bz;
        blockDim = block;
        gridDim = grid;
        tl_block = &blk;
        tl_lane = int(t % 32);
        tl_warp = int(t / 32);
        body(ctx);
        wgmma_thread_exit();
        blk.warps[t / 32].bar->arrive_and_drop();
        blk.bar->arrive_and_drop();
      });
    for (auto& x : th) x.join();
  }
}

}  // namespace emu

void __trap() {
  std::fprintf(stderr, "emu: __trap()\n");
  std::abort();
}

// ---------------------------------------------------------------- the CUDA runtime API over host memory
namespace {

std::mutex g_mem_mu;
std::map<uintptr_t, size_t> g_allocs;  // device allocation start -> bytes

[[noreturn]] void die(const char* what, const void* p, size_t n) {
  std::fprintf(stderr, "emu: %s (%p, %zu bytes)\n", what, p, n);
  std::abort();
}

// The allocation holding [p, p + n), or g_allocs.end(). Caller holds g_mem_mu.
std::map<uintptr_t, size_t>::iterator find_alloc(const void* p, size_t n) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return g_allocs.end();
  --it;
  return a + n <= it->first + it->second ? it : g_allocs.end();
}

struct EventClock {
  std::chrono::steady_clock::time_point t;
};

}  // namespace

struct EmuEvent {
  EventClock c;
};

namespace emu {
bool is_device_range(const void* p, size_t n) {
  std::lock_guard<std::mutex> l(g_mem_mu);
  return find_alloc(p, n) != g_allocs.end();
}
size_t live_allocations() {
  std::lock_guard<std::mutex> l(g_mem_mu);
  return g_allocs.size();
}
static std::atomic<size_t> g_host_allocs{0};
size_t host_allocations() { return g_host_allocs.load(); }
}  // namespace emu

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureWrongThread: return "cudaErrorStreamCaptureWrongThread";
    default: return "cudaErrorEmulated";
  }
}
const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated CUDA error"; }

cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  switch (a) {
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = static_cast<int>(emu::max_dynamic_smem()); return cudaSuccess;
    case cudaDevAttrMemoryPoolsSupported: *v = 1; return cudaSuccess;
    case cudaDevAttrL2CacheSize: *v = 1 << 20; return cudaSuccess;  // small: flush_l2 allocates 2x this
    case cudaDevAttrMultiProcessorCount: *v = 132; return cudaSuccess;  // an H100 SXM's
    case cudaDevAttrComputeCapabilityMajor: *v = 9; return cudaSuccess;  // sm_90: the wgmma path may run
    case cudaDevAttrComputeCapabilityMinor: *v = 0; return cudaSuccess;
  }
  *v = 0;
  return cudaErrorInvalidValue;
}

// Distinct handles (a capture belongs to one stream); work on any of them runs at once unless it captures.
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = new int(0);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete static_cast<int*>(s);
  return cudaSuccess;
}

// Exact size (posix_memalign: ASan then knows where the buffer ends), 256-byte aligned like cudaMalloc.
cudaError_t cudaMalloc(void** p, size_t n) {
  *p = nullptr;
  if (emu::refuse_in_capture(nullptr, "cudaMalloc")) return cudaErrorStreamCaptureUnsupported;
  if (n == 0) return cudaSuccess;
  if (const char* lim = std::getenv("EMU_MALLOC_LIMIT"); lim && n > std::strtoull(lim, nullptr, 10)) {
    emu::set_error(cudaErrorMemoryAllocation);
    return cudaErrorMemoryAllocation;
  }
  void* q = nullptr;
  if (posix_memalign(&q, 256, n) != 0) {
    emu::set_error(cudaErrorMemoryAllocation);
    return cudaErrorMemoryAllocation;
  }
  std::memset(q, 0xff, n);
  std::lock_guard<std::mutex> l(g_mem_mu);
  g_allocs[reinterpret_cast<uintptr_t>(q)] = n;
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  if (emu::refuse_in_capture(nullptr, "cudaFree")) return cudaErrorStreamCaptureUnsupported;
  {
    std::lock_guard<std::mutex> l(g_mem_mu);
    auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
    if (it == g_allocs.end()) die("cudaFree of a pointer that is not a live device allocation", p, 0);
    std::memset(p, 0xff, it->second);  // a use after free reads NaN (ASan also flags it)
    g_allocs.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t n) {
  emu::g_host_allocs.fetch_add(1);
  *p = std::malloc(n ? n : 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *free_bytes = size_t(1) << 30;
  *total_bytes = size_t(1) << 31;
  return cudaSuccess;
}

// Copies and memsets check the device side of their range against the live allocations.
// While their stream captures, memsets and device-to-device copies are recorded (the range is checked at each
// replay); a copy from or to the host is refused (it would read or write host memory at replay time).
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t st) {
  if (n == 0) return cudaSuccess;
  auto op = [p, v, n] {
    if (!emu::is_device_range(p, n)) die("cudaMemsetAsync outside a device allocation", p, n);
    std::memset(p, v, n);
  };
  if (emu::capture_record(st, op)) return cudaSuccess;
  op();
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind kind, cudaStream_t st) {
  if (n == 0) return cudaSuccess;
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  auto op = [=] {
    if (dst_dev && !emu::is_device_range(d, n)) die("cudaMemcpyAsync: destination outside a device allocation", d, n);
    if (src_dev && !emu::is_device_range(s, n)) die("cudaMemcpyAsync: source outside a device allocation", s, n);
    std::memmove(d, s, n);
  };
  if (kind != cudaMemcpyDeviceToDevice && emu::refuse_in_capture(st, "cudaMemcpyAsync to or from the host"))
    return cudaErrorStreamCaptureUnsupported;
  if (emu::capture_record(st, op)) return cudaSuccess;
  op();
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new EmuEvent();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (e == nullptr) return cudaErrorInvalidResourceHandle;
  if (emu::refuse_in_capture(s, "cudaEventRecord")) return cudaErrorStreamCaptureUnsupported;  // not modelled
  e->c.t = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  if (a == nullptr || b == nullptr) return cudaErrorInvalidResourceHandle;
  *ms = std::chrono::duration<float, std::milli>(b->c.t - a->c.t).count();
  return cudaSuccess;
}
