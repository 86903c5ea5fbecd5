// The bayes start-up design (search/startup.h): a Latin hypercube whose axes are matched to cover
// pairs of values, deterministic for its seed.
#include "search/startup.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/tensor.h"

namespace hpsweep {
namespace startup {
namespace {

// The design space's axes as the sampler bins them: units (numeric), activation (2 values),
// optimizer (3), batch_size (3), layers (integer 1-3), learning_rate (numeric).
const std::vector<int> kDesignBins = {0, 2, 3, 3, 3, 0};

// A plain Latin hypercube: one independent shuffle per axis.
std::vector<std::vector<int>> Plain(uint64_t seed, int n, size_t axes) {
  std::vector<std::vector<int>> strata;
  for (size_t a = 0; a < axes; ++a) {
    std::vector<int> perm(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
    Rng rng(Rng::Mix(seed, a));
    for (int i = n - 1; i > 0; --i) {
      std::swap(perm[static_cast<size_t>(i)], perm[rng.Below(static_cast<uint64_t>(i) + 1)]);
    }
    strata.push_back(perm);
  }
  return strata;
}

// Whether every pair of values of axes a and b (both of values) meets in some point.
bool AllPairsMeet(const std::vector<std::vector<int>>& s, const std::vector<int>& bins, size_t a,
                  size_t b) {
  const int n = static_cast<int>(s[a].size());
  std::set<std::pair<int, int>> met;
  for (size_t k = 0; k < s[a].size(); ++k) {
    met.insert({Group(s[a][k], n, bins[a]), Group(s[b][k], n, bins[b])});
  }
  return static_cast<int>(met.size()) == bins[a] * bins[b];
}

TEST(StartupTest, EveryAxisTakesEveryStratumOnce) {
  for (int n : {1, 2, 5, 10, 33, 100}) {
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      const std::vector<std::vector<int>> s = Strata(seed, n, kDesignBins);
      ASSERT_EQ(s.size(), kDesignBins.size());
      for (const std::vector<int>& row : s) {
        std::vector<int> sorted = row;
        std::sort(sorted.begin(), sorted.end());
        for (int i = 0; i < n; ++i) ASSERT_EQ(sorted[static_cast<size_t>(i)], i) << "n " << n;
      }
    }
  }
}

TEST(StartupTest, TheDesignIsAFunctionOfItsSeed) {
  EXPECT_EQ(Strata(7, 10, kDesignBins), Strata(7, 10, kDesignBins));
  EXPECT_NE(Strata(7, 10, kDesignBins), Strata(8, 10, kDesignBins));
}

TEST(StartupTest, GroupIsTheValueAtTheStratumsCentre) {
  // 10 strata of 3 values: centres 0.05 .. 0.95, so 3, 4 and 3 strata.
  std::vector<int> count(3, 0);
  for (int s = 0; s < 10; ++s) ++count[static_cast<size_t>(Group(s, 10, 3))];
  EXPECT_EQ(count, (std::vector<int>{3, 4, 3}));
  EXPECT_EQ(Group(0, 10, 2), 0);
  EXPECT_EQ(Group(9, 10, 2), 1);
  EXPECT_EQ(Group(4, 10, 0), 1);  // a numeric axis: its thirds
}

// Over 200 seeds of 10 points in the design space, the matched design covers more pairs than a
// plain hypercube, and (nearly) always every pair of the value axes, where a plain one misses
// some pair of activation and optimizer in about a quarter of the seeds.
TEST(StartupTest, MatchedDesignCoversThePairsAPlainOneMisses) {
  int more = 0, matched_full = 0, plain_full = 0, act_opt_matched = 0, act_opt_plain = 0;
  const int seeds = 200;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    const std::vector<std::vector<int>> m = Strata(seed, 10, kDesignBins);
    const std::vector<std::vector<int>> p = Plain(seed, 10, kDesignBins.size());
    if (PairsCovered(m, kDesignBins) > PairsCovered(p, kDesignBins)) ++more;
    auto full = [&](const std::vector<std::vector<int>>& s) {
      return AllPairsMeet(s, kDesignBins, 1, 2) && AllPairsMeet(s, kDesignBins, 1, 3) &&
             AllPairsMeet(s, kDesignBins, 2, 3);
    };
    matched_full += full(m);
    plain_full += full(p);
    act_opt_matched += AllPairsMeet(m, kDesignBins, 1, 2);
    act_opt_plain += AllPairsMeet(p, kDesignBins, 1, 2);
  }
  EXPECT_GE(more, seeds * 95 / 100);
  EXPECT_GE(act_opt_matched, seeds - 1);
  EXPECT_LE(act_opt_plain, seeds * 85 / 100);
  EXPECT_GE(matched_full, seeds * 85 / 100);
  EXPECT_LE(plain_full, seeds / 2);
}

}  // namespace
}  // namespace startup
}  // namespace hpsweep
