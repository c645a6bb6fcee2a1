// registry.cc: the op table. Each op: {ref, avx2} (cuda in a later issue), one line each.
#include "kernels/registry.h"

#include <cstdlib>

#include "runtime/cpu_features.h"

namespace r4p {

static bool avx2_usable() {
  const auto& f = cpu_features();
  return f.avx2 && f.fma;
}

const char* variant_name(KernelVariant v) {
  switch (v) {
    case KernelVariant::kAuto: return "auto";
    case KernelVariant::kRef: return "ref";
    case KernelVariant::kAvx2: return "avx2";
  }
  return "?";
}

bool parse_variant(const std::string& s, KernelVariant* out) {
  if (s == "auto") *out = KernelVariant::kAuto;
  else if (s == "ref") *out = KernelVariant::kRef;
  else if (s == "avx2") *out = KernelVariant::kAvx2;
  else return false;
  return true;
}

static KernelVariant initial_variant() {
  KernelVariant v = KernelVariant::kAuto;
  if (const char* env = std::getenv("REG4PRU_KERNEL")) {
    if (!parse_variant(env, &v)) v = KernelVariant::kAuto;
    if (v == KernelVariant::kAvx2 && !avx2_usable()) v = KernelVariant::kAuto;
  }
  return v;
}

static KernelVariant g_requested = initial_variant();

KernelVariant requested_variant() { return g_requested; }

Status set_requested_variant(KernelVariant v) {
  if (v == KernelVariant::kAvx2 && !avx2_usable())
    return range_error("setKernel: expected kernel to be 'auto' or 'ref' on this CPU (no AVX2+FMA), received 'avx2'");
  g_requested = v;
  return Status::Ok();
}

KernelVariant active_cpu_variant() {
  if (g_requested == KernelVariant::kAuto) return avx2_usable() ? KernelVariant::kAvx2 : KernelVariant::kRef;
  return g_requested;
}

// ---- the table ---------------------------------------------------------------------------------
Status gather_tokens_fwd(const GatherTokensArgs& a) { return dispatch(gather_tokens_fwd_ref, gather_tokens_fwd_avx2, a); }
Status gather_tokens_bwd(const GatherTokensBwdArgs& a) { return dispatch(gather_tokens_bwd_ref, gather_tokens_bwd_avx2, a); }
Status scatter_tokens_fwd(const ScatterTokensArgs& a) { return dispatch(scatter_tokens_fwd_ref, scatter_tokens_fwd_avx2, a); }
Status scatter_tokens_bwd(const ScatterTokensBwdArgs& a) { return dispatch(scatter_tokens_bwd_ref, scatter_tokens_bwd_avx2, a); }
Status gemm(const GemmArgs& a) { return dispatch(gemm_ref, gemm_avx2, a); }
Status policy_attention_fwd(const PolicyAttentionArgs& a) { return dispatch(policy_attention_fwd_ref, policy_attention_fwd_avx2, a); }
Status policy_attention_bwd(const PolicyAttentionBwdArgs& a) { return dispatch(policy_attention_bwd_ref, policy_attention_bwd_avx2, a); }
Status pruned_block_fwd(const PrunedBlockArgs& a) { return dispatch(pruned_block_fwd_ref, pruned_block_fwd_avx2, a); }
Status gumbel_topk(const GumbelTopKArgs& a) { return dispatch(gumbel_topk_ref, gumbel_topk_avx2, a); }
Status gumbel_softmax_st_fwd(const GumbelSoftmaxArgs& a) { return dispatch(gumbel_softmax_st_fwd_ref, gumbel_softmax_st_fwd_avx2, a); }
Status gumbel_softmax_st_bwd(const GumbelSoftmaxBwdArgs& a) { return dispatch(gumbel_softmax_st_bwd_ref, gumbel_softmax_st_bwd_avx2, a); }
Status softmax(const SoftmaxArgs& a) { return dispatch(softmax_ref, softmax_avx2, a); }
Status binary(const BinaryArgs& a) { return dispatch(binary_ref, binary_avx2, a); }
Status depthwise(const DepthwiseArgs& a) { return dispatch(depthwise_ref, depthwise_avx2, a); }
Status depthwise_filter_grad(const DepthwiseFilterGradArgs& a) { return dispatch(depthwise_filter_grad_ref, depthwise_filter_grad_avx2, a); }
Status tome_block_fwd(const TomeBlockArgs& a) { return dispatch(tome_block_fwd_ref, tome_block_fwd_avx2, a); }
// ---- layer norm / gelu (TF.js training graph)
Status layer_norm_fwd(const LayerNormArgs& a) { return dispatch(layer_norm_fwd_ref, layer_norm_fwd_avx2, a); }
Status layer_norm_bwd(const LayerNormBwdArgs& a) { return dispatch(layer_norm_bwd_ref, layer_norm_bwd_avx2, a); }
Status gelu_fwd(const GeluArgs& a) { return dispatch(gelu_fwd_ref, gelu_fwd_avx2, a); }
Status gelu_bwd(const GeluBwdArgs& a) { return dispatch(gelu_bwd_ref, gelu_bwd_avx2, a); }

std::vector<std::string> op_names() {
  return {"gatherTokens", "scatterTokens", "gemm", "policyAttention", "prunedBlock", "gumbelTopK", "gumbelSoftmaxST", "softmaxRows", "tomeBlock", "layerNorm", "gelu"};
}

}  // namespace r4p
