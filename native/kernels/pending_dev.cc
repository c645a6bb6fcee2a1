// pending_dev.cc: TEMPORARY weak placeholders so the addon links while ops land one by one.
// A strong definition in an op's own file replaces each of these at link time.
// This file must be deleted before the foundation issue is closed (a test checks it is gone).
#include "kernels/ops.h"

namespace r4p {
#define R4P_PENDING(fn, Args) \
  __attribute__((weak)) Status fn(const Args&) { return internal_error(#fn " is not implemented yet"); }
R4P_PENDING(gemm_ref, GemmArgs)
R4P_PENDING(gemm_avx2, GemmArgs)
R4P_PENDING(policy_attention_fwd_ref, PolicyAttentionArgs)
R4P_PENDING(policy_attention_fwd_avx2, PolicyAttentionArgs)
R4P_PENDING(policy_attention_bwd_ref, PolicyAttentionBwdArgs)
R4P_PENDING(policy_attention_bwd_avx2, PolicyAttentionBwdArgs)
R4P_PENDING(pruned_block_fwd_ref, PrunedBlockArgs)
R4P_PENDING(pruned_block_fwd_avx2, PrunedBlockArgs)
R4P_PENDING(gumbel_topk_ref, GumbelTopKArgs)
R4P_PENDING(gumbel_topk_avx2, GumbelTopKArgs)
R4P_PENDING(gumbel_softmax_st_fwd_ref, GumbelSoftmaxArgs)
R4P_PENDING(gumbel_softmax_st_fwd_avx2, GumbelSoftmaxArgs)
R4P_PENDING(gumbel_softmax_st_bwd_ref, GumbelSoftmaxBwdArgs)
R4P_PENDING(gumbel_softmax_st_bwd_avx2, GumbelSoftmaxBwdArgs)
}  // namespace r4p
