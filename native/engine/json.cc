// json.cc: recursive-descent JSON reader (RFC 8259 subset good enough for configs: \uXXXX escapes
// outside the BMP are kept as two 3-byte sequences). Depth is capped at 64 so a hostile string cannot
// exhaust the stack.
#include "engine/json.h"

#include <cstdlib>
#include <cstring>

namespace r4p::engine {

const JsonValue* JsonValue::get(const std::string& key) const {
  if (kind != Kind::kObject) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &it->second;
}

const char* JsonValue::kind_name() const {
  switch (kind) {
    case Kind::kNull: return "null";
    case Kind::kBool: return "boolean";
    case Kind::kNumber: return "number";
    case Kind::kString: return "string";
    case Kind::kArray: return "array";
    default: return "object";
  }
}

namespace {

struct Parser {
  const std::string& s;
  const char* what;
  size_t i = 0;

  Status fail(const char* msg) const { return range_error(what, ": invalid JSON at byte ", i, ": ", msg); }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  }
  bool lit(const char* w) {
    const size_t n = std::strlen(w);
    if (s.compare(i, n, w) != 0) return false;
    i += n;
    return true;
  }
  static void put_utf8(std::string& o, unsigned cp) {
    if (cp < 0x80) {
      o += static_cast<char>(cp);
    } else if (cp < 0x800) {
      o += static_cast<char>(0xC0 | (cp >> 6));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      o += static_cast<char>(0xE0 | (cp >> 12));
      o += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      o += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  Status string(std::string* out) {
    ++i;  // opening quote
    while (i < s.size() && s[i] != '"') {
      const char c = s[i++];
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (i >= s.size()) return fail("unterminated escape");
      const char e = s[i++];
      switch (e) {
        case '"': *out += '"'; break;
        case '\\': *out += '\\'; break;
        case '/': *out += '/'; break;
        case 'b': *out += '\b'; break;
        case 'f': *out += '\f'; break;
        case 'n': *out += '\n'; break;
        case 'r': *out += '\r'; break;
        case 't': *out += '\t'; break;
        case 'u': {
          if (i + 4 > s.size()) return fail("short \\u escape");
          unsigned cp = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = s[i++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= h - '0';
            else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
            else return fail("bad hex digit in \\u escape");
          }
          put_utf8(*out, cp);
          break;
        }
        default: return fail("unknown escape");
      }
    }
    if (i >= s.size()) return fail("unterminated string");
    ++i;
    return Status::Ok();
  }
  Status value(JsonValue* v, int depth) {
    if (depth > 64) return fail("nested too deeply");
    ws();
    if (i >= s.size()) return fail("unexpected end");
    const char c = s[i];
    if (c == '{') {
      v->kind = JsonValue::Kind::kObject;
      ++i;
      ws();
      if (i < s.size() && s[i] == '}') { ++i; return Status::Ok(); }
      for (;;) {
        ws();
        if (i >= s.size() || s[i] != '"') return fail("expected a string key");
        std::string key;
        R4P_RETURN_IF_ERROR(string(&key));
        ws();
        if (i >= s.size() || s[i] != ':') return fail("expected ':'");
        ++i;
        JsonValue member;
        R4P_RETURN_IF_ERROR(value(&member, depth + 1));
        v->object[key] = std::move(member);
        ws();
        if (i < s.size() && s[i] == ',') { ++i; continue; }
        if (i < s.size() && s[i] == '}') { ++i; return Status::Ok(); }
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v->kind = JsonValue::Kind::kArray;
      ++i;
      ws();
      if (i < s.size() && s[i] == ']') { ++i; return Status::Ok(); }
      for (;;) {
        JsonValue item;
        R4P_RETURN_IF_ERROR(value(&item, depth + 1));
        v->array.push_back(std::move(item));
        ws();
        if (i < s.size() && s[i] == ',') { ++i; continue; }
        if (i < s.size() && s[i] == ']') { ++i; return Status::Ok(); }
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v->kind = JsonValue::Kind::kString;
      return string(&v->string);
    }
    if (lit("true")) { v->kind = JsonValue::Kind::kBool; v->boolean = true; return Status::Ok(); }
    if (lit("false")) { v->kind = JsonValue::Kind::kBool; v->boolean = false; return Status::Ok(); }
    if (lit("null")) { v->kind = JsonValue::Kind::kNull; return Status::Ok(); }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const size_t start = i;
      if (s[i] == '-') ++i;
      while (i < s.size() && (std::strchr("0123456789+-.eE", s[i]) != nullptr)) ++i;
      const std::string tok = s.substr(start, i - start);
      char* end = nullptr;
      v->kind = JsonValue::Kind::kNumber;
      v->number = std::strtod(tok.c_str(), &end);
      if (end != tok.c_str() + tok.size()) { i = start; return fail("malformed number"); }
      return Status::Ok();
    }
    return fail("unexpected character");
  }
};

}  // namespace

Status parse_json(const std::string& text, const char* what, JsonValue* out) {
  Parser p{text, what};
  *out = JsonValue{};
  R4P_RETURN_IF_ERROR(p.value(out, 0));
  p.ws();
  if (p.i != text.size()) return p.fail("trailing characters");
  return Status::Ok();
}

}  // namespace r4p::engine
