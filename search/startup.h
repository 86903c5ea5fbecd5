// The bayes sampler's start-up design: n points that fill the space before any model is fitted.
//
// A Latin hypercube cuts every axis into n strata and gives each of the n points a different
// stratum of each axis, so every stratum of every axis is tried once. Which stratum of one axis
// goes with which of another is left to chance by a plain hypercube, and with 10 points over six
// axes, three of them categorical, some pairs of values never meet: every adam trial may have
// relu, or every small learning rate sgd. A model fitted to such a start-up cannot tell the two
// apart and may never try the pair that works. So the strata are matched to cover as many
// distinct pairs of (value, value) as they can, as orthogonal-array-based Latin hypercubes do
// (Tang 1993): pairs of two axes of values (categorical, or integer with at most n values) count
// twice, pairs with a numeric axis's thirds once. The best of kTries permutations is taken axis
// by axis, then swaps within an axis improve it.
//
// Strata is a pure function of its arguments; it holds nothing and is safe from any thread.
#ifndef HPSWEEP_SEARCH_STARTUP_H_
#define HPSWEEP_SEARCH_STARTUP_H_

#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "search/parzen.h"

namespace hpsweep {
namespace startup {

// Numeric axes are balanced against the others by thirds of their range.
constexpr int kNumericBins = 3;
// Permutations drawn per axis; the one covering the most pairs is kept (ties: the first).
constexpr int kTries = 64;
// Then swaps improve the match, for designs of at most kMaxSwapped points, up to kMaxPasses
// passes over every axis.
constexpr int kMaxSwapped = 64, kMaxPasses = 8;

// bins[a]: axis a's number of values if categorical, else 0. Returns strata[a][k], the stratum
// (0..n-1) of point k (0..n-1) on axis a: each row is a permutation of 0..n-1, drawn from `seed`
// alone, so the same (seed, n, bins) give the same design.
std::vector<std::vector<int>> Strata(uint64_t seed, int n, const std::vector<int>& bins);

// The group of stratum s of n on an axis of `bins` values (kNumericBins for a numeric one): the
// value its centre falls in.
int Group(int s, int n, int bins);

// How many distinct pairs of groups the design's points cover, over every pair of axes.
int PairsCovered(const std::vector<std::vector<int>>& strata, const std::vector<int>& bins);

// The start-up's point for trial `number` (1-based; number k and k + n share a slot) over
// `axes` (search/parzen.h), as the sampler's transformed values: trial k has stratum
// strata[a][(k - 1) mod n] of axis a, on the axis's own scale (log for a log axis), uniform
// within it from `rng`. A categorical axis, or an integer one, of at most n values takes the
// value at the stratum's centre, so the design's pairs are the trials' pairs; one of more values
// is cut into n strata like a numeric one.
std::vector<double> Point(const std::vector<tpe::Axis>& axes, uint64_t seed, int n, int number,
                          Rng* rng);

}  // namespace startup
}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_STARTUP_H_
