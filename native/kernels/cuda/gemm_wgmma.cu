// gemm_wgmma.cu: the Hopper path of the built-in GEMM (sm_90a): wgmma.mma_async with both operands in shared
// memory, for BF16 A and W. Same contract and epilogue as gemm.cu's kernels (gemm_epilogue.cuh):
//   C(m,n) = epilogue(alpha * sum_k A(arow(m), k) W(n, k))
// Opt-in until a GPU has timed it against the mma.sync kernel: REG4PRU_CUDA_GEMM=wgmma (read at each call); it then
// takes every BF16 call whose rows the 16-byte copies can read (K, lda, ldw multiples of 8, aligned pointers) on
// an sm_90 device, and gemm.cu's kernels take the rest. Not yet run on a GPU: checked on the CPU emulator
// (native/dev/cuda_emu), whose wgmma reads the operands through the descriptors at the issue and again at the
// wait (so a stage overwritten while a wgmma may still read it fails there).
//
// CTA: WG warpgroups (128 WG threads), tile BM x BN x 64 with BM = 64 WG: 128x256 when those tiles fill the SMs,
// else 128x128 when those do, else 64x128 (the B=1 Linear layers: M=2871, N=384 is 69 CTAs of 128x128 for 132 SMs,
// 135 of 64x128); REG4PRU_CUDA_GEMM_TILE=64|128|256 forces one. Warpgroup wg owns rows 64 wg .. 64 wg + 63 and all
// BN columns: per 64-wide k tile, four wgmma m64nBNk16 (k slices of 16). Shared memory: 4 stages of [BM + BN rows][128 bytes]
// in the 128-byte swizzle (wgmma.cuh), filled by 16-byte cp.async from all threads, zero-filled past M, N, K.
// Pipeline per k tile kt: wait for tile kt's copies, proxy fence, barrier; start the copies of tile kt + 2 into
// stage (kt + 2) % 4; issue tile kt's wgmma as one group; wait until only that group is pending (the group of
// kt - 1 is then done). The stage refilled at kt was last read by the group of kt - 2, which both warpgroups
// retired before the barrier of kt; the group in flight (kt) reads another stage.
// Each C element is one FP32 accumulator of one thread, summed by the tensor cores in k order per slice.
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

#include "kernels/cuda/check.cuh"
#include "kernels/cuda/gemm_epilogue.cuh"
#include "kernels/cuda/wgmma.cuh"

namespace r4p::cuda::gemm_detail {

using dev::bf16;

namespace {

constexpr int kBK = 64, kStages = 4;
constexpr int kRowBytes = kBK * 2;  // one 128-byte swizzle row per tile row
template <int WG, int BN>
constexpr int stage_bytes() { return (64 * WG + BN) * kRowBytes; }
template <int WG, int BN>
constexpr size_t smem_bytes() { return size_t(kStages) * stage_bytes<WG, BN>() + 1024; }  // + alignment slack

// One stage: A rows m0 .. m0 + BM - 1 (through a_rows), then W rows n0 .. n0 + BN - 1, k in [k0, k0 + 64). The
// 16-byte chunk c of tile row r goes to r * 128 + (c ^ (r % 8)) * 16.
template <int WG, int BN>
__device__ __forceinline__ void load_stage(const GemmK& p, unsigned char* st, int m0, int n0, int k0, int tid) {
  constexpr int kBM = 64 * WG, kThreads = 128 * WG;
  const bf16* A = static_cast<const bf16*>(p.A);
  const bf16* W = static_cast<const bf16*>(p.W);
#pragma unroll
  for (int c = tid; c < kBM * 8; c += kThreads) {
    const int r = c >> 3, ch = c & 7, m = m0 + r, k = k0 + ch * 8;
    const bool ok = m < p.M && k < p.K;  // K % 8 == 0: a chunk is all in or all out
    const bf16* src = ok ? A + int64_t(p.a_rows ? p.a_rows[m] : m) * p.lda + k : A;
    dev::cp_async16(st + r * kRowBytes + ((ch ^ (r & 7)) << 4), src, ok ? 16 : 0);
  }
  unsigned char* ws = st + kBM * kRowBytes;
#pragma unroll
  for (int c = tid; c < BN * 8; c += kThreads) {
    const int r = c >> 3, ch = c & 7, n = n0 + r, k = k0 + ch * 8;
    const bool ok = n < p.N && k < p.K;
    dev::cp_async16(ws + r * kRowBytes + ((ch ^ (r & 7)) << 4), ok ? W + int64_t(n) * p.ldw + k : W, ok ? 16 : 0);
  }
}

template <int WG, int BN>
__global__ void __launch_bounds__(128 * WG, 1) gemm_wgmma(GemmK p) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || defined(R4P_CUDA_EMU)
  constexpr int kBM = 64 * WG;
  R4P_DYNAMIC_SMEM(smraw);
  unsigned char* sm = smraw + ((1024 - (dev::smem_u32(smraw) & 1023)) & 1023);  // swizzle atoms are 1024-aligned
  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int m0 = blockIdx.x * kBM, n0 = blockIdx.y * BN;
  const int ktiles = (p.K + kBK - 1) / kBK;

  float acc[BN / 2];
#pragma unroll
  for (int i = 0; i < BN / 2; ++i) acc[i] = 0.f;

#pragma unroll
  for (int s = 0; s < kStages - 2; ++s) {
    if (s < ktiles) load_stage<WG, BN>(p, sm + s * stage_bytes<WG, BN>(), m0, n0, s * kBK, tid);
    dev::cp_async_commit();  // possibly empty: one group per tile keeps the wait count uniform
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    dev::cp_async_wait<kStages - 3>();  // tile kt's copies (this thread's) have landed
    dev::fence_proxy_async_shared();    // ... and are visible to wgmma's reads
    __syncthreads();                    // ... everyone's; both warpgroups have retired the group of kt - 2
    const int pf = kt + kStages - 2;
    if (pf < ktiles) load_stage<WG, BN>(p, sm + (pf % kStages) * stage_bytes<WG, BN>(), m0, n0, pf * kBK, tid);
    dev::cp_async_commit();
    const uint32_t st = dev::smem_u32(sm + (kt % kStages) * stage_bytes<WG, BN>());
    const uint32_t a0 = st + wg * 64 * kRowBytes, b0 = st + kBM * kRowBytes;
    dev::wgmma_fence_acc(acc);
    dev::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk)
      dev::wgmma_bf16<BN>(acc, dev::wgmma_desc_sw128(a0 + 32 * kk), dev::wgmma_desc_sw128(b0 + 32 * kk));
    dev::wgmma_commit();
    dev::wgmma_wait<1>();
    dev::wgmma_fence_acc(acc);
  }
  dev::wgmma_wait<0>();
  dev::wgmma_fence_acc(acc);  // the epilogue's reads stay after the wait
  dev::cp_async_wait<0>();  // no copy may be in flight when the CTA exits

  const int row = m0 + wg * 64 + warp * 16 + g;
#pragma unroll
  for (int j = 0; j < BN / 8; ++j) {
    const int n = n0 + 8 * j + 2 * t;
#pragma unroll
    for (int h = 0; h < 2; ++h)
      if (row + 8 * h < p.M) epilogue_store2(p, row + 8 * h, n, acc[4 * j + 2 * h], acc[4 * j + 2 * h + 1]);
  }
#else
  (void)p;  // built for every architecture of the fatbin; launched only on sm_90 devices (wgmma_wanted)
#endif
}

template <int WG, int BN>
Status launch(const GemmK& p, cudaStream_t stream, const char* op) {
  constexpr int BM = 64 * WG;
  constexpr size_t smem = smem_bytes<WG, BN>();
  const int64_t gy = (int64_t(p.N) + BN - 1) / BN;
  if (gy > 65535) return range_error(op, ": N=", p.N, " is too large for the GEMM grid (at most ", 65535 * BN, ")");
  const dim3 grid(static_cast<unsigned>((p.M + BM - 1) / BM), static_cast<unsigned>(gy));
  R4P_CUDA_TRY(op, cudaFuncSetAttribute(gemm_wgmma<WG, BN>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  gemm_wgmma<WG, BN><<<grid, 128 * WG, smem, stream>>>(p);
  return launch_status(op);
}

}  // namespace

bool wgmma_wanted(bool async_ok) {
  const char* e = std::getenv("REG4PRU_CUDA_GEMM");
  if (!async_ok || e == nullptr || std::strcmp(e, "wgmma") != 0) return false;
  int dev = 0, major = 0, minor = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return major == 9 && minor == 0;  // the fatbin's sm_90a cubin; other devices run no wgmma code
}

Status wgmma_launch(const GemmK& p, cudaStream_t stream, const char* op) {
  int tile = 0;  // 64: 64x128, 128: 128x128, 256: 128x256
  if (const char* e = std::getenv("REG4PRU_CUDA_GEMM_TILE")) tile = std::atoi(e);
  if (tile != 64 && tile != 128 && tile != 256) {
    int dev = 0, sms = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
      cudaGetLastError();
      sms = 1;
    }
    const auto ctas = [&](int bm, int bn) { return ((int64_t(p.M) + bm - 1) / bm) * ((int64_t(p.N) + bn - 1) / bn); };
    tile = ctas(128, 256) >= sms ? 256 : ctas(128, 128) >= sms ? 128 : 64;
  }
  if (tile == 256) return launch<2, 256>(p, stream, op);
  if (tile == 128) return launch<2, 128>(p, stream, op);
  return launch<1, 128>(p, stream, op);
}

}  // namespace r4p::cuda::gemm_detail
