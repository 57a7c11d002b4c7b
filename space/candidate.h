// A candidate of the search space: one factorization rate per factorizable
// layer (1 = regular conv, in-depth = depthwise separable), with its canonical
// key and readable name. Free functions here are pure and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "space/macro.h"

namespace fnas::space {

using Factorization = std::vector<int>;

struct Candidate {
  Factorization f;    // per layer, L1..Ln
  std::string key;    // canonical: the dot-joined f, e.g. "1.2.4.4.8.8.16.16"
  std::string name;   // readable: regular, depthwise, uniform-f4, rpyr-finit2, layers-...
};

// "1.2.4" <-> {1, 2, 4}. Parse throws UsageError on a malformed string.
std::string JoinFactorization(const Factorization& f);
Factorization ParseFactorization(const std::string& text);

// Why f is not a valid factorization of the macro, or nullopt if it is.
// The message names the layer, the rate and the depth.
std::optional<std::string> CheckFactorization(const Macro& macro, const Factorization& f);

// The vectors of each path (not validated; pass them to MakeCandidate).
Factorization RegularFactorization(const Macro& macro);
Factorization DepthwiseFactorization(const Macro& macro);
Factorization UniformFactorization(const Macro& macro, int f);
// f_init doubled each time the in-depth doubles: f_l = f_init * base_in_l / base_in_1.
Factorization ReversePyramidFactorization(const Macro& macro, int f_init);

// Validates f (throws ConfigError with CheckFactorization's message) and names it.
Candidate MakeCandidate(const Macro& macro, const Factorization& f);
// The readable name of a valid f: the first of regular, depthwise, uniform-fN,
// rpyr-finitN that matches, else layers-<key>.
std::string CandidateName(const Macro& macro, const Factorization& f);

// Finds a candidate by name or key ("uniform-f4" or "4.4.4.4.4.4.4.4") among
// `candidates`, or builds it from a key or a name of a known form; throws
// UsageError if the text is neither.
Candidate ResolveCandidate(const Macro& macro, const std::vector<Candidate>& candidates,
                           const std::string& text);

}  // namespace fnas::space
