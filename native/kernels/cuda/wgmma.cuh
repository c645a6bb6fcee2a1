// wgmma.cuh: the Hopper (sm_90a) warpgroup MMA pieces of the GEMM's wgmma path (gemm_wgmma.cu): shared-memory
// matrix descriptors for the 128-byte-swizzled K-major layout, wgmma.mma_async m64nNk16 (BF16 in, FP32 accumulate,
// both operands in shared memory), its fence / commit / wait, and the proxy fence that makes cp.async-written
// shared memory visible to wgmma's reads. Facts from the PTX ISA ("Asynchronous Warpgroup Level Matrix
// Instructions"); not yet run on a GPU: checked on the CPU emulator (emu.cc wgmma_*), which reads the operands
// through the same descriptor decoding, once at issue and once at the wait, and aborts when they differ.
//
// Layout (K-major, 128-byte swizzle, BF16): a tile is rows of 64 elements (128 bytes), row r at r * 128 from a
// 1024-byte aligned base; the 16-byte chunk c (elements 8c .. 8c + 7) of row r is stored at chunk position
// c ^ (r % 8). Descriptor: start address >> 4 (bits 0-13), leading byte offset >> 4 (16-29; unused by this
// layout, 1), stride byte offset >> 4 (32-45; 1024: the next 8-row group), swizzle mode (62-63; 1 = 128 bytes).
// The k-slice kk (16 elements, 32 bytes) of a tile starts at base + 32 kk; the hardware applies the swizzle to
// the address bits, so the slice needs no other change.
//
// Accumulators of m64nNk16 (FP32), per thread of the warpgroup with w = warp in the warpgroup, g = lane / 4,
// t = lane % 4: d[4j + 2h + e] = D[16w + g + 8h][8j + 2t + e] for j < N/8, h, e in {0, 1} (mma.sync's C layout,
// repeated over N/8 column groups and stacked over the four warps).
#pragma once
#include <cstdint>

#include "kernels/cuda/tc_common.cuh"

namespace r4p::cuda::dev {

// The shared-window address of a pointer into (dynamic) shared memory, as wgmma descriptors and cp.async take it.
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
#ifdef R4P_CUDA_EMU
  return static_cast<uint32_t>(static_cast<const unsigned char*>(p) - ::emu::dynamic_smem());
#else
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
#endif
}

// Descriptor of a K-major, 128-byte-swizzled BF16 operand starting at shared address `addr` (see above).
__device__ __forceinline__ uint64_t wgmma_desc_sw128(uint32_t addr) {
  return uint64_t((addr >> 4) & 0x3FFF) | (uint64_t(1) << 16) | (uint64_t(1024 >> 4) << 32) | (uint64_t(1) << 62);
}

// Orders this thread's earlier generic-proxy writes to shared memory (cp.async included) before later
// async-proxy reads (wgmma operands). Each writing thread runs it, then a barrier hands the data over.
__device__ __forceinline__ void fence_proxy_async_shared() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Before the first wgmma of a batch, and whenever the accumulators were touched by other instructions.
__device__ __forceinline__ void wgmma_fence() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
// Closes the batch of wgmma issued since the last commit into one group.
__device__ __forceinline__ void wgmma_commit() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#elif defined(R4P_CUDA_EMU)
  ::emu::wgmma_commit();
#endif
}
// Waits until at most N of this thread's committed groups are pending; their accumulators are then final and
// their shared-memory operands free for reuse.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
#elif defined(R4P_CUDA_EMU)
  ::emu::wgmma_wait(N);
#endif
}

// A compiler-level fence on the accumulator registers: the wgmma asm statements name them as operands, but the wait
// does not, so without this the compiler may move a read of an accumulator (the epilogue) or a write (the zero fill)
// across wgmma_wait / wgmma_fence. No instruction is emitted.
template <int N>
__device__ __forceinline__ void wgmma_fence_acc(float (&d)[N]) {
#if defined(__CUDA_ARCH__)
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
#else
  (void)d;
#endif
}

// The instruction itself: one asm statement per N (128, 256), which must list every accumulator register.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

__device__ __forceinline__ void wgmma_m64nk16_asm(float (&d)[64], uint64_t da, uint64_t db) {  // N = 128
  asm volatile(
      "{\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
      "{"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
      "}, %64, %65, 1, 1, 1, 0, 0;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(da), "l"(db));
}

__device__ __forceinline__ void wgmma_m64nk16_asm(float (&d)[128], uint64_t da, uint64_t db) {  // N = 256
  asm volatile(
      "{\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 "
      "{"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
      "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
      "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
      "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
      "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
      "}, %128, %129, 1, 1, 1, 0, 0;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
        "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
        "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
        "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
        "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
        "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
        "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
        "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
        "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
      : "l"(da), "l"(db));
}

#endif

// d (64 x N tile of the warpgroup, layout above) += A (64 x 16, descriptor da) * B^T (B: N x 16, descriptor db).
// Asynchronous: d must not be read or written until a wgmma_wait covers it.
template <int N>
__device__ __forceinline__ void wgmma_bf16(float (&d)[N / 2], uint64_t da, uint64_t db) {
  static_assert(N == 128 || N == 256, "wgmma_bf16: N = 128 or 256");
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  wgmma_m64nk16_asm(d, da, db);
#elif defined(R4P_CUDA_EMU)
  ::emu::wgmma_bf16_m64nk16(d, N, da, db);
#else
  (void)d; (void)da; (void)db;
  __trap();
#endif
}

}  // namespace r4p::cuda::dev
