// status.h: the error value that kernels and launchers return instead of throwing or aborting.
// Kernels never throw across pool threads; the N-API layer turns a non-ok Status into a JS
// TypeError / RangeError / Error (SPEC §5: bad input is a clean error, never a crash).
#pragma once
#include <sstream>
#include <string>
#include <utility>

namespace r4p {

enum class StatusCode { kOk = 0, kTypeError, kRangeError, kInternal, kOutOfMemory, kUnavailable };

struct Status {
  StatusCode code = StatusCode::kOk;
  std::string message;

  bool ok() const { return code == StatusCode::kOk; }
  static Status Ok() { return {}; }
  static Status Make(StatusCode c, std::string m) { return Status{c, std::move(m)}; }
};

namespace detail {
template <typename... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}
}  // namespace detail

template <typename... Parts>
Status range_error(Parts&&... parts) {
  return Status::Make(StatusCode::kRangeError, detail::concat(std::forward<Parts>(parts)...));
}
template <typename... Parts>
Status type_error(Parts&&... parts) {
  return Status::Make(StatusCode::kTypeError, detail::concat(std::forward<Parts>(parts)...));
}
template <typename... Parts>
Status internal_error(Parts&&... parts) {
  return Status::Make(StatusCode::kInternal, detail::concat(std::forward<Parts>(parts)...));
}

}  // namespace r4p

// Early-return helper for functions that return Status.
#define R4P_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::r4p::Status r4p_status_ = (expr);    \
    if (!r4p_status_.ok()) return r4p_status_; \
  } while (0)
