// gemm.cu: the built-in GEMM of the CUDA side (prunedBlock's Linear layers, SPEC §2/§5), used when the
// toolkit has no cuBLASLt (this one has none). Compiled for sm_80 / sm_90a / compute_90. Ran on an H200 on
// 2026-12-04 (docs/gpu-results.md); the ldmatrix fragments, 64-row tiles and paired stores of 2026-12-05 have run on
// the CPU emulator only.
//   C(m,n) = epilogue(alpha * sum_k A(arow(m), k) W(n, k))     A [*, lda] activations, W [N, ldw] Linear weight
// Epilogue (GemmArgs order, kernels/ops.h; gemm_epilogue.cuh, shared with gemm_wgmma.cu): + beta*C_old, + bias[n],
// act, * col_scale[n], + residual[rrow(m), n], stored at C[crow(m), n]; every element is rounded once, from FP32, to
// C's dtype.
//
// gemm_tc: BF16 A and W on tensor cores. CTA tile BMxBNx32: 128x128 by default, 64x128 when 128-row tiles would
//   leave SMs idle (the B=1 Linear layers: M=2871 x N=384 is 69 CTAs of 128 rows for 132 SMs, 135 of 64), 128x256
//   on request (gemm_tile below). 8 warps as 2 (M) x 4 (N), warp tile (16 MT)x(8 NTW) = MTxNTW mma.sync m16n8k16
//   per 16-wide k step, FP32 accumulators, fragments by ldmatrix (tc_common.cuh). Three shared-memory stages
//   fed by 16-byte cp.async when every row start is 16-byte aligned (lda, ldw, K multiples of 8, aligned
//   pointers), else by plain bounds-checked element loads (same pipeline, slower). Rows are padded by 16 bytes
//   (row stride 80 bytes = 20 words) so the 8 rows x 4 words of a fragment load hit 32 distinct banks.
//   Out-of-range rows / k are zero-filled, so tails need no special case in the MMA loop.
// gemm_wgmma.cu: the sm_90a path (wgmma), opt-in by REG4PRU_CUDA_GEMM=wgmma until timed on a GPU.
// gemm_simt: FP32 A and W, 64x64x16 tiles, 4x4 outputs per thread, FMA in ascending k: matches the CPU GEMM
//   to float rounding.
// Each C element is reduced over k in a fixed order by one thread: deterministic.
#include <cuda_runtime.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "kernels/cuda/attention_ops.h"
#include "kernels/cuda/check.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/gemm_epilogue.cuh"
#include "kernels/cuda/tc_common.cuh"

namespace r4p::cuda {

using dev::bf16;
using gemm_detail::GemmK;
using gemm_detail::epilogue_store;
using gemm_detail::epilogue_store2;

namespace {

// ---------------------------------------------------------------- tensor-core kernel
constexpr int kBK = 32, kStages = 3, kTcThreads = 256;
constexpr int kLDS = kBK + 8;  // padded row (elements)
template <int BM, int BN>
constexpr size_t tc_smem() { return sizeof(bf16) * size_t(kStages) * (BM + BN) * kLDS; }

// Fills one stage: BM A rows m0.. (through a_rows) and BN W rows n0.., k in [k0, k0 + 32).
template <bool kAsync, int BM, int BN>
__device__ __forceinline__ void tc_load(const GemmK& p, bf16* As, bf16* Ws, int m0, int n0, int k0, int tid) {
  const bf16* A = static_cast<const bf16*>(p.A);
  const bf16* W = static_cast<const bf16*>(p.W);
  if (kAsync) {
    // BM (W: BN) rows x 4 chunks of 8 per operand: (BM + BN) / 64 chunks per thread.
#pragma unroll
    for (int c = tid; c < BM * (kBK / 8); c += kTcThreads) {
      const int r = c >> 2, kc = (c & 3) * 8, m = m0 + r, k = k0 + kc;
      const bool ok = m < p.M && k < p.K;  // K % 8 == 0 on this path: a chunk is all in or all out
      const bf16* src = ok ? A + int64_t(p.a_rows ? p.a_rows[m] : m) * p.lda + k : A;
      dev::cp_async16(As + r * kLDS + kc, src, ok ? 16 : 0);
    }
#pragma unroll
    for (int c = tid; c < BN * (kBK / 8); c += kTcThreads) {
      const int r = c >> 2, kc = (c & 3) * 8, n = n0 + r, k = k0 + kc;
      const bool ok = n < p.N && k < p.K;
      dev::cp_async16(Ws + r * kLDS + kc, ok ? W + int64_t(n) * p.ldw + k : W, ok ? 16 : 0);
    }
  } else {
    for (int e = tid; e < BM * kBK; e += kTcThreads) {
      const int r = e / kBK, kk = e % kBK, m = m0 + r, k = k0 + kk;
      As[r * kLDS + kk] = (m < p.M && k < p.K) ? A[int64_t(p.a_rows ? p.a_rows[m] : m) * p.lda + k] : __float2bfloat16_rn(0.f);
    }
    for (int e = tid; e < BN * kBK; e += kTcThreads) {
      const int r = e / kBK, kk = e % kBK, n = n0 + r, k = k0 + kk;
      Ws[r * kLDS + kk] = (n < p.N && k < p.K) ? W[int64_t(n) * p.ldw + k] : __float2bfloat16_rn(0.f);
    }
  }
}

// MT m-tiles (16 rows) x NTW n-tiles (8 columns) per warp; 2 x 4 warps: a CTA tile of (32 MT) x (32 NTW).
template <bool kAsync, int MT, int NTW>
__global__ void __launch_bounds__(kTcThreads) gemm_tc(GemmK p) {
  constexpr int kBM = 32 * MT, kBN = 32 * NTW;
  R4P_DYNAMIC_SMEM(smraw);
  bf16* As = reinterpret_cast<bf16*>(smraw);         // [stages][BM][40]
  bf16* Ws = As + kStages * kBM * kLDS;              // [stages][BN][40]
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t = lane & 3;
  const int wm = w >> 2, wn = w & 3;
  const int m0 = blockIdx.x * kBM, n0 = blockIdx.y * kBN;
  const int ktiles = (p.K + kBK - 1) / kBK;

  float acc[MT][NTW][4];
#pragma unroll
  for (int i = 0; i < MT; ++i)
#pragma unroll
    for (int j = 0; j < NTW; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.f;

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < ktiles) tc_load<kAsync, kBM, kBN>(p, As + s * kBM * kLDS, Ws + s * kBN * kLDS, m0, n0, s * kBK, tid);
    dev::cp_async_commit();  // possibly empty: keeps the group count per iteration uniform
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    dev::cp_async_wait<kStages - 2>();  // tile kt has landed (this thread's copies)
    __syncthreads();                    // ... and everyone's; also: stage (kt-1)%3 is no longer read
    const int pf = kt + kStages - 1;
    if (pf < ktiles) {
      const int s = pf % kStages;
      tc_load<kAsync, kBM, kBN>(p, As + s * kBM * kLDS, Ws + s * kBN * kLDS, m0, n0, pf * kBK, tid);
    }
    dev::cp_async_commit();
    const bf16* At = As + (kt % kStages) * kBM * kLDS;
    const bf16* Wt = Ws + (kt % kStages) * kBN * kLDS;
#pragma unroll
    for (int kk = 0; kk < kBK / 16; ++kk) {
      uint32_t a[MT][4], b[NTW][2];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) dev::frag_a<kLDS>(a[mt], At, wm * 16 * MT + mt * 16, kk * 16, g, t);
#pragma unroll
      for (int nt = 0; nt < NTW; nt += 2) dev::frag_b2<kLDS>(b[nt], b[nt + 1], Wt, wn * 8 * NTW + nt * 8, kk * 16, g, t);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int nt = 0; nt < NTW; ++nt) dev::mma_bf16(acc[mt][nt], a[mt], b[nt]);
    }
  }
  dev::cp_async_wait<0>();  // no copy may be in flight when the CTA exits

#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < NTW; ++nt)
#pragma unroll
      for (int h = 0; h < 2; ++h) {  // rows g and g + 8: a column pair each
        const int m = m0 + wm * 16 * MT + mt * 16 + g + 8 * h;
        const int n = n0 + wn * 8 * NTW + nt * 8 + 2 * t;
        if (m < p.M) epilogue_store2(p, m, n, acc[mt][nt][2 * h], acc[mt][nt][2 * h + 1]);
      }
}

// ---------------------------------------------------------------- SIMT FP32 kernel
constexpr int kSB = 64, kSK = 16, kSimtThreads = 256;

__global__ void __launch_bounds__(kSimtThreads) gemm_simt(GemmK p) {
  __shared__ float As[kSK][kSB + 4];  // [k][m]
  __shared__ float Ws[kSK][kSB + 4];  // [k][n]
  const float* A = static_cast<const float*>(p.A);
  const float* W = static_cast<const float*>(p.W);
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int m0 = blockIdx.x * kSB, n0 = blockIdx.y * kSB;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < p.K; k0 += kSK) {
    // 64 rows x 16 k per operand: 4 elements per thread, consecutive threads along k (coalesced).
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int e = tid + q * kSimtThreads, r = e >> 4, kk = e & 15, k = k0 + kk;
      const int m = m0 + r, n = n0 + r;
      As[kk][r] = (m < p.M && k < p.K) ? A[int64_t(p.a_rows ? p.a_rows[m] : m) * p.lda + k] : 0.f;
      Ws[kk][r] = (n < p.N && k < p.K) ? W[int64_t(n) * p.ldw + k] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kSK; ++kk) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Ws[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int m = m0 + ty * 4 + i, n = n0 + tx * 4 + j;
      if (m < p.M && n < p.N) epilogue_store(p, m, n, acc[i][j]);
    }
}

bool is_float_type(DType t) { return t == DType::F32 || t == DType::BF16; }

// The tensor-core CTA tile, rows x columns: 128x128 by default; 64x128 when 128x128 tiles would leave SMs idle
// (twice the CTAs, each with half the arithmetic per W tile it loads: only worth it short of one wave).
// REG4PRU_CUDA_GEMM_TILE forces one: "64" (64x128), "128" (128x128) or "256" (128x256: warp tiles of 64x64, twice
// the MMAs per fragment load and per W byte, 92 KiB of shared memory and one CTA per SM; not the default until a
// GPU run has timed it). Read at each call, so a benchmark can compare them in one process.
enum class TcTile { k64x128, k128x128, k128x256 };

TcTile gemm_tile(int64_t M, int64_t N) {
  if (const char* e = std::getenv("REG4PRU_CUDA_GEMM_TILE")) {
    if (std::strcmp(e, "64") == 0) return TcTile::k64x128;
    if (std::strcmp(e, "128") == 0) return TcTile::k128x128;
    if (std::strcmp(e, "256") == 0) return TcTile::k128x256;
  }
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    cudaGetLastError();
    return TcTile::k128x128;
  }
  return ((M + 127) / 128) * ((N + 127) / 128) < sms ? TcTile::k64x128 : TcTile::k128x128;
}

template <int MT, int NTW>
Status launch_tc(const GemmK& p, bool async, cudaStream_t stream, const char* op) {
  constexpr int BM = 32 * MT, BN = 32 * NTW;
  constexpr size_t smem = tc_smem<BM, BN>();
  const int64_t gy = (int64_t(p.N) + BN - 1) / BN;
  if (gy > 65535) return range_error(op, ": N=", p.N, " is too large for the GEMM grid (at most ", 65535 * BN, ")");
  const dim3 grid(static_cast<unsigned>((p.M + BM - 1) / BM), static_cast<unsigned>(gy));
  if (async) {
    R4P_CUDA_TRY(op, cudaFuncSetAttribute(gemm_tc<true, MT, NTW>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    gemm_tc<true, MT, NTW><<<grid, kTcThreads, smem, stream>>>(p);
  } else {
    R4P_CUDA_TRY(op, cudaFuncSetAttribute(gemm_tc<false, MT, NTW>, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    gemm_tc<false, MT, NTW><<<grid, kTcThreads, smem, stream>>>(p);
  }
  return launch_status(op);
}

}  // namespace

Status gemm_launch(const GemmDevArgs& a, cudaStream_t stream, const char* op) {
  if (a.M < 0 || a.N < 0 || a.K < 0 || a.M > INT_MAX || a.N > INT_MAX || a.K > INT_MAX)
    return range_error(op, ": expected 0 <= M, N, K < 2^31, received M=", a.M, " N=", a.N, " K=", a.K);
  if (a.M == 0 || a.N == 0) return Status::Ok();
  if (a.ab_dtype != DType::F32 && a.ab_dtype != DType::BF16)
    return type_error(op, ": expected A and W to be float32 or bfloat16, received ", dtype_name(a.ab_dtype));
  if (!is_float_type(a.c_dtype)) return type_error(op, ": expected C to be float32 or bfloat16, received ", dtype_name(a.c_dtype));
  if (a.bias && !is_float_type(a.bias_dtype)) return type_error(op, ": expected bias to be float32 or bfloat16");
  if (a.col_scale && !is_float_type(a.col_scale_dtype)) return type_error(op, ": expected colScale to be float32 or bfloat16");
  if (a.residual && !is_float_type(a.residual_dtype)) return type_error(op, ": expected residual to be float32 or bfloat16");
  if (!a.A || !a.W || !a.C) return internal_error(op, ": null A, W or C");
  if (a.lda < a.K || a.ldw < a.K || a.ldc < a.N || (a.residual && a.ldr < a.N))
    return range_error(op, ": leading dimensions too small (lda=", a.lda, " ldw=", a.ldw, " ldc=", a.ldc, " ldr=", a.ldr,
                       " for M=", a.M, " N=", a.N, " K=", a.K, ")");
  if (a.act != Activation::kNone && a.act != Activation::kRelu && a.act != Activation::kGelu)
    return range_error(op, ": unknown activation ", int(a.act));
  GemmK p{};
  p.M = int(a.M); p.N = int(a.N); p.K = int(a.K);
  p.A = a.A; p.lda = a.lda; p.a_rows = a.a_rows;
  p.W = a.W; p.ldw = a.ldw;
  p.C = a.C; p.ldc = a.ldc; p.c_bf16 = a.c_dtype == DType::BF16; p.c_rows = a.c_rows;
  p.alpha = a.alpha; p.beta = a.beta;
  p.bias = a.bias; p.bias_bf16 = a.bias_dtype == DType::BF16;
  p.act = int(a.act);
  p.col_scale = a.col_scale; p.cs_bf16 = a.col_scale_dtype == DType::BF16;
  p.residual = a.residual; p.res_bf16 = a.residual_dtype == DType::BF16; p.ldr = a.ldr; p.r_rows = a.r_rows;

  if (a.ab_dtype == DType::BF16) {
    const bool async = a.K % 8 == 0 && a.lda % 8 == 0 && a.ldw % 8 == 0 && aligned16(a.A) && aligned16(a.W);
    if (gemm_detail::wgmma_wanted(async)) return gemm_detail::wgmma_launch(p, stream, op);
    switch (gemm_tile(a.M, a.N)) {
      case TcTile::k64x128: return launch_tc<2, 4>(p, async, stream, op);
      case TcTile::k128x256: return launch_tc<4, 8>(p, async, stream, op);
      default: return launch_tc<4, 4>(p, async, stream, op);
    }
  }
  const int64_t gy = (a.N + kSB - 1) / kSB;
  if (gy > 65535) return range_error(op, ": N=", a.N, " is too large for the GEMM grid (at most ", 65535 * kSB, ")");
  const dim3 grid(static_cast<unsigned>((a.M + kSB - 1) / kSB), static_cast<unsigned>(gy));
  gemm_simt<<<grid, kSimtThreads, 0, stream>>>(p);
  return launch_status(op);
}

Status gemm(const GemmDevArgs& a) {
  const char* op = "cudaLinear";
  R4P_RETURN_IF_ERROR(ensure_ready(op));
  return gemm_launch(a, lib_stream(), op);
}

}  // namespace r4p::cuda
