// cuda_engine.cc: see cuda_engine.h. Backbone (steps 1-4), weights, workspace and the run loop; the head is in
// cuda_decode.cc. Mirrors forward.cc / policy.cc step for step so the two engines can be read side by side.
#include "engine/cuda_engine.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "engine/cuda_workspace.h"
#include "kernels/cuda/attention_ops.h"
#include "kernels/cuda/cuda_runtime_api.h"
#include "kernels/cuda/engine_layers.h"
#include "kernels/cuda/token_ops.h"

namespace r4p::engine {

namespace {
constexpr float kLnEps = 1e-6f;
constexpr const char* kOp = "InferenceSession(cuda)";
size_t align256(size_t v) { return (v + 255) & ~size_t(255); }
}  // namespace

Status cuda_layer_status(const char* layer, Status s) {
  if (s.ok()) return s;
  return Status::Make(s.code, detail::concat(kOp, " ", layer, ": ", s.message));
}

DeviceBuffer::~DeviceBuffer() { reset(); }
void DeviceBuffer::reset() {
  cuda::device_free(p_);
  p_ = nullptr;
}
Status DeviceBuffer::alloc(size_t bytes) {
  reset();
  return cuda::device_alloc(&p_, bytes);
}

CudaEngine::~CudaEngine() = default;

Status CudaEngine::create(std::unique_ptr<Model> model, const SessionOptions& opts, std::unique_ptr<CudaEngine>* out) {
  if (!model) return internal_error(kOp, ": no model");
  R4P_RETURN_IF_ERROR(cuda::ensure_ready(kOp));
  if (opts.prune && !(opts.keep > 0.0 && opts.keep <= 1.0))
    return range_error(kOp, ": expected options.keep in (0, 1], received ", opts.keep);
  if (!(opts.round_keep >= 1 && opts.round_keep <= 1024))
    return range_error(kOp, ": expected options.roundKeep to be an integer in [1, 1024], received ", opts.round_keep);
  if (opts.tome.mode != ToMeMode::kOff)
    return Status::Make(StatusCode::kUnavailable, detail::concat(kOp, ": options.tome is not implemented on device 'cuda' yet (use device 'cpu')"));
  if (opts.bf16)
    return Status::Make(StatusCode::kUnavailable, detail::concat(kOp, ": precision 'bf16' is not implemented on device 'cuda' yet (use precision 'fp32')"));
  if (opts.dynamic)
    return Status::Make(StatusCode::kUnavailable, detail::concat(kOp, ": options.keep 'dynamic' is not implemented in the CUDA engine yet (use device 'cpu'; the op cuda.prunedBlock takes variable-length rows)"));
  std::unique_ptr<CudaEngine> e(new (std::nothrow) CudaEngine());
  if (!e) return Status::Make(StatusCode::kOutOfMemory, detail::concat(kOp, ": out of memory"));
  e->opts_ = opts;
  e->stage_k_ = stage_keep_counts(model->config(), opts);
  e->model_ = std::move(model);
  R4P_RETURN_IF_ERROR(e->upload_weights());
  *out = std::move(e);
  return Status::Ok();
}

const float* CudaEngine::w(const std::string& name) const {
  auto it = dev_.find(name);
  return it == dev_.end() ? nullptr : it->second;
}

// Every SPEC §8 tensor into one allocation (256-byte aligned slices), then the two derived layouts per upscale
// block. One host staging buffer, one upload: the only synchronisation of create().
Status CudaEngine::upload_weights() {
  const EngineConfig& c = config();
  const int64_t D = c.D;
  const auto shapes = weight_shapes(c);
  std::vector<std::pair<std::string, size_t>> offs;
  size_t total = 0;
  for (const auto& [name, dims] : shapes) {
    size_t n = 1;
    for (int64_t d : dims) n *= static_cast<size_t>(d);
    offs.emplace_back(name, total);
    total += align256(n * sizeof(float));
  }
  const size_t off_convt = total, convt_bytes = align256(size_t(4 * D * D) * sizeof(float));
  const size_t off_taps = off_convt + 2 * convt_bytes, taps_bytes = align256(size_t(9 * D) * sizeof(float));
  total = off_taps + 2 * taps_bytes;
  std::vector<char> host;
  try {
    host.assign(total, 0);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, detail::concat(kOp, ": out of host memory staging ", total, " bytes of weights"));
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    size_t n = 1;
    for (int64_t d : shapes[i].second) n *= static_cast<size_t>(d);
    const float* src = model_->tensor(shapes[i].first);
    if (!src) return internal_error(kOp, ": weights['", shapes[i].first, "'] missing");
    std::memcpy(host.data() + offs[i].second, src, n * sizeof(float));
  }
  for (int j = 0; j < 2; ++j) {
    const UpscaleWeights& u = model_->upscale(j);
    float* g = reinterpret_cast<float*>(host.data() + off_convt + j * convt_bytes);
    for (int64_t s = 0; s < 4; ++s)
      for (int64_t o = 0; o < D; ++o)
        for (int64_t ci = 0; ci < D; ++ci) g[(s * D + o) * D + ci] = u.conv1_w[(ci * D + o) * 4 + s];
    std::memcpy(host.data() + off_taps + j * taps_bytes, u.conv2_wt, size_t(9 * D) * sizeof(float));
  }
  R4P_RETURN_IF_ERROR(cuda_layer_status("weights", weights_.alloc(total)));
  R4P_RETURN_IF_ERROR(cuda_layer_status("weights", cuda::upload(weights_.get(), host.data(), total)));
  for (const auto& [name, off] : offs) dev_[name] = reinterpret_cast<const float*>(weights_.get() + off);
  for (int j = 0; j < 2; ++j) {
    convt_w_[j] = reinterpret_cast<const float*>(weights_.get() + off_convt + j * convt_bytes);
    dw_taps_[j] = reinterpret_cast<const float*>(weights_.get() + off_taps + j * taps_bytes);
  }
  return Status::Ok();
}

Status CudaEngine::ensure_workspace(int64_t B) {
  if (ws_ && ws_->B == B) return Status::Ok();
  ws_.reset();  // free the old one first: two full workspaces may not fit
  return cuda_layer_status("workspace", CudaWorkspace::create(config(), B, &ws_));
}

// Step 4.2 on the device: scores of every patch row of x [B,T,D], nested top-k, then the new active set.
Status CudaEngine::select_tokens(int64_t s, const float* x, int64_t T, int64_t Qcur, int64_t B) {
  const EngineConfig& c = config();
  const std::string g = "selectors." + std::to_string(s) + ".";
  const int64_t D = c.D, Np = c.Np(), W = c.selector_width, M = B * Np;
  CudaWorkspace& ws = *ws_;
  R4P_RETURN_IF_ERROR(cuda_layer_status("policy RMSNorm", cuda::engine_row_norm_cuda(x, B, T, Qcur + c.P(), Np, D, w(g + "norm.weight"),
                                                                                     nullptr, 1e-6f, true, ws.sel_h)));
  cuda::GemmDevArgs a{};
  a.M = M; a.N = W; a.K = D;
  a.A = ws.sel_h; a.lda = D;
  a.W = w(g + "fc1.weight"); a.ldw = D; a.ab_dtype = cuda::DType::F32;
  a.C = ws.sel_u; a.ldc = W;
  a.bias = w(g + "fc1.bias");
  a.act = Activation::kGelu;
  R4P_RETURN_IF_ERROR(cuda_layer_status("policy fc1", cuda::gemm(a)));
  a = cuda::GemmDevArgs{};
  a.M = M; a.N = 2; a.K = W;
  a.A = ws.sel_u; a.lda = W;
  a.W = w(g + "fc2.weight"); a.ldw = W; a.ab_dtype = cuda::DType::F32;
  a.C = ws.sel_logits; a.ldc = 2;
  a.bias = w(g + "fc2.bias");
  a.col_scale = w(g + "ls.gamma");
  R4P_RETURN_IF_ERROR(cuda_layer_status("policy fc2", cuda::gemm(a)));
  R4P_RETURN_IF_ERROR(cuda_layer_status("keep scores", cuda::engine_keep_scores_cuda(ws.sel_logits, M, ws.sel_score)));
  const int64_t k = stage_k_[static_cast<size_t>(s)];
  // Nested: only patches still active may be chosen (stage 0: all are, active = null).
  const uint8_t* active = active_k_ == Np ? nullptr : ws.active;
  R4P_RETURN_IF_ERROR(cuda_layer_status(
      "top-k", cuda::gumbel_topk_cuda(cuda::DType::F32, ws.sel_score, active, ws.topk, B, Np, k, 0, false)));
  active_k_ = k;  // run_block (next, same block) rebuilds the active mask and the row list from ws.topk
  return Status::Ok();
}

// Step 4.3: block i in place on x [B,T,D] over the Qcur + P fixed rows and the active patches.
Status CudaEngine::run_block(int64_t i, float* x, int64_t T, int64_t Qcur, int64_t B) {
  const EngineConfig& c = config();
  const int64_t fixed = Qcur + c.P(), Np = c.Np();
  const std::string b = "blocks." + std::to_string(i) + ".";
  cuda::PrunedBlockDevArgs a{};
  a.x = x; a.x_dtype = cuda::DType::F32; a.out = x; a.B = B; a.N = T;
  a.w = cuda::BlockWeightsDev{w(b + "norm1.weight"), w(b + "norm1.bias"), w(b + "attn.qkv.weight"), w(b + "attn.qkv.bias"),
                              w(b + "attn.proj.weight"), w(b + "attn.proj.bias"), w(b + "ls1.gamma"), w(b + "norm2.weight"),
                              w(b + "norm2.bias"), w(b + "mlp.fc1.weight"), w(b + "mlp.fc1.bias"), w(b + "mlp.fc2.weight"),
                              w(b + "mlp.fc2.bias"), w(b + "ls2.gamma"), cuda::DType::F32, c.D, c.H, c.F()};
  a.ln_eps = kLnEps;
  if (active_k_ == Np) {
    a.idx = nullptr;
    a.K = T;
  } else {
    // the row list for the current prefix (queries may have been prepended since the selection)
    R4P_RETURN_IF_ERROR(cuda_layer_status(
        "token selection", cuda::engine_select_rows_cuda(ws_->topk, ws_->active, ws_->idx, B, Np, active_k_, fixed)));
    a.idx = ws_->idx;
    a.K = fixed + active_k_;
    a.idx_trusted = true;  // from our own top-k: no synchronous check, the forward never waits for the host
  }
  return cuda_layer_status(("block " + std::to_string(i)).c_str(), cuda::pruned_block_fwd(a));
}

Status CudaEngine::run(const float* images, int64_t B, const RunOutputs& out) {
  const EngineConfig& c = config();
  if (B < 1) return range_error(kOp, ".run: expected B >= 1, received ", B);
  if (B * 16 * c.Np() >= (int64_t(1) << 31) || B * (c.Q + c.P() + c.Np()) >= (int64_t(1) << 31))
    return range_error(kOp, ".run: expected B * 16 * Np < 2^31, received B=", B, " Np=", c.Np(), " (split the batch)");
  if (!out.per_block.empty() && static_cast<int64_t>(out.per_block.size()) != c.decode_points())
    return internal_error(kOp, ".run: expected ", c.decode_points(), " per-block outputs, received ", out.per_block.size());
  R4P_RETURN_IF_ERROR(ensure_workspace(B));
  CudaWorkspace& ws = *ws_;
  const int64_t D = c.D, Np = c.Np(), P = c.P(), T0 = P + Np, T1 = c.Q + T0, Kc = 3 * c.patch * c.patch;
  const int64_t n_sem = semantic_size(c, B), n_cls = class_logits_size(c, B), n_mask = mask_logits_size(c, B);
  float* o_sem = ws.out;
  float* o_cls = o_sem + n_sem;
  float* o_mask = o_cls + n_cls;
  float* o_per = o_mask + n_mask;  // decode_points() - 1 maps (the last one is the final semantic map)
  active_k_ = Np;

  // 1-3. images -> x0 = [cls | registers | patch_embed + pos_embed]
  R4P_RETURN_IF_ERROR(cuda_layer_status("images", cuda::upload(ws.images, images, size_t(B * 3 * c.image_h * c.image_w) * sizeof(float))));
  R4P_RETURN_IF_ERROR(cuda_layer_status("patch embedding", cuda::engine_im2col_cuda(ws.images, B, c.image_h, c.image_w, c.patch, ws.cols)));
  R4P_RETURN_IF_ERROR(cuda_layer_status("cls token", cuda::engine_broadcast_rows_cuda(ws.x0, B, T0, 0, w("cls_token"), 1, D)));
  R4P_RETURN_IF_ERROR(cuda_layer_status("register tokens", cuda::engine_broadcast_rows_cuda(ws.x0, B, T0, 1, w("reg_token"), c.R, D)));
  cuda::GemmDevArgs g{};
  g.M = B * Np; g.N = D; g.K = Kc;
  g.A = ws.cols; g.lda = Kc;
  g.W = w("patch_embed.proj.weight"); g.ldw = Kc; g.ab_dtype = cuda::DType::F32;  // Conv2d [D,3,p,p] = Linear [D, 3p^2]
  g.C = ws.x0; g.ldc = D; g.c_rows = ws.pe_crow;
  g.bias = w("patch_embed.proj.bias");
  g.residual = w("pos_embed"); g.ldr = D; g.r_rows = ws.pe_rrow;
  R4P_RETURN_IF_ERROR(cuda_layer_status("patch embedding", cuda::gemm(g)));

  bool queries = false;
  size_t stage = 0;
  for (int64_t i = 0; i < c.L; ++i) {
    if (i == c.query_block() && !queries) {
      R4P_RETURN_IF_ERROR(cuda_layer_status("query insertion", cuda::engine_insert_queries_cuda(ws.x0, w("q.weight"), ws.x1, B, c.Q, T0, D)));
      queries = true;
    }
    float* x = queries ? ws.x1 : ws.x0;
    const int64_t T = queries ? T1 : T0, Qcur = queries ? c.Q : 0;
    if (opts_.prune && stage < c.stage_blocks.size() && i == c.stage_blocks[stage]) {
      R4P_RETURN_IF_ERROR(select_tokens(static_cast<int64_t>(stage), x, T, Qcur, B));
      ++stage;
    }
    R4P_RETURN_IF_ERROR(run_block(i, x, T, Qcur, B));
    if (!out.per_block.empty() && i >= c.first_decode() && i != c.L - 1) {
      if (!queries) {
        R4P_RETURN_IF_ERROR(cuda_layer_status("query insertion", cuda::engine_insert_queries_cuda(ws.x0, w("q.weight"), ws.x1, B, c.Q, T0, D)));
        queries = true;
      }
      R4P_RETURN_IF_ERROR(decode(ws.x1, B, o_per + (i - c.first_decode()) * n_sem, ws.cls, ws.masks));
    }
  }
  if (!queries) return internal_error(kOp, ".run: queries were never inserted");
  R4P_RETURN_IF_ERROR(decode(ws.x1, B, o_sem, o_cls, o_mask));

  // 6. one download of every output: the run's only wait, where device-side errors surface
  const int64_t n_per = out.per_block.empty() ? 0 : (c.decode_points() - 1) * n_sem;
  const int64_t total = n_sem + n_cls + n_mask + n_per;
  std::vector<float>& h = ws.host;
  h.resize(static_cast<size_t>(total));
  R4P_RETURN_IF_ERROR(cuda_layer_status("outputs", cuda::download(h.data(), ws.out, size_t(total) * sizeof(float))));
  if (out.kept)  // fixed keep: every image keeps the stage's count
    for (size_t st = 0; st < stage_k_.size(); ++st)
      for (int64_t b = 0; b < B; ++b) out.kept[int64_t(st) * B + b] = static_cast<int32_t>(stage_k_[st]);
  std::memcpy(out.semantic, h.data(), size_t(n_sem) * sizeof(float));
  std::memcpy(out.class_logits, h.data() + n_sem, size_t(n_cls) * sizeof(float));
  std::memcpy(out.mask_logits, h.data() + n_sem + n_cls, size_t(n_mask) * sizeof(float));
  for (size_t p = 0; p < out.per_block.size(); ++p) {
    const float* src = p + 1 == out.per_block.size() ? h.data() : h.data() + n_sem + n_cls + n_mask + int64_t(p) * n_sem;
    std::memcpy(out.per_block[p], src, size_t(n_sem) * sizeof(float));
  }
  return Status::Ok();
}

}  // namespace r4p::engine
