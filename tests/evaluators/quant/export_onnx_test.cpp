// The ONNX writer on a hand-built integer net: the graph the docs describe
// (checked by the ONNX library's checker and read back with its protobuf
// classes), and a named refusal of what ONNX cannot express. That ONNX
// Runtime computes what the graph says is onnx_runtime_test.cpp's job.
#include "evaluators/quant/export_onnx.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "common/error.h"

namespace fnas::evaluators {
namespace {

namespace fs = std::filesystem;
using space::Op;

QParams Params(float scale, int zp) {
  QParams q;
  q.scale = scale;
  q.zero_point = zp;
  return q;
}

// conv 1 -> 2 (3x3, ReLU) -> flatten -> dense 18 -> 3.
IntegerNet TinyNet(float conv_output_scale, int conv_output_zp) {
  IntegerLayer conv;
  conv.op.kind = Op::Kind::kConv;
  conv.op.name = "stem";
  conv.op.in_c = 1;
  conv.op.out_c = 2;
  conv.op.in_h = conv.op.in_w = conv.op.out_h = conv.op.out_w = 3;
  conv.op.kernel = 3;
  conv.op.pad = 1;
  conv.op.relu = true;
  conv.input = Params(0.5f, 10);
  conv.weight = Params(0.25f, 4);
  conv.output = Params(conv_output_scale, conv_output_zp);
  conv.weights.assign(18, 5);
  conv.bias = {8, -20};
  IntegerLayer flat;
  flat.op.kind = Op::Kind::kFlatten;
  flat.op.name = "flatten";
  flat.op.in_c = 2;
  flat.op.in_h = flat.op.in_w = 3;
  flat.op.out_c = 18;
  flat.op.out_h = flat.op.out_w = 1;
  flat.input = flat.output = conv.output;
  IntegerLayer dense;
  dense.op.kind = Op::Kind::kDense;
  dense.op.name = "dense_1";
  dense.op.in_c = 18;
  dense.op.out_c = 3;
  dense.op.in_h = dense.op.in_w = dense.op.out_h = dense.op.out_w = 1;
  dense.input = conv.output;
  dense.weight = Params(0.1f, 120);
  dense.output = Params(0.2f, 100);
  dense.weights.assign(54, 130);
  dense.bias = {1, 2, 3};
  return IntegerNet(conv.input, {conv, flat, dense});
}

class ExportOnnxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() /
             ("fnas_export_onnx_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".onnx"))
                .string();
  }
  void TearDown() override { fs::remove(path_); }
  std::string path_;
};

TEST_F(ExportOnnxTest, QOperatorGraphAsDocumented) {
  ExportInfo info;
  info.candidate = "tiny";
  info.mean = {0.25f};
  info.std = {0.5f};
  ExportOnnxInteger(TinyNet(1.0f, 0), info, path_);
  EXPECT_NO_THROW(CheckOnnxModel(path_));
  onnx::ModelProto m;
  std::ifstream in(path_, std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&in));
  EXPECT_EQ(m.opset_import(0).version(), 13);
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
  // Normalization, quantization, conv (zero point 0: no Clip), flatten as
  // Reshape, dense as a 1x1 QLinearConv, logits.
  EXPECT_EQ(ops,
            (std::vector<std::string>{"Div", "Sub", "Div", "QuantizeLinear", "QLinearConv",
                                      "Reshape", "QLinearConv", "Flatten", "DequantizeLinear"}));
  ASSERT_EQ(m.graph().output_size(), 2);
  EXPECT_EQ(m.graph().output(0).name(), "logits_uint8");
  EXPECT_EQ(m.graph().output(1).name(), "logits");
  // The conv's int32 bias and the dense layer's weights as [out, in, 1, 1].
  for (const auto& t : m.graph().initializer()) {
    if (t.name() == "stem.bias") {
      EXPECT_EQ(t.data_type(), onnx::TensorProto::INT32);
      ASSERT_EQ(t.int32_data_size(), 2);
      EXPECT_EQ(t.int32_data(1), -20);
    }
    if (t.name() == "dense_1.weight") {
      EXPECT_EQ(std::vector<int64_t>(t.dims().begin(), t.dims().end()),
                (std::vector<int64_t>{3, 18, 1, 1}));
    }
  }
}

TEST_F(ExportOnnxTest, ReluWithNonZeroZeroPointIsAClip) {
  ExportOnnxInteger(TinyNet(1.0f, 7), {}, path_);
  EXPECT_NO_THROW(CheckOnnxModel(path_));
  onnx::ModelProto m;
  std::ifstream in(path_, std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&in));
  int clips = 0;
  for (const auto& n : m.graph().node()) clips += n.op_type() == "Clip";
  EXPECT_EQ(clips, 1);
}

TEST_F(ExportOnnxTest, ZeroScaleIsRefusedNamingTheLayer) {
  try {
    ExportOnnxInteger(TinyNet(0.0f, 0), {}, path_);
    FAIL() << "a scale of 0 was written";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("stem"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("scale 0"), std::string::npos) << e.what();
  }
}

TEST_F(ExportOnnxTest, ExactGraphUsesIntegerOperatorsOnly) {
  ExportInfo info;
  info.candidate = "tiny";
  ExportOnnxExact(TinyNet(1.0f, 7), info, path_);
  EXPECT_NO_THROW(CheckOnnxModel(path_));
  onnx::ModelProto m;
  std::ifstream in(path_, std::ios::binary);
  ASSERT_TRUE(m.ParseFromIstream(&in));
  std::map<std::string, int> ops;
  for (const auto& n : m.graph().node()) ++ops[n.op_type()];
  EXPECT_EQ(ops["ConvInteger"], 1);
  EXPECT_EQ(ops["MatMulInteger"], 1);
  EXPECT_EQ(ops["Flatten"], 1);
  EXPECT_EQ(ops["QLinearConv"], 0);
  EXPECT_EQ(ops["QuantizeLinear"], 0);    // rounds half to even; the graph rounds half away
  EXPECT_EQ(ops["DequantizeLinear"], 1);  // only for the float "logits" output
  // The dense weights transposed to MatMulInteger's [in][out].
  for (const auto& t : m.graph().initializer()) {
    if (t.name() == "dense_1.weight_t") {
      EXPECT_EQ(std::vector<int64_t>(t.dims().begin(), t.dims().end()),
                (std::vector<int64_t>{18, 3}));
    }
  }
  ASSERT_EQ(m.graph().output_size(), 2);
  EXPECT_EQ(m.graph().output(0).name(), "logits_uint8");
}

TEST_F(ExportOnnxTest, ExactGraphExpressesAZeroOutputScale) {
  // The QOperator form refuses it; the exact graph requantizes with multiplier 0.
  EXPECT_NO_THROW(ExportOnnxExact(TinyNet(0.0f, 0), {}, path_));
  EXPECT_NO_THROW(CheckOnnxModel(path_));
}

}  // namespace
}  // namespace fnas::evaluators
