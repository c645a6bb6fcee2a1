// engine_wrap.cc: the native inference engine (native/engine/engine.h; SPEC §2, §3,
// docs/inference-forward.md) as a JS class.
//   new InferenceSession(configJson: string, weights: {name: Float32Array}, options: {keep: number|'dynamic'|null,
//                        threshold?: number in [0, 1] (keep 'dynamic'), minKeep?: integer >= 1 (keep 'dynamic'),
//                        tome?: {mode: 'mhsa'|'mhsa+mlp', mergeRatio: number}, precision?: 'fp32'|'bf16',
//                        device?: 'cpu'|'cuda', cudaGraphs?: boolean, superpatch?: {width, patch, threshold?: number
//                        in [0, 1], weights: {'conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'conv3.weight',
//                        'conv3.bias'}}})
// device 'cuda' builds an engine::CudaEngine (engine/cuda_engine.h: weights uploaded once, the forward on the
// device); without CUDA (CPU-only build, no device) the constructor throws that Status's Error, naming why.
//   session.run(images: Float32Array [B*3*H*W], B: number, perBlock: boolean)
//     -> Promise<{semantic, classLogits, maskLogits, perBlock?: Float32Array[], kept?: Int32Array [S*B] (when pruning:
//        patches kept after each stage s by each image b, at s*B + b), merged?: Uint8Array [B*wh*ww] (superpatches:
//        1 = the 2x2 window ran as one token)}>
//   session.dispose()
//   session.describe() -> {decodePoints, stageKeep: number[], maskSize: [h, w]}
//   session.lastRun() -> null (device 'cpu', or no run yet) | {deviceMs, graph, graphNote}: the last settled run's
//     CUDA-event time of the forward alone and its graph state (engine/cuda_engine.h CudaRunInfo)
// Weights are zero-copy: the session keeps a reference to every SPEC §8 Float32Array for its lifetime
// and reads them in place (mutating or detaching them while the session lives is the caller's
// problem, as with any zero-copy view). run() converts and validates on the JS thread, allocates the
// output arrays there, and computes in an AsyncWorker that touches no napi value.
// Concurrency: ONE run at a time per session. A second run() while one is in flight throws an Error
// (the TS InferenceSession queues its calls, so users of the public API never see it). dispose()
// during a run frees the engine when that run settles; run() after dispose() throws.
#include <napi.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/cuda_engine.h"
#include "engine/engine.h"
#include "engine/model.h"
#include "napi/convert.h"
#include "napi/registrar.h"

namespace r4p::napi {
namespace {

constexpr const char* kOp = "InferenceSession";

class SessionWrap : public Napi::ObjectWrap<SessionWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "InferenceSession",
                       {InstanceMethod<&SessionWrap::Run>("run"), InstanceMethod<&SessionWrap::Dispose>("dispose"),
                        InstanceMethod<&SessionWrap::Describe>("describe"),
                        InstanceMethod<&SessionWrap::LastRun>("lastRun")});
  }

  explicit SessionWrap(const Napi::CallbackInfo& info);

  // The engine's config (CPU or CUDA; valid while not released).
  const engine::EngineConfig& config() const { return engine_ ? engine_->config() : cuda_->config(); }
  // Pruning stages (the length of a run's kept counts per image; 0 when not pruning).
  int64_t stages() const {
    const engine::SessionOptions& o = engine_ ? engine_->options() : cuda_->options();
    return o.prune ? static_cast<int64_t>(config().stage_blocks.size()) : 0;
  }
  bool superpatch() const { return (engine_ ? engine_->options() : cuda_->options()).superpatch.on; }
  int64_t exits() const { return static_cast<int64_t>((engine_ ? engine_->options() : cuda_->options()).exits.blocks.size()); }
  Status run_engine(const float* images, int64_t B, const engine::RunOutputs& out) {
    return engine_ ? engine_->run(images, B, out) : cuda_->run(images, B, out);
  }
  void finish_run() {
    busy_ = false;
    if (cuda_) {
      last_ = cuda_->last_run();
      has_last_ = true;
    }
    if (disposed_) release();
  }

 private:
  Napi::Value Run(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value LastRun(const Napi::CallbackInfo& info);
  bool live() const { return engine_ || cuda_; }
  void release() {
    engine_.reset();
    cuda_.reset();
    for (auto& r : weight_refs_) r.Reset();
    weight_refs_.clear();
  }

  std::unique_ptr<engine::Engine> engine_;     // device 'cpu'
  std::unique_ptr<engine::CudaEngine> cuda_;   // device 'cuda'
  std::vector<Napi::ObjectReference> weight_refs_;
  bool busy_ = false, disposed_ = false;
  engine::CudaRunInfo last_;  // copied on the JS thread when a CUDA run settles
  bool has_last_ = false;
};

// Parses options {keep: number | 'dynamic' | null | undefined, threshold?, minKeep?, roundKeep?: integer in [1, 1024], tome?: {mode, mergeRatio},
//                  precision?: 'fp32' | 'bf16', device?: 'cpu' | 'cuda', cudaGraphs?: boolean}.
engine::SessionOptions parse_options(Napi::Env env, const Napi::Value& v, bool* cuda) {
  engine::SessionOptions o;
  *cuda = false;
  if (v.IsUndefined() || v.IsNull()) return o;
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    throw_type(env, kOp, ": expected options to be an object, received ", kind_name(v));
  Napi::Object obj = v.As<Napi::Object>();
  Napi::Value keep = obj.Get("keep");
  if (keep.IsString()) {
    const std::string k = keep.As<Napi::String>().Utf8Value();
    if (k != "dynamic") throw_range(env, kOp, ": expected options.keep to be a number in (0, 1], 'dynamic' or null, received '", k, "'");
    o.prune = true;
    o.dynamic = true;
  } else if (!keep.IsUndefined() && !keep.IsNull()) {
    if (!keep.IsNumber()) throw_type(env, kOp, ": expected options.keep to be a number, 'dynamic' or null, received ", kind_name(keep));
    const double k = keep.As<Napi::Number>().DoubleValue();
    if (!(k > 0.0 && k <= 1.0)) throw_range(env, kOp, ": expected options.keep in (0, 1], received ", k);
    o.prune = true;
    o.keep = k;
  }
  Napi::Value threshold = obj.Get("threshold"), min_keep = obj.Get("minKeep");
  if (!o.dynamic && (!threshold.IsUndefined() || !min_keep.IsUndefined()))
    throw_range(env, kOp, ": options.threshold and options.minKeep apply to keep 'dynamic' only");
  if (!threshold.IsUndefined()) {
    if (!threshold.IsNumber()) throw_type(env, kOp, ": expected options.threshold to be a number, received ", kind_name(threshold));
    const double t = threshold.As<Napi::Number>().DoubleValue();
    if (!(t >= 0.0 && t <= 1.0)) throw_range(env, kOp, ": expected options.threshold in [0, 1], received ", t);
    o.threshold = t;
  }
  if (!min_keep.IsUndefined()) {
    if (!min_keep.IsNumber()) throw_type(env, kOp, ": expected options.minKeep to be a number, received ", kind_name(min_keep));
    const double m = min_keep.As<Napi::Number>().DoubleValue();
    if (!(m >= 1.0 && m <= 2147483647.0 && m == std::floor(m)))
      throw_range(env, kOp, ": expected options.minKeep to be an integer >= 1, received ", m);
    o.min_keep = static_cast<int64_t>(m);
  }
  Napi::Value device = obj.Get("device");
  if (!device.IsUndefined() && !device.IsNull()) {
    const std::string d = device.IsString() ? device.As<Napi::String>().Utf8Value() : "";
    if (d == "cuda") *cuda = true;
    else if (d != "cpu") throw_range(env, kOp, ": expected options.device to be 'cpu' or 'cuda', received ",
                                     device.IsString() ? "'" + d + "'" : kind_name(device));
  }
  Napi::Value graphs = obj.Get("cudaGraphs");
  if (!graphs.IsUndefined() && !graphs.IsNull()) {
    if (!graphs.IsBoolean()) throw_type(env, kOp, ": expected options.cudaGraphs to be a boolean, received ", kind_name(graphs));
    o.cuda_graphs = graphs.As<Napi::Boolean>().Value();
  }
  Napi::Value precision = obj.Get("precision");
  if (!precision.IsUndefined() && !precision.IsNull()) {
    if (!precision.IsString()) throw_type(env, kOp, ": expected options.precision to be a string, received ", kind_name(precision));
    const std::string p = precision.As<Napi::String>().Utf8Value();
    if (p == "bf16") o.bf16 = true;
    else if (p != "fp32") throw_range(env, kOp, ": expected options.precision to be 'fp32' or 'bf16', received '", p, "'");
  }
  Napi::Value round = obj.Get("roundKeep");
  if (!round.IsUndefined() && !round.IsNull()) {
    if (!round.IsNumber()) throw_type(env, kOp, ": expected options.roundKeep to be a number, received ", kind_name(round));
    const double m = round.As<Napi::Number>().DoubleValue();
    if (!(m >= 1.0 && m <= 1024.0 && m == std::floor(m)))
      throw_range(env, kOp, ": expected options.roundKeep to be an integer in [1, 1024], received ", m);
    o.round_keep = static_cast<int64_t>(m);
  }
  Napi::Value tome = obj.Get("tome");
  if (!tome.IsUndefined() && !tome.IsNull()) {
    if (!tome.IsObject() || tome.IsArray()) throw_type(env, kOp, ": expected options.tome to be an object, received ", kind_name(tome));
    Napi::Object t = tome.As<Napi::Object>();
    Napi::Value mode = t.Get("mode"), ratio = t.Get("mergeRatio");
    const std::string m = mode.IsString() ? mode.As<Napi::String>().Utf8Value() : "";
    if (m == "mhsa") o.tome.mode = engine::ToMeMode::kMhsa;
    else if (m == "mhsa+mlp") o.tome.mode = engine::ToMeMode::kMhsaMlp;
    else throw_range(env, kOp, ": expected options.tome.mode to be 'mhsa' or 'mhsa+mlp', received ",
                     mode.IsString() ? "'" + m + "'" : kind_name(mode));
    if (!ratio.IsNumber()) throw_type(env, kOp, ": expected options.tome.mergeRatio to be a number, received ", kind_name(ratio));
    const double r = ratio.As<Napi::Number>().DoubleValue();
    if (!(r >= 0.0 && r < 1.0)) throw_range(env, kOp, ": expected options.tome.mergeRatio in [0, 1), received ", r);
    o.tome.merge_ratio = r;
  }
  return o;
}

// One named weight of an options object: a Float32Array of exactly `n` finite elements, kept alive with the session.
const float* weight_view(Napi::Env env, Napi::Object weights, const std::string& key, const std::string& what, int64_t n,
                         std::vector<Napi::ObjectReference>* refs) {
  Napi::Value t = weights.Get(key);
  View<float> view = f32_view(env, t, kOp, what);
  if (static_cast<int64_t>(view.length) != n) throw_range(env, kOp, ": expected ", what, " to have ", n, " elements, received ", view.length);
  for (size_t k = 0; k < view.length; ++k)
    if (!std::isfinite(view.data[k])) throw_range(env, kOp, ": expected ", what, " to be finite, received ", view.data[k], " at [", k, "]");
  refs->push_back(Napi::Persistent(t.As<Napi::Object>()));
  return view.data;
}

// options.superpatch = {width: c, patch: p (= the model's), threshold?, weights: {conv1/2/3 .weight/.bias}} (src/model/
// superpatch.ts): views of the six Float32Arrays, shapes checked, references kept with the model's weights.
void parse_superpatch(Napi::Env env, const Napi::Value& v, const engine::EngineConfig& c, engine::SessionOptions* o,
                      std::vector<Napi::ObjectReference>* refs) {
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    throw_type(env, kOp, ": expected options.superpatch to be {width, patch, threshold?, weights}, received ", kind_name(v));
  Napi::Object sp = v.As<Napi::Object>();
  Napi::Value width = sp.Get("width"), patch = sp.Get("patch"), threshold = sp.Get("threshold"), weights = sp.Get("weights");
  if (!width.IsNumber() || !patch.IsNumber())
    throw_type(env, kOp, ": expected options.superpatch.width and .patch to be numbers, received ", kind_name(width), " and ", kind_name(patch));
  const double cw = width.As<Napi::Number>().DoubleValue(), p = patch.As<Napi::Number>().DoubleValue();
  if (!(cw >= 1 && cw <= 1024 && cw == std::floor(cw)))
    throw_range(env, kOp, ": expected options.superpatch.width to be an integer in [1, 1024], received ", cw);
  if (p != static_cast<double>(c.patch))
    throw_range(env, kOp, ": expected options.superpatch.patch to be the model's patch ", c.patch, ", received ", p);
  engine::SuperpatchOptions& s = o->superpatch;
  s.on = true;
  s.width = static_cast<int64_t>(cw);
  if (!threshold.IsUndefined()) {
    if (!threshold.IsNumber()) throw_type(env, kOp, ": expected options.superpatch.threshold to be a number, received ", kind_name(threshold));
    s.threshold = threshold.As<Napi::Number>().DoubleValue();
    if (!(s.threshold >= 0.0 && s.threshold <= 1.0))
      throw_range(env, kOp, ": expected options.superpatch.threshold in [0, 1], received ", s.threshold);
  }
  if (!weights.IsObject() || weights.IsArray() || weights.IsTypedArray())
    throw_type(env, kOp, ": expected options.superpatch.weights to be an object of Float32Arrays, received ", kind_name(weights));
  const int64_t w = s.width;
  const std::pair<const char*, int64_t> shapes[6] = {{"conv1.weight", w * 27}, {"conv1.bias", w}, {"conv2.weight", w * w * 4},
                                                     {"conv2.bias", w}, {"conv3.weight", w}, {"conv3.bias", 1}};
  const float** dst[6] = {&s.conv1_w, &s.conv1_b, &s.conv2_w, &s.conv2_b, &s.conv3_w, &s.conv3_b};
  for (int i = 0; i < 6; ++i) {
    const std::string what = std::string("options.superpatch.weights['") + shapes[i].first + "']";
    *dst[i] = weight_view(env, weights.As<Napi::Object>(), shapes[i].first, what, shapes[i].second, refs);
  }
}

// options.earlyExit = {blocks: number[], threshold?, minActive?, weights: {'exits.{j}.norm.weight' [D], '...norm.bias' [D],
// '...fc.weight' [(C+1)*D], '...fc.bias' [C+1]}} (src/model/earlyExit.ts): views, sizes checked, references kept.
void parse_exits(Napi::Env env, const Napi::Value& v, const engine::EngineConfig& c, engine::SessionOptions* o,
                 std::vector<Napi::ObjectReference>* refs) {
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    throw_type(env, kOp, ": expected options.earlyExit to be {blocks, threshold?, minActive?, weights}, received ", kind_name(v));
  Napi::Object ex = v.As<Napi::Object>();
  Napi::Value blocks = ex.Get("blocks"), threshold = ex.Get("threshold"), min_active = ex.Get("minActive"), weights = ex.Get("weights");
  if (!blocks.IsArray()) throw_type(env, kOp, ": expected options.earlyExit.blocks to be an array, received ", kind_name(blocks));
  engine::EarlyExitOptions& e = o->exits;
  e.on = true;
  Napi::Array arr = blocks.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value b = arr.Get(i);
    const double d = b.IsNumber() ? b.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d < static_cast<double>(c.L) && d == std::floor(d)))
      throw_range(env, kOp, ": expected options.earlyExit.blocks[", i, "] to be a block index in [0, ", c.L, "), received ", kind_name(b));
    e.blocks.push_back(static_cast<int64_t>(d));
  }
  if (!threshold.IsUndefined()) {
    if (!threshold.IsNumber()) throw_type(env, kOp, ": expected options.earlyExit.threshold to be a number, received ", kind_name(threshold));
    e.threshold = threshold.As<Napi::Number>().DoubleValue();
  }
  if (!min_active.IsUndefined()) {
    if (!min_active.IsNumber()) throw_type(env, kOp, ": expected options.earlyExit.minActive to be a number, received ", kind_name(min_active));
    const double m = min_active.As<Napi::Number>().DoubleValue();
    if (!(m >= 1 && m <= 2147483647.0 && m == std::floor(m)))
      throw_range(env, kOp, ": expected options.earlyExit.minActive to be an integer >= 1, received ", m);
    e.min_active = static_cast<int64_t>(m);
  }
  if (!weights.IsObject() || weights.IsArray() || weights.IsTypedArray())
    throw_type(env, kOp, ": expected options.earlyExit.weights to be an object of Float32Arrays, received ", kind_name(weights));
  for (size_t j = 0; j < e.blocks.size(); ++j) {
    const std::string pre = "exits." + std::to_string(j) + ".";
    const std::pair<std::string, int64_t> parts[4] = {{pre + "norm.weight", c.D}, {pre + "norm.bias", c.D}, {pre + "fc.weight", c.C1() * c.D}, {pre + "fc.bias", c.C1()}};
    std::vector<const float*>* dst[4] = {&e.norm_w, &e.norm_b, &e.fc_w, &e.fc_b};
    for (int i = 0; i < 4; ++i) {
      const std::string what = "options.earlyExit.weights['" + parts[i].first + "']";
      dst[i]->push_back(weight_view(env, weights.As<Napi::Object>(), parts[i].first, what, parts[i].second, refs));
    }
  }
}

SessionWrap::SessionWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SessionWrap>(info) {
  Napi::Env env = info.Env();
  if (!info.IsConstructCall()) throw_type(env, kOp, ": use `new InferenceSession(...)`");
  if (info.Length() < 2) throw_type(env, kOp, ": expected (configJson, weights, options), received ", info.Length(), " arguments");
  if (!info[0].IsString()) throw_type(env, kOp, ": expected configJson to be a string, received ", kind_name(info[0]));
  engine::EngineConfig config;
  throw_if_error(env, engine::parse_config(info[0].As<Napi::String>().Utf8Value(), &config));
  if (!info[1].IsObject() || info[1].IsArray() || info[1].IsTypedArray() || info[1].IsFunction())
    throw_type(env, kOp, ": expected weights to be an object of Float32Arrays, received ", kind_name(info[1]));
  bool cuda = false;
  const engine::SessionOptions opts = parse_options(env, info.Length() > 2 ? info[2] : env.Undefined(), &cuda);

  Napi::Object wobj = info[1].As<Napi::Object>();
  std::map<std::string, engine::TensorRef> weights;
  std::vector<Napi::ObjectReference> refs;
  for (const auto& [name, dims] : engine::weight_shapes(config)) {
    Napi::Value v = wobj.Get(name);
    const std::string what = "weights['" + name + "']";
    if (v.IsUndefined()) throw_type(env, kOp, ": expected ", what, " to be a Float32Array ", shape_str(dims), ", received undefined (missing)");
    View<float> view = f32_view(env, v, kOp, what);
    for (size_t i = 0; i < view.length; ++i)
      if (!std::isfinite(view.data[i])) throw_range(env, kOp, ": expected ", what, " to be finite, received ", view.data[i], " at [", i, "]");
    weights[name] = engine::TensorRef{view.data, static_cast<int64_t>(view.length)};
    refs.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  engine::SessionOptions full = opts;
  if (info.Length() > 2 && info[2].IsObject()) {
    parse_superpatch(env, info[2].As<Napi::Object>().Get("superpatch"), config, &full, &refs);
    parse_exits(env, info[2].As<Napi::Object>().Get("earlyExit"), config, &full, &refs);
  }
  std::unique_ptr<engine::Model> model;
  throw_if_error(env, engine::Model::create(config, weights, &model));
  if (cuda) throw_if_error(env, engine::CudaEngine::create(std::move(model), full, &cuda_));
  else throw_if_error(env, engine::Engine::create(std::move(model), full, &engine_));
  weight_refs_ = std::move(refs);
}

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, SessionWrap* session, Napi::Object session_obj, const float* images, int64_t B,
            Napi::Value images_value, bool per_block)
      : Napi::AsyncWorker(env, "reg4pru:InferenceSession.run"),
        deferred_(Napi::Promise::Deferred::New(env)),
        session_(session),
        images_(images),
        B_(B) {
    session_ref_ = Napi::Persistent(session_obj);
    images_ref_ = Napi::Persistent(images_value.As<Napi::Object>());
    const engine::EngineConfig& c = session->config();
    Napi::Object result = Napi::Object::New(env);
    auto make = [&](const char* key, int64_t n) {
      Napi::Float32Array a = Napi::Float32Array::New(env, static_cast<size_t>(n));
      if (key) result.Set(key, a);
      return a;
    };
    out_.semantic = make("semantic", engine::semantic_size(c, B)).Data();
    out_.class_logits = make("classLogits", engine::class_logits_size(c, B)).Data();
    out_.mask_logits = make("maskLogits", engine::mask_logits_size(c, B)).Data();
    if (const int64_t E = session->exits(); E > 0) {
      Napi::Int32Array halted = Napi::Int32Array::New(env, static_cast<size_t>(E * B));
      result.Set("halted", halted);
      out_.halted = halted.Data();
    }
    if (session->superpatch()) {
      Napi::Uint8Array merged = Napi::Uint8Array::New(env, static_cast<size_t>(B * (c.gh() / 2) * (c.gw() / 2)));
      result.Set("merged", merged);
      out_.merged = merged.Data();
    }
    if (const int64_t S = session->stages(); S > 0) {
      Napi::Int32Array kept = Napi::Int32Array::New(env, static_cast<size_t>(S * B));
      result.Set("kept", kept);
      out_.kept = kept.Data();
    }
    if (per_block) {
      const int64_t n = c.decode_points();
      Napi::Array arr = Napi::Array::New(env, static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        Napi::Float32Array a = make(nullptr, engine::semantic_size(c, B));
        arr.Set(static_cast<uint32_t>(i), a);
        out_.per_block.push_back(a.Data());
      }
      result.Set("perBlock", arr);
    }
    result_ = Napi::Persistent(result);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { status_ = session_->run_engine(images_, B_, out_); }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    session_->finish_run();
    if (status_.ok()) deferred_.Resolve(result_.Value());
    else deferred_.Reject(status_to_error(Env(), status_).Value());
    release();
  }
  void OnError(const Napi::Error& e) override {
    Napi::HandleScope scope(Env());
    session_->finish_run();
    deferred_.Reject(e.Value());
    release();
  }

 private:
  void release() {
    result_.Reset();
    images_ref_.Reset();
    session_ref_.Reset();
  }
  Napi::Promise::Deferred deferred_;
  SessionWrap* session_;
  const float* images_;
  int64_t B_;
  engine::RunOutputs out_;
  Status status_;
  Napi::ObjectReference session_ref_, images_ref_, result_;
};

Napi::Value SessionWrap::Run(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "InferenceSession.run";
  if (disposed_ || !live()) throw Napi::Error::New(env, "InferenceSession.run: the session was disposed");
  if (busy_)
    throw Napi::Error::New(env, "InferenceSession.run: a run is already in progress on this session (await it first)");
  expect_arg_count(info, 3, op);
  View<float> images = f32_arg(info, 0, op, "images");
  const int64_t B = dim_arg(info, 1, op, "B");
  const bool per_block = bool_arg(info, 2, op, "perBlock");
  const engine::EngineConfig& c = config();
  expect_shape(env, op, "images", images, "[B,3,H,W]", {B, 3, c.image_h, c.image_w});
  for (size_t i = 0; i < images.length; ++i)
    if (!std::isfinite(images.data[i]))
      throw_range(env, op, ": expected images to be finite, received ", images.data[i], " at [", i, "]");
  auto* worker = new RunWorker(env, this, Value(), images.data, B, info[0], per_block);
  busy_ = true;
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

Napi::Value SessionWrap::Dispose(const Napi::CallbackInfo& info) {
  disposed_ = true;
  if (!busy_) release();
  return info.Env().Undefined();
}

Napi::Value SessionWrap::Describe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!live()) throw Napi::Error::New(env, "InferenceSession.describe: the session was disposed");
  const engine::EngineConfig& c = config();
  const std::vector<int64_t>& keep = engine_ ? engine_->stage_keep() : cuda_->stage_keep();
  Napi::Object o = Napi::Object::New(env);
  o.Set("decodePoints", Napi::Number::New(env, static_cast<double>(c.decode_points())));
  o.Set("firstDecodeBlock", Napi::Number::New(env, static_cast<double>(c.first_decode())));
  Napi::Array ks = Napi::Array::New(env, keep.size());
  for (size_t i = 0; i < keep.size(); ++i) ks.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(keep[i])));
  o.Set("stageKeep", ks);
  Napi::Array ms = Napi::Array::New(env, 2);
  ms.Set(0u, Napi::Number::New(env, static_cast<double>(4 * c.gh())));
  ms.Set(1u, Napi::Number::New(env, static_cast<double>(4 * c.gw())));
  o.Set("maskSize", ms);
  return o;
}

Napi::Value SessionWrap::LastRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!has_last_) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("deviceMs", Napi::Number::New(env, static_cast<double>(last_.device_ms)));
  o.Set("graph", Napi::String::New(env, last_.graph));
  o.Set("graphNote", Napi::String::New(env, last_.graph_note));
  return o;
}

void Export(Napi::Env env, Napi::Object exports) { exports.Set("InferenceSession", SessionWrap::Define(env)); }

}  // namespace
R4P_NAPI_EXPORTS(Export);

}  // namespace r4p::napi
