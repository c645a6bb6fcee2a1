// upscale_block_ref.cc: the upscaleBlock training op (ops.h UpscaleBlockArgs / UpscaleBlockBwdArgs; SPEC §2 mask
// head scale block), the reference variant: the driver of kernels/upscale_block_driver.h over the *_ref kernels
// (literal GEMM loops, double-accumulated depthwise sums and LayerNorm statistics) with a serial glue loop.
// Independent of every optimised kernel; the avx2 variant is tested against it, and both against the stock TF.js
// composition (src/model/tfjs/upscale.ts) and float64 finite differences.
#include "kernels/ops.h"
#include "kernels/upscale_block_driver.h"

namespace r4p {
namespace {

const UpscaleBlockKernels kRefKernels{gemm_ref,     layer_norm_fwd_ref, layer_norm_bwd_ref,        gelu_fwd_ref,
                                      gelu_bwd_ref, depthwise_ref,      depthwise_filter_grad_ref, glue_serial_range};

}  // namespace

// x [B,h,w,C], weights -> y [B,2h,2w,O], saved [upscale_block_saved_floats]
Status upscale_block_fwd_ref(const UpscaleBlockArgs& a) { return upscale_block_fwd_driver(kRefKernels, a); }
// dy [B,2h,2w,O], x, saved -> dx [B,h,w,C] and the five weight gradients (overwrite)
Status upscale_block_bwd_ref(const UpscaleBlockBwdArgs& a) { return upscale_block_bwd_driver(kRefKernels, a); }

}  // namespace r4p
