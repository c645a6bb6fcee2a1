// cuda_engine.h: the whole inference forward of docs/inference-forward.md on the CUDA device (issue 11 item 1),
// FP32, batch B >= 1. Plain C++ over the CUDA host launchers (kernels/cuda/attention_ops.h, token_ops.h,
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
// Weights are uploaded once at create() (FP32; ConvTranspose2d weights regrouped to [4D, D] Linear form).
// The device workspace is sized for the last batch size seen (a different B reallocates once), its row maps
// uploaded with it. Not re-entrant: one run at a time (the N-API session serialises runs).
//
// Options not implemented on this device yet are errors at create(), never a silent fallback: precision
// 'bf16' and ToMe. STATUS: checked against the CPU Engine on the CUDA emulator (native/dev/cuda_emu mode
// `engine`); NEVER RUN ON A GPU as of 2026-12-04.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/model.h"

namespace r4p::engine {

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
  const SessionOptions& options() const { return opts_; }

 private:
  CudaEngine() = default;
  Status upload_weights();
  Status ensure_workspace(int64_t B);
  Status select_tokens(int64_t s, const float* x, int64_t T, int64_t Qcur, int64_t B);
  Status run_block(int64_t i, float* x, int64_t T, int64_t Qcur, int64_t B);
  // Decodes x [B,T1,D] into semantic / class_logits / mask_logits (device pointers); cuda_decode.cc.
  Status decode(const float* x, int64_t B, float* semantic, float* class_logits, float* mask_logits);
  const float* w(const std::string& name) const;  // device copy of a SPEC §8 tensor

  std::unique_ptr<Model> model_;
  SessionOptions opts_;
  std::vector<int64_t> stage_k_;
  DeviceBuffer weights_;                     // every tensor, 256-byte aligned, plus the derived ones
  std::map<std::string, const float*> dev_;  // name -> device pointer into weights_
  const float* convt_w_[2] = {nullptr, nullptr};  // [4D, D]: row (s*D + o) = conv1.weight[:, o, s/2, s%2]
  const float* dw_taps_[2] = {nullptr, nullptr};  // [9, D] tap-major depthwise weights
  std::unique_ptr<CudaWorkspace> ws_;
  int64_t active_k_ = 0;
};

}  // namespace r4p::engine
