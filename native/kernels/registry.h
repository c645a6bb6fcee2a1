// registry.h: picks which variant of an op runs (ATen DispatchStub idea at our scale).
// ref = portable single-threaded loops; avx2 = thread pool + AVX2/FMA, chosen when cpuid reports
// AVX2 and FMA. REG4PRU_KERNEL=ref|avx2|auto (or setKernel() from JS) forces a variant so tests
// run every path on one machine. Forcing avx2 on a CPU without it is an error, never a fallback.
#pragma once
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace r4p {

enum class KernelVariant { kAuto, kRef, kAvx2 };

const char* variant_name(KernelVariant v);
// Parses "auto" | "ref" | "avx2"; returns false for anything else.
bool parse_variant(const std::string& s, KernelVariant* out);
KernelVariant requested_variant();
// Returns a RangeError Status when the variant cannot run here.
Status set_requested_variant(KernelVariant v);
// The variant that CPU ops run now (never kAuto).
KernelVariant active_cpu_variant();

template <typename Args>
Status dispatch(Status (*ref)(const Args&), Status (*avx2)(const Args&), const Args& a) {
  return active_cpu_variant() == KernelVariant::kAvx2 ? avx2(a) : ref(a);
}

// Dispatchers: one per op and direction. Defined in registry.cc (the op table).
Status gather_tokens_fwd(const GatherTokensArgs& a);
Status gather_tokens_bwd(const GatherTokensBwdArgs& a);
Status scatter_tokens_fwd(const ScatterTokensArgs& a);
Status scatter_tokens_bwd(const ScatterTokensBwdArgs& a);
Status gemm(const GemmArgs& a);
Status policy_attention_fwd(const PolicyAttentionArgs& a);
Status policy_attention_bwd(const PolicyAttentionBwdArgs& a);
Status pruned_block_fwd(const PrunedBlockArgs& a);
Status gumbel_topk(const GumbelTopKArgs& a);
Status gumbel_softmax_st_fwd(const GumbelSoftmaxArgs& a);
Status gumbel_softmax_st_bwd(const GumbelSoftmaxBwdArgs& a);
Status softmax(const SoftmaxArgs& a);
Status binary(const BinaryArgs& a);
Status depthwise(const DepthwiseArgs& a);
Status depthwise_filter_grad(const DepthwiseFilterGradArgs& a);
Status tome_block_fwd(const TomeBlockArgs& a);
// ---- layer norm / gelu (TF.js training graph)
Status layer_norm_fwd(const LayerNormArgs& a);
Status layer_norm_bwd(const LayerNormBwdArgs& a);
Status gelu_fwd(const GeluArgs& a);
Status gelu_bwd(const GeluBwdArgs& a);

// Names of the ops in the table, for info().
std::vector<std::string> op_names();

}  // namespace r4p
