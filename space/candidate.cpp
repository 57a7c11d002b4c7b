#include "space/candidate.h"

#include <algorithm>
#include <cctype>

#include "common/error.h"

namespace fnas::space {

std::string JoinFactorization(const Factorization& f) {
  std::string out;
  for (size_t i = 0; i < f.size(); ++i) {
    if (i) out += '.';
    out += std::to_string(f[i]);
  }
  return out;
}

Factorization ParseFactorization(const std::string& text) {
  Factorization f;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('.', pos);
    if (end == std::string::npos) end = text.size();
    std::string part = text.substr(pos, end - pos);
    if (part.empty() || part.size() > 9 ||
        !std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); })) {
      throw UsageError("'" + text + "' is not a factorization (expected dot-joined integers such as 1.2.4)");
    }
    f.push_back(std::stoi(part));
    pos = end + 1;
  }
  return f;
}

std::optional<std::string> CheckFactorization(const Macro& macro, const Factorization& f) {
  if (f.size() != macro.num_layers()) {
    return "a factorization needs " + std::to_string(macro.num_layers()) +
           " rates (one per layer L1..L" + std::to_string(macro.num_layers()) + "), got " +
           std::to_string(f.size());
  }
  for (size_t i = 0; i < f.size(); ++i) {
    const ConvLayer& layer = macro.layers()[i];
    const std::string where = "layer L" + std::to_string(i + 1) + " (" + layer.name +
                              ", in-depth " + std::to_string(layer.in_depth) + ")";
    if (f[i] < 1) return where + ": rate f=" + std::to_string(f[i]) + " must be >= 1";
    if (f[i] > layer.in_depth) {
      return where + ": rate f=" + std::to_string(f[i]) + " exceeds the in-depth " +
             std::to_string(layer.in_depth);
    }
    if (layer.in_depth % f[i] != 0) {
      return where + ": rate f=" + std::to_string(f[i]) + " does not divide the in-depth " +
             std::to_string(layer.in_depth);
    }
  }
  return std::nullopt;
}

Factorization RegularFactorization(const Macro& macro) {
  return Factorization(macro.num_layers(), 1);
}

Factorization DepthwiseFactorization(const Macro& macro) {
  Factorization f;
  for (const auto& layer : macro.layers()) f.push_back(layer.in_depth);
  return f;
}

Factorization UniformFactorization(const Macro& macro, int f) {
  return Factorization(macro.num_layers(), f);
}

Factorization ReversePyramidFactorization(const Macro& macro, int f_init) {
  Factorization f;
  const int base0 = macro.layers().front().base_in_depth;
  for (const auto& layer : macro.layers()) {
    // Keep the channels per group constant: f grows with the in-depth. A ratio
    // that is not an integer makes a rate that CheckFactorization refuses.
    const long long num = static_cast<long long>(f_init) * layer.base_in_depth;
    f.push_back(num % base0 == 0 ? static_cast<int>(num / base0) : -1);
  }
  return f;
}

std::string CandidateName(const Macro& macro, const Factorization& f) {
  if (f == RegularFactorization(macro)) return "regular";
  if (f == DepthwiseFactorization(macro)) return "depthwise";
  if (std::all_of(f.begin(), f.end(), [&](int v) { return v == f[0]; })) {
    return "uniform-f" + std::to_string(f[0]);
  }
  if (f == ReversePyramidFactorization(macro, f[0])) return "rpyr-finit" + std::to_string(f[0]);
  return "layers-" + JoinFactorization(f);
}

Candidate MakeCandidate(const Macro& macro, const Factorization& f) {
  if (auto error = CheckFactorization(macro, f)) throw ConfigError(*error);
  return Candidate{f, JoinFactorization(f), CandidateName(macro, f)};
}

Candidate ResolveCandidate(const Macro& macro, const std::vector<Candidate>& candidates,
                           const std::string& text) {
  for (const auto& c : candidates) {
    if (c.name == text || c.key == text) return c;
  }
  Factorization f;
  auto rate_after = [&](const std::string& prefix) -> std::optional<int> {
    if (text.rfind(prefix, 0) != 0) return std::nullopt;
    Factorization v = ParseFactorization(text.substr(prefix.size()));
    if (v.size() != 1) return std::nullopt;
    return v[0];
  };
  try {
    if (text == "regular") {
      f = RegularFactorization(macro);
    } else if (text == "depthwise") {
      f = DepthwiseFactorization(macro);
    } else if (auto u = rate_after("uniform-f")) {
      f = UniformFactorization(macro, *u);
    } else if (auto r = rate_after("rpyr-finit")) {
      f = ReversePyramidFactorization(macro, *r);
    } else if (text.rfind("layers-", 0) == 0) {
      f = ParseFactorization(text.substr(7));
    } else {
      f = ParseFactorization(text);
    }
  } catch (const UsageError&) {
    std::string known;
    for (const auto& c : candidates) known += (known.empty() ? "" : ", ") + c.name;
    throw UsageError("unknown candidate '" + text +
                     "': give a name (regular, depthwise, uniform-f4, rpyr-finit2, layers-...) "
                     "or a dot-joined factorization" +
                     (known.empty() ? std::string() : "; this config has: " + known));
  }
  if (auto error = CheckFactorization(macro, f)) {
    throw UsageError("candidate '" + text + "': " + *error);
  }
  return Candidate{f, JoinFactorization(f), CandidateName(macro, f)};
}

}  // namespace fnas::space
