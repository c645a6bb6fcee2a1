// registrar.h: each binding file registers its exports with R4P_NAPI_EXPORTS(fn); addon.cc calls
// every registered function once at module load. (One line per binding file instead of a
// hand-kept list in addon.cc that every new op has to edit.)
#pragma once
#include <napi.h>

#include <vector>

namespace r4p::napi {

using ExportFn = void (*)(Napi::Env, Napi::Object);

inline std::vector<ExportFn>& export_fns() {
  static std::vector<ExportFn> fns;  // function-local: safe against static-init order
  return fns;
}

struct ExportRegistrar {
  explicit ExportRegistrar(ExportFn fn) { export_fns().push_back(fn); }
};

}  // namespace r4p::napi

#define R4P_NAPI_CONCAT_(a, b) a##b
#define R4P_NAPI_CONCAT(a, b) R4P_NAPI_CONCAT_(a, b)
#define R4P_NAPI_EXPORTS(fn) \
  static ::r4p::napi::ExportRegistrar R4P_NAPI_CONCAT(r4p_export_registrar_, __LINE__)(fn)
