#include "search/hypervolume.h"

#include <algorithm>
#include <cmath>

namespace fnas::search {

double Hypervolume(const std::vector<FrontPoint>& points, int64_t ref_macs) {
  std::vector<FrontPoint> p;
  for (const auto& q : points) {
    if (std::isfinite(q.accuracy) && q.accuracy > 0 && q.macs <= ref_macs) p.push_back(q);
  }
  std::sort(p.begin(), p.end(),
            [](const FrontPoint& a, const FrontPoint& b) { return a.macs < b.macs; });
  // Sweep along MACs: between consecutive MAC values the dominated height is
  // the best accuracy of the points with no more MACs.
  double area = 0, height = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    height = std::max(height, p[i].accuracy);
    const int64_t next = i + 1 < p.size() ? p[i + 1].macs : ref_macs;
    area += static_cast<double>(next - p[i].macs) * height;
  }
  return area;
}

double HypervolumeFraction(const std::vector<FrontPoint>& found,
                           const std::vector<FrontPoint>& full, int64_t ref_macs) {
  const double whole = Hypervolume(full, ref_macs);
  if (whole <= 0) return 1.0;
  return Hypervolume(found, ref_macs) / whole;
}

}  // namespace fnas::search
