// The hypervolume of a Pareto front in the plane (conv MACs minimized,
// accuracy maximized): the area the front dominates, bounded by the
// reference point (ref_macs, accuracy 0), docs/method.md §7. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "search/pareto.h"

namespace fnas::search {

// The area (MACs x accuracy) of the points (macs, acc) with macs <= m <= ref_macs
// and 0 <= a <= acc for some point of `points` (any set: the front is taken
// first). Points with MACs >= ref_macs, non-finite or non-positive accuracy
// add nothing. Divide by ref_macs for a value in [0, max accuracy].
double Hypervolume(const std::vector<FrontPoint>& points, int64_t ref_macs);

// Hypervolume(found) / Hypervolume(full), both with the same reference: the
// share of a full front's hypervolume that a subset of its trials recovers;
// 1 when the full set dominates nothing (an empty or degenerate study).
double HypervolumeFraction(const std::vector<FrontPoint>& found,
                           const std::vector<FrontPoint>& full, int64_t ref_macs);

}  // namespace fnas::search
