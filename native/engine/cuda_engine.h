// cuda_engine.h: the whole inference forward of docs/inference-forward.md on the CUDA device (issue 11 item 1),
// FP32 or BF16, batch B >= 1. Plain C++ over the CUDA host launchers (kernels/cuda/attention_ops.h, token_ops.h,
// engine_layers.h): it compiles in CPU-only builds too, where the first launcher (ensure_ready) reports
// "reg4pru was built without CUDA" and create() fails with that kUnavailable Status.
//
//   images [B,3,Himg,Wimg] (host) -> the same RunOutputs as engine.h's Engine (host), computed as:
//   upload images -> im2col + patch GEMM (bias + pos_embed epilogue, rows scattered into the sequence) ->
//   blocks via cuda::pruned_block_fwd (idx from the device top-k, idx_trusted: no host sync) with the
//   policy predictors (RMSNorm, fc1+GELU GEMM, fc2 GEMM with LayerScale epilogue, keep score, gumbel_topk
//   with the active mask, noise off) and query insertion on the device -> decode (LayerNorm rows, class head
//   and mask MLP GEMMs, ConvTranspose2d 2x2/2 as four GEMMs scattered by row maps, depthwise 3x3 +
//   LayerNorm2d, mask einsum GEMM per batch row, class softmax, bilinear resize + sigmoid + semantic map)
//   -> ONE download of every output (it is also the only synchronisation of a run; device-side errors such
//   as a NaN score in the top-k surface there as RangeErrors naming the op).
// Weights are uploaded once at create() (ConvTranspose2d weights regrouped to [4D, D] Linear form).
// Precision (SessionOptions::bf16): FP32 runs every layer in FP32 (SIMT GEMMs). BF16 converts the GEMM weight
// matrices to BF16 once at create() (round to nearest even) and runs every GEMM and the attention on BF16
// tensor cores with FP32 accumulation: activations that feed a GEMM are stored as BF16 (rounded once), while
// LayerNorm / RMSNorm, softmax, the epilogues (bias, GELU, LayerScale, residual), the 1-D parameters, the
// residual streams x0/x1, the scores and every output stay FP32 (the CPU engine's BF16 contract, plus BF16
// q/k/v and probabilities in the attention, as the CPU BF16 attention core).
// The device workspace is sized for the last batch size seen (a different B reallocates once), its row maps
// uploaded with it, the blocks' and top-k's scratch included: a forward allocates nothing and never waits.
// CUDA graphs (SessionOptions::cuda_graphs, default on; REG4PRU_CUDA_GRAPHS=0 turns them off process-wide):
// the first run of a (B, per-block outputs) shape runs eagerly; the second captures the forward (everything
// between the image upload and the output download) as a graph and launches it; later runs replay it. A capture
// that fails (a CUDA error, or the forward refusing to allocate / wait during capture) marks that shape
// "fallback" and it runs eagerly from then on, with the reason in last_run(); a new workspace (another B)
// drops every graph. Not re-entrant: one run at a time (the N-API session serialises runs).
// Timing: two CUDA events around the forward (after the upload, before the download) give last_run().device_ms.
//
// Options not implemented on this device yet are errors at create(), never a silent fallback: ToMe, keep
// 'dynamic'.
// STATUS: checked against the CPU Engine on the CUDA emulator (native/dev/cuda_emu mode `engine`, graphs
// included: the emulator records and replays captures); NEVER RUN ON A GPU as of 2026-12-05.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/model.h"
#include "kernels/cuda/cuda_runtime_api.h"

namespace r4p::engine {

// How the last run went on the device.
struct CudaRunInfo {
  float device_ms = 0.f;  // CUDA-event time of the forward alone (no upload, no download)
  // "off" (graphs disabled), "eager" (first run of this shape), "captured" (captured in this run, then
  // launched), "replayed", or "fallback" (this shape's capture failed: eager; graph_note says why)
  const char* graph = "off";
  std::string graph_note;
};

// One device allocation, freed (stream-ordered) with its owner.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();
  Status alloc(size_t bytes);
  void reset();
  char* get() const { return static_cast<char*>(p_); }

 private:
  void* p_ = nullptr;
};

struct CudaWorkspace;  // cuda_engine.cc

class CudaEngine {
 public:
  static Status create(std::unique_ptr<Model> model, const SessionOptions& opts, std::unique_ptr<CudaEngine>* out);
  ~CudaEngine();

  // images [B,3,Himg,Wimg] host (finite, validated by the caller) -> host outputs (engine.h sizes).
  Status run(const float* images, int64_t B, const RunOutputs& out);

  const EngineConfig& config() const { return model_->config(); }
  const std::vector<int64_t>& stage_keep() const { return stage_k_; }
  const CudaRunInfo& last_run() const { return last_; }
  const SessionOptions& options() const { return opts_; }

 private:
  struct GraphSlot {
    bool warm = false;    // ran eagerly once: the next run captures
    bool failed = false;  // capture failed: eager from now on
    std::string why;
    cuda::Graph* graph = nullptr;
  };

  CudaEngine() = default;
  Status upload_weights();
  Status ensure_workspace(int64_t B);
  void drop_graphs();
  // The device part of run(): everything between the image upload and the output download, enqueued only.
  Status forward(int64_t B, bool per_block);
  // forward() eagerly, from a graph, or captured into one (opts_.cuda_graphs); sets last_.graph.
  Status forward_graph(int64_t B, bool per_block);
  Status select_tokens(int64_t s, const float* x, int64_t T, int64_t Qcur, int64_t B);
  Status run_block(int64_t i, float* x, int64_t T, int64_t Qcur, int64_t B);
  // Decodes x [B,T1,D] into semantic / class_logits / mask_logits (device pointers); cuda_decode.cc.
  Status decode(const float* x, int64_t B, float* semantic, float* class_logits, float* mask_logits);
  const float* w(const std::string& name) const;    // device FP32 copy of a SPEC §8 vector / non-GEMM tensor
  const void* mat(const std::string& name) const;   // device copy of a GEMM weight matrix, in gemm_t_
  const void* act(const void* p, int64_t elems) const;  // p + elems elements of gemm_t_ (a slice of a gemm_t_ buffer)

  std::unique_ptr<Model> model_;
  SessionOptions opts_;
  cuda::DType gemm_t_ = cuda::DType::F32;  // GEMM operands: weight matrices and the activations they multiply
  std::vector<int64_t> stage_k_;
  DeviceBuffer weights_;                     // every FP32 tensor, 256-byte aligned, plus the derived ones
  DeviceBuffer weights_bf16_;                // BF16 mode: the GEMM weight matrices (and ConvTranspose2d's)
  std::map<std::string, const void*> dev_;   // name -> device pointer (into weights_ or weights_bf16_)
  const void* convt_w_[2] = {nullptr, nullptr};   // [4D, D] gemm_t_: row (s*D + o) = conv1.weight[:, o, s/2, s%2]
  const float* dw_taps_[2] = {nullptr, nullptr};  // [9, D] tap-major depthwise weights
  std::unique_ptr<CudaWorkspace> ws_;
  int64_t active_k_ = 0;
  std::map<std::pair<int64_t, bool>, GraphSlot> graphs_;  // (B, per-block outputs) -> graph state
  cuda::TimingEvent* ev_start_ = nullptr;
  cuda::TimingEvent* ev_stop_ = nullptr;
  CudaRunInfo last_;
};

}  // namespace r4p::engine
