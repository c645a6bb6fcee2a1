// upscale_block_avx2.cc: the upscaleBlock training op (ops.h UpscaleBlockArgs / UpscaleBlockBwdArgs; SPEC §2 mask
// head scale block) on the thread pool: the driver of kernels/upscale_block_driver.h over the op table's
// dispatchers, so the two ConvTranspose GEMMs (c_rows placement, bias in the epilogue), its two gradient GEMMs and
// GELU run their 'avx2' or 'avx512' kernels as the active variant says, LayerNorm and the depthwise 3x3 (forward,
// input and filter gradient) their avx2 kernels. The glue (weight regrouping, the dz regroup by input pixel, the
// bias column sum) runs under parallel_for with one writer per element: thread-count independent.
#include "kernels/ops.h"
#include "kernels/registry.h"
#include "kernels/upscale_block_driver.h"

namespace r4p {
namespace {

const UpscaleBlockKernels kPoolKernels{gemm,     layer_norm_fwd, layer_norm_bwd,        gelu_fwd,
                                       gelu_bwd, depthwise,      depthwise_filter_grad, glue_pool_range};

}  // namespace

// x [B,h,w,C], weights -> y [B,2h,2w,O], saved [upscale_block_saved_floats]
Status upscale_block_fwd_avx2(const UpscaleBlockArgs& a) { return upscale_block_fwd_driver(kPoolKernels, a); }
// dy [B,2h,2w,O], x, saved -> dx [B,h,w,C] and the five weight gradients (overwrite)
Status upscale_block_bwd_avx2(const UpscaleBlockBwdArgs& a) { return upscale_block_bwd_driver(kPoolKernels, a); }

}  // namespace r4p
