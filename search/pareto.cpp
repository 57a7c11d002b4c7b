#include "search/pareto.h"

#include <algorithm>
#include <cmath>
#include <iterator>

namespace fnas::search {

namespace {

// Sort order of the sweep: fewer MACs first, then higher accuracy, then smaller id.
bool SweepOrder(const FrontPoint& a, const FrontPoint& b) {
  if (a.macs != b.macs) return a.macs < b.macs;
  if (a.accuracy != b.accuracy) return a.accuracy > b.accuracy;
  return a.id < b.id;
}

}  // namespace

std::vector<FrontPoint> ParetoFront(std::vector<FrontPoint> points) {
  points.erase(std::remove_if(points.begin(), points.end(),
                              [](const FrontPoint& p) { return !std::isfinite(p.accuracy); }),
               points.end());
  std::sort(points.begin(), points.end(), SweepOrder);
  // A point is dominated (or a later duplicate) iff some point before it in
  // the sweep has at least its accuracy.
  std::vector<FrontPoint> front;
  for (const auto& p : points) {
    if (front.empty() || p.accuracy > front.back().accuracy) front.push_back(p);
  }
  return front;
}

bool IncrementalFront::Insert(const FrontPoint& p) {
  if (!std::isfinite(p.accuracy)) return false;
  // Dominated by the best point with MACs <= p.macs?
  auto after = front_.upper_bound(p.macs);
  if (after != front_.begin()) {
    const FrontPoint& q = std::prev(after)->second;
    const bool dominated =
        q.accuracy > p.accuracy || (q.accuracy == p.accuracy && (q.macs < p.macs || q.id < p.id));
    if (dominated) return false;
  }
  // p is on the front: drop the points it dominates (MACs >= p.macs, accuracy <= p's).
  auto it = front_.lower_bound(p.macs);
  while (it != front_.end() && it->second.accuracy <= p.accuracy) it = front_.erase(it);
  front_[p.macs] = p;
  return true;
}

std::vector<FrontPoint> IncrementalFront::Points() const {
  std::vector<FrontPoint> out;
  out.reserve(front_.size());
  for (const auto& kv : front_) out.push_back(kv.second);
  return out;
}

}  // namespace fnas::search
