// vit_block_ref.cc: the vitBlock training op (ops.h VitBlockArgs / VitBlockBwdArgs; SPEC §2 block, §4
// attention), the reference variant: the driver of kernels/vit_block_driver.h over the *_ref kernels
// (literal GEMM loops, the row-at-a-time policy attention, double-precision LayerNorm statistics) with
// single-threaded glue loops. Independent of every optimised kernel; the avx2 variant is tested against it
// and both against the composition of the differentiable TF.js ops and finite differences.
#include <functional>

#include "kernels/ops.h"
#include "kernels/vit_block_driver.h"

namespace r4p {
namespace {

const VitBlockKernels kRefKernels{gemm_ref,         layer_norm_fwd_ref,       layer_norm_bwd_ref,
                                  gelu_fwd_ref,     gelu_bwd_ref,             policy_attention_fwd_ref,
                                  policy_attention_bwd_ref, glue_serial_range};

}  // namespace

// x [B,N,D], policy [B,N] | null, weights -> y [B,N,D], saved [vit_block_saved_floats]
Status vit_block_fwd_ref(const VitBlockArgs& a) { return vit_block_fwd_driver(kRefKernels, a); }
// dy [B,N,D], x, policy, saved -> dx [B,N,D], dpolicy [B,N] | null, every weight gradient (overwrite)
Status vit_block_bwd_ref(const VitBlockBwdArgs& a) { return vit_block_bwd_driver(kRefKernels, a); }

}  // namespace r4p
