// cuda_info_none.cc: the CPU-only build's answer (no nvcc at build time, or the node-gyp fallback).
#include "runtime/cuda_info.h"

namespace r4p {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = false;
  info.error = "built without CUDA (nvcc was not found when the addon was compiled)";
  return info;
}

}  // namespace r4p
