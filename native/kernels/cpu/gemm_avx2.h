// gemm_avx2.h: the one extra entry point of gemm_avx2.cc besides gemm_avx2 (ops.h): a register-only
// FMA throughput probe, the machine-peak figure the benchmarks report shares of (STYLE §9).
// Call only when cpu_features() reports AVX2 and FMA.
#pragma once
#include <cstdint>

namespace r4p {

// Single-precision GFLOP/s of back-to-back independent 8-wide FMAs (12 chains per thread, no memory
// traffic) on `threads` pool threads (<= the pool size), each running `iters` iterations of 12 FMAs.
double fma_peak_gflops_avx2(int threads, int64_t iters);

}  // namespace r4p
