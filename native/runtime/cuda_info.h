// cuda_info.h: what the CUDA side of the addon can see. Implemented by cuda/device_query.cu when
// nvcc was found at build time, else by cuda_info_none.cc. Never throws: a build with CUDA on a
// machine without a driver or GPU reports 0 devices and the reason.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace r4p {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int sm_major = 0, sm_minor = 0;
  int multiprocessors = 0;
  uint64_t total_memory = 0;
};

struct CudaInfo {
  bool compiled = false;            // CUDA sources were built into this addon
  std::string archs;                // e.g. "sm_80;sm_90a;compute_90"
  int runtime_version = 0;          // cudart version linked in (e.g. 13000)
  int driver_version = 0;           // 0 when no driver
  std::vector<CudaDeviceInfo> devices;
  std::string error;                // why there are no devices ("" when devices were found)
};

CudaInfo cuda_info();

}  // namespace r4p
