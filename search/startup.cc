#include "search/startup.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace hpsweep {
namespace startup {
namespace {

int BinsOf(int bins) { return bins > 0 ? bins : kNumericBins; }

// The distinct (group on a, group on b) pairs of the n points.
int Covered(const std::vector<int>& a, int bins_a, const std::vector<int>& b, int bins_b) {
  const int n = static_cast<int>(a.size());
  std::vector<int64_t> pairs(a.size());
  for (size_t k = 0; k < a.size(); ++k) {
    pairs[k] = int64_t{Group(a[k], n, bins_a)} * n + Group(b[k], n, bins_b);
  }
  std::sort(pairs.begin(), pairs.end());
  const int distinct = static_cast<int>(std::unique(pairs.begin(), pairs.end()) - pairs.begin());
  // (pairs of two axes of values count twice: they are what a model cannot interpolate)
  return distinct * (bins_a > 0 && bins_b > 0 ? 2 : 1);
}

}  // namespace

int Group(int s, int n, int bins) {
  const int m = BinsOf(bins);
  return std::min(m - 1, (2 * s + 1) * m / (2 * n));  // floor((s + 0.5) / n * m)
}

std::vector<std::vector<int>> Strata(uint64_t seed, int n, const std::vector<int>& bins) {
  n = std::max(n, 1);
  std::vector<std::vector<int>> strata;
  std::vector<int> perm(static_cast<size_t>(n));
  for (size_t a = 0; a < bins.size(); ++a) {
    std::vector<int> best;
    int best_covered = -1;
    for (int t = 0; t < (a == 0 ? 1 : kTries); ++t) {  // (the first axis has nothing to match)
      for (int i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
      Rng shuffle(Rng::Mix(seed, a * kTries + static_cast<uint64_t>(t)));
      for (int i = n - 1; i > 0; --i) {
        std::swap(perm[static_cast<size_t>(i)], perm[shuffle.Below(static_cast<uint64_t>(i) + 1)]);
      }
      int covered = 0;
      for (size_t b = 0; b < a; ++b) covered += Covered(perm, bins[a], strata[b], bins[b]);
      if (covered > best_covered) best_covered = covered, best = perm;
    }
    strata.push_back(std::move(best));
  }
  // Then swaps of two points' strata on one axis, kept where they cover more pairs, until none
  // does (or kMaxPasses passes; only for small designs: a pass costs n^2 d^2 n).
  if (n > kMaxSwapped) return strata;
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    bool better = false;
    for (size_t a = 1; a < strata.size(); ++a) {
      auto row_covered = [&] {
        int covered = 0;
        for (size_t b = 0; b < strata.size(); ++b) {
          if (b != a) covered += Covered(strata[a], bins[a], strata[b], bins[b]);
        }
        return covered;
      };
      int current = row_covered();
      for (size_t i = 0; i < strata[a].size(); ++i) {
        for (size_t j = i + 1; j < strata[a].size(); ++j) {
          std::swap(strata[a][i], strata[a][j]);
          const int covered = row_covered();
          if (covered > current) {
            current = covered, better = true;
          } else {
            std::swap(strata[a][i], strata[a][j]);
          }
        }
      }
    }
    if (!better) break;
  }
  return strata;
}

int PairsCovered(const std::vector<std::vector<int>>& strata, const std::vector<int>& bins) {
  int covered = 0;
  for (size_t a = 0; a < strata.size(); ++a) {
    for (size_t b = 0; b < a; ++b) covered += Covered(strata[a], bins[a], strata[b], bins[b]);
  }
  return covered;
}

std::vector<double> Point(const std::vector<tpe::Axis>& axes, uint64_t seed, int n, int number,
                          Rng* rng) {
  n = std::max(n, 1);
  const size_t slot = static_cast<size_t>((std::max(number, 1) - 1) % n);
  std::vector<int> bins(axes.size(), 0);
  for (size_t a = 0; a < axes.size(); ++a) {
    const tpe::Axis& ax = axes[a];
    const double count = ax.categorical ? static_cast<double>(ax.canonical.size())
                         : ax.integer   ? std::floor(ax.hi - ax.lo + 0.5)
                                        : 0.0;
    if (count >= 1 && count <= n) bins[a] = static_cast<int>(count);
  }
  const std::vector<std::vector<int>> strata = Strata(seed, n, bins);
  std::vector<double> x(axes.size());
  for (size_t a = 0; a < axes.size(); ++a) {
    const tpe::Axis& ax = axes[a];
    const int s = strata[a][slot];
    if (bins[a] > 0) {
      const double group = Group(s, n, bins[a]);
      x[a] = ax.categorical ? group : ax.lo + 0.5 + group;
      continue;
    }
    const double u = (s + rng->Uniform()) / n;  // in [0, 1)
    if (ax.categorical) {
      const double m = static_cast<double>(ax.canonical.size());
      x[a] = std::min(m - 1, std::floor(u * m));
    } else if (ax.integer) {
      const double count = std::floor(ax.hi - ax.lo + 0.5);
      x[a] = ax.lo + 0.5 + std::min(count - 1, std::floor(u * count));
    } else {
      x[a] = ax.lo + u * (ax.hi - ax.lo);
    }
  }
  return x;
}

}  // namespace startup
}  // namespace hpsweep
