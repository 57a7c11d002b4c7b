#include "search/hypervolume.h"

#include <algorithm>

namespace fnas::search {

double Hypervolume(const std::vector<FrontPoint>& points, int64_t ref_macs) {
  const std::vector<FrontPoint> front = ParetoFront(points);  // MACs and accuracy ascending
  double area = 0;
  for (size_t i = 0; i < front.size(); ++i) {
    if (front[i].macs >= ref_macs || front[i].accuracy <= 0) continue;
    const int64_t right = i + 1 < front.size() ? std::min(front[i + 1].macs, ref_macs) : ref_macs;
    area += static_cast<double>(right - front[i].macs) * front[i].accuracy;
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
