// async_work.h: run a kernel call off the JS thread and settle a Promise (STYLE §5).
// Everything is converted on the JS thread before construction; Execute touches no napi value;
// the worker holds references to every input/output buffer until OnOK/OnError so GC cannot free
// them while the kernel runs.
#pragma once
#include <napi.h>

#include <functional>
#include <vector>

#include "common/status.h"
#include "napi/convert.h"

namespace r4p::napi {

class KernelWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Status()>;

  // keep_alive: the JS values (TypedArrays) the work reads or writes. resolve_with: returned value.
  static Napi::Value Queue(Napi::Env env, Work work, const std::vector<Napi::Value>& keep_alive,
                           Napi::Value resolve_with) {
    auto* w = new KernelWorker(env, std::move(work), keep_alive, resolve_with);
    Napi::Promise p = w->deferred_.Promise();
    w->Napi::AsyncWorker::Queue();  // qualified: the static Queue above hides the base one
    return p;
  }

 protected:
  void Execute() override { status_ = work_(); }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    if (!status_.ok()) {
      deferred_.Reject(status_to_error(Env(), status_).Value());
    } else {
      deferred_.Resolve(result_.IsEmpty() ? Env().Undefined() : result_.Value());
    }
    release();
  }
  void OnError(const Napi::Error& e) override {
    Napi::HandleScope scope(Env());
    deferred_.Reject(e.Value());
    release();
  }

 private:
  KernelWorker(Napi::Env env, Work work, const std::vector<Napi::Value>& keep_alive, Napi::Value resolve_with)
      : Napi::AsyncWorker(env, "reg4pru:kernel"), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)) {
    for (const auto& v : keep_alive)
      if (v.IsObject()) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
    if (resolve_with.IsObject()) result_ = Napi::Persistent(resolve_with.As<Napi::Object>());
  }
  void release() {
    for (auto& r : refs_) r.Reset();
    result_.Reset();
  }

  Napi::Promise::Deferred deferred_;
  Work work_;
  Status status_;
  std::vector<Napi::ObjectReference> refs_;
  Napi::ObjectReference result_;
};

}  // namespace r4p::napi
