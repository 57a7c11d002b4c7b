#include "space/plan.h"

#include "common/error.h"

namespace fnas::space {

int64_t Op::Macs() const {
  switch (kind) {
    case Kind::kConv:
      return static_cast<int64_t>(kernel) * kernel * out_h * out_w * (in_c / groups) * out_c;
    case Kind::kDense: return static_cast<int64_t>(in_c) * out_c;
    default: return 0;
  }
}

int64_t Op::Params() const {
  switch (kind) {
    case Kind::kConv:
      return static_cast<int64_t>(kernel) * kernel * (in_c / groups) * out_c +
             (batchnorm ? 2 * out_c : 0);
    case Kind::kDense: return static_cast<int64_t>(in_c) * out_c + out_c;
    default: return 0;
  }
}

int Plan::Find(const std::string& name) const {
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

namespace {
Op Conv(std::string name, std::string layer, Op::Role role, int in_c, int out_c, int h, int w,
        int kernel, int groups) {
  Op op;
  op.kind = Op::Kind::kConv;
  op.role = role;
  op.name = std::move(name);
  op.layer = std::move(layer);
  op.in_c = in_c;
  op.out_c = out_c;
  op.in_h = op.out_h = h;
  op.in_w = op.out_w = w;
  op.kernel = kernel;
  op.pad = kernel / 2;
  op.groups = groups;
  op.batchnorm = true;
  op.relu = true;
  return op;
}
}  // namespace

Plan BuildPlan(const Macro& macro, const Factorization& f) {
  if (auto error = CheckFactorization(macro, f)) throw ConfigError(*error);
  const MacroOptions& o = macro.options();
  Plan plan;
  plan.macro = o;
  plan.f = f;
  const int k = o.kernel;
  plan.ops.push_back(Conv("stem", "stem", Op::Role::kStem, o.in_channels, macro.stem_depth(),
                          o.in_height, o.in_width, k, 1));
  int pools = 0;
  for (const ConvLayer& L : macro.layers()) {
    const int rate = f[L.index];
    if (rate == 1) {
      plan.ops.push_back(Conv(L.name, L.name, Op::Role::kRegular, L.in_depth, L.out_depth,
                              L.height, L.width, k, 1));
    } else {
      // Groupwise separable: GroupConv KxK (in -> in, groups = f) - BN - ReLU,
      // then Pointwise 1x1 (in -> out) - BN - ReLU.
      plan.ops.push_back(Conv(L.name + ".group", L.name, Op::Role::kGroup, L.in_depth,
                              L.in_depth, L.height, L.width, k, rate));
      plan.ops.push_back(Conv(L.name + ".point", L.name, Op::Role::kPoint, L.in_depth,
                              L.out_depth, L.height, L.width, 1, 1));
    }
    if (L.pool_after) {
      Op pool;
      pool.kind = Op::Kind::kMaxPool;
      pool.name = pool.layer = "pool_" + std::to_string(++pools);
      pool.in_c = pool.out_c = L.out_depth;
      pool.in_h = L.height;
      pool.in_w = L.width;
      pool.out_h = L.height / 2;
      pool.out_w = L.width / 2;
      pool.kernel = pool.stride = 2;
      plan.ops.push_back(pool);
    }
  }
  const Op& last = plan.ops.back();
  Op flat;
  flat.kind = Op::Kind::kFlatten;
  flat.name = flat.layer = "flatten";
  flat.in_c = last.out_c;
  flat.in_h = last.out_h;
  flat.in_w = last.out_w;
  flat.out_c = static_cast<int>(macro.flat_features());
  flat.out_h = flat.out_w = 1;
  plan.ops.push_back(flat);
  int in = flat.out_c;
  std::vector<int> sizes = o.dense;
  sizes.push_back(o.classes);
  for (size_t i = 0; i < sizes.size(); ++i) {
    Op d;
    d.kind = Op::Kind::kDense;
    d.name = d.layer = "dense_" + std::to_string(i + 1);
    d.in_c = in;
    d.out_c = sizes[i];
    d.in_h = d.in_w = d.out_h = d.out_w = 1;
    d.relu = i + 1 < sizes.size();  // the last dense layer gives the logits
    plan.ops.push_back(d);
    in = sizes[i];
  }
  plan.output_size = o.classes;
  for (const Op& op : plan.ops) {
    if (op.kind == Op::Kind::kConv) plan.macs_conv += op.Macs();
    if (op.kind == Op::Kind::kDense) plan.macs_dense += op.Macs();
    plan.params += op.Params();
  }
  return plan;
}

}  // namespace fnas::space
