#include "space/macro.h"

#include <cmath>

#include "common/error.h"

namespace fnas::space {

namespace {
void Require(bool ok, const std::string& what) {
  if (!ok) throw ConfigError("model: " + what);
}
}  // namespace

Macro::Macro(MacroOptions options) : options_(std::move(options)) {
  const MacroOptions& o = options_;
  Require(o.in_channels >= 1, "input channels must be >= 1, got " + std::to_string(o.in_channels));
  Require(o.in_height >= 1 && o.in_width >= 1, "input height and width must be >= 1");
  Require(o.width > 0 && std::isfinite(o.width), "width must be > 0, got " + std::to_string(o.width));
  Require(o.classes >= 2, "classes must be >= 2, got " + std::to_string(o.classes));
  Require(o.stem_depth >= 1, "stem depth must be >= 1");
  Require(!o.stages.empty(), "stages must not be empty");
  Require(o.kernel >= 1 && o.kernel % 2 == 1, "kernel must be odd and >= 1");
  for (int d : o.dense) Require(d >= 1, "dense sizes must be >= 1, got " + std::to_string(d));

  stem_depth_ = Scaled(o.stem_depth);
  int in_depth = stem_depth_;
  int base_in = o.stem_depth;
  int h = o.in_height, w = o.in_width;
  for (size_t s = 0; s < o.stages.size(); ++s) {
    const StageOptions& stage = o.stages[s];
    Require(stage.depth >= 1 && stage.convs >= 1,
            "stage " + std::to_string(s + 1) + " needs depth >= 1 and convs >= 1");
    for (int i = 0; i < stage.convs; ++i) {
      ConvLayer layer;
      layer.name = "conv_" + std::to_string(stage.depth) + "_" + std::to_string(i + 1);
      layer.index = static_cast<int>(layers_.size());
      layer.in_depth = in_depth;
      layer.out_depth = Scaled(stage.depth);
      layer.base_in_depth = base_in;
      layer.height = h;
      layer.width = w;
      layer.pool_after = (i + 1 == stage.convs) && (s + 1 < o.stages.size());
      layers_.push_back(layer);
      in_depth = layer.out_depth;
      base_in = stage.depth;
    }
    if (s + 1 < o.stages.size()) {
      h /= 2;
      w /= 2;
      Require(h >= 1 && w >= 1, "input " + std::to_string(o.in_height) + "x" +
                                    std::to_string(o.in_width) + " is too small for " +
                                    std::to_string(o.stages.size() - 1) + " 2x2 max-pools");
    }
  }
  flat_features_ = static_cast<int64_t>(in_depth) * h * w;
}

int Macro::Scaled(int depth) const {
  long v = std::lround(depth * options_.width);
  return v < 1 ? 1 : static_cast<int>(v);
}

std::vector<int> Macro::Ladder(size_t layer) const {
  const int in = layers_.at(layer).in_depth;
  std::vector<int> rates;
  for (int f = 1; f < in; f *= 2) {
    if (in % f == 0) rates.push_back(f);
  }
  rates.push_back(in);
  return rates;
}

}  // namespace fnas::space
