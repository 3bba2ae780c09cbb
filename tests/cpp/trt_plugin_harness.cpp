// TensorRT-free harness for libroipool_trt.so: drives every plugin exactly as TensorRT
// does (dlopen + setLoggerFinder + getCreators, fields as the ONNX parser builds them,
// shape expressions, format negotiation, serialization, clone / attachToContext,
// onShapeChange + enqueue) and checks every answer. On a machine with a CUDA device it
// also runs each op and dtype on the GPU and compares with roipool::forward_cpu.
//
// Usage: roipool_trt_harness path/to/libroipool_trt.so   (exit status 1 on any failure)
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "NvInferRuntime.h"
#include "expr_builder.h"
#include "roipool/common.h"

#ifdef ROIPOOL_WITH_CUDA
#include <cuda_runtime_api.h>

#include "dtype.h"
#endif

namespace {

using nvinfer1::DataType;
using nvinfer1::DimsExprs;
using nvinfer1::DynamicPluginTensorDesc;
using nvinfer1::IPluginCreatorV3One;
using nvinfer1::IPluginV3;
using nvinfer1::IPluginV3OneBuild;
using nvinfer1::IPluginV3OneCore;
using nvinfer1::IPluginV3OneRuntime;
using nvinfer1::PluginCapabilityType;
using nvinfer1::PluginField;
using nvinfer1::PluginFieldCollection;
using nvinfer1::PluginFieldType;
using nvinfer1::PluginTensorDesc;
using nvinfer1::TensorFormat;
using nvinfer1::TensorRTPhase;
using roipool::test::ExprBuilder;

// ---- checks ---------------------------------------------------------------------------

int g_passed = 0;
int g_failed = 0;

void check(bool ok, const std::string& what, int line) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAILED (line %d): %s\n", line, what.c_str());
  }
}
#define CHECK(cond, what) check((cond), (what), __LINE__)

// ---- logging through the logger finder ---------------------------------------------------

class CapturingLogger final : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kERROR) errors.emplace_back(msg ? msg : "");
  }
  std::vector<std::string> errors;
};

class Finder final : public nvinfer1::ILoggerFinder {
 public:
  nvinfer1::ILogger* findLogger() override { return &logger; }
  CapturingLogger logger;
};

Finder g_finder;

// Runs `action`, which must log exactly the errors it causes; true when it logged at
// least one error mentioning `op`.
bool logs_error(const std::string& op, const std::function<void()>& action) {
  const size_t before = g_finder.logger.errors.size();
  action();
  const auto& errors = g_finder.logger.errors;
  return errors.size() > before && errors.back().find(op) != std::string::npos;
}

// ---- the library as TensorRT loads it ------------------------------------------------------

constexpr int32_t kNumAliases = 5;  // the TensorRT plugins of docs/mmdeploy.md

using SetLoggerFinderFn = void (*)(nvinfer1::ILoggerFinder*);
using GetCreatorsFn = nvinfer1::IPluginCreatorInterface* const* (*)(int32_t&);

// roipool's creators (namespace "roipool") by name; the aliases' (mmdeploy's namespace "")
// go to `aliases`.
std::map<std::string, IPluginCreatorV3One*> load_creators(void* handle,
                                                          std::map<std::string, IPluginCreatorV3One*>* aliases) {
  std::map<std::string, IPluginCreatorV3One*> creators;
  auto set_logger_finder = reinterpret_cast<SetLoggerFinderFn>(dlsym(handle, "setLoggerFinder"));
  auto get_creators = reinterpret_cast<GetCreatorsFn>(dlsym(handle, "getCreators"));
  CHECK(set_logger_finder != nullptr && get_creators != nullptr, "exports setLoggerFinder and getCreators");
  if (set_logger_finder == nullptr || get_creators == nullptr) return creators;
  set_logger_finder(&g_finder);
  int32_t count = -1;
  nvinfer1::IPluginCreatorInterface* const* list = get_creators(count);
  CHECK(count == roipool::kNumOps + kNumAliases && list != nullptr, "getCreators returns nine creators and the aliases");
  for (int32_t i = 0; list != nullptr && i < count; ++i) {
    const nvinfer1::InterfaceInfo info = list[i]->getInterfaceInfo();
    CHECK(std::strcmp(info.kind, "PLUGIN CREATOR_V3ONE") == 0 && info.major == 1, "creator is IPluginCreatorV3One");
    auto* creator = static_cast<IPluginCreatorV3One*>(list[i]);
    CHECK(std::strcmp(creator->getPluginVersion(), "1") == 0, "plugin version 1");
    const bool alias = i >= roipool::kNumOps;
    CHECK(std::strcmp(creator->getPluginNamespace(), alias ? "" : "roipool") == 0,
          std::string(creator->getPluginName()) + (alias ? ": namespace \"\" (mmdeploy's)" : ": namespace roipool"));
    (alias ? *aliases : creators)[creator->getPluginName()] = creator;
  }
  return creators;
}

// ---- node attributes as the exporter writes them, converted as the ONNX parser does ------

struct NodeAttr {
  std::string name;
  char kind;  // 'i' INT, 'f' FLOAT, 's' STRING, 'F' FLOATS
  std::vector<double> numbers;
  std::string text;
};

// Every attribute of every op, with non-default values (pooled 3 x 2 everywhere).
const std::map<std::string, std::vector<NodeAttr>>& exporter_nodes() {
  static const std::vector<NodeAttr> pooled = {{"pooled_h", 'i', {3}, ""}, {"pooled_w", 'i', {2}, ""}};
  auto with = [&](std::vector<NodeAttr> extra) {
    std::vector<NodeAttr> attrs = pooled;
    attrs.insert(attrs.end(), extra.begin(), extra.end());
    return attrs;
  };
  const NodeAttr scale{"spatial_scale", 'f', {0.5}, ""};
  const NodeAttr ratio{"sampling_ratio", 'i', {2}, ""};
  const NodeAttr aligned{"aligned", 'i', {1}, ""};
  static const std::map<std::string, std::vector<NodeAttr>> nodes = {
      {"RoIPool", with({scale})},
      {"RoIAlign", with({scale, ratio, aligned, {"mode", 's', {}, "max"}})},
      {"RoIWarp", with({scale, ratio, {"aligned", 'i', {0}, ""}, {"mode", 's', {}, "avg"}})},
      {"PSRoIPool", with({scale})},
      {"PSRoIAlign", with({scale, ratio})},
      {"DeformRoIPool", with({scale, ratio, {"gamma", 'f', {0.25}, ""}})},
      {"MultiScaleRoIAlign",
       with({ratio, aligned, {"spatial_scales", 'F', {0.25, 0.125}, ""}, {"level_mapping", 's', {}, "mmdet"},
             {"canonical_scale", 'f', {56}, ""}, {"canonical_level", 'i', {3}, ""},
             {"roi_scale_factor", 'f', {1.5}, ""}})},
      {"RoIAlignRotated", with({scale, ratio, aligned, {"clockwise", 'i', {1}, ""}})},
      {"PrRoIPool", with({scale})},
  };
  return nodes;
}

std::string render_float(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.7g", v);
  return buffer;
}

// A field collection that owns its storage. text() stores a string as TensorRT's ONNX
// parser does (loadFields/copyField in onnx/onnx-tensorrt onnxOpImporters.cpp): its bytes
// and a NUL, the length counting the NUL.
class FieldList {
 public:
  FieldList() = default;
  FieldList(const FieldList&) = delete;
  FieldList& operator=(const FieldList&) = delete;

  FieldList& raw(const char* name, const void* data, size_t bytes, PluginFieldType type, int32_t length) {
    names_.emplace_back(name ? name : "");
    storage_.emplace_back(static_cast<const char*>(data), static_cast<const char*>(data) + (data ? bytes : 0));
    fields_.emplace_back(name ? names_.back().c_str() : nullptr, data ? storage_.back().data() : nullptr, type,
                         length);
    return *this;
  }
  FieldList& ints(const char* name, std::vector<int32_t> values) {
    return raw(name, values.data(), values.size() * 4, PluginFieldType::kINT32, static_cast<int32_t>(values.size()));
  }
  FieldList& floats(const char* name, std::vector<float> values) {
    return raw(name, values.data(), values.size() * 4, PluginFieldType::kFLOAT32, static_cast<int32_t>(values.size()));
  }
  FieldList& text(const char* name, const std::string& value) {
    return raw(name, value.c_str(), value.size() + 1, PluginFieldType::kCHAR, static_cast<int32_t>(value.size() + 1));
  }
  FieldList& node(const std::vector<NodeAttr>& attrs) {
    for (const NodeAttr& a : attrs) {
      if (a.kind == 'i') ints(a.name.c_str(), {static_cast<int32_t>(a.numbers[0])});
      if (a.kind == 'f') floats(a.name.c_str(), {static_cast<float>(a.numbers[0])});
      if (a.kind == 'F') floats(a.name.c_str(), std::vector<float>(a.numbers.begin(), a.numbers.end()));
      if (a.kind == 's') text(a.name.c_str(), a.text);
    }
    return *this;
  }
  const PluginFieldCollection* get() {
    collection_ = {static_cast<int32_t>(fields_.size()), fields_.data()};
    return &collection_;
  }

 private:
  std::deque<std::string> names_;
  std::deque<std::vector<char>> storage_;
  std::vector<PluginField> fields_;
  PluginFieldCollection collection_{};
};

// "name" -> "i:3" / "f:0.5" / "s:max" / "F:0.25,0.125": a comparable view of fields.
using FieldValues = std::map<std::string, std::string>;

FieldValues decode(const PluginFieldCollection* fc) {
  FieldValues values;
  if (fc == nullptr) return values;
  for (int32_t i = 0; i < fc->nbFields; ++i) {
    const PluginField& f = fc->fields[i];
    std::string v;
    if (f.type == PluginFieldType::kINT32) {
      for (int32_t j = 0; j < f.length; ++j) v += (j ? "," : "") + std::to_string(static_cast<const int32_t*>(f.data)[j]);
      v = "i:" + v;
    } else if (f.type == PluginFieldType::kFLOAT32) {
      for (int32_t j = 0; j < f.length; ++j) v += (j ? "," : "") + render_float(static_cast<const float*>(f.data)[j]);
      v = (f.length == 1 ? "f:" : "F:") + v;
    } else if (f.type == PluginFieldType::kCHAR) {
      v = "s:" + std::string(static_cast<const char*>(f.data), static_cast<size_t>(f.length));
    } else {
      v = "?";
    }
    values[f.name] = v;
  }
  return values;
}

FieldValues expected_values(const std::vector<NodeAttr>& attrs) {
  FieldValues values;
  for (const NodeAttr& a : attrs) {
    std::string v;
    for (size_t j = 0; j < a.numbers.size(); ++j) {
      v += (j ? "," : "") + (a.kind == 'i' ? std::to_string(static_cast<int64_t>(a.numbers[j]))
                                            : render_float(static_cast<float>(a.numbers[j])));
    }
    values[a.name] = a.kind == 's' ? "s:" + a.text : std::string(1, a.kind) + ":" + v;
  }
  return values;
}

// ---- plugin access ------------------------------------------------------------------------

using PluginPtr = std::unique_ptr<IPluginV3>;

IPluginV3OneBuild* build_of(IPluginV3* p) {
  return static_cast<IPluginV3OneBuild*>(p->getCapabilityInterface(PluginCapabilityType::kBUILD));
}
IPluginV3OneRuntime* runtime_of(IPluginV3* p) {
  return static_cast<IPluginV3OneRuntime*>(p->getCapabilityInterface(PluginCapabilityType::kRUNTIME));
}
IPluginV3OneCore* core_of(IPluginV3* p) {
  return static_cast<IPluginV3OneCore*>(p->getCapabilityInterface(PluginCapabilityType::kCORE));
}

FieldValues serialized(IPluginV3* p) { return decode(runtime_of(p)->getFieldsToSerialize()); }

PluginPtr create(IPluginCreatorV3One* creator, const PluginFieldCollection* fc,
                 TensorRTPhase phase = TensorRTPhase::kBUILD) {
  return PluginPtr(creator->createPlugin("layer", fc, phase));
}

bool is_ps(const std::string& op) { return op == "PSRoIPool" || op == "PSRoIAlign"; }
int32_t rois_cols(const std::string& op) { return op == "RoIAlignRotated" ? 6 : 5; }
bool is_msra(const std::string& op) { return op == "MultiScaleRoIAlign"; }
constexpr int32_t kLevels = 2;  // spatial_scales of the exporter node
constexpr int32_t kPooledH = 3;
constexpr int32_t kPooledW = 2;

// ---- creator: field names, parsing, defaults, serialization ---------------------------------

void check_creator(const std::string& op, IPluginCreatorV3One* creator) {
  const auto& node = exporter_nodes().at(op);
  // Field names as TensorRT's parser reads them: name and type, no data.
  std::map<std::string, PluginFieldType> listed;
  const PluginFieldCollection* names = creator->getFieldNames();
  for (int32_t i = 0; names != nullptr && i < names->nbFields; ++i) listed[names->fields[i].name] = names->fields[i].type;
  CHECK(listed.size() == node.size(), op + ": getFieldNames lists every node attribute");
  const std::map<char, PluginFieldType> parser_type = {
      {'i', PluginFieldType::kINT32}, {'f', PluginFieldType::kFLOAT32}, {'F', PluginFieldType::kFLOAT32},
      {'s', PluginFieldType::kCHAR}};
  for (const NodeAttr& a : node) {
    const auto it = listed.find(a.name);
    CHECK(it != listed.end() && it->second == parser_type.at(a.kind), op + ": field " + a.name + " listed with its type");
  }
  CHECK(listed.count("plugin_namespace") == 0, op + ": plugin_namespace is not a field");

  FieldList fields;
  PluginPtr plugin = create(creator, fields.node(node).get());
  CHECK(plugin != nullptr, op + ": created from the exporter's node");
  if (!plugin) return;
  CHECK(std::strcmp(core_of(plugin.get())->getPluginName(), op.c_str()) == 0, op + ": plugin name");
  CHECK(std::strcmp(core_of(plugin.get())->getPluginNamespace(), "roipool") == 0, op + ": plugin namespace");
  CHECK(std::strcmp(build_of(plugin.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_BUILD") == 0, op + ": build caps");
  CHECK(std::strcmp(runtime_of(plugin.get())->getInterfaceInfo().kind, "PLUGIN_V3ONE_RUNTIME") == 0,
        op + ": runtime caps");
  CHECK(plugin->getCapabilityInterface(static_cast<PluginCapabilityType>(9)) == nullptr, op + ": unknown caps");
  CHECK(serialized(plugin.get()) == expected_values(node), op + ": serialized fields equal the node's attributes");

  // Serialization round trip through the runtime phase gives an identical plugin.
  const PluginFieldCollection* blob = runtime_of(plugin.get())->getFieldsToSerialize();
  PluginPtr restored = create(creator, blob, TensorRTPhase::kRUNTIME);
  CHECK(restored != nullptr && serialized(restored.get()) == expected_values(node), op + ": runtime round trip");

  // clone and attachToContext are deep copies that outlive the original.
  PluginPtr copy(plugin->clone());
  CHECK(copy != nullptr && copy.get() != plugin.get(), op + ": clone is a new object");
  const PluginFieldCollection* original_fields = runtime_of(plugin.get())->getFieldsToSerialize();
  CHECK(copy && runtime_of(copy.get())->getFieldsToSerialize() != original_fields, op + ": clone owns its fields");
  plugin.reset();
  CHECK(copy && serialized(copy.get()) == expected_values(node), op + ": clone survives the original");
  PluginPtr attached(copy ? runtime_of(copy.get())->attachToContext(nullptr) : nullptr);
  CHECK(attached != nullptr && attached.get() != copy.get(), op + ": attachToContext gives a new plugin");
  copy.reset();
  CHECK(attached && serialized(attached.get()) == expected_values(node), op + ": attached plugin is independent");

  // Absent attributes take the creator's defaults (MultiScaleRoIAlign needs spatial_scales).
  FieldList minimal;
  if (is_msra(op)) minimal.floats("spatial_scales", {0.25f});
  PluginPtr defaults = create(creator, minimal.get());
  CHECK(defaults != nullptr, op + ": created with absent attributes");
  if (defaults) {
    const std::map<std::string, std::string> expected_defaults = {
        {"pooled_h", "i:7"}, {"pooled_w", "i:7"}, {"spatial_scale", "f:1"}, {"sampling_ratio", "i:-1"},
        {"aligned", "i:0"}, {"mode", "s:avg"}, {"gamma", "f:0.1"}, {"clockwise", "i:0"},
        {"spatial_scales", "f:0.25"}, {"level_mapping", "s:torchvision"}, {"canonical_scale", "f:0"},
        {"canonical_level", "i:4"}, {"roi_scale_factor", "f:1"}};
    for (const auto& [name, value] : serialized(defaults.get())) {
      CHECK(expected_defaults.at(name) == value, op + ": default of " + name + " is " + value);
    }
  }
  if (is_msra(op)) {
    FieldList empty;
    CHECK(logs_error(op, [&] { CHECK(create(creator, empty.get()) == nullptr, op + ": needs spatial_scales"); }),
          op + ": missing spatial_scales logged");
  }
}

// Every malformed input gives nullptr and a logged error naming the op, never a crash.
void check_malformed_fields(const std::string& op, IPluginCreatorV3One* creator) {
  auto rejects = [&](const std::string& what, const PluginFieldCollection* fc, TensorRTPhase phase) {
    CHECK(logs_error(op, [&] { CHECK(create(creator, fc, phase) == nullptr, op + ": rejects " + what); }),
          op + ": logs an error for " + what);
  };
  auto rejects_fields = [&](const std::string& what, const std::function<void(FieldList&)>& fill) {
    FieldList fields;
    if (is_msra(op) && what.find("spatial_scales") == std::string::npos) fields.floats("spatial_scales", {0.25f});
    fill(fields);
    rejects(what, fields.get(), TensorRTPhase::kBUILD);
  };
  const int32_t two[2] = {3, 3};
  rejects_fields("pooled_h as kFLOAT32", [](FieldList& f) { f.floats("pooled_h", {3.f}); });
  rejects_fields("pooled_h with two values", [&](FieldList& f) { f.raw("pooled_h", two, 8, PluginFieldType::kINT32, 2); });
  rejects_fields("pooled_h with no value", [](FieldList& f) { f.raw("pooled_h", nullptr, 0, PluginFieldType::kINT32, 0); });
  rejects_fields("pooled_h = 0", [](FieldList& f) { f.ints("pooled_h", {0}); });
  rejects_fields("pooled_w = -3", [](FieldList& f) { f.ints("pooled_w", {-3}); });
  rejects_fields("pooled_h as kINT64", [](FieldList& f) {
    const int64_t v = 3;
    f.raw("pooled_h", &v, 8, PluginFieldType::kINT64, 1);
  });
  rejects_fields("unknown field foo", [](FieldList& f) { f.ints("foo", {1}); });
  // Other toolkits' spellings and typos (SPEC section 6): errors, never silently ignored.
  rejects_fields("unknown field output_height", [](FieldList& f) { f.ints("output_height", {3}); });
  rejects_fields("unknown field pooled_height", [](FieldList& f) { f.ints("pooled_height", {3}); });
  rejects_fields("unknown field spatial_scal", [](FieldList& f) { f.floats("spatial_scal", {0.5f}); });
  rejects_fields("a null field name", [](FieldList& f) { f.ints(nullptr, {1}); });
  rejects_fields("null data", [](FieldList& f) { f.raw("pooled_h", nullptr, 0, PluginFieldType::kINT32, 1); });
  rejects_fields("a negative length", [&](FieldList& f) { f.raw("pooled_h", two, 4, PluginFieldType::kINT32, -1); });
  if (is_msra(op)) {
    rejects_fields("empty spatial_scales", [](FieldList& f) { f.floats("spatial_scales", {}); });
    rejects_fields("nine spatial_scales", [](FieldList& f) { f.floats("spatial_scales", std::vector<float>(9, 0.5f)); });
    rejects_fields("negative spatial_scales", [](FieldList& f) { f.floats("spatial_scales", {0.25f, -1.f}); });
    rejects_fields("level_mapping 'fpn'", [](FieldList& f) { f.text("level_mapping", "fpn"); });
    rejects_fields("roi_scale_factor 0", [](FieldList& f) { f.floats("roi_scale_factor", {0.f}); });
  } else {
    rejects_fields("spatial_scale NaN", [](FieldList& f) { f.floats("spatial_scale", {std::nanf("")}); });
    rejects_fields("spatial_scale 0", [](FieldList& f) { f.floats("spatial_scale", {0.f}); });
  }
  if (op == "RoIAlign" || op == "RoIWarp") {
    rejects_fields("mode 'median'", [](FieldList& f) { f.text("mode", "median"); });
    rejects_fields("mode as kINT32", [](FieldList& f) { f.ints("mode", {1}); });
    rejects_fields("aligned = 2", [](FieldList& f) { f.ints("aligned", {2}); });
    rejects_fields("sampling_ratio 5000", [](FieldList& f) { f.ints("sampling_ratio", {5000}); });
  }
  rejects("a null collection", nullptr, TensorRTPhase::kBUILD);
  const PluginFieldCollection dangling{3, nullptr};
  rejects("fields == nullptr with nbFields 3", &dangling, TensorRTPhase::kBUILD);
  FieldList valid;
  valid.node(exporter_nodes().at(op));
  rejects("an unknown phase", valid.get(), static_cast<TensorRTPhase>(7));

  // Corrupt serialized data: each field of a real serialization damaged in turn.
  PluginPtr plugin = create(creator, valid.get());
  if (!plugin) return;
  const PluginFieldCollection* blob = runtime_of(plugin.get())->getFieldsToSerialize();
  for (int32_t i = 0; i < blob->nbFields; ++i) {
    std::vector<PluginField> damaged(blob->fields, blob->fields + blob->nbFields);
    const std::string name = damaged[i].name;
    damaged[i].type = damaged[i].type == PluginFieldType::kCHAR ? PluginFieldType::kINT32 : PluginFieldType::kCHAR;
    const PluginFieldCollection retyped{blob->nbFields, damaged.data()};
    rejects("serialized " + name + " with the wrong type", &retyped, TensorRTPhase::kRUNTIME);
    damaged[i] = blob->fields[i];
    damaged[i].data = nullptr;
    const PluginFieldCollection nulled{blob->nbFields, damaged.data()};
    rejects("serialized " + name + " with null data", &nulled, TensorRTPhase::kRUNTIME);
    if (damaged[i].type == PluginFieldType::kCHAR) {
      damaged[i] = blob->fields[i];
      damaged[i].length -= 1;  // "ma" / "mmde": truncated string
      const PluginFieldCollection truncated{blob->nbFields, damaged.data()};
      rejects("serialized " + name + " truncated", &truncated, TensorRTPhase::kRUNTIME);
    }
  }
  // A string whose length excludes the terminator, followed by junk, is read to its length
  // (getFieldsToSerialize writes strings so).
  if (op == "RoIAlign") {
    FieldList unterminated;
    unterminated.node(exporter_nodes().at(op));
    unterminated.raw("mode", "avgJUNK", 7, PluginFieldType::kCHAR, 3);
    PluginPtr p = create(creator, unterminated.get());
    CHECK(p && serialized(p.get()).at("mode") == "s:avg", op + ": unterminated string field read to its length");
  }
  // The parser's lookup keys are not parameters: accepted and ignored if a writer passes them.
  FieldList keyed;
  keyed.node(exporter_nodes().at(op)).text("plugin_namespace", "roipool").text("plugin_version", "1");
  PluginPtr with_keys = create(creator, keyed.get());
  CHECK(with_keys && serialized(with_keys.get()) == expected_values(exporter_nodes().at(op)),
        op + ": plugin_namespace / plugin_version fields ignored");
}

// ---- build phase: shapes, types, formats ----------------------------------------------------

std::vector<DimsExprs> symbolic_inputs(const std::string& op, ExprBuilder& b, const nvinfer1::IDimensionExpr* channels,
                                       int64_t rois_columns) {
  DimsExprs features{4, {b.symbol("B"), channels, b.symbol("H"), b.symbol("W")}};
  DimsExprs rois{2, {b.symbol("K"), b.dim(rois_columns)}};
  if (is_msra(op)) {
    DimsExprs coarse{4, {b.symbol("B"), channels, b.symbol("H2"), b.symbol("W2")}};
    return {rois, features, coarse};
  }
  if (op == "DeformRoIPool") {
    DimsExprs offset{4, {b.symbol("K"), b.dim(2), b.dim(kPooledH), b.dim(kPooledW)}};
    DimsExprs mask{4, {b.symbol("K"), b.dim(1), b.dim(kPooledH), b.dim(kPooledW)}};
    return {features, rois, offset, mask};
  }
  return {features, rois};
}

void check_output_shapes(const std::string& op, IPluginV3OneBuild* build) {
  ExprBuilder b;
  auto shape_of = [&](const std::vector<DimsExprs>& inputs, DimsExprs* out) {
    return build->getOutputShapes(inputs.data(), static_cast<int32_t>(inputs.size()), nullptr, 0, out, 1, b);
  };
  const std::vector<DimsExprs> symbolic = symbolic_inputs(op, b, b.symbol("C"), rois_cols(op));
  DimsExprs out{};
  CHECK(shape_of(symbolic, &out) == 0 && out.nbDims == 4, op + ": symbolic output shape");
  const std::string c_out = is_ps(op) ? "floor_div(C, 6)" : "C";
  CHECK(ExprBuilder::text(out.d[0]) == "K", op + ": output dim 0 is K, got " + ExprBuilder::text(out.d[0]));
  CHECK(ExprBuilder::text(out.d[1]) == c_out, op + ": output dim 1 is " + c_out + ", got " + ExprBuilder::text(out.d[1]));
  CHECK(out.d[2]->isConstant() && out.d[2]->getConstantValue() == kPooledH, op + ": output dim 2 is pooled_h");
  CHECK(out.d[3]->isConstant() && out.d[3]->getConstantValue() == kPooledW, op + ": output dim 3 is pooled_w");

  DimsExprs folded{};
  CHECK(shape_of(symbolic_inputs(op, b, b.dim(24), rois_cols(op)), &folded) == 0 && folded.d[1]->isConstant() &&
            folded.d[1]->getConstantValue() == (is_ps(op) ? 4 : 24),
        op + ": constant channels fold");
  DimsExprs ignored{};
  if (is_ps(op)) {
    CHECK(logs_error(op, [&] { CHECK(shape_of(symbolic_inputs(op, b, b.dim(13), 5), &ignored) != 0, op + ": C % 6"); }),
          op + ": indivisible channels logged");
  }
  CHECK(logs_error(op, [&] {
          CHECK(shape_of(symbolic_inputs(op, b, b.symbol("C"), rois_cols(op) == 5 ? 6 : 5), &ignored) != 0,
                op + ": wrong rois width rejected");
        }),
        op + ": wrong rois width logged");
  std::vector<DimsExprs> flat = symbolic;
  flat[is_msra(op) ? 1 : 0].nbDims = 3;
  CHECK(logs_error(op, [&] { CHECK(shape_of(flat, &ignored) != 0, op + ": 3-D input rejected"); }),
        op + ": 3-D input logged");
  std::vector<DimsExprs> one(symbolic.begin(), symbolic.begin() + 1);
  CHECK(logs_error(op, [&] { CHECK(shape_of(one, &ignored) != 0, op + ": one input rejected"); }),
        op + ": missing input logged");
}

// `plugin`: the name errors carry (the op's, or an alias's with the op's layout).
void check_output_types(const std::string& op, IPluginV3OneBuild* build, int32_t nb_inputs,
                        const std::string& plugin = "") {
  const std::string& name = plugin.empty() ? op : plugin;
  for (DataType type : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
    std::vector<DataType> inputs(nb_inputs, type);
    inputs[is_msra(op) ? 0 : 1] = DataType::kFLOAT;  // rois
    DataType out = DataType::kINT32;
    CHECK(build->getOutputDataTypes(&out, 1, inputs.data(), nb_inputs) == 0 && out == type,
          op + ": output type follows the input");
  }
  std::vector<DataType> ints(nb_inputs, DataType::kINT32);
  DataType out{};
  CHECK(logs_error(name, [&] { CHECK(build->getOutputDataTypes(&out, 1, ints.data(), nb_inputs) != 0, name + ": int"); }),
        name + ": int32 input logged");
}

// Every type/format assignment of every position: accepted exactly when all tensors are
// linear float tensors of one type T, except rois, which may also be float32.
void check_formats(const std::string& op, IPluginV3OneBuild* build, int32_t nb_inputs) {
  const std::vector<DataType> types = {DataType::kFLOAT, DataType::kHALF, DataType::kBF16, DataType::kINT32};
  const std::vector<TensorFormat> formats = {TensorFormat::kLINEAR, TensorFormat::kHWC};
  const int32_t positions = nb_inputs + 1;
  const int32_t options = static_cast<int32_t>(types.size() * formats.size());
  const int32_t rois = is_msra(op) ? 0 : 1;
  const int32_t features = is_msra(op) ? 1 : 0;
  int64_t combos = 1;
  for (int32_t i = 0; i < positions; ++i) combos *= options;
  int32_t mismatches = 0;
  std::vector<DynamicPluginTensorDesc> descs(positions);
  for (int64_t combo = 0; combo < combos; ++combo) {
    int64_t rest = combo;
    for (auto& d : descs) {
      d = DynamicPluginTensorDesc{};
      d.desc.type = types[rest % types.size()];
      d.desc.format = formats[(rest / types.size()) % formats.size()];
      rest /= options;
    }
    bool accepted = true;
    for (int32_t pos = 0; pos < positions && accepted; ++pos) {
      accepted = build->supportsFormatCombination(pos, descs.data(), nb_inputs, 1);
    }
    const DataType t = descs[features].desc.type;
    bool expected = t != DataType::kINT32;
    for (int32_t pos = 0; pos < positions; ++pos) {
      expected = expected && descs[pos].desc.format == TensorFormat::kLINEAR &&
                 (descs[pos].desc.type == t || (pos == rois && descs[pos].desc.type == DataType::kFLOAT));
    }
    mismatches += accepted != expected;
  }
  CHECK(mismatches == 0, op + ": supportsFormatCombination over " + std::to_string(combos) + " combinations, " +
                             std::to_string(mismatches) + " wrong");

  // Every DataType and TensorFormat TensorRT defines, one position at a time, the others
  // linear float32: only linear float32 completes the combination.
  int32_t single_mismatches = 0;
  for (int32_t changed = 0; changed < positions; ++changed) {
    for (int32_t t = 0; t < nvinfer1::EnumMax<DataType>(); ++t) {
      for (int32_t f = 0; f < nvinfer1::EnumMax<TensorFormat>(); ++f) {
        for (auto& d : descs) {
          d = DynamicPluginTensorDesc{};
          d.desc.type = DataType::kFLOAT;
          d.desc.format = TensorFormat::kLINEAR;
        }
        descs[changed].desc.type = static_cast<DataType>(t);
        descs[changed].desc.format = static_cast<TensorFormat>(f);
        bool accepted = true;
        for (int32_t pos = 0; pos < positions && accepted; ++pos) {
          accepted = build->supportsFormatCombination(pos, descs.data(), nb_inputs, 1);
        }
        const bool expected = descs[changed].desc.type == DataType::kFLOAT &&
                              descs[changed].desc.format == TensorFormat::kLINEAR;
        single_mismatches += accepted != expected;
      }
    }
  }
  CHECK(single_mismatches == 0, op + ": every DataType x TensorFormat per position, " +
                                    std::to_string(single_mismatches) + " wrong");
  CHECK(!build->supportsFormatCombination(positions, descs.data(), nb_inputs, 1), op + ": position out of range");
}

bool cuda_device_present() {
#ifdef ROIPOOL_WITH_CUDA
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
#else
  return false;  // a CPU-only harness is run against the CPU-only library it was built with
#endif
}

// ---- runtime phase without a device ---------------------------------------------------------

PluginTensorDesc desc_of(std::vector<int64_t> dims, DataType type = DataType::kFLOAT) {
  PluginTensorDesc d{};
  d.dims.nbDims = static_cast<int32_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) d.dims.d[i] = dims[i];
  d.type = type;
  d.format = TensorFormat::kLINEAR;
  d.scale = -1.f;
  return d;
}

// Input descriptors of one call: B=2, C (12 for PS ops, else 3), K rois.
std::vector<PluginTensorDesc> input_descs(const std::string& op, int64_t k, DataType type) {
  const int64_t c = is_ps(op) ? 12 : 3;
  const PluginTensorDesc rois = desc_of({k, rois_cols(op)});
  if (is_msra(op)) return {rois, desc_of({2, c, 16, 16}, type), desc_of({2, c, 8, 8}, type)};
  if (op == "DeformRoIPool") {
    return {desc_of({2, c, 10, 12}, type), rois, desc_of({k, 2, kPooledH, kPooledW}, type),
            desc_of({k, 1, kPooledH, kPooledW}, type)};
  }
  return {desc_of({2, c, 10, 12}, type), rois};
}

PluginTensorDesc output_desc(const std::string& op, int64_t k, DataType type) {
  return desc_of({k, is_ps(op) ? 2 : 3, kPooledH, kPooledW}, type);
}

void check_runtime_without_device(const std::string& op, IPluginCreatorV3One* creator) {
  FieldList fields;
  PluginPtr fresh = create(creator, fields.node(exporter_nodes().at(op)).get());
  if (!fresh) return;
  IPluginV3OneRuntime* runtime = runtime_of(fresh.get());
  std::vector<PluginTensorDesc> in = input_descs(op, 0, DataType::kFLOAT);
  const int32_t n = static_cast<int32_t>(in.size());
  PluginTensorDesc out = output_desc(op, 0, DataType::kFLOAT);
  std::vector<const void*> null_inputs(in.size(), nullptr);
  void* null_output = nullptr;
  CHECK(logs_error(op, [&] {
          CHECK(runtime->enqueue(in.data(), &out, null_inputs.data(), &null_output, nullptr, nullptr) != 0,
                op + ": enqueue before onShapeChange fails");
        }),
        op + ": enqueue before onShapeChange logged");
  CHECK(runtime->onShapeChange(in.data(), n, &out, 1) == 0, op + ": onShapeChange accepts K = 0");
  CHECK(runtime->enqueue(in.data(), &out, null_inputs.data(), &null_output, nullptr, nullptr) == 0,
        op + ": K = 0 enqueues nothing and touches no memory");

  std::vector<PluginTensorDesc> bad_rois = input_descs(op, 4, DataType::kFLOAT);
  bad_rois[is_msra(op) ? 0 : 1] = desc_of({4, rois_cols(op) - 1});
  PluginTensorDesc out4 = output_desc(op, 4, DataType::kFLOAT);
  CHECK(logs_error(op, [&] { CHECK(runtime->onShapeChange(bad_rois.data(), n, &out4, 1) != 0, op + ": rois"); }),
        op + ": wrong rois width logged at onShapeChange");
  // Issue 10 item 4: a rank above Dims::MAX_DIMS is reported without reading past d[].
  bad_rois[is_msra(op) ? 0 : 1].dims.nbDims = 64;
  CHECK(logs_error(op, [&] { CHECK(runtime->onShapeChange(bad_rois.data(), n, &out4, 1) != 0, op + ": rank"); }) &&
            g_finder.logger.errors.back().find("<invalid rank 64>") != std::string::npos,
        op + ": rois of rank 64 reported as an invalid rank");
  std::vector<PluginTensorDesc> good = input_descs(op, 4, DataType::kFLOAT);
  PluginTensorDesc wrong_out = output_desc(op, 5, DataType::kFLOAT);
  CHECK(logs_error(op, [&] { CHECK(runtime->onShapeChange(good.data(), n, &wrong_out, 1) != 0, op + ": out"); }),
        op + ": wrong output shape logged");
  CHECK(logs_error(op, [&] { CHECK(runtime->onShapeChange(good.data(), n + 1, &out4, 1) != 0, op + ": count"); }),
        op + ": wrong input count logged");
  if (is_ps(op)) {
    std::vector<PluginTensorDesc> indivisible = good;
    indivisible[0] = desc_of({2, 13, 10, 12});
    CHECK(logs_error(op, [&] { CHECK(runtime->onShapeChange(indivisible.data(), n, &out4, 1) != 0, op + ": C"); }),
          op + ": indivisible channels logged at onShapeChange");
  }
  if (op == "DeformRoIPool") {
    std::vector<PluginTensorDesc> bad_offset = good;
    bad_offset[2] = desc_of({4, 2, kPooledH + 1, kPooledW});
    CHECK(logs_error(op, [&] { CHECK(runtime->onShapeChange(bad_offset.data(), n, &out4, 1) != 0, op + ": off"); }),
          op + ": wrong offset shape logged");
    std::vector<PluginTensorDesc> mask_only = {good[0], good[1], good[3]};
    CHECK(runtime->onShapeChange(mask_only.data(), 3, &out4, 1) == 0, op + ": mask without offset accepted");
    std::vector<PluginTensorDesc> two = {good[0], good[1]};
    CHECK(runtime->onShapeChange(two.data(), 2, &out4, 1) == 0, op + ": no offset and no mask accepted");
  }
  if (!cuda_device_present()) {
    // No kernels (CPU-only library) or no device: real work fails with a logged error.
    // Host buffers are safe to pass only because nothing can run on a device here.
    CHECK(runtime->onShapeChange(good.data(), n, &out4, 1) == 0, op + ": onShapeChange K = 4");
    std::vector<float> host(4096, 0.f);
    std::vector<const void*> inputs(good.size(), host.data());
    void* output = host.data();
    CHECK(logs_error(op, [&] {
            CHECK(runtime->enqueue(good.data(), &out4, inputs.data(), &output, nullptr, nullptr) != 0,
                  op + ": enqueue without CUDA kernels or device fails");
          }),
          op + ": enqueue without CUDA kernels or device logged");
  }
}

// ---- GPU: enqueue vs roipool::forward_cpu ------------------------------------------------------

#ifdef ROIPOOL_WITH_CUDA
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) {
    if (cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes) != cudaSuccess) ptr_ = nullptr;
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

// Host tensor stored in `type`, with its float values.
struct HostTensor {
  std::vector<uint16_t> half_bits;
  std::vector<float> values;  // float32 storage, or the float view of half_bits
  DataType type;
  const void* data() const { return type == DataType::kFLOAT ? static_cast<const void*>(values.data()) : half_bits.data(); }
  size_t bytes() const { return type == DataType::kFLOAT ? values.size() * 4 : half_bits.size() * 2; }
};

HostTensor make_tensor(std::vector<float> values, DataType type) {
  HostTensor t{{}, std::move(values), type};
  if (type == DataType::kFLOAT) return t;
  for (float& v : t.values) {
    const uint16_t bits = type == DataType::kHALF ? roipool::float_to_half(v) : roipool::float_to_bfloat16(v);
    t.half_bits.push_back(bits);
    v = type == DataType::kHALF ? roipool::half_to_float(bits) : roipool::bfloat16_to_float(bits);
  }
  return t;
}

std::vector<float> to_floats(const std::vector<uint16_t>& raw, DataType type, size_t count) {
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) {
    if (type == DataType::kFLOAT) std::memcpy(&values[i], reinterpret_cast<const char*>(raw.data()) + 4 * i, 4);
    else values[i] = type == DataType::kHALF ? roipool::half_to_float(raw[i]) : roipool::bfloat16_to_float(raw[i]);
  }
  return values;
}

roipool::DType to_dtype(DataType type) {
  return type == DataType::kHALF ? roipool::DType::kFloat16
         : type == DataType::kBF16 ? roipool::DType::kBFloat16 : roipool::DType::kFloat32;
}

size_t element_size(DataType type) { return type == DataType::kFLOAT ? 4 : 2; }

int64_t volume(const nvinfer1::Dims& dims) {
  int64_t v = 1;
  for (int32_t i = 0; i < dims.nbDims; ++i) v *= dims.d[i];
  return v;
}

roipool::OpAttrs node_attrs(roipool::OpKind op, const std::vector<NodeAttr>& node) {
  roipool::OpAttrs attrs = roipool::default_attrs(op);
  for (const NodeAttr& a : node) {
    roipool::AttrValue value;
    value.type = a.kind == 'i' ? roipool::AttrType::kInt : a.kind == 's' ? roipool::AttrType::kString
                 : a.kind == 'F' ? roipool::AttrType::kFloats : roipool::AttrType::kFloat;
    for (double n : a.numbers) {
      if (a.kind == 'i') value.ints.push_back(static_cast<int64_t>(n));
      else value.floats.push_back(static_cast<float>(n));
    }
    value.text = a.text;
    roipool::set_attribute(op, a.name, value, &attrs);
  }
  return attrs;
}

// Random rois over an image of `extent` pixels; the last row has an out-of-range batch index.
std::vector<float> random_rois(const std::string& op, int64_t k, float extent, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-0.1f * extent, 1.1f * extent);
  std::vector<float> rois;
  for (int64_t i = 0; i < k; ++i) {
    const float batch = i + 1 == k ? 7.f : static_cast<float>(i % 2);
    if (op == "RoIAlignRotated") {
      rois.insert(rois.end(), {batch, u(rng), u(rng), std::abs(u(rng)) * 0.5f, std::abs(u(rng)) * 0.5f,
                               static_cast<float>(i) * 0.4f - 1.f});
      continue;
    }
    const float x1 = u(rng), y1 = u(rng), x2 = u(rng), y2 = u(rng);
    rois.insert(rois.end(), {batch, std::min(x1, x2), std::min(y1, y2), std::max(x1, x2), std::max(y1, y2)});
  }
  return rois;
}

void check_device_op(const std::string& op_text, IPluginCreatorV3One* creator, DataType type, cudaStream_t stream) {
  roipool::OpKind op{};
  roipool::op_from_name(op_text, &op);
  const auto& node = exporter_nodes().at(op_text);
  FieldList fields;
  PluginPtr plugin = create(creator, fields.node(node).get());
  if (!plugin) return;
  const int64_t k = 6;
  std::mt19937 rng(static_cast<uint32_t>(op) * 7 + static_cast<uint32_t>(type));
  std::uniform_real_distribution<float> value(-1.f, 1.f);
  std::vector<PluginTensorDesc> in = input_descs(op_text, k, type);
  const PluginTensorDesc out = output_desc(op_text, k, type);
  const int32_t rois_index = is_msra(op_text) ? 0 : 1;

  std::vector<HostTensor> host;
  for (size_t i = 0; i < in.size(); ++i) {
    std::vector<float> v(static_cast<size_t>(volume(in[i].dims)));
    if (static_cast<int32_t>(i) == rois_index) {
      v = random_rois(op_text, k, is_msra(op_text) ? 64.f : 24.f, rng);
    } else {
      for (float& x : v) x = op_text == "DeformRoIPool" && i == 3 ? (value(rng) + 1.f) / 2.f : value(rng);
    }
    host.push_back(make_tensor(std::move(v), in[i].type));
  }

  // Reference on the host, from the same stored values.
  std::vector<roipool::FeatureMap> maps;
  const int32_t first = is_msra(op_text) ? 1 : 0;
  const int32_t levels = is_msra(op_text) ? kLevels : 1;
  for (int32_t l = 0; l < levels; ++l) {
    const auto& d = in[first + l].dims;
    maps.push_back({host[first + l].data(), d.d[0], d.d[1], d.d[2], d.d[3], roipool::Layout::kNCHW});
  }
  std::vector<uint16_t> expected_raw(static_cast<size_t>(volume(out.dims)) * element_size(type) / 2);
  roipool::OpArgs args{};
  args.dtype = to_dtype(type);
  args.rois_dtype = roipool::DType::kFloat32;
  args.num_features = levels;
  args.features = maps.data();
  args.rois = host[rois_index].data();
  args.num_rois = k;
  if (op_text == "DeformRoIPool") {
    args.offset = host[2].data();
    args.mask = host[3].data();
  }
  args.output = expected_raw.data();
  const roipool::Status reference = roipool::forward_cpu(op, node_attrs(op, node), args);
  CHECK(reference.ok(), op_text + ": host reference runs: " + reference.message());

  std::vector<std::unique_ptr<DeviceBuffer>> device;
  std::vector<const void*> inputs;
  for (const HostTensor& t : host) {
    device.push_back(std::make_unique<DeviceBuffer>(t.bytes()));
    cudaMemcpy(device.back()->get(), t.data(), t.bytes(), cudaMemcpyHostToDevice);
    inputs.push_back(device.back()->get());
  }
  DeviceBuffer output(expected_raw.size() * 2);
  void* outputs[] = {output.get()};
  IPluginV3OneRuntime* runtime = runtime_of(plugin.get());
  CHECK(runtime->onShapeChange(in.data(), static_cast<int32_t>(in.size()), &out, 1) == 0, op_text + ": onShapeChange");
  CHECK(runtime->enqueue(in.data(), &out, inputs.data(), outputs, nullptr, stream) == 0, op_text + ": enqueue");
  std::vector<uint16_t> actual_raw(expected_raw.size());
  CHECK(cudaStreamSynchronize(stream) == cudaSuccess, op_text + ": stream completes");
  cudaMemcpy(actual_raw.data(), output.get(), actual_raw.size() * 2, cudaMemcpyDeviceToHost);

  const size_t count = static_cast<size_t>(volume(out.dims));
  const std::vector<float> expected = to_floats(expected_raw, type, count);
  const std::vector<float> actual = to_floats(actual_raw, type, count);
  const double tolerance = type == DataType::kFLOAT ? 1e-5 : type == DataType::kHALF ? 2e-3 : 1.6e-2;
  double worst = 0.0;
  for (size_t i = 0; i < count; ++i) {
    const double error = std::abs(static_cast<double>(actual[i]) - expected[i]);
    worst = std::isnan(error) ? INFINITY : std::max(worst, error);
  }
  CHECK(worst <= tolerance, op_text + ": GPU matches forward_cpu (" + std::to_string(static_cast<int>(type)) +
                                "), max error " + std::to_string(worst));
}

void check_device(const std::map<std::string, IPluginCreatorV3One*>& creators) {
  if (!cuda_device_present()) {
    std::printf("no CUDA device: enqueue-on-GPU checks skipped\n");
    return;
  }
  cudaStream_t stream = nullptr;
  cudaStreamCreate(&stream);
  for (const auto& [op, creator] : creators) {
    for (DataType type : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) check_device_op(op, creator, type, stream);
  }
  cudaStreamDestroy(stream);
}
#endif

// ---- aliases: mmdeploy's / mmcv's plugins (docs/mmdeploy.md) ---------------------------------

// One alias as its source defines it, written out here independently of the library's table.
struct AliasCase {
  std::string name;
  std::string op;                                 // the roipool op whose input layout it has
  std::map<std::string, PluginFieldType> fields;  // the creator's fields, exactly
  std::vector<NodeAttr> node;                     // every field, values 3 x 2 output
  std::vector<NodeAttr> minimal;                  // the required fields only
  FieldValues defaults;                           // serialization of the minimal node
  int32_t nb_inputs;
};

const std::vector<AliasCase>& alias_cases() {
  constexpr PluginFieldType I = PluginFieldType::kINT32, F = PluginFieldType::kFLOAT32, S = PluginFieldType::kCHAR;
  static const std::vector<AliasCase> cases = {
      {"MMCVRoiAlign", "RoIAlign",
       {{"output_height", I}, {"output_width", I}, {"spatial_scale", F}, {"sampling_ratio", I}, {"mode", S},
        {"aligned", I}},
       {{"output_height", 'i', {3}, ""}, {"output_width", 'i', {2}, ""}, {"spatial_scale", 'f', {0.5}, ""},
        {"sampling_ratio", 'i', {2}, ""}, {"mode", 's', {}, "max"}, {"aligned", 'i', {0}, ""}},
       {{"mode", 's', {}, "avg"}},
       {{"output_height", "i:7"}, {"output_width", "i:7"}, {"spatial_scale", "f:1"}, {"sampling_ratio", "i:0"},
        {"mode", "s:avg"}, {"aligned", "i:1"}},
       2},
      {"MMCVMultiLevelRoiAlign", "MultiScaleRoIAlign",
       {{"output_height", I}, {"output_width", I}, {"pool_mode", I}, {"sampling_ratio", I}, {"featmap_strides", F},
        {"roi_scale_factor", F}, {"finest_scale", I}, {"aligned", I}},
       {{"output_height", 'i', {3}, ""}, {"output_width", 'i', {2}, ""}, {"pool_mode", 'i', {1}, ""},
        {"sampling_ratio", 'i', {0}, ""}, {"featmap_strides", 'F', {4, 8}, ""}, {"roi_scale_factor", 'f', {1.5}, ""},
        {"finest_scale", 'i', {28}, ""}, {"aligned", 'i', {1}, ""}},
       {{"featmap_strides", 'F', {4, 8}, ""}},
       {{"output_height", "i:7"}, {"output_width", "i:7"}, {"pool_mode", "i:0"}, {"sampling_ratio", "i:2"},
        {"featmap_strides", "F:4,8"}, {"roi_scale_factor", "f:-1"}, {"finest_scale", "i:56"}, {"aligned", "i:0"}},
       3},
      {"MMCVRoIAlignRotated", "RoIAlignRotated",
       {{"output_height", I}, {"output_width", I}, {"spatial_scale", F}, {"sampling_ratio", I}, {"aligned", I},
        {"clockwise", I}},
       {{"output_height", 'i', {3}, ""}, {"output_width", 'i', {2}, ""}, {"spatial_scale", 'f', {0.5}, ""},
        {"sampling_ratio", 'i', {2}, ""}, {"aligned", 'i', {0}, ""}, {"clockwise", 'i', {1}, ""}},
       {{"output_height", 'i', {3}, ""}, {"output_width", 'i', {2}, ""}, {"spatial_scale", 'f', {0.5}, ""}},
       {{"output_height", "i:3"}, {"output_width", "i:2"}, {"spatial_scale", "f:0.5"}, {"sampling_ratio", "i:0"},
        {"aligned", "i:1"}, {"clockwise", "i:0"}},
       2},
      {"MMCVDeformRoIPool", "DeformRoIPool",
       {{"pooled_height", I}, {"pooled_width", I}, {"spatial_scale", F}, {"sampling_ratio", F}, {"gamma", F}},
       {{"pooled_height", 'i', {3}, ""}, {"pooled_width", 'i', {2}, ""}, {"spatial_scale", 'f', {0.5}, ""},
        {"sampling_ratio", 'f', {2}, ""}, {"gamma", 'f', {0.25}, ""}},
       {{"pooled_height", 'i', {3}, ""}, {"pooled_width", 'i', {2}, ""}},
       {{"pooled_height", "i:3"}, {"pooled_width", "i:2"}, {"spatial_scale", "f:1"}, {"sampling_ratio", "f:0"},
        {"gamma", "f:0.1"}},
       3},
      {"PrRoIPool", "PrRoIPool",
       {{"pooled_height", I}, {"pooled_width", I}, {"spatial_scale", F}},
       {{"pooled_height", 'i', {3}, ""}, {"pooled_width", 'i', {2}, ""}, {"spatial_scale", 'f', {0.5}, ""}},
       {{"pooled_height", 'i', {3}, ""}, {"pooled_width", 'i', {2}, ""}},
       {{"pooled_height", "i:3"}, {"pooled_width", "i:2"}, {"spatial_scale", "f:1"}},
       2},
  };
  return cases;
}

// Symbolic inputs in the alias's layout (DeformRoIPool with an offset, MSRA two levels).
std::vector<DimsExprs> alias_inputs(const AliasCase& c, ExprBuilder& b) {
  DimsExprs features{4, {b.symbol("B"), b.symbol("C"), b.symbol("H"), b.symbol("W")}};
  DimsExprs rois{2, {b.symbol("K"), b.dim(rois_cols(c.op))}};
  if (is_msra(c.op)) return {rois, features, DimsExprs{4, {b.symbol("B"), b.symbol("C"), b.symbol("H2"), b.symbol("W2")}}};
  if (c.op == "DeformRoIPool") return {features, rois, DimsExprs{4, {b.symbol("K"), b.dim(2), b.dim(3), b.dim(2)}}};
  return {features, rois};
}

void check_alias(const AliasCase& c, IPluginCreatorV3One* creator) {
  const std::string& name = c.name;
  CHECK(std::strcmp(creator->getPluginVersion(), "1") == 0 && std::strcmp(creator->getPluginNamespace(), "") == 0,
        name + ": version 1, namespace \"\" as mmdeploy registers it");
  std::map<std::string, PluginFieldType> listed;
  const PluginFieldCollection* names = creator->getFieldNames();
  for (int32_t i = 0; names != nullptr && i < names->nbFields; ++i) listed[names->fields[i].name] = names->fields[i].type;
  CHECK(listed == c.fields, name + ": getFieldNames lists exactly its source's fields and types");

  FieldList full;
  PluginPtr plugin = create(creator, full.node(c.node).get());
  CHECK(plugin != nullptr, name + ": created from a node with every field");
  if (!plugin) return;
  IPluginV3OneCore* core = core_of(plugin.get());
  CHECK(core->getPluginName() == name && std::strcmp(core->getPluginNamespace(), "") == 0 &&
            std::strcmp(core->getPluginVersion(), "1") == 0,
        name + ": the plugin reports the alias's name, version and namespace");
  const FieldValues written = serialized(plugin.get());
  CHECK(written == expected_values(c.node), name + ": serializes its own fields as given");
  FieldList again;
  for (const auto& [field, value] : written) {
    const std::string v = value.substr(2);
    if (value[0] == 'i') again.ints(field.c_str(), {std::stoi(v)});
    if (value[0] == 'f') again.floats(field.c_str(), {std::stof(v)});
    if (value[0] == 's') again.text(field.c_str(), v);
    if (value[0] == 'F') {
      std::vector<float> list;
      for (size_t start = 0; start < v.size();) {
        const size_t end = v.find(',', start);
        list.push_back(std::stof(v.substr(start, end - start)));
        start = end == std::string::npos ? v.size() : end + 1;
      }
      again.floats(field.c_str(), list);
    }
  }
  PluginPtr restored = create(creator, again.get(), TensorRTPhase::kRUNTIME);
  CHECK(restored != nullptr && serialized(restored.get()) == written, name + ": runtime phase round-trips");
  PluginPtr copy(plugin->clone());
  CHECK(copy != nullptr && serialized(copy.get()) == written, name + ": clone keeps the fields");

  ExprBuilder b;
  const std::vector<DimsExprs> inputs = alias_inputs(c, b);
  DimsExprs out{};
  IPluginV3OneBuild* build = build_of(plugin.get());
  CHECK(build->getOutputShapes(inputs.data(), static_cast<int32_t>(inputs.size()), nullptr, 0, &out, 1, b) == 0 &&
            out.nbDims == 4 && ExprBuilder::text(out.d[0]) == "K" && ExprBuilder::text(out.d[1]) == "C" &&
            out.d[2]->getConstantValue() == 3 && out.d[3]->getConstantValue() == 2,
        name + ": output [K, C, 3, 2] (height, width from the alias's fields)");
  check_output_types(c.op, build, c.nb_inputs, name);
  check_formats(c.op, build, c.nb_inputs);

  FieldList minimal;
  PluginPtr defaults = create(creator, minimal.node(c.minimal).get());
  CHECK(defaults != nullptr && serialized(defaults.get()) == c.defaults, name + ": defaults of its source");
  for (const NodeAttr& required : c.minimal) {
    std::vector<NodeAttr> without;
    for (const NodeAttr& a : c.minimal) {
      if (a.name != required.name) without.push_back(a);
    }
    FieldList fields;
    fields.node(without);
    CHECK(logs_error(name + ": attribute '" + required.name + "' is required",
                     [&] { CHECK(create(creator, fields.get()) == nullptr, name + ": " + required.name + " required"); }),
          name + ": a missing " + required.name + " is named");
  }
  for (const char* foreign : {"pooled_h", "spatial_scal"}) {
    FieldList fields;
    fields.node(c.minimal).ints(foreign, {3});
    CHECK(logs_error(name + ": field '" + foreign + "' is not a field of this plugin",
                     [&] { CHECK(create(creator, fields.get()) == nullptr, name + ": rejects " + foreign); }),
          name + ": an unknown field " + foreign + " is named");
  }
}

void check_aliases(const std::map<std::string, IPluginCreatorV3One*>& creators) {
  CHECK(creators.size() == alias_cases().size(), "one creator per alias");
  for (const AliasCase& c : alias_cases()) {
    const auto found = creators.find(c.name);
    CHECK(found != creators.end(), "creator " + c.name + " found by name");
    if (found != creators.end()) check_alias(c, found->second);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s path/to/libroipool_trt.so\n", argv[0]);
    return 2;
  }
  void* library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);  // never dlclose'd: plugins outlive checks
  if (library == nullptr) {
    std::printf("FAILED: dlopen %s: %s\n", argv[1], dlerror());
    return 1;
  }
  std::map<std::string, IPluginCreatorV3One*> aliases;
  const auto creators = load_creators(library, &aliases);
  CHECK(creators.size() == exporter_nodes().size(), "one creator per op");
  for (const auto& [op, creator] : creators) {
    CHECK(exporter_nodes().count(op) == 1, "creator " + op + " is a roipool op");
    if (exporter_nodes().count(op) == 0) continue;
    check_creator(op, creator);
    check_malformed_fields(op, creator);
    FieldList fields;
    PluginPtr plugin = create(creator, fields.node(exporter_nodes().at(op)).get());
    if (!plugin) continue;
    const int32_t nb_inputs = is_msra(op) ? 1 + kLevels : op == "DeformRoIPool" ? 4 : 2;
    check_output_shapes(op, build_of(plugin.get()));
    check_output_types(op, build_of(plugin.get()), nb_inputs);
    check_formats(op, build_of(plugin.get()), nb_inputs);
    check_runtime_without_device(op, creator);
  }
  check_aliases(aliases);
#ifdef ROIPOOL_WITH_CUDA
  check_device(creators);
#endif
  std::printf("%d checks passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
