// emu.cc: the CUDA emulator's machinery (see include/cuda_runtime.h): a block's threads as std::threads,
// barriers for __syncthreads / __syncwarp, per-warp exchange buffers for shuffles and mma.sync, cp.async as
// an immediate copy, and stand-ins of the addon's CUDA runtime (kernels/cuda/cuda_runtime_api.h) over host
// memory. Device allocations are filled with 0xFF bytes (NaN as float / bfloat16, -1 as int32) so a kernel
// that reads memory nothing wrote, or leaves an output element unwritten, shows up as NaN in the comparisons.
#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cuda_runtime.h"
#include "kernels/cuda/cuda_runtime_api.h"

thread_local uint3 threadIdx;
thread_local uint3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace emu {
namespace {

struct Warp {
  std::unique_ptr<std::barrier<>> bar;
  uint64_t xchg[32];
  uint32_t a[32][4];
  uint32_t b[32][2];
};
struct Block {
  std::unique_ptr<std::barrier<>> bar;
  std::vector<Warp> warps;
  unsigned char* smem = nullptr;
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

void cp_async16(void* smem, const void* gmem, int src_bytes) {
  if (src_bytes < 0 || src_bytes > 16) {
    std::fprintf(stderr, "emu: cp.async src_bytes %d\n", src_bytes);
    std::abort();
  }
  std::memcpy(smem, gmem, static_cast<size_t>(src_bytes));
  std::memset(static_cast<unsigned char*>(smem) + src_bytes, 0, static_cast<size_t>(16 - src_bytes));
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

void run_grid(dim3 grid, dim3 block, size_t smem, void (*body)(void*), void* ctx) {
  const unsigned nt = block.x * block.y * block.z;
  std::vector<unsigned char> buf(smem + 256);
  unsigned char* sm = buf.data() + ((256 - (reinterpret_cast<uintptr_t>(buf.data()) & 255)) & 255);
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        std::memset(sm, 0xff, smem);  // shared memory starts as garbage (NaN)
        Block blk;
        blk.bar = std::make_unique<std::barrier<>>(nt);
        blk.warps.resize((nt + 31) / 32);
        for (unsigned w = 0; w < blk.warps.size(); ++w)
          blk.warps[w].bar = std::make_unique<std::barrier<>>(std::min(32u, nt - 32 * w));
        blk.smem = sm;
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
int atomicMin(int* p, int v) {
  std::lock_guard<std::mutex> l(emu::g_mu);
  const int old = *p;
  if (v < old) *p = v;
  return old;
}

// ---------------------------------------------------------------- the addon runtime, over host memory
namespace r4p::cuda {

bool available(std::string* why) {
  if (why) why->clear();
  return true;
}
Status ensure_ready(const char*) { return Status::Ok(); }
Status device_alloc(void** ptr, size_t bytes) {
  *ptr = nullptr;
  if (bytes == 0) return Status::Ok();
  void* p = std::aligned_alloc(256, (bytes + 255) & ~size_t(255));
  if (!p) return Status::Make(StatusCode::kOutOfMemory, detail::concat("emu: out of memory for ", bytes, " bytes"));
  std::memset(p, 0xff, bytes);
  *ptr = p;
  return Status::Ok();
}
void device_free(void* ptr) { std::free(ptr); }
Status upload(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  return Status::Ok();
}
Status download(void* dst, const void* src, size_t bytes) {
  std::memcpy(dst, src, bytes);
  const cudaError_t e = emu::last_error(false);
  if (e != cudaSuccess) return internal_error("emu: pending error ", e);
  return Status::Ok();
}
Status synchronize() { return Status::Ok(); }
void* stream() { return nullptr; }

}  // namespace r4p::cuda
