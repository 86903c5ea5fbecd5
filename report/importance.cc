#include "report/importance.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <set>

namespace hpsweep {

double MainEffectShare(const std::vector<std::string>& levels, const std::vector<double>& metric) {
  const size_t n = std::min(levels.size(), metric.size());
  std::map<std::string, std::pair<double, int>> groups;  // level -> (sum, count)
  double sum = 0;
  int count = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(metric[i])) continue;
    auto& g = groups[levels[i]];
    g.first += metric[i];
    g.second += 1;
    sum += metric[i];
    ++count;
  }
  if (count < 2) return 0;
  const double mean = sum / count;
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(metric[i])) total += (metric[i] - mean) * (metric[i] - mean);
  }
  if (!(total > 0)) return 0;
  double between = 0;
  for (const auto& [level, g] : groups) {
    const double d = g.first / g.second - mean;
    between += g.second * d * d;
  }
  return std::clamp(between / total, 0.0, 1.0);
}

std::vector<std::string> BinLevels(const std::vector<double>& values, int max_levels) {
  std::vector<std::string> out(values.size());
  const std::set<double> distinct(values.begin(), values.end());
  char buf[64];
  if (max_levels < 1 || static_cast<int>(distinct.size()) <= max_levels) {
    for (size_t i = 0; i < values.size(); ++i) {
      std::snprintf(buf, sizeof(buf), "%.17g", values[i]);
      out[i] = buf;
    }
    return out;
  }
  // Rank of each distinct value (ties share it), then rank -> bin.
  std::map<double, size_t> first_rank;
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (size_t r = 0; r < sorted.size(); ++r) first_rank.emplace(sorted[r], r);
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t bin = first_rank[values[i]] * max_levels / values.size();
    std::snprintf(buf, sizeof(buf), "bin %zu of %d", bin + 1, max_levels);
    out[i] = buf;
  }
  return out;
}

}  // namespace hpsweep
