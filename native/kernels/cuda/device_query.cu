// device_query.cu: the first CUDA translation unit: asks the runtime which devices exist.
// Linked against cudart_static, so the addon loads on machines without a driver; there
// cudaGetDeviceCount fails and we report 0 devices with the runtime's reason.
#include <cuda_runtime.h>

#include "runtime/cuda_info.h"

#ifndef R4P_CUDA_ARCHS
#define R4P_CUDA_ARCHS "unknown"
#endif

namespace r4p {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
  info.archs = R4P_CUDA_ARCHS;
  cudaRuntimeGetVersion(&info.runtime_version);
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.error = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return info;
  }
  if (count == 0) {
    info.error = "no CUDA device found";
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.sm_major = p.major;
    d.sm_minor = p.minor;
    d.multiprocessors = p.multiProcessorCount;
    d.total_memory = static_cast<uint64_t>(p.totalGlobalMem);
    info.devices.push_back(d);
  }
  return info;
}

}  // namespace r4p
