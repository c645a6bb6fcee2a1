// tc_common.cuh: device helpers shared by the attention, GEMM and prunedBlock kernels (cuda-attn):
// BF16 <-> FP32 element access for either dtype, the BF16 tensor-core MMA (mma.sync m16n8k16, FP32
// accumulate), ldmatrix fragment loads, cp.async 16-byte copies into shared memory, warp reductions.
// Ran on an H200 on 2026-12-04: every GPU test passing, compute-sanitizer clean (docs/gpu-results.md); the ldmatrix
// loads (2026-12-05) have run on the CPU emulator only (emu.cc ldmatrix_b16, the PTX ISA's fragment layout).
//
// mma.sync.m16n8k16.row.col fragment layout (PTX ISA "Matrix fragments for mma.m16n8k16"), per lane with
// g = lane / 4 (group) and t = lane % 4 (thread in group); each 32-bit register packs two BF16 with the
// lower column (k) index in the low half:
//   A (16x16, row-major):  a[0] = A[g][2t..2t+1]   a[1] = A[g+8][2t..2t+1]
//                          a[2] = A[g][2t+8..+9]   a[3] = A[g+8][2t+8..+9]
//   B (16x8, k x n):       b[0] = B[2t..2t+1][g]   b[1] = B[2t+8..+9][g]
//   C/D (16x8 f32):        c[0], c[1] = C[g][2t], C[g][2t+1];   c[2], c[3] = C[g+8][2t], C[g+8][2t+1]
// So a C fragment pair (n-tiles 2c and 2c+1) re-packs into the A fragment of k-chunk c without any data
// movement (FlashAttention-2's register trick for P·V).
//
// R4P_CUDA_EMU: native/dev/cuda_emu compiles these kernels as plain C++ with one host thread per CUDA
// thread, to check their index arithmetic against the CPU ref kernels without a GPU; the emu branches
// below route the PTX-only pieces (mma, ldmatrix, cp.async) to its functions. nvcc builds never define it.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

// Dynamic shared memory of a kernel, as bytes (16-byte aligned).
#ifdef R4P_CUDA_EMU
#define R4P_DYNAMIC_SMEM(name) unsigned char* name = ::emu::dynamic_smem()
#else
#define R4P_DYNAMIC_SMEM(name) extern __shared__ __align__(16) unsigned char name[]
#endif

namespace r4p::cuda::dev {

using bf16 = __nv_bfloat16;

// Element i of a buffer that is either FP32 (is_bf16 = false) or BF16, as float.
__device__ __forceinline__ float ld_f(const void* p, bool is_bf16, int64_t i) {
  return is_bf16 ? __bfloat162float(static_cast<const bf16*>(p)[i]) : static_cast<const float*>(p)[i];
}
__device__ __forceinline__ void st_f(void* p, bool is_bf16, int64_t i, float v) {
  if (is_bf16)
    static_cast<bf16*>(p)[i] = __float2bfloat16_rn(v);
  else
    static_cast<float*>(p)[i] = v;
}

// Elements i and i + 1 of such a buffer: one 8-byte (FP32) or 4-byte (BF16) store where that address allows it,
// else two; each value rounded on its own either way, so the bits are those of two st_f.
__device__ __forceinline__ void st_f2(void* p, bool is_bf16, int64_t i, float v0, float v1) {
  if (is_bf16) {
    bf16* q = static_cast<bf16*>(p) + i;
    if ((reinterpret_cast<uintptr_t>(q) & 3) == 0) {
      *reinterpret_cast<__nv_bfloat162*>(q) = __floats2bfloat162_rn(v0, v1);
      return;
    }
  } else {
    float* q = static_cast<float*>(p) + i;
    if ((reinterpret_cast<uintptr_t>(q) & 7) == 0) {
      *reinterpret_cast<float2*>(q) = make_float2(v0, v1);
      return;
    }
  }
  st_f(p, is_bf16, i, v0);
  st_f(p, is_bf16, i + 1, v1);
}

// Typed element load as float (T = float or bf16).
template <typename T>
__device__ __forceinline__ float to_f(T v);
template <>
__device__ __forceinline__ float to_f<float>(float v) { return v; }
template <>
__device__ __forceinline__ float to_f<bf16>(bf16 v) { return __bfloat162float(v); }

// Two floats -> one register of two BF16 (round to nearest even), lo in the low 16 bits.
__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t r;
  memcpy(&r, &v, sizeof(r));  // a register move; no type-punned dereference
  return r;
}
// Two BF16 from two addresses (a column pair of a row-major tile: the "transposed" B fragment) -> one register.
__device__ __forceinline__ uint32_t pack2(const bf16* lo, const bf16* hi) {
  const uint16_t l = *reinterpret_cast<const uint16_t*>(lo);
  const uint16_t h = *reinterpret_cast<const uint16_t*>(hi);
  return static_cast<uint32_t>(l) | (static_cast<uint32_t>(h) << 16);
}
// Two adjacent BF16 (4-byte aligned) -> one register.
__device__ __forceinline__ uint32_t ld32(const bf16* p) { return *reinterpret_cast<const uint32_t*>(p); }

// ldmatrix.sync.aligned.m8n8.x{1,2,4}{.trans}.shared.b16 (sm_75+): COUNT 8x8 matrices of 16-bit elements from
// shared memory, one instruction per warp. Lane 8i + r passes the address of row r of matrix i (16 bytes, 16-byte
// aligned; with COUNT < 4 the other lanes' addresses are ignored but must still be valid); lane l receives in r[i]
// the 32-bit word l % 4 of row l / 4 of matrix i, i.e. exactly an mma fragment register (g = row, t = word).
// With .trans it receives column l / 4, rows 2 (l % 4) and 2 (l % 4) + 1: the fragment of the transposed matrix.
// Every lane must execute it (it is warp-collective, like mma.sync).
template <int COUNT, bool TRANS>
__device__ __forceinline__ void ldmatrix(uint32_t r[COUNT], const bf16* row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(row));
  if constexpr (COUNT == 4 && TRANS)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
  else if constexpr (COUNT == 4)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
  else if constexpr (COUNT == 2 && TRANS)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(s));
  else if constexpr (COUNT == 2)
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(s));
  else
    static_assert(COUNT == 2 || COUNT == 4, "ldmatrix: x2 or x4");
#elif defined(R4P_CUDA_EMU)
  ::emu::ldmatrix_b16(r, COUNT, TRANS, row);
#else
  (void)r; (void)row;
  __trap();
#endif
}

// The mma operand fragments (layout above) read from a row-major BF16 shared-memory tile with row stride LD
// (LD * 2 bytes a multiple of 16, tile 16-byte aligned, column offsets multiples of 8):
//   frag_a:     A = the 16x16 block at rows r0.., columns c0..
//   frag_b:     B[k][n] = tile[n0 + n][c0 + k]   (a [n][k] tile: K rows for Q K^T, W rows for x W^T)
//   frag_b2:    frag_b of n-tiles n0 and n0 + 8 (one x4 load)
//   frag_b_kn:  B[k][n] = tile[r0 + k][c0 + n]   (a [k][n] tile: V rows for P V, column pairs)
//   frag_b_kn2: frag_b_kn of n-tiles c0 and c0 + 8 (one x4 load)
// By default through ldmatrix (the lane's row address below: lane 8i + r addresses row r of matrix i, the
// matrices in register order). Built with R4P_CUDA_LDS_FRAGMENTS, through 32-bit (and, for frag_b_kn, 16-bit)
// shared-memory loads instead, the path that ran on an H200 on 2026-12-04: the same values in the same registers,
// so both give identical bits; the switch is there to time one against the other on a GPU.
#ifndef R4P_CUDA_LDS_FRAGMENTS
template <int LD>
__device__ __forceinline__ void frag_a(uint32_t a[4], const bf16* tile, int r0, int c0, int g, int t) {
  // matrices (rows r0, c0) (r0 + 8, c0) (r0, c0 + 8) (r0 + 8, c0 + 8) = a[0..3]
  const int l = 4 * g + t;
  ldmatrix<4, false>(a, tile + (r0 + (l & 15)) * LD + c0 + 8 * (l >> 4));
}
template <int LD>
__device__ __forceinline__ void frag_b(uint32_t b[2], const bf16* tile, int n0, int c0, int g, int t) {
  // matrices (n0, c0) (n0, c0 + 8) = b[0], b[1]; lanes 16..31 repeat lanes 0..15's addresses
  const int l = 4 * g + t;
  ldmatrix<2, false>(b, tile + (n0 + (l & 7)) * LD + c0 + 8 * ((l >> 3) & 1));
}
template <int LD>
__device__ __forceinline__ void frag_b2(uint32_t b0[2], uint32_t b1[2], const bf16* tile, int n0, int c0, int g, int t) {
  // matrices (n0, c0) (n0, c0 + 8) (n0 + 8, c0) (n0 + 8, c0 + 8) = b0[0], b0[1], b1[0], b1[1]
  const int l = 4 * g + t;
  uint32_t r[4];
  ldmatrix<4, false>(r, tile + (n0 + (l & 7) + 8 * (l >> 4)) * LD + c0 + 8 * ((l >> 3) & 1));
  b0[0] = r[0]; b0[1] = r[1]; b1[0] = r[2]; b1[1] = r[3];
}
template <int LD>
__device__ __forceinline__ void frag_b_kn(uint32_t b[2], const bf16* tile, int r0, int c0, int g, int t) {
  // transposed matrices (rows r0, c0) (r0 + 8, c0) = b[0], b[1]
  const int l = 4 * g + t;
  ldmatrix<2, true>(b, tile + (r0 + (l & 15)) * LD + c0);
}
template <int LD>
__device__ __forceinline__ void frag_b_kn2(uint32_t b0[2], uint32_t b1[2], const bf16* tile, int r0, int c0, int g, int t) {
  // transposed matrices (r0, c0) (r0 + 8, c0) (r0, c0 + 8) (r0 + 8, c0 + 8) = b0[0], b0[1], b1[0], b1[1]
  const int l = 4 * g + t;
  uint32_t r[4];
  ldmatrix<4, true>(r, tile + (r0 + (l & 15)) * LD + c0 + 8 * (l >> 4));
  b0[0] = r[0]; b0[1] = r[1]; b1[0] = r[2]; b1[1] = r[3];
}
#else
template <int LD>
__device__ __forceinline__ void frag_a(uint32_t a[4], const bf16* tile, int r0, int c0, int g, int t) {
  const bf16* pa = tile + (r0 + g) * LD + c0 + 2 * t;
  a[0] = ld32(pa);
  a[1] = ld32(pa + 8 * LD);
  a[2] = ld32(pa + 8);
  a[3] = ld32(pa + 8 * LD + 8);
}
template <int LD>
__device__ __forceinline__ void frag_b(uint32_t b[2], const bf16* tile, int n0, int c0, int g, int t) {
  const bf16* pb = tile + (n0 + g) * LD + c0 + 2 * t;
  b[0] = ld32(pb);
  b[1] = ld32(pb + 8);
}
template <int LD>
__device__ __forceinline__ void frag_b2(uint32_t b0[2], uint32_t b1[2], const bf16* tile, int n0, int c0, int g, int t) {
  frag_b<LD>(b0, tile, n0, c0, g, t);
  frag_b<LD>(b1, tile, n0 + 8, c0, g, t);
}
template <int LD>
__device__ __forceinline__ void frag_b_kn(uint32_t b[2], const bf16* tile, int r0, int c0, int g, int t) {
  const bf16* p0 = tile + (r0 + 2 * t) * LD + c0 + g;
  b[0] = pack2(p0, p0 + LD);
  b[1] = pack2(p0 + 8 * LD, p0 + 9 * LD);
}
template <int LD>
__device__ __forceinline__ void frag_b_kn2(uint32_t b0[2], uint32_t b1[2], const bf16* tile, int r0, int c0, int g, int t) {
  frag_b_kn<LD>(b0, tile, r0, c0, g, t);
  frag_b_kn<LD>(b1, tile, r0, c0 + 8, g, t);
}
#endif
// The A fragment of k-chunk c from the FP32 C fragments of n-tiles 2c and 2c+1, rounded to BF16 (the register
// trick above: P or dA straight from the score registers).
__device__ __forceinline__ void frag_a_from_c(uint32_t a[4], const float* c0, const float* c1) {
  a[0] = pack_bf16(c0[0], c0[1]);
  a[1] = pack_bf16(c0[2], c0[3]);
  a[2] = pack_bf16(c1[0], c1[1]);
  a[3] = pack_bf16(c1[2], c1[3]);
}

// d += a (16x16 bf16) * b (16x8 bf16), FP32 accumulators.
__device__ __forceinline__ void mma_bf16(float d[4], const uint32_t a[4], const uint32_t b[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
      "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(R4P_CUDA_EMU)
  ::emu::mma_bf16_m16n8k16(d, a, b);
#else
  // Never compiled for the targets we build (sm_80+); keeps host passes and older archs well-formed.
  (void)d; (void)a; (void)b;
  __trap();
#endif
}

// 16-byte global -> shared copy, asynchronous (sm_80+). src_bytes < 16 zero-fills the rest; 0 reads
// nothing (src must still be a valid address: callers pass the tile's base).
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
#elif defined(R4P_CUDA_EMU)
  ::emu::cp_async16(smem, gmem, src_bytes);
#else
  (void)smem; (void)gmem; (void)src_bytes;
  __trap();
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
// Waits until at most n of this thread's committed groups are still pending.
template <int n>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(n));
#endif
}

// Rows [r0, r0 + R) x DH of a BF16 matrix with row stride sn (elements) -> a [R][DH+8] shared-memory tile by
// 16-byte cp.async from the THREADS threads of the block; rows >= N are zero-filled. Needs DH % 8 == 0 and
// 16-byte aligned rows. The caller commits and waits.
template <int DH, int R, int THREADS>
__device__ __forceinline__ void tile_async(bf16* dst, const bf16* src, int64_t sn, int r0, int N, int tid) {
  constexpr int CPR = DH / 8, LD = DH + 8;  // 16-byte chunks per row; +16 bytes per row: conflict-free fragments
  for (int c = tid; c < R * CPR; c += THREADS) {
    const int r = c / CPR, col = (c % CPR) * 8, row = r0 + r;
    const bool ok = row < N;
    cp_async16(dst + r * LD + col, ok ? src + int64_t(row) * sn + col : src, ok ? 16 : 0);
  }
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// (max, first index attaining it) over a warp; ties -> lower index, the CPU ref's first-max rule.
__device__ __forceinline__ void warp_argmax(float& v, int& j) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oj = __shfl_xor_sync(0xffffffffu, j, o);
    if (ov > v || (ov == v && oj < j)) {
      v = ov;
      j = oj;
    }
  }
}
// The same within the 4 lanes of a quad (the lanes sharing an mma row).
__device__ __forceinline__ void quad_argmax(float& v, int& j) {
#pragma unroll
  for (int o = 1; o < 4; o <<= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oj = __shfl_xor_sync(0xffffffffu, j, o);
    if (ov > v || (ov == v && oj < j)) {
      v = ov;
      j = oj;
    }
  }
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  v += __shfl_xor_sync(0xffffffffu, v, 2);
  return v;
}

// Exact (erf) GELU, the CPU kernels' activation.
__device__ __forceinline__ float gelu_erf(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }

}  // namespace r4p::cuda::dev
