// Internal to the ONNX exporters (export_onnx.cpp, export_onnx_exact.cpp):
// a graph under construction with the ONNX library's protobuf classes
// (Debian's libonnx-dev), and the pieces both exported integer graphs share.
// Include it only from .cpp files of this folder: it pulls in onnx_pb.h.
// A GraphBuilder keeps a pointer to its model, which must outlive it; not
// thread-safe (one builder per model).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "evaluators/quant/export.h"
#include "evaluators/quant/quant_net.h"
#include "space/plan.h"

namespace fnas::evaluators::onnx_export {

class GraphBuilder {
 public:
  GraphBuilder(::onnx::ModelProto* model, const std::string& name);

  // dims < 0 is the symbolic batch dimension "N".
  void Input(const std::string& name, int32_t type, std::vector<int64_t> dims);
  void Output(const std::string& name, int32_t type, std::vector<int64_t> dims);

  // Named initializers; each returns its name.
  std::string Float(const std::string& name, const std::vector<float>& v,
                    std::vector<int64_t> dims);
  std::string FloatScalar(const std::string& name, float v) { return Float(name, {v}, {}); }
  std::string Uint8(const std::string& name, const std::vector<uint8_t>& v,
                    std::vector<int64_t> dims);
  std::string Uint8Scalar(const std::string& name, int32_t v) {
    return Uint8(name, {static_cast<uint8_t>(v)}, {});
  }
  std::string Int32(const std::string& name, const std::vector<int32_t>& v,
                    std::vector<int64_t> dims);
  std::string Int64(const std::string& name, const std::vector<int64_t>& v,
                    std::vector<int64_t> dims);
  // A scalar int64 / float32 constant, one initializer per distinct value
  // ("i64_<value>", "f32_<value>") however often it is used.
  std::string Const64(int64_t v);
  std::string ConstFloat(float v);

  ::onnx::NodeProto* Node(const std::string& type, const std::string& name,
                          std::initializer_list<std::string> inputs, const std::string& output);

  static void Ints(::onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v);
  static void Int(::onnx::NodeProto* n, const std::string& name, int64_t v);
  static void Real(::onnx::NodeProto* n, const std::string& name, float v);

 private:
  ::onnx::TensorProto* Init(const std::string& name, int32_t type, std::vector<int64_t> dims);

  ::onnx::GraphProto* graph_;
  std::map<int64_t, std::string> int64_consts_;
  std::map<float, std::string> float_consts_;
};

// IR version, producer, opset kOnnxOpset, `doc` and the candidate's metadata.
void StartModel(::onnx::ModelProto* model, const ExportInfo& info, const std::string& doc);
// Adds the graph input "pixels" (float32 [N][C][H][W], raw 0..255) and
// returns the name of pixels -> (pixels / 255 - mean) / std, as
// Dataset::Normalize in float32. Throws RuntimeError when the normalization
// does not have one mean and deviation per channel.
std::string PixelsNormalized(GraphBuilder& g, const ExportInfo& info, const space::Op& first);
// Serializes `model` to `path`; throws RuntimeError naming the path.
void WriteModel(const ::onnx::ModelProto& model, const std::string& path);
// Declares the graph outputs of a quint8 model: "logits_uint8" and "logits"
// [N, classes], and with `layer_outputs` "input_uint8" and every conv, pool and
// dense layer's "<name>_out" (a dense layer's [N, out, 1, 1] when
// `dense_as_columns`, [N, out] otherwise).
void IntegerOutputs(GraphBuilder& g, const IntegerNet& net, bool layer_outputs,
                    bool dense_as_columns);
// kernel_shape, strides, pads, group of a conv; kernel_shape, strides of a pool.
void ConvAttributes(::onnx::NodeProto* n, const space::Op& op);
void PoolAttributes(::onnx::NodeProto* n, const space::Op& op);

}  // namespace fnas::evaluators::onnx_export
