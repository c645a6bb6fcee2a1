// cuda_attention_none.cc: the CPU-only build's side of cuda/attention_ops.h (policyAttention, GEMM,
// prunedBlock launchers): each returns kUnavailable "<op>: CUDA is not available: reg4pru was built without
// CUDA", as cuda_runtime_none.cc does for the runtime. CMake drops native/kernels/cuda_*_none.cc when it
// compiles the .cu files; the node-gyp build (always CPU-only) compiles it.
#include "kernels/cuda/attention_ops.h"

namespace r4p::cuda {

namespace {
Status none(const char* op) {
  return Status::Make(StatusCode::kUnavailable, detail::concat(op, ": CUDA is not available: reg4pru was built without CUDA"));
}
}  // namespace

Status policy_attention_fwd(const PolicyAttentionDevArgs&) { return none("cudaPolicyAttention"); }
Status policy_attention_bwd(const PolicyAttentionBwdDevArgs&) { return none("cudaPolicyAttentionBackward"); }
Status gemm(const GemmDevArgs&) { return none("cudaLinear"); }
Status pruned_block_fwd(const PrunedBlockDevArgs&) { return none("cudaPrunedBlock"); }
size_t pruned_block_scratch_bytes(const PrunedBlockDevArgs&) { return 0; }

}  // namespace r4p::cuda
