// json.h: a minimal JSON reader for the model config string (SPEC §8 "reg4pru.config"). The engine
// receives the config as JSON text and validates it again in C++, because the binding can be called
// directly. Objects, arrays, strings (with escapes), numbers, true/false/null; depth-limited, never
// throws: a malformed document gives a RangeError Status naming the byte offset.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace r4p::engine {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;

  // Member of an object, or null when absent (or when this is not an object).
  const JsonValue* get(const std::string& key) const;
  const char* kind_name() const;
};

// Parses the whole text (trailing whitespace only). what names the argument in messages.
Status parse_json(const std::string& text, const char* what, JsonValue* out);

}  // namespace r4p::engine
