// token_ops_pending.cu: TEMPORARY stand-ins for token_ops.h while the kernels are written (removed in
// the next commit). Compiled, never run on a GPU.
#include "kernels/cuda/token_ops.h"

namespace r4p::cuda {
static Status pending(const char* op) { return internal_error(op, ": CUDA kernel not implemented yet"); }
Status gather_tokens_fwd_cuda(DType, const void*, const int32_t*, void*, int64_t, int64_t, int64_t, int64_t) { return pending("cudaGatherTokens"); }
Status gather_tokens_bwd_cuda(DType, const void*, const int32_t*, void*, int64_t, int64_t, int64_t, int64_t) { return pending("cudaGatherTokensBackward"); }
Status scatter_tokens_fwd_cuda(DType, const void*, const int32_t*, const void*, void*, int64_t, int64_t, int64_t, int64_t) { return pending("cudaScatterTokens"); }
Status scatter_tokens_bwd_cuda(DType, const void*, const int32_t*, void*, void*, int64_t, int64_t, int64_t, int64_t) { return pending("cudaScatterTokensBackward"); }
Status gumbel_topk_cuda(DType, const void*, const uint8_t*, int32_t*, int64_t, int64_t, int64_t, uint64_t, bool) { return pending("cudaGumbelTopK"); }
Status gumbel_softmax_st_fwd_cuda(DType, const void*, void*, void*, int64_t, int64_t, float, uint64_t) { return pending("cudaGumbelSoftmaxST"); }
Status gumbel_softmax_st_bwd_cuda(DType, const void*, const void*, void*, int64_t, int64_t, float) { return pending("cudaGumbelSoftmaxSTBackward"); }
}  // namespace r4p::cuda
