// cuda_engine_layers_none.cc: the CPU-only build's side of cuda/engine_layers.h (the CUDA inference engine's
// non-block layers): each returns kUnavailable "<op>: CUDA is not available: reg4pru was built without CUDA",
// as cuda_attention_none.cc does. CMake drops native/kernels/cuda_*_none.cc when it compiles the .cu files;
// the node-gyp build (always CPU-only) compiles it.
#include "kernels/cuda/engine_layers.h"

namespace r4p::cuda {

namespace {
Status none() {
  return Status::Make(StatusCode::kUnavailable, "cudaInferenceEngine: CUDA is not available: reg4pru was built without CUDA");
}
}  // namespace

Status engine_im2col_cuda(const float*, int64_t, int64_t, int64_t, int64_t, void*, bool) { return none(); }
Status engine_broadcast_rows_cuda(float*, int64_t, int64_t, int64_t, const float*, int64_t, int64_t) { return none(); }
Status engine_insert_queries_cuda(const float*, const float*, float*, int64_t, int64_t, int64_t, int64_t) { return none(); }
Status engine_row_norm_cuda(const float*, int64_t, int64_t, int64_t, int64_t, int64_t, const float*, const float*, float,
                            bool, void*, bool) {
  return none();
}
Status engine_keep_scores_cuda(const float*, int64_t, float*) { return none(); }
Status engine_select_rows_cuda(const int32_t*, uint8_t*, int32_t*, int64_t, int64_t, int64_t, int64_t) { return none(); }
Status engine_class_probs_cuda(const float*, int64_t, int64_t, float*) { return none(); }
Status engine_depthwise3x3_ln_cuda(const float*, void*, int64_t, int64_t, int64_t, int64_t, const float*, const float*,
                                   const float*, float, bool) {
  return none();
}
Status engine_resize_semantic_cuda(const float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                   int64_t, float*) {
  return none();
}

}  // namespace r4p::cuda
