// registry.cc: the op table. Each op: {ref, avx2[, avx512]}, one line each (CUDA ops have their own entry points).
#include "kernels/registry.h"

#include <cstdlib>

#include "kernels/precision.h"
#include "runtime/cpu_features.h"

namespace r4p {

const char* variant_name(KernelVariant v) {
  switch (v) {
    case KernelVariant::kAuto: return "auto";
    case KernelVariant::kRef: return "ref";
    case KernelVariant::kAvx2: return "avx2";
    case KernelVariant::kAvx512: return "avx512";
  }
  return "?";
}

bool parse_variant(const std::string& s, KernelVariant* out) {
  if (s == "auto") *out = KernelVariant::kAuto;
  else if (s == "ref") *out = KernelVariant::kRef;
  else if (s == "avx2") *out = KernelVariant::kAvx2;
  else if (s == "avx512") *out = KernelVariant::kAvx512;
  else return false;
  return true;
}

bool variant_supported(KernelVariant v) {
  switch (v) {
    case KernelVariant::kAvx2: return cpu_has_avx2();
    case KernelVariant::kAvx512: return cpu_has_avx512();
    default: return true;
  }
}

std::vector<std::string> supported_variant_names() {
  std::vector<std::string> out{"ref"};
  if (cpu_has_avx2()) out.push_back("avx2");
  if (cpu_has_avx512()) out.push_back("avx512");
  return out;
}

static std::string unsupported_message(const char* who, KernelVariant v) {
  std::string have;
  for (const auto& n : supported_variant_names()) have += (have.empty() ? "'" : ", '") + n + "'";
  return std::string(who) + ": this CPU cannot run the '" + variant_name(v) + "' kernels (" +
         (v == KernelVariant::kAvx512 ? "no AVX-512 F/BW/DQ/VL" : "no AVX2+FMA") + "); it runs 'auto', " + have;
}

static std::string g_env_error;

static KernelVariant initial_variant() {
  KernelVariant v = KernelVariant::kAuto;
  if (const char* env = std::getenv("REG4PRU_KERNEL")) {
    if (!parse_variant(env, &v)) {
      g_env_error = std::string("REG4PRU_KERNEL: expected 'auto', 'ref', 'avx2' or 'avx512', received '") + env + "'";
      return KernelVariant::kAuto;
    }
    if (!variant_supported(v)) {
      g_env_error = unsupported_message("REG4PRU_KERNEL", v);
      return KernelVariant::kAuto;
    }
  }
  return v;
}

static KernelVariant g_requested = initial_variant();

const std::string& kernel_env_error() { return g_env_error; }

KernelVariant requested_variant() { return g_requested; }

static thread_local MatmulPrecision tls_precision = MatmulPrecision::kFp32;
MatmulPrecision matmul_precision() { return tls_precision; }
void set_matmul_precision(MatmulPrecision p) { tls_precision = p; }

Status set_requested_variant(KernelVariant v) {
  if (!variant_supported(v)) return range_error(unsupported_message("setKernel", v));
  g_requested = v;
  return Status::Ok();
}

KernelVariant active_cpu_variant() {
  if (g_requested != KernelVariant::kAuto) return g_requested;
  if (cpu_has_avx512()) return KernelVariant::kAvx512;
  return cpu_has_avx2() ? KernelVariant::kAvx2 : KernelVariant::kRef;
}

// ---- the table ---------------------------------------------------------------------------------
Status gather_tokens_fwd(const GatherTokensArgs& a) { return dispatch(gather_tokens_fwd_ref, gather_tokens_fwd_avx2, a); }
Status gather_tokens_bwd(const GatherTokensBwdArgs& a) { return dispatch(gather_tokens_bwd_ref, gather_tokens_bwd_avx2, a); }
Status scatter_tokens_fwd(const ScatterTokensArgs& a) { return dispatch(scatter_tokens_fwd_ref, scatter_tokens_fwd_avx2, a); }
Status scatter_tokens_bwd(const ScatterTokensBwdArgs& a) { return dispatch(scatter_tokens_bwd_ref, scatter_tokens_bwd_avx2, a); }
Status gemm(const GemmArgs& a) {
  if (matmul_precision() == MatmulPrecision::kBf16) {
    if (active_cpu_variant() != KernelVariant::kAvx512 || !cpu_has_avx512_bf16())
      return Status::Make(StatusCode::kUnavailable,
                          std::string("gemm: BF16 precision needs the 'avx512' kernels and a CPU with AVX512_BF16 (running '") +
                              variant_name(active_cpu_variant()) + "'" + (cpu_has_avx512_bf16() ? "" : ", no AVX512_BF16") + ")");
    return gemm_avx512_bf16(a);
  }
  return dispatch(gemm_ref, gemm_avx2, gemm_avx512, a);
}
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
Status gelu_fwd(const GeluArgs& a) { return dispatch(gelu_fwd_ref, gelu_fwd_avx2, gelu_fwd_avx512, a); }
Status gelu_bwd(const GeluBwdArgs& a) { return dispatch(gelu_bwd_ref, gelu_bwd_avx2, gelu_bwd_avx512, a); }
// ---- vitBlock: the avx2 driver dispatches its GEMMs / GELU / attention itself (avx512 kernels under 'avx512')
Status vit_block_fwd(const VitBlockArgs& a) { return dispatch(vit_block_fwd_ref, vit_block_fwd_avx2, a); }
Status vit_block_bwd(const VitBlockBwdArgs& a) { return dispatch(vit_block_bwd_ref, vit_block_bwd_avx2, a); }
Status upscale_block_fwd(const UpscaleBlockArgs& a) { return dispatch(upscale_block_fwd_ref, upscale_block_fwd_avx2, a); }
Status upscale_block_bwd(const UpscaleBlockBwdArgs& a) { return dispatch(upscale_block_bwd_ref, upscale_block_bwd_avx2, a); }

// gemm and gelu have AVX-512 kernels of their own; the policyAttention forward, prunedBlock and tomeBlock
// run their avx2 drivers with the AVX-512 GEMM and attention core (the backward: its tile micro-kernels). LayerNorm,
// softmax, binary, depthwise and the token ops run their avx2 kernels under avx512 (memory-bound, or
// reductions whose AVX2 summation order the tests pin down).
GemmKernelId gemm_kernel_id() {
  const KernelVariant v = active_cpu_variant();
  if (v == KernelVariant::kAvx512)
    return matmul_precision() == MatmulPrecision::kBf16 && cpu_has_avx512_bf16() ? kGemmAvx512Bf16 : kGemmAvx512;
  if (matmul_precision() == MatmulPrecision::kBf16) return kGemmNone;  // gemm() refuses BF16 there
  return v == KernelVariant::kAvx2 ? kGemmAvx2 : kGemmNone;
}

int64_t gemm_packed_b_floats(GemmKernelId k, int64_t N, int64_t K) {
  switch (k) {
    case kGemmAvx2: return gemm_packed_b_floats_avx2(N, K);
    case kGemmAvx512: return gemm_packed_b_floats_avx512(N, K, false);
    case kGemmAvx512Bf16: return gemm_packed_b_floats_avx512(N, K, true);
    default: return 0;
  }
}

void gemm_pack_b(GemmKernelId k, const GemmArgs& a, float* dst) {
  switch (k) {
    case kGemmAvx2: gemm_pack_b_avx2(a, dst); break;
    case kGemmAvx512: gemm_pack_b_avx512(a, dst); break;
    case kGemmAvx512Bf16: gemm_pack_b_avx512_bf16(a, dst); break;
    default: break;
  }
}

std::vector<std::string> avx512_op_names() { return {"gemm", "gelu", "policyAttention", "policyAttentionBackward", "prunedBlock", "tomeBlock", "vitBlock", "upscaleBlock"}; }

std::vector<std::string> op_names() {
  return {"gatherTokens", "scatterTokens", "gemm", "policyAttention", "prunedBlock", "gumbelTopK", "gumbelSoftmaxST", "softmaxRows", "tomeBlock", "layerNorm", "gelu", "vitBlock", "upscaleBlock"};
}

}  // namespace r4p
