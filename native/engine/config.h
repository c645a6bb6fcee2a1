// config.h: the model configuration (SPEC §2, §3, §8; src/model/config.ts ModelConfig) on the C++
// side. The engine is handed the config as JSON text and re-validates every field and relation with
// the same rules as validateConfig() in TS, so a direct binding call cannot build an inconsistent model.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace r4p::engine {

struct EngineConfig {
  std::string preset = "custom";
  int64_t D = 0, H = 0, L = 0, patch = 0;
  int64_t image_h = 0, image_w = 0;
  int64_t R = 0, Q = 0, Bq = 0, classes = 0, selector_width = 0, mlp_ratio = 0;
  std::vector<int64_t> stage_blocks;

  int64_t gh() const { return image_h / patch; }
  int64_t gw() const { return image_w / patch; }
  int64_t Np() const { return gh() * gw(); }
  int64_t P() const { return 1 + R; }      // prefix: cls + registers
  int64_t F() const { return D * mlp_ratio; }
  int64_t C1() const { return classes + 1; }  // class head outputs (no-object last)
  // First block that sees the queries (L - Bq) and the first per-block decode point (L - Bq - 1, >= 0).
  int64_t query_block() const { return L - Bq; }
  int64_t first_decode() const { return L - Bq - 1 < 0 ? 0 : L - Bq - 1; }
  int64_t decode_points() const { return L - first_decode(); }
};

// Parses and validates config JSON (a ModelConfig object). Errors name "config.<field>".
Status parse_config(const std::string& json, EngineConfig* out);

// Every SPEC §8 tensor with its shape, in the order of weightShapes() in src/model/config.ts.
std::vector<std::pair<std::string, std::vector<int64_t>>> weight_shapes(const EngineConfig& c);

}  // namespace r4p::engine
