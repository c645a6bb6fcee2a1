// cuda_runtime_none.cc: the CPU-only build's side of cuda/cuda_runtime_api.h and cuda/token_ops.h
// (REG4PRU_CUDA=OFF, nvcc absent, or the node-gyp fallback, which always compiles this file).
// Every entry point reports kUnavailable "<op>: CUDA is not available: reg4pru was built without CUDA",
// so the JS API stays the same and says plainly why nothing ran. CMake drops native/kernels/cuda_*_none.cc
// when it compiles the .cu files.
#include <string>

#include "kernels/cuda/cuda_runtime_api.h"
#include "kernels/cuda/token_ops.h"

namespace r4p::cuda {

namespace {
const char* kWhy = "reg4pru was built without CUDA";
Status none(const char* op) {
  return Status::Make(StatusCode::kUnavailable, detail::concat(op, ": CUDA is not available: ", kWhy));
}
}  // namespace

bool available(std::string* why) {
  if (why != nullptr) *why = kWhy;
  return false;
}
Status ensure_ready(const char* op) { return none(op); }
Status device_alloc(void** ptr, size_t) {
  *ptr = nullptr;
  return none("cudaMalloc");
}
void device_free(void*) {}
Status upload(void*, const void*, size_t) { return none("cudaUpload"); }
Status download(void*, const void*, size_t) { return none("download"); }
Status f32_to_bf16_upload(void*, const float*, size_t) { return none("cudaUpload"); }
Status bf16_to_f32_download(float*, const void*, size_t) { return none("download"); }
Status copy_d2d(void*, const void*, size_t) { return none("cudaCopy"); }
Status memset_zero(void*, size_t) { return none("cudaMemset"); }
Status synchronize() { return none("cudaSynchronize"); }
void* stream() { return nullptr; }

struct PendingDownload {};
Status download_begin(const void*, size_t, PendingDownload** out) {
  *out = nullptr;
  return none("download");
}
Status download_finish(PendingDownload*, void*, bool) { return none("download"); }

Status timer_start() { return none("cudaTimerStart"); }
Status timer_stop(float* ms) {
  *ms = 0.f;
  return none("cudaTimerStop");
}
Status flush_l2() { return none("cudaFlushL2"); }

const char* device_op_name(int32_t) { return "cuda kernel"; }
DeviceError* device_error_record() { return nullptr; }
Status device_error_status(const DeviceError&) { return none("device error"); }

// ---- token_ops.h
Status gather_tokens_fwd_cuda(DType, const void*, const int32_t*, void*, int64_t, int64_t, int64_t, int64_t) {
  return none("cudaGatherTokens");
}
Status gather_tokens_bwd_cuda(DType, const void*, const int32_t*, void*, int64_t, int64_t, int64_t, int64_t) {
  return none("cudaGatherTokensBackward");
}
Status scatter_tokens_fwd_cuda(DType, const void*, const int32_t*, const void*, void*, int64_t, int64_t, int64_t, int64_t) {
  return none("cudaScatterTokens");
}
Status scatter_tokens_bwd_cuda(DType, const void*, const int32_t*, void*, void*, int64_t, int64_t, int64_t, int64_t) {
  return none("cudaScatterTokensBackward");
}
Status gumbel_topk_cuda(DType, const void*, const uint8_t*, int32_t*, int64_t, int64_t, int64_t, uint64_t, bool, void*,
                        size_t) {
  return none("cudaGumbelTopK");
}
size_t gumbel_topk_scratch_bytes(int64_t, int64_t) { return 0; }
Status gumbel_softmax_st_fwd_cuda(DType, const void*, void*, void*, int64_t, int64_t, float, uint64_t) {
  return none("cudaGumbelSoftmaxST");
}
Status gumbel_softmax_st_bwd_cuda(DType, const void*, const void*, void*, int64_t, int64_t, float) {
  return none("cudaGumbelSoftmaxSTBackward");
}

}  // namespace r4p::cuda
