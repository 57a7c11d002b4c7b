// The flat list of operations of one candidate network, in execution order:
// the single description from which MACs and parameters are counted, the
// LibTorch model is built and the integer (quint8) network is run. A Plan is
// an immutable value: safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "space/candidate.h"
#include "space/macro.h"

namespace fnas::space {

struct Op {
  enum class Kind { kConv, kMaxPool, kFlatten, kDense };
  // How a conv op sits in its table layer.
  enum class Role { kStem, kRegular, kGroup, kPoint, kNone };
  Kind kind = Kind::kConv;
  Role role = Role::kNone;
  std::string name;    // unique: "stem", "conv_64_1", "conv_64_1.group", "pool_1", "dense_1"
  std::string layer;   // the table layer it belongs to: "conv_64_1" (= name for most ops)
  int in_c = 0, out_c = 0;
  int in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int kernel = 1, stride = 1, pad = 0, groups = 1;
  bool batchnorm = false;  // conv followed by BatchNorm (every conv here)
  bool relu = false;       // followed by ReLU

  int64_t Macs() const;     // multiply-accumulates of one image
  int64_t Params() const;   // trainable parameters (conv: no bias; BN: gamma, beta)
};

struct Plan {
  MacroOptions macro;     // what the plan was built from
  Factorization f;
  std::vector<Op> ops;
  int64_t macs_conv = 0;  // every conv, stem included (the paper's figure)
  int64_t macs_dense = 0;
  int64_t params = 0;
  int output_size = 0;    // logits

  // Index of the op named `name`, or -1.
  int Find(const std::string& name) const;
};

// f must be valid for the macro (see CheckFactorization); throws ConfigError otherwise.
Plan BuildPlan(const Macro& macro, const Factorization& f);

}  // namespace fnas::space
