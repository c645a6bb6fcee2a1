// cuda_engine.cc: see cuda_engine.h. Backbone (steps 1-4), weights, workspace, the run loop and its CUDA graphs;
// the head is in cuda_decode.cc. Mirrors forward.cc / policy.cc step for step so the two engines can be read
// side by side.
#include "engine/cuda_engine.h"

#include <algorithm>
#include <cstdlib>
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

// A GEMM's W operand ([out, in] Linear weights, the patch Conv2d as Linear [D, 3p^2]): converted to BF16 in
// BF16 mode. The queries (rows, not a GEMM operand) and the upscale convolutions (uploaded in derived layouts)
// are not.
bool is_gemm_weight(const std::string& name, size_t rank) {
  const std::string suffix = ".weight";
  return rank >= 2 && name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         name != "q.weight" && name.rfind("upscale.", 0) != 0;
}

// REG4PRU_CUDA_GRAPHS=0 (or off / false) turns the engine's CUDA graphs off for the process.
bool graphs_env_enabled() {
  const char* e = std::getenv("REG4PRU_CUDA_GRAPHS");
  if (e == nullptr) return true;
  const std::string v(e);
  return !(v == "0" || v == "off" || v == "false" || v == "OFF");
}
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

CudaEngine::~CudaEngine() {
  drop_graphs();
  cuda::event_destroy(ev_start_);
  cuda::event_destroy(ev_stop_);
}

void CudaEngine::drop_graphs() {
  for (auto& [key, slot] : graphs_) cuda::graph_destroy(slot.graph);
  graphs_.clear();
}

Status CudaEngine::create(std::unique_ptr<Model> model, const SessionOptions& opts, std::unique_ptr<CudaEngine>* out) {
  if (!model) return internal_error(kOp, ": no model");
  R4P_RETURN_IF_ERROR(cuda::ensure_ready(kOp));
  if (opts.prune && !(opts.keep > 0.0 && opts.keep <= 1.0))
    return range_error(kOp, ": expected options.keep in (0, 1], received ", opts.keep);
  if (!(opts.round_keep >= 1 && opts.round_keep <= 1024))
    return range_error(kOp, ": expected options.roundKeep to be an integer in [1, 1024], received ", opts.round_keep);
  if (opts.tome.mode != ToMeMode::kOff)
    return Status::Make(StatusCode::kUnavailable, detail::concat(kOp, ": options.tome is not implemented on device 'cuda' yet (use device 'cpu')"));
  if (opts.exits.on)
    return Status::Make(StatusCode::kUnavailable, detail::concat(kOp, ": options.earlyExit is not implemented in the CUDA engine yet (use device 'cpu')"));
  if (opts.superpatch.on)
    return Status::Make(StatusCode::kUnavailable, detail::concat(kOp, ": options.superpatch is not implemented in the CUDA engine yet (use device 'cpu')"));
  if (opts.dynamic)
    return Status::Make(StatusCode::kUnavailable, detail::concat(kOp, ": options.keep 'dynamic' is not implemented in the CUDA engine yet (use device 'cpu'; the op cuda.prunedBlock takes variable-length rows)"));
  std::unique_ptr<CudaEngine> e(new (std::nothrow) CudaEngine());
  if (!e) return Status::Make(StatusCode::kOutOfMemory, detail::concat(kOp, ": out of memory"));
  e->opts_ = opts;
  e->opts_.cuda_graphs = opts.cuda_graphs && graphs_env_enabled();
  e->gemm_t_ = opts.bf16 ? cuda::DType::BF16 : cuda::DType::F32;
  e->stage_k_ = stage_keep_counts(model->config(), opts);
  e->model_ = std::move(model);
  R4P_RETURN_IF_ERROR(e->upload_weights());
  R4P_RETURN_IF_ERROR(cuda_layer_status("timing", cuda::event_create(kOp, &e->ev_start_)));
  R4P_RETURN_IF_ERROR(cuda_layer_status("timing", cuda::event_create(kOp, &e->ev_stop_)));
  *out = std::move(e);
  return Status::Ok();
}

const float* CudaEngine::w(const std::string& name) const {
  auto it = dev_.find(name);
  return it == dev_.end() ? nullptr : static_cast<const float*>(it->second);
}
const void* CudaEngine::mat(const std::string& name) const {
  auto it = dev_.find(name);
  return it == dev_.end() ? nullptr : it->second;
}
const void* CudaEngine::act(const void* p, int64_t elems) const {
  return static_cast<const char*>(p) + elems * static_cast<int64_t>(cuda::dtype_size(gemm_t_));
}

// Every SPEC §8 tensor the device reads, plus the two derived layouts per upscale block, into one FP32 host
// staging buffer of 256-byte aligned slices (in BF16 mode the GEMM matrices go to a second one, converted to
// BF16 by f32_to_bf16_upload). One or two uploads: the only synchronisation of create().
Status CudaEngine::upload_weights() {
  const EngineConfig& c = config();
  const int64_t D = c.D;
  const bool bf16 = gemm_t_ == cuda::DType::BF16;
  struct Slot { const float* src; size_t n; bool mat; size_t off; std::string name; };
  std::vector<Slot> slots;
  size_t total[2] = {0, 0};  // floats staged: [FP32 buffer, BF16 buffer]
  auto add = [&](const std::string& name, const float* src, size_t n, bool gemm_weight) {
    const bool to_bf16 = bf16 && gemm_weight;
    slots.push_back(Slot{src, n, to_bf16, total[to_bf16], name});
    total[to_bf16] += align256(n * sizeof(float)) / sizeof(float);  // 64-float multiples: 256-byte aligned as BF16 too
  };
  for (const auto& [name, dims] : weight_shapes(c)) {
    if (name.rfind("upscale.", 0) == 0 && name.find(".weight") != std::string::npos && name.find("norm") == std::string::npos)
      continue;  // conv1 / conv2 weights: uploaded in their derived layouts below
    size_t n = 1;
    for (int64_t d : dims) n *= static_cast<size_t>(d);
    const float* src = model_->tensor(name);
    if (!src) return internal_error(kOp, ": weights['", name, "'] missing");
    add(name, src, n, is_gemm_weight(name, dims.size()));
  }
  std::vector<float> convt[2];
  for (int j = 0; j < 2; ++j) {
    const UpscaleWeights& u = model_->upscale(j);
    try {
      convt[j].resize(size_t(4 * D * D));
    } catch (const std::bad_alloc&) {
      return Status::Make(StatusCode::kOutOfMemory, detail::concat(kOp, ": out of host memory staging weights"));
    }
    float* g = convt[j].data();
    for (int64_t s = 0; s < 4; ++s)
      for (int64_t o = 0; o < D; ++o)
        for (int64_t ci = 0; ci < D; ++ci) g[(s * D + o) * D + ci] = u.conv1_w[(ci * D + o) * 4 + s];
    add("#convt" + std::to_string(j), g, convt[j].size(), true);
    add("#taps" + std::to_string(j), u.conv2_wt, size_t(9 * D), false);
  }
  std::vector<float> host[2];
  try {
    for (int b = 0; b < 2; ++b) host[b].assign(total[b], 0.f);
  } catch (const std::bad_alloc&) {
    return Status::Make(StatusCode::kOutOfMemory, detail::concat(kOp, ": out of host memory staging ", total[0] + total[1], " weights"));
  }
  for (const Slot& s : slots) std::memcpy(host[s.mat].data() + s.off, s.src, s.n * sizeof(float));
  R4P_RETURN_IF_ERROR(cuda_layer_status("weights", weights_.alloc(total[0] * sizeof(float))));
  R4P_RETURN_IF_ERROR(cuda_layer_status("weights", cuda::upload(weights_.get(), host[0].data(), total[0] * sizeof(float))));
  if (total[1] > 0) {
    R4P_RETURN_IF_ERROR(cuda_layer_status("weights", weights_bf16_.alloc(total[1] * 2)));
    R4P_RETURN_IF_ERROR(cuda_layer_status("weights", cuda::f32_to_bf16_upload(weights_bf16_.get(), host[1].data(), total[1])));
  }
  for (const Slot& s : slots)
    dev_[s.name] = s.mat ? static_cast<const void*>(weights_bf16_.get() + s.off * 2) : weights_.get() + s.off * sizeof(float);
  for (int j = 0; j < 2; ++j) {
    convt_w_[j] = mat("#convt" + std::to_string(j));
    dw_taps_[j] = w("#taps" + std::to_string(j));
  }
  return Status::Ok();
}

Status CudaEngine::ensure_workspace(int64_t B) {
  if (ws_ && ws_->B == B) return Status::Ok();
  drop_graphs();  // they point into the old workspace
  ws_.reset();    // free the old one first: two full workspaces may not fit
  return cuda_layer_status("workspace", CudaWorkspace::create(config(), B, gemm_t_, &ws_));
}

// Step 4.2 on the device: scores of every patch row of x [B,T,D], nested top-k, then the new active set.
Status CudaEngine::select_tokens(int64_t s, const float* x, int64_t T, int64_t Qcur, int64_t B) {
  const EngineConfig& c = config();
  const std::string g = "selectors." + std::to_string(s) + ".";
  const int64_t D = c.D, Np = c.Np(), W = c.selector_width, M = B * Np;
  CudaWorkspace& ws = *ws_;
  const bool bf16 = gemm_t_ == cuda::DType::BF16;
  R4P_RETURN_IF_ERROR(cuda_layer_status("policy RMSNorm", cuda::engine_row_norm_cuda(x, B, T, Qcur + c.P(), Np, D, w(g + "norm.weight"),
                                                                                     nullptr, 1e-6f, true, ws.sel_h, bf16)));
  cuda::GemmDevArgs a{};
  a.M = M; a.N = W; a.K = D;
  a.A = ws.sel_h; a.lda = D;
  a.W = mat(g + "fc1.weight"); a.ldw = D; a.ab_dtype = gemm_t_;
  a.C = ws.sel_u; a.ldc = W; a.c_dtype = gemm_t_;
  a.bias = w(g + "fc1.bias");
  a.act = Activation::kGelu;
  R4P_RETURN_IF_ERROR(cuda_layer_status("policy fc1", cuda::gemm(a)));
  a = cuda::GemmDevArgs{};
  a.M = M; a.N = 2; a.K = W;
  a.A = ws.sel_u; a.lda = W;
  a.W = mat(g + "fc2.weight"); a.ldw = W; a.ab_dtype = gemm_t_;
  a.C = ws.sel_logits; a.ldc = 2;
  a.bias = w(g + "fc2.bias");
  a.col_scale = w(g + "ls.gamma");
  R4P_RETURN_IF_ERROR(cuda_layer_status("policy fc2", cuda::gemm(a)));
  R4P_RETURN_IF_ERROR(cuda_layer_status("keep scores", cuda::engine_keep_scores_cuda(ws.sel_logits, M, ws.sel_score)));
  const int64_t k = stage_k_[static_cast<size_t>(s)];
  // Nested: only patches still active may be chosen (stage 0: all are, active = null).
  const uint8_t* active = active_k_ == Np ? nullptr : ws.active;
  R4P_RETURN_IF_ERROR(cuda_layer_status(
      "top-k", cuda::gumbel_topk_cuda(cuda::DType::F32, ws.sel_score, active, ws.topk, B, Np, k, 0, false, ws.topk_scratch,
                                      ws.topk_scratch_bytes)));
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
  a.w = cuda::BlockWeightsDev{w(b + "norm1.weight"), w(b + "norm1.bias"), mat(b + "attn.qkv.weight"), w(b + "attn.qkv.bias"),
                              mat(b + "attn.proj.weight"), w(b + "attn.proj.bias"), w(b + "ls1.gamma"), w(b + "norm2.weight"),
                              w(b + "norm2.bias"), mat(b + "mlp.fc1.weight"), w(b + "mlp.fc1.bias"), mat(b + "mlp.fc2.weight"),
                              w(b + "mlp.fc2.bias"), w(b + "ls2.gamma"), gemm_t_, c.D, c.H, c.F()};
  a.w.vec_f32 = true;  // norms, biases, LayerScale stay FP32 in BF16 mode
  a.ln_eps = kLnEps;
  a.scratch = ws_->block_scratch;
  a.scratch_bytes = ws_->block_scratch_bytes;
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

// Steps 1-5 on the device, enqueued only (no upload, download, allocation or wait: capturable as a graph).
// Host control flow depends on (B, per_block) and the options alone, so a replay does the same work.
Status CudaEngine::forward(int64_t B, bool per_block) {
  const EngineConfig& c = config();
  CudaWorkspace& ws = *ws_;
  const int64_t D = c.D, Np = c.Np(), P = c.P(), T0 = P + Np, T1 = c.Q + T0, Kc = 3 * c.patch * c.patch;
  const int64_t n_sem = semantic_size(c, B), n_cls = class_logits_size(c, B), n_mask = mask_logits_size(c, B);
  float* o_sem = ws.out;
  float* o_cls = o_sem + n_sem;
  float* o_mask = o_cls + n_cls;
  float* o_per = o_mask + n_mask;  // decode_points() - 1 maps (the last one is the final semantic map)
  active_k_ = Np;

  // 1-3. images -> x0 = [cls | registers | patch_embed + pos_embed]
  R4P_RETURN_IF_ERROR(cuda_layer_status("patch embedding", cuda::engine_im2col_cuda(ws.images, B, c.image_h, c.image_w, c.patch,
                                                                                   ws.cols, gemm_t_ == cuda::DType::BF16)));
  R4P_RETURN_IF_ERROR(cuda_layer_status("cls token", cuda::engine_broadcast_rows_cuda(ws.x0, B, T0, 0, w("cls_token"), 1, D)));
  R4P_RETURN_IF_ERROR(cuda_layer_status("register tokens", cuda::engine_broadcast_rows_cuda(ws.x0, B, T0, 1, w("reg_token"), c.R, D)));
  cuda::GemmDevArgs g{};
  g.M = B * Np; g.N = D; g.K = Kc;
  g.A = ws.cols; g.lda = Kc;
  g.W = mat("patch_embed.proj.weight"); g.ldw = Kc; g.ab_dtype = gemm_t_;  // Conv2d [D,3,p,p] = Linear [D, 3p^2]
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
    if (per_block && i >= c.first_decode() && i != c.L - 1) {
      if (!queries) {
        R4P_RETURN_IF_ERROR(cuda_layer_status("query insertion", cuda::engine_insert_queries_cuda(ws.x0, w("q.weight"), ws.x1, B, c.Q, T0, D)));
        queries = true;
      }
      R4P_RETURN_IF_ERROR(decode(ws.x1, B, o_per + (i - c.first_decode()) * n_sem, ws.cls, ws.masks));
    }
  }
  if (!queries) return internal_error(kOp, ".run: queries were never inserted");
  return decode(ws.x1, B, o_sem, o_cls, o_mask);
}

// The first run of a shape is eager (it also settles every lazy initialisation outside a capture), the second
// captures and launches, later ones replay. A capture failure is not an error of the run: that shape falls back
// to eager runs for good and says why.
Status CudaEngine::forward_graph(int64_t B, bool per_block) {
  if (!opts_.cuda_graphs) {
    last_.graph = "off";
    return forward(B, per_block);
  }
  GraphSlot& slot = graphs_[{B, per_block}];
  if (slot.graph != nullptr) {
    last_.graph = "replayed";
    return cuda_layer_status("graph", cuda::graph_launch(kOp, slot.graph));
  }
  if (slot.failed || !slot.warm) {
    last_.graph = slot.failed ? "fallback" : "eager";
    last_.graph_note = slot.why;
    slot.warm = true;
    return forward(B, per_block);
  }
  Status st = cuda::graph_capture_begin(kOp);
  if (st.ok()) {
    const Status fwd = forward(B, per_block);
    cuda::Graph* g = nullptr;
    const Status end = cuda::graph_capture_end(kOp, &g);  // ends the capture in every case
    st = !fwd.ok() ? fwd : end;
    if (st.ok()) slot.graph = g;
    else cuda::graph_destroy(g);
  }
  if (!st.ok()) {
    slot.failed = true;
    slot.why = "CUDA graph capture failed, running without a graph: " + st.message;
    last_.graph = "fallback";
    last_.graph_note = slot.why;
    return forward(B, per_block);  // the same forward ran eagerly before: a real error surfaces here again
  }
  last_.graph = "captured";
  return cuda_layer_status("graph", cuda::graph_launch(kOp, slot.graph));
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
  last_ = CudaRunInfo{};
  R4P_RETURN_IF_ERROR(cuda_layer_status("images", cuda::upload(ws.images, images, size_t(B * 3 * c.image_h * c.image_w) * sizeof(float))));
  R4P_RETURN_IF_ERROR(cuda_layer_status("timing", cuda::event_record(kOp, ev_start_)));
  R4P_RETURN_IF_ERROR(forward_graph(B, !out.per_block.empty()));
  R4P_RETURN_IF_ERROR(cuda_layer_status("timing", cuda::event_record(kOp, ev_stop_)));

  // 6. one download of every output: the run's only wait, where device-side errors surface
  const int64_t n_sem = semantic_size(c, B), n_cls = class_logits_size(c, B), n_mask = mask_logits_size(c, B);
  const int64_t n_per = out.per_block.empty() ? 0 : (c.decode_points() - 1) * n_sem;
  const int64_t total = n_sem + n_cls + n_mask + n_per;
  std::vector<float>& h = ws.host;
  h.resize(static_cast<size_t>(total));
  R4P_RETURN_IF_ERROR(cuda_layer_status("outputs", cuda::download(h.data(), ws.out, size_t(total) * sizeof(float))));
  R4P_RETURN_IF_ERROR(cuda_layer_status("timing", cuda::event_elapsed_ms(kOp, ev_start_, ev_stop_, &last_.device_ms)));
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
