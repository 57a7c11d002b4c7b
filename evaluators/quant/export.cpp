#include "evaluators/quant/export.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace fnas::evaluators {

namespace fs = std::filesystem;
using nlohmann::json;
using space::Op;

namespace {

constexpr const char* kFormat = "factorize-nas-integer-model";
constexpr int kVersion = 1;

const char* KindName(Op::Kind k) {
  switch (k) {
    case Op::Kind::kConv:
      return "conv";
    case Op::Kind::kMaxPool:
      return "maxpool";
    case Op::Kind::kFlatten:
      return "flatten";
    case Op::Kind::kDense:
      return "dense";
  }
  return "?";
}

const char* RoleName(Op::Role r) {
  switch (r) {
    case Op::Role::kStem:
      return "stem";
    case Op::Role::kRegular:
      return "regular";
    case Op::Role::kGroup:
      return "group";
    case Op::Role::kPoint:
      return "point";
    case Op::Role::kNone:
      return "none";
  }
  return "none";
}

json Q(const QParams& q) { return {{"scale", q.scale}, {"zero_point", q.zero_point}}; }

QParams ReadQ(const json& j) {
  QParams q;
  // Written from a float32, so the double read back converts to it exactly.
  q.scale = static_cast<float>(j.at("scale").get<double>());
  q.zero_point = j.at("zero_point").get<int32_t>();
  q.min = (0 - q.zero_point) * static_cast<double>(q.scale);
  q.max = (255 - q.zero_point) * static_cast<double>(q.scale);
  return q;
}

// Little-endian bytes whatever the host order.
void WriteFile(const fs::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  if (!out) throw RuntimeError("cannot write " + path.string());
}

std::vector<uint8_t> Int32Bytes(const std::vector<int32_t>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint32_t u = static_cast<uint32_t>(v[i]);
    for (int k = 0; k < 4; ++k) b[4 * i + k] = static_cast<uint8_t>(u >> (8 * k));
  }
  return b;
}

std::vector<uint8_t> ReadFile(const fs::path& path, size_t expected) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot read " + path.string());
  std::vector<uint8_t> b(expected);
  in.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(expected));
  if (static_cast<size_t>(in.gcount()) != expected || in.peek() != EOF) {
    throw DataError(path.string() + ": expected exactly " + std::to_string(expected) + " bytes");
  }
  return b;
}

// The layer's shapes, read from a manifest, are ones the integer kernels can
// run: positive and bounded sizes, the conv and pooling arithmetic, and the
// input of each layer equal to the output of the one before. DataError naming
// the manifest and the layer otherwise.
void CheckShapes(const Op& op, const Op* previous, const std::string& manifest) {
  const auto fail = [&](const std::string& what) {
    throw DataError(manifest + ": layer " + op.name + ": " + what);
  };
  constexpr int kMaxSize = 1 << 16;
  for (int v : {op.in_c, op.in_h, op.in_w, op.out_c, op.out_h, op.out_w}) {
    if (v < 1 || v > kMaxSize) fail("a size out of [1, 65536]: " + std::to_string(v));
  }
  const int64_t in = int64_t{op.in_c} * op.in_h * op.in_w;
  const int64_t out = int64_t{op.out_c} * op.out_h * op.out_w;
  if (in > (int64_t{1} << 26) || out > (int64_t{1} << 26)) fail("more than 2^26 values");
  if (previous &&
      (op.in_c != previous->out_c || op.in_h != previous->out_h || op.in_w != previous->out_w)) {
    fail("input shape differs from the output shape of " + previous->name);
  }
  switch (op.kind) {
    case Op::Kind::kConv: {
      if (op.groups < 1 || op.in_c % op.groups != 0 || op.out_c % op.groups != 0) {
        fail("groups " + std::to_string(op.groups) + " do not divide the channels");
      }
      if (op.kernel < 1 || op.kernel > 15 || op.stride < 1 || op.stride > 16 || op.pad < 0 ||
          op.pad >= op.kernel) {
        fail("kernel, stride or padding out of range");
      }
      const int h = op.in_h + 2 * op.pad - op.kernel, w = op.in_w + 2 * op.pad - op.kernel;
      if (h < 0 || w < 0 || op.out_h != h / op.stride + 1 || op.out_w != w / op.stride + 1) {
        fail("output size does not follow from the input, kernel, stride and padding");
      }
      if (int64_t{op.out_c} * (op.in_c / op.groups) * op.kernel * op.kernel > (int64_t{1} << 26)) {
        fail("more than 2^26 weights");
      }
      break;
    }
    case Op::Kind::kMaxPool:
      if (op.out_c != op.in_c || op.out_h != op.in_h / 2 || op.out_w != op.in_w / 2) {
        fail("a 2x2 max-pool must halve the input");
      }
      break;
    case Op::Kind::kFlatten:
      if (op.out_c != in || op.out_h != 1 || op.out_w != 1) fail("flatten must keep every value");
      break;
    case Op::Kind::kDense:
      if (op.in_h != 1 || op.in_w != 1 || op.out_h != 1 || op.out_w != 1) {
        fail("a dense layer takes and gives vectors");
      }
      if (int64_t{op.out_c} * op.in_c > (int64_t{1} << 26)) fail("more than 2^26 weights");
      break;
  }
}

// A data file named by the manifest: a plain name inside the model's folder.
fs::path DataFile(const fs::path& dir, const json& file, const std::string& manifest) {
  const std::string name = file.get<std::string>();
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw DataError(manifest + ": data file '" + name + "' is not a plain name in " + dir.string());
  }
  return dir / name;
}

// A quantization parameter set the integer kernels can use.
QParams CheckedQ(const json& j, const std::string& where, const std::string& manifest) {
  const QParams q = ReadQ(j);
  if (!(q.scale > 0) || !std::isfinite(q.scale) || q.zero_point < 0 || q.zero_point > 255) {
    throw DataError(manifest + ": " + where + ": scale must be > 0 and zero_point in [0, 255]");
  }
  return q;
}

}  // namespace

void ExportIntegerNet(const IntegerNet& net, const ExportInfo& info, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw RuntimeError("cannot create " + dir + ": " + ec.message());
  const Op& first = net.layers().front().op;
  json m;
  m["format"] = kFormat;
  m["version"] = kVersion;
  m["candidate"] = info.candidate;
  m["factorization"] = info.key;
  m["dataset"] = info.dataset;
  m["input"] = {{"shape", {first.in_c, first.in_h, first.in_w}},
                {"mean", info.mean},
                {"std", info.std},
                {"scale", net.input().scale},
                {"zero_point", net.input().zero_point}};
  m["output"] = Q(net.output());
  m["output"]["classes"] = net.output_size();
  json layers = json::array();
  for (size_t i = 0; i < net.layers().size(); ++i) {
    const IntegerLayer& L = net.layers()[i];
    const Op& op = L.op;
    json l = {{"index", i},
              {"name", op.name},
              {"layer", op.layer},
              {"kind", KindName(op.kind)},
              {"role", RoleName(op.role)},
              {"input_shape", {op.in_c, op.in_h, op.in_w}},
              {"output_shape", {op.out_c, op.out_h, op.out_w}},
              {"input", Q(L.input)},
              {"output", Q(L.output)}};
    if (op.kind == Op::Kind::kConv || op.kind == Op::Kind::kMaxPool) {
      l["kernel"] = op.kernel;
      l["stride"] = op.stride;
      l["padding"] = op.pad;
    }
    if (L.has_weights()) {
      std::ostringstream base;
      base << std::setw(2) << std::setfill('0') << i << "_" << op.name;
      const std::string wfile = base.str() + ".weights.u8", bfile = base.str() + ".bias.i32";
      WriteFile(fs::path(dir) / wfile, L.weights);
      WriteFile(fs::path(dir) / bfile, Int32Bytes(L.bias));
      if (op.kind == Op::Kind::kConv) {
        l["groups"] = op.groups;
        l["weights"] = {{"file", wfile},
                        {"dtype", "uint8"},
                        {"shape", {op.out_c, op.in_c / op.groups, op.kernel, op.kernel}}};
      } else {
        l["weights"] = {{"file", wfile}, {"dtype", "uint8"}, {"shape", {op.out_c, op.in_c}}};
      }
      l["weight"] = Q(L.weight);
      l["bias"] = {{"file", bfile},
                   {"dtype", "int32"},
                   {"shape", {op.out_c}},
                   {"scale", BiasScale(L.input, L.weight)}};
      l["relu"] = op.relu;
      l["real_multiplier"] = L.real_multiplier;
      l["multiplier"] = L.multiplier;
      l["shift"] = L.shift;
      l["activation_min"] = L.act_min;
      l["activation_max"] = L.act_max;
    }
    layers.push_back(l);
  }
  m["layers"] = layers;
  const fs::path path = fs::path(dir) / "manifest.json";
  std::ofstream out(path, std::ios::trunc);
  out << std::setw(1) << m << "\n";
  if (!out) throw RuntimeError("cannot write " + path.string());
}

IntegerNet ReadIntegerNet(const std::string& dir, ExportInfo* info) {
  const fs::path path = fs::path(dir) / "manifest.json";
  std::ifstream in(path);
  if (!in) throw DataError("cannot read " + path.string());
  json m;
  try {
    m = json::parse(in);
    if (m.at("format") != kFormat || m.at("version") != kVersion) {
      throw DataError(path.string() + ": not a " + kFormat + " version " +
                      std::to_string(kVersion));
    }
    if (info) {
      info->candidate = m.at("candidate");
      info->key = m.at("factorization");
      info->dataset = m.at("dataset");
      info->mean = m.at("input").at("mean").get<std::vector<float>>();
      info->std = m.at("input").at("std").get<std::vector<float>>();
    }
    std::vector<IntegerLayer> layers;
    for (const json& l : m.at("layers")) {
      IntegerLayer L;
      Op& op = L.op;
      const std::string kind = l.at("kind");
      op.kind = kind == "conv"      ? Op::Kind::kConv
                : kind == "dense"   ? Op::Kind::kDense
                : kind == "maxpool" ? Op::Kind::kMaxPool
                : kind == "flatten" ? Op::Kind::kFlatten
                                    : throw DataError(path.string() + ": unknown kind " + kind);
      op.name = l.at("name");
      op.layer = l.at("layer");
      const auto in_shape = l.at("input_shape").get<std::vector<int>>();
      const auto out_shape = l.at("output_shape").get<std::vector<int>>();
      op.in_c = in_shape.at(0), op.in_h = in_shape.at(1), op.in_w = in_shape.at(2);
      op.out_c = out_shape.at(0), op.out_h = out_shape.at(1), op.out_w = out_shape.at(2);
      if (l.contains("kernel")) {
        op.kernel = l.at("kernel");
        op.stride = l.at("stride");
        op.pad = l.at("padding");
      }
      if (op.kind == Op::Kind::kConv) op.groups = l.value("groups", 1);
      CheckShapes(op, layers.empty() ? nullptr : &layers.back().op, path.string());
      L.input = CheckedQ(l.at("input"), op.name + " input", path.string());
      L.output = CheckedQ(l.at("output"), op.name + " output", path.string());
      if (L.has_weights()) {
        op.relu = l.at("relu");
        L.weight = CheckedQ(l.at("weight"), op.name + " weight", path.string());
        const size_t n = op.kind == Op::Kind::kConv
                             ? size_t(op.out_c) * (op.in_c / op.groups) * op.kernel * op.kernel
                             : size_t(op.out_c) * op.in_c;
        L.weights = ReadFile(DataFile(dir, l.at("weights").at("file"), path.string()), n);
        const auto b =
            ReadFile(DataFile(dir, l.at("bias").at("file"), path.string()), 4 * size_t(op.out_c));
        L.bias.resize(op.out_c);
        for (int o = 0; o < op.out_c; ++o) {
          uint32_t u = 0;
          for (int k = 0; k < 4; ++k) u |= uint32_t{b[4 * o + k]} << (8 * k);
          L.bias[o] = static_cast<int32_t>(u);
        }
        L.real_multiplier = l.at("real_multiplier");
        L.multiplier = l.at("multiplier");
        L.shift = l.at("shift");
        L.act_min = l.at("activation_min");
        L.act_max = l.at("activation_max");
        if (L.multiplier < 0 || L.shift < -31 || L.shift > 31 || L.act_min < 0 || L.act_max > 255 ||
            L.act_min > L.act_max) {
          throw DataError(path.string() + ": layer " + op.name +
                          ": requantization (multiplier >= 0, shift in [-31, 31], activation "
                          "range in [0, 255]) out of range");
        }
      }
      layers.push_back(std::move(L));
    }
    if (layers.empty()) throw DataError(path.string() + ": no layers");
    return IntegerNet(CheckedQ(m.at("input"), "input", path.string()), std::move(layers));
  } catch (const json::exception& e) {
    throw DataError(path.string() + ": " + e.what());
  }
}

}  // namespace fnas::evaluators
