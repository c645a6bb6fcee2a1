// gemm_avx512.h: the one extra entry point of gemm_avx512.cc besides gemm_avx512 (ops.h): the 512-bit
// FMA throughput probe, the machine-peak figure reports give shares of on AVX-512 CPUs (STYLE §9).
// Call only when cpu_has_avx512().
#pragma once
#include <cstdint>

namespace r4p {

// Single-precision GFLOP/s of back-to-back independent 16-wide FMAs (16 chains per thread, no memory
// traffic) on `threads` pool threads, each running `iters` iterations of 16 FMAs.
double fma_peak_gflops_avx512(int threads, int64_t iters);

}  // namespace r4p
