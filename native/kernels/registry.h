// registry.h: picks which variant of an op runs (ATen DispatchStub idea at our scale).
// ref = portable single-threaded loops; avx2 = thread pool + AVX2/FMA; avx512 = thread pool + AVX-512
// (F/BW/DQ/VL) kernels where an op has one (avx512_op_names()), its avx2 kernel otherwise. auto picks the
// widest the CPU has (cpuid). REG4PRU_KERNEL=auto|ref|avx2|avx512 (or setKernel() from JS) forces a
// variant so tests run every path on one machine. An unknown name, or a variant the CPU lacks, is an
// error (setKernel throws; a bad REG4PRU_KERNEL makes loading the addon throw), never a silent fallback.
#pragma once
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace r4p {

enum class KernelVariant { kAuto, kRef, kAvx2, kAvx512 };

const char* variant_name(KernelVariant v);
// Parses "auto" | "ref" | "avx2" | "avx512"; returns false for anything else.
bool parse_variant(const std::string& s, KernelVariant* out);
// Whether this CPU can run v (auto and ref: always).
bool variant_supported(KernelVariant v);
// The variants this CPU can run, narrowest first: {"ref", "avx2"?, "avx512"?}.
std::vector<std::string> supported_variant_names();
// The problem with REG4PRU_KERNEL, if any (unknown name, or a variant this CPU lacks); "" when fine.
// The addon refuses to load while it is set (native.ts throws it).
const std::string& kernel_env_error();
KernelVariant requested_variant();
// Returns a RangeError Status when the variant cannot run here.
Status set_requested_variant(KernelVariant v);
// The variant that CPU ops run now (never kAuto).
KernelVariant active_cpu_variant();

// True when the active variant is avx2 or avx512 (the avx2 inner loops that have no wider version).
inline bool active_at_least_avx2() { return active_cpu_variant() >= KernelVariant::kAvx2; }

template <typename Args>
Status dispatch(Status (*ref)(const Args&), Status (*avx2)(const Args&), const Args& a) {
  return active_at_least_avx2() ? avx2(a) : ref(a);
}
template <typename Args>
Status dispatch(Status (*ref)(const Args&), Status (*avx2)(const Args&), Status (*avx512)(const Args&),
                const Args& a) {
  const KernelVariant v = active_cpu_variant();
  return v == KernelVariant::kAvx512 ? avx512(a) : v == KernelVariant::kAvx2 ? avx2(a) : ref(a);
}

// Dispatchers: one per op and direction. Defined in registry.cc (the op table).
Status gather_tokens_fwd(const GatherTokensArgs& a);
Status gather_tokens_bwd(const GatherTokensBwdArgs& a);
Status scatter_tokens_fwd(const ScatterTokensArgs& a);
Status scatter_tokens_bwd(const ScatterTokensBwdArgs& a);
Status gemm(const GemmArgs& a);
// The GEMM kernel gemm() runs now on this thread (variant + matmul precision; kGemmNone for ref), the floats a
// PackedB for it needs, and the packing itself (B, ldb, transB, N, K of a; dst 64-byte aligned).
GemmKernelId gemm_kernel_id();
int64_t gemm_packed_b_floats(GemmKernelId k, int64_t N, int64_t K);
void gemm_pack_b(GemmKernelId k, const GemmArgs& a, float* dst);
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
// ---- vitBlock (TF.js training graph): its avx2 driver calls the dispatchers above, so 'avx512' reaches it too
Status vit_block_fwd(const VitBlockArgs& a);
Status vit_block_bwd(const VitBlockBwdArgs& a);
// ---- upscaleBlock (TF.js training graph): likewise a driver over the dispatchers above
Status upscale_block_fwd(const UpscaleBlockArgs& a);
Status upscale_block_bwd(const UpscaleBlockBwdArgs& a);

// Names of the ops in the table, for info(); and those with an AVX-512 kernel of their own.
std::vector<std::string> op_names();
std::vector<std::string> avx512_op_names();

}  // namespace r4p
