// The paths through the search space that a config lists, and their expansion
// into a duplicate-free list of candidates. Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "space/candidate.h"

namespace fnas::space {

struct PathSpec {
  enum class Kind { kRegular, kDepthwise, kUniform, kReversePyramid, kPerLayer };
  Kind kind = Kind::kRegular;
  std::vector<int> rates;                 // uniform: f; reverse_pyramid: f_init
  std::vector<Factorization> vectors;     // per_layer
  std::string where;                      // "file:line" of the path in the config, for errors
};

const char* PathKindName(PathSpec::Kind kind);

// The factorizations one path generates, in order (not validated).
std::vector<Factorization> PathFactorizations(const Macro& macro, const PathSpec& path);

// Every candidate of the paths, in order of first appearance, each once (a
// reverse pyramid that equals `depthwise` is listed once). Throws ConfigError
// naming the path's location for an invalid factorization.
std::vector<Candidate> ExpandPaths(const Macro& macro, const std::vector<PathSpec>& paths);

}  // namespace fnas::space
