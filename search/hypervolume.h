// Hypervolume of a set of (conv MACs, accuracy) points in the plane where
// MACs are minimized and accuracy maximized (docs/method.md, "pruning"):
// the area of the region dominated by the points and bounded by the reference
// point (ref_macs, 0), i.e. the union of the rectangles
// [macs_i, ref_macs] x [0, accuracy_i]. Dominated points add nothing, so the
// hypervolume of a set equals that of its Pareto front. Points with MACs above
// ref_macs or accuracy <= 0 (or not finite) add nothing. Pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "search/pareto.h"

namespace fnas::search {

// In units of MACs x accuracy. O(n log n).
double Hypervolume(const std::vector<FrontPoint>& points, int64_t ref_macs);

// Hypervolume(found) / Hypervolume(full), both with the same reference; 1 when
// the full set dominates nothing (an empty or degenerate study).
double HypervolumeFraction(const std::vector<FrontPoint>& found,
                           const std::vector<FrontPoint>& full, int64_t ref_macs);

}  // namespace fnas::search
