#include "space/paths.h"

#include <set>

#include "common/error.h"

namespace fnas::space {

const char* PathKindName(PathSpec::Kind kind) {
  switch (kind) {
    case PathSpec::Kind::kRegular: return "regular";
    case PathSpec::Kind::kDepthwise: return "depthwise";
    case PathSpec::Kind::kUniform: return "uniform";
    case PathSpec::Kind::kReversePyramid: return "reverse_pyramid";
    case PathSpec::Kind::kPerLayer: return "per_layer";
  }
  return "?";
}

std::vector<Factorization> PathFactorizations(const Macro& macro, const PathSpec& path) {
  std::vector<Factorization> out;
  switch (path.kind) {
    case PathSpec::Kind::kRegular: out.push_back(RegularFactorization(macro)); break;
    case PathSpec::Kind::kDepthwise: out.push_back(DepthwiseFactorization(macro)); break;
    case PathSpec::Kind::kUniform:
      for (int f : path.rates) out.push_back(UniformFactorization(macro, f));
      break;
    case PathSpec::Kind::kReversePyramid:
      for (int f : path.rates) out.push_back(ReversePyramidFactorization(macro, f));
      break;
    case PathSpec::Kind::kPerLayer: out = path.vectors; break;
  }
  return out;
}

std::vector<Candidate> ExpandPaths(const Macro& macro, const std::vector<PathSpec>& paths) {
  std::vector<Candidate> out;
  std::set<std::string> seen;
  for (const PathSpec& path : paths) {
    const auto fs = PathFactorizations(macro, path);
    for (size_t i = 0; i < fs.size(); ++i) {
      if (auto error = CheckFactorization(macro, fs[i])) {
        std::string what = PathKindName(path.kind);
        if (path.kind == PathSpec::Kind::kUniform) what += " f=" + std::to_string(path.rates[i]);
        if (path.kind == PathSpec::Kind::kReversePyramid) {
          what += " f_init=" + std::to_string(path.rates[i]);
        }
        if (path.kind == PathSpec::Kind::kPerLayer) what += " [" + JoinFactorization(fs[i]) + "]";
        throw ConfigError((path.where.empty() ? "" : path.where + ": ") + "space.paths: " + what +
                          ": " + *error);
      }
      Candidate c = MakeCandidate(macro, fs[i]);
      if (seen.insert(c.key).second) out.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace fnas::space
