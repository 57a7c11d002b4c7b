#include "evaluators/quant/onnx_builder.h"

#include <cstdio>
#include <fstream>
#include <utility>

#include "common/error.h"
#include "evaluators/quant/export_onnx.h"

namespace fnas::evaluators::onnx_export {

namespace o = ::onnx;

namespace {

void ValueInfo(o::ValueInfoProto* v, const std::string& name, int32_t type,
               std::vector<int64_t> dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(type);
  for (int64_t d : dims) {
    auto* dim = t->mutable_shape()->add_dim();
    if (d < 0) {
      dim->set_dim_param("N");
    } else {
      dim->set_dim_value(d);
    }
  }
}

}  // namespace

GraphBuilder::GraphBuilder(o::ModelProto* model, const std::string& name)
    : graph_(model->mutable_graph()) {
  graph_->set_name(name);
}

void GraphBuilder::Input(const std::string& name, int32_t type, std::vector<int64_t> dims) {
  ValueInfo(graph_->add_input(), name, type, std::move(dims));
}

void GraphBuilder::Output(const std::string& name, int32_t type, std::vector<int64_t> dims) {
  ValueInfo(graph_->add_output(), name, type, std::move(dims));
}

std::string GraphBuilder::Float(const std::string& name, const std::vector<float>& v,
                                std::vector<int64_t> dims) {
  o::TensorProto* t = Init(name, o::TensorProto::FLOAT, std::move(dims));
  for (float x : v) t->add_float_data(x);
  return name;
}

std::string GraphBuilder::Uint8(const std::string& name, const std::vector<uint8_t>& v,
                                std::vector<int64_t> dims) {
  o::TensorProto* t = Init(name, o::TensorProto::UINT8, std::move(dims));
  t->set_raw_data(std::string(v.begin(), v.end()));
  return name;
}

std::string GraphBuilder::Int32(const std::string& name, const std::vector<int32_t>& v,
                                std::vector<int64_t> dims) {
  o::TensorProto* t = Init(name, o::TensorProto::INT32, std::move(dims));
  for (int32_t x : v) t->add_int32_data(x);
  return name;
}

std::string GraphBuilder::Int64(const std::string& name, const std::vector<int64_t>& v,
                                std::vector<int64_t> dims) {
  o::TensorProto* t = Init(name, o::TensorProto::INT64, std::move(dims));
  for (int64_t x : v) t->add_int64_data(x);
  return name;
}

std::string GraphBuilder::Const64(int64_t v) {
  auto it = int64_consts_.find(v);
  if (it != int64_consts_.end()) return it->second;
  return int64_consts_[v] = Int64("i64_" + std::to_string(v), {v}, {});
}

std::string GraphBuilder::ConstFloat(float v) {
  auto it = float_consts_.find(v);
  if (it != float_consts_.end()) return it->second;
  char name[48];
  std::snprintf(name, sizeof name, "f32_%.9g", static_cast<double>(v));
  return float_consts_[v] = Float(name, {v}, {});
}

o::NodeProto* GraphBuilder::Node(const std::string& type, const std::string& name,
                                 std::initializer_list<std::string> inputs,
                                 const std::string& output) {
  o::NodeProto* n = graph_->add_node();
  n->set_op_type(type);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  n->add_output(output);
  return n;
}

void GraphBuilder::Ints(o::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  o::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(o::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void GraphBuilder::Int(o::NodeProto* n, const std::string& name, int64_t v) {
  o::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(o::AttributeProto::INT);
  a->set_i(v);
}

void GraphBuilder::Real(o::NodeProto* n, const std::string& name, float v) {
  o::AttributeProto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(o::AttributeProto::FLOAT);
  a->set_f(v);
}

o::TensorProto* GraphBuilder::Init(const std::string& name, int32_t type,
                                   std::vector<int64_t> dims) {
  o::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  return t;
}

void StartModel(o::ModelProto* model, const ExportInfo& info, const std::string& doc) {
  model->set_ir_version(o::IR_VERSION);
  model->set_producer_name("factorize-nas");
  model->set_producer_version(FNAS_ONNX_PRODUCER_VERSION);
  model->set_doc_string(doc);
  o::OperatorSetIdProto* opset = model->add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  const std::pair<const char*, std::string> props[] = {
      {"candidate", info.candidate}, {"factorization", info.key}, {"dataset", info.dataset}};
  for (const auto& [key, value] : props) {
    o::StringStringEntryProto* p = model->add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }
}

std::string PixelsNormalized(GraphBuilder& g, const ExportInfo& info, const space::Op& first) {
  const int channels = first.in_c;
  g.Input("pixels", o::TensorProto::FLOAT, {-1, channels, first.in_h, first.in_w});
  g.Node("Div", "scale_pixels", {"pixels", g.FloatScalar("c255", 255.0f)}, "pixels_01");
  if (info.mean.empty()) return "pixels_01";
  if (static_cast<int>(info.mean.size()) != channels ||
      static_cast<int>(info.std.size()) != channels) {
    throw RuntimeError("ONNX export: the normalization has " + std::to_string(info.mean.size()) +
                       " means and " + std::to_string(info.std.size()) + " deviations for " +
                       std::to_string(channels) + " channels");
  }
  g.Node("Sub", "sub_mean", {"pixels_01", g.Float("mean", info.mean, {1, channels, 1, 1})},
         "centered");
  g.Node("Div", "div_std", {"centered", g.Float("std", info.std, {1, channels, 1, 1})},
         "normalized");
  return "normalized";
}

void WriteModel(const o::ModelProto& model, const std::string& path) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out || !model.SerializeToOstream(&out)) {
    throw RuntimeError("cannot write the ONNX model " + path);
  }
  out.close();
  if (!out) throw RuntimeError("cannot write the ONNX model " + path);
}

void IntegerOutputs(GraphBuilder& g, const IntegerNet& net, bool layer_outputs,
                    bool dense_as_columns) {
  const int64_t classes = net.output_size();
  g.Output("logits_uint8", o::TensorProto::UINT8, {-1, classes});
  g.Output("logits", o::TensorProto::FLOAT, {-1, classes});
  if (!layer_outputs) return;
  const space::Op& first = net.layers().front().op;
  g.Output("input_uint8", o::TensorProto::UINT8, {-1, first.in_c, first.in_h, first.in_w});
  for (const IntegerLayer& L : net.layers()) {
    const space::Op& op = L.op;
    if (op.kind == space::Op::Kind::kFlatten) continue;
    if (op.kind != space::Op::Kind::kDense) {
      g.Output(op.name + "_out", o::TensorProto::UINT8, {-1, op.out_c, op.out_h, op.out_w});
    } else if (dense_as_columns) {
      g.Output(op.name + "_out", o::TensorProto::UINT8, {-1, op.out_c, 1, 1});
    } else {
      g.Output(op.name + "_out", o::TensorProto::UINT8, {-1, op.out_c});
    }
  }
}

void ConvAttributes(o::NodeProto* n, const space::Op& op) {
  GraphBuilder::Ints(n, "kernel_shape", {op.kernel, op.kernel});
  GraphBuilder::Ints(n, "strides", {op.stride, op.stride});
  GraphBuilder::Ints(n, "pads", {op.pad, op.pad, op.pad, op.pad});
  GraphBuilder::Int(n, "group", op.groups);
}

void PoolAttributes(o::NodeProto* n, const space::Op& op) {
  GraphBuilder::Ints(n, "kernel_shape", {op.kernel, op.kernel});
  GraphBuilder::Ints(n, "strides", {op.stride, op.stride});
}

}  // namespace fnas::evaluators::onnx_export
