// addon.cc: module entry. Every binding file adds its exports through R4P_NAPI_EXPORTS.
#include <napi.h>

#include "napi/registrar.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (auto fn : r4p::napi::export_fns()) fn(env, exports);
  return exports;
}

NODE_API_MODULE(reg4pru, Init)
