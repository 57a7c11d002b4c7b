// The Pareto front of completed trials: minimize conv MACs, maximize an
// accuracy. Pure functions and a small value type; thread-compatible.
//
// Definition (the same as the `pareto_front` SQL view): a point is on the
// front unless another point has no more MACs and no less accuracy and is
// strictly better in one of them, or is an exact duplicate (same MACs, same
// accuracy) with a smaller id. So ties are broken by id and exactly one of a
// set of duplicates is kept. Points whose accuracy is not finite are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace fnas::search {

struct FrontPoint {
  int64_t id = 0;       // trial id (tie-breaker)
  int64_t macs = 0;     // conv MACs
  double accuracy = 0;  // quint8 or fp32 test accuracy
};

// The front, sorted by MACs ascending (accuracy then increases strictly).
// O(n log n).
std::vector<FrontPoint> ParetoFront(std::vector<FrontPoint> points);

// The front kept up to date as trials finish: Insert is O(log n + removed).
class IncrementalFront {
 public:
  // Adds a point; returns whether it is on the front now.
  bool Insert(const FrontPoint& p);
  std::vector<FrontPoint> Points() const;  // sorted by MACs
  size_t size() const { return front_.size(); }

 private:
  // Keyed by MACs; along the map accuracy strictly increases.
  std::map<int64_t, FrontPoint> front_;
};

}  // namespace fnas::search
