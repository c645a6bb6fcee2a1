// config.cc: JSON -> EngineConfig with the validation rules of src/model/config.ts validateConfig(),
// and the SPEC §8 tensor list (weightShapes()).
#include "engine/config.h"

#include <cmath>

#include "engine/json.h"

namespace r4p::engine {
namespace {

constexpr const char* kOp = "InferenceSession";

Status int_field(const JsonValue& o, const char* name, int64_t min, int64_t* out) {
  const JsonValue* v = o.get(name);
  if (!v || v->kind != JsonValue::Kind::kNumber)
    return type_error(kOp, ": expected config.", name, " to be an integer, received ", v ? v->kind_name() : "undefined");
  const double d = v->number;
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(1 << 20))
    return range_error(kOp, ": expected config.", name, " to be an integer >= ", min, ", received ", d);
  *out = static_cast<int64_t>(d);
  return Status::Ok();
}

Status int_item(const JsonValue& v, const std::string& name, int64_t min, int64_t* out) {
  if (v.kind != JsonValue::Kind::kNumber)
    return type_error(kOp, ": expected config.", name, " to be an integer, received ", v.kind_name());
  const double d = v.number;
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(1 << 20))
    return range_error(kOp, ": expected config.", name, " to be an integer >= ", min, ", received ", d);
  *out = static_cast<int64_t>(d);
  return Status::Ok();
}

}  // namespace

Status parse_config(const std::string& json, EngineConfig* out) {
  JsonValue root;
  R4P_RETURN_IF_ERROR(parse_json(json, "InferenceSession: configJson", &root));
  if (root.kind != JsonValue::Kind::kObject)
    return type_error(kOp, ": expected config to be a JSON object, received ", root.kind_name());
  EngineConfig c;
  if (const JsonValue* p = root.get("preset"); p && p->kind == JsonValue::Kind::kString) c.preset = p->string;
  R4P_RETURN_IF_ERROR(int_field(root, "D", 1, &c.D));
  R4P_RETURN_IF_ERROR(int_field(root, "H", 1, &c.H));
  R4P_RETURN_IF_ERROR(int_field(root, "L", 1, &c.L));
  R4P_RETURN_IF_ERROR(int_field(root, "patch", 1, &c.patch));
  R4P_RETURN_IF_ERROR(int_field(root, "R", 0, &c.R));
  R4P_RETURN_IF_ERROR(int_field(root, "Q", 1, &c.Q));
  R4P_RETURN_IF_ERROR(int_field(root, "Bq", 1, &c.Bq));
  R4P_RETURN_IF_ERROR(int_field(root, "classes", 1, &c.classes));
  R4P_RETURN_IF_ERROR(int_field(root, "selectorWidth", 1, &c.selector_width));
  R4P_RETURN_IF_ERROR(int_field(root, "mlpRatio", 1, &c.mlp_ratio));
  if (c.D % c.H != 0) return range_error(kOp, ": expected config D % H === 0, received D=", c.D, ", H=", c.H);
  if (c.Bq > c.L) return range_error(kOp, ": expected config Bq <= L, received Bq=", c.Bq, ", L=", c.L);
  const JsonValue* image = root.get("image");
  if (!image || image->kind != JsonValue::Kind::kArray || image->array.size() != 2)
    return type_error(kOp, ": expected config.image to be [height, width], received ",
                      image ? image->kind_name() : "undefined");
  R4P_RETURN_IF_ERROR(int_item(image->array[0], "image[0]", 1, &c.image_h));
  R4P_RETURN_IF_ERROR(int_item(image->array[1], "image[1]", 1, &c.image_w));
  if (c.image_h % c.patch != 0 || c.image_w % c.patch != 0)
    return range_error(kOp, ": expected config.image [", c.image_h, ",", c.image_w, "] to be multiples of patch=", c.patch);
  const JsonValue* stages = root.get("stageBlocks");
  if (!stages || stages->kind != JsonValue::Kind::kArray)
    return type_error(kOp, ": expected config.stageBlocks to be an array, received ", stages ? stages->kind_name() : "undefined");
  for (size_t s = 0; s < stages->array.size(); ++s) {
    int64_t b = 0;
    R4P_RETURN_IF_ERROR(int_item(stages->array[s], "stageBlocks[" + std::to_string(s) + "]", 1, &b));
    if (b >= c.L) return range_error(kOp, ": expected config.stageBlocks[", s, "] < L=", c.L, ", received ", b);
    if (s > 0 && b <= c.stage_blocks.back())
      return range_error(kOp, ": expected config.stageBlocks ascending, received ", b, " after ", c.stage_blocks.back());
    c.stage_blocks.push_back(b);
  }
  // Sizes whose products must stay well inside int32 indices and sane memory (a 4096^2 image at p=1
  // is already far beyond any use).
  if (c.Np() > (int64_t(1) << 22))
    return range_error(kOp, ": expected config.image / patch to give at most 2^22 patches, received ", c.Np());
  *out = std::move(c);
  return Status::Ok();
}

std::vector<std::pair<std::string, std::vector<int64_t>>> weight_shapes(const EngineConfig& c) {
  const int64_t D = c.D, F = c.F(), W = c.selector_width, p = c.patch;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {"patch_embed.proj.weight", {D, 3, p, p}}, {"patch_embed.proj.bias", {D}}, {"cls_token", {1, 1, D}}};
  if (c.R > 0) out.push_back({"reg_token", {1, c.R, D}});
  out.push_back({"pos_embed", {1, c.Np(), D}});
  out.push_back({"q.weight", {c.Q, D}});
  for (int64_t i = 0; i < c.L; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    out.push_back({b + "norm1.weight", {D}});
    out.push_back({b + "norm1.bias", {D}});
    out.push_back({b + "attn.qkv.weight", {3 * D, D}});
    out.push_back({b + "attn.qkv.bias", {3 * D}});
    out.push_back({b + "attn.proj.weight", {D, D}});
    out.push_back({b + "attn.proj.bias", {D}});
    out.push_back({b + "ls1.gamma", {D}});
    out.push_back({b + "norm2.weight", {D}});
    out.push_back({b + "norm2.bias", {D}});
    out.push_back({b + "mlp.fc1.weight", {F, D}});
    out.push_back({b + "mlp.fc1.bias", {F}});
    out.push_back({b + "mlp.fc2.weight", {D, F}});
    out.push_back({b + "mlp.fc2.bias", {D}});
    out.push_back({b + "ls2.gamma", {D}});
  }
  out.push_back({"norm.weight", {D}});
  out.push_back({"norm.bias", {D}});
  out.push_back({"class_head.weight", {c.C1(), D}});
  out.push_back({"class_head.bias", {c.C1()}});
  for (int j : {0, 2, 4}) {
    out.push_back({"mask_head." + std::to_string(j) + ".weight", {D, D}});
    out.push_back({"mask_head." + std::to_string(j) + ".bias", {D}});
  }
  for (int j : {0, 1}) {
    const std::string u = "upscale." + std::to_string(j) + ".";
    out.push_back({u + "conv1.weight", {D, D, 2, 2}});
    out.push_back({u + "conv1.bias", {D}});
    out.push_back({u + "conv2.weight", {D, 1, 3, 3}});
    out.push_back({u + "norm.weight", {D}});
    out.push_back({u + "norm.bias", {D}});
  }
  for (size_t s = 0; s < c.stage_blocks.size(); ++s) {
    const std::string g = "selectors." + std::to_string(s) + ".";
    out.push_back({g + "norm.weight", {D}});
    out.push_back({g + "fc1.weight", {W, D}});
    out.push_back({g + "fc1.bias", {W}});
    out.push_back({g + "fc2.weight", {2, W}});
    out.push_back({g + "fc2.bias", {2}});
    out.push_back({g + "ls.gamma", {2}});
  }
  return out;
}

}  // namespace r4p::engine
