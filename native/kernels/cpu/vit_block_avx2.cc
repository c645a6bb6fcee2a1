// vit_block_avx2.cc: the vitBlock training op (ops.h VitBlockArgs / VitBlockBwdArgs; SPEC §2 block, §4
// attention) on the thread pool: the driver of kernels/vit_block_driver.h over the op table's
// dispatchers, so the GEMMs, GELU and the policy attention (forward: flash core; backward: two recompute
// passes, no N x N buffer) run their 'avx2' or 'avx512' kernels as the active variant says, and LayerNorm
// its avx2 kernel. The glue (head split / merge, LayerScale residuals, column sums) runs under
// parallel_for with one writer per element and row-ordered column sums: thread-count independent.
// The four Linear layers' backward are two GEMMs each (dW = dC^T A reduced over the M rows in a fixed
// order; dA = dC W).
#include <functional>

#include "kernels/ops.h"
#include "kernels/registry.h"
#include "kernels/vit_block_driver.h"
#include "runtime/thread_pool.h"

namespace r4p {
namespace {

const VitBlockKernels kPoolKernels{gemm,     layer_norm_fwd,       layer_norm_bwd,       gelu_fwd,
                                   gelu_bwd, policy_attention_fwd, policy_attention_bwd, glue_pool_range};

}  // namespace

// x [B,N,D], policy [B,N] | null, weights -> y [B,N,D], saved [vit_block_saved_floats]
Status vit_block_fwd_avx2(const VitBlockArgs& a) { return vit_block_fwd_driver(kPoolKernels, a); }
// dy [B,N,D], x, policy, saved -> dx [B,N,D], dpolicy [B,N] | null, every weight gradient (overwrite)
Status vit_block_bwd_avx2(const VitBlockBwdArgs& a) { return vit_block_bwd_driver(kPoolKernels, a); }

}  // namespace r4p
