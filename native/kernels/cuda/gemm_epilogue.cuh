// gemm_epilogue.cuh: what the GEMM kernels of gemm.cu (mma.sync, SIMT) and gemm_wgmma.cu (wgmma, sm_90a) share:
// the kernel's parameter block and the epilogue (kernels/ops.h GemmArgs order):
//   C[crow(m), n] = act(alpha * acc + beta * C_old + bias[n]) * col_scale[n] + residual[rrow(m), n]
// every element rounded once, from FP32, to C's dtype.
#pragma once
#include <cstdint>

#include "kernels/cuda/tc_common.cuh"
#include "kernels/cuda/attention_ops.h"

namespace r4p::cuda::gemm_detail {

struct GemmK {
  int M, N, K;
  const void* A; int64_t lda; const int32_t* a_rows;
  const void* W; int64_t ldw;
  void* C; int64_t ldc; bool c_bf16; const int32_t* c_rows;
  float alpha, beta;
  const void* bias; bool bias_bf16;
  int act;  // Activation
  const void* col_scale; bool cs_bf16;
  const void* residual; bool res_bf16; int64_t ldr; const int32_t* r_rows;
};

// The epilogue's value of element (m, n), C_old read at ci (C's index of it).
__device__ __forceinline__ float epilogue_value(const GemmK& p, int m, int n, int64_t ci, float acc) {
  float v = p.alpha * acc;
  if (p.beta != 0.f) v = fmaf(p.beta, dev::ld_f(p.C, p.c_bf16, ci), v);
  if (p.bias) v += dev::ld_f(p.bias, p.bias_bf16, n);
  if (p.act == int(Activation::kRelu)) v = fmaxf(v, 0.f);
  else if (p.act == int(Activation::kGelu)) v = dev::gelu_erf(v);
  if (p.col_scale) v *= dev::ld_f(p.col_scale, p.cs_bf16, n);
  if (p.residual) {
    const int64_t rrow = p.r_rows ? p.r_rows[m] : m;
    v += dev::ld_f(p.residual, p.res_bf16, rrow * p.ldr + n);
  }
  return v;
}

__device__ __forceinline__ void epilogue_store(const GemmK& p, int m, int n, float acc) {
  const int64_t ci = (p.c_rows ? p.c_rows[m] : m) * p.ldc + n;
  dev::st_f(p.C, p.c_bf16, ci, epilogue_value(p, m, n, ci, acc));
}

// Columns n and n + 1 of row m (n + 1 may be past N): one paired store when both exist. Both values are computed
// before either is stored, so an in-place residual (C itself) still reads its own elements only.
__device__ __forceinline__ void epilogue_store2(const GemmK& p, int m, int n, float a0, float a1) {
  if (n + 1 >= p.N) {
    if (n < p.N) epilogue_store(p, m, n, a0);
    return;
  }
  const int64_t ci = (p.c_rows ? p.c_rows[m] : m) * p.ldc + n;
  const float v0 = epilogue_value(p, m, n, ci, a0), v1 = epilogue_value(p, m, n + 1, ci + 1, a1);
  dev::st_f2(p.C, p.c_bf16, ci, v0, v1);
}

// The wgmma path (gemm_wgmma.cu): whether it takes this call (REG4PRU_CUDA_GEMM=wgmma, an sm_90 device, BF16
// operands that the 16-byte copies can read), and its launch.
bool wgmma_wanted(bool async_ok);
Status wgmma_launch(const GemmK& p, cudaStream_t stream, const char* op);

}  // namespace r4p::cuda::gemm_detail
