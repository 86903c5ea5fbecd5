#include "engine/split.h"

#include <algorithm>
#include <numeric>

#include "engine/tensor.h"

namespace hpsweep {
namespace {

constexpr uint64_t kSplitSeed = 0x76616c6964617465ULL;  // "validate": the same rows for every trial

// Moves k rows drawn at random from rows[0, size) to its end (a partial Fisher-Yates).
void DrawToEnd(std::vector<int64_t>* rows, int64_t k, Rng* rng) {
  const int64_t size = static_cast<int64_t>(rows->size());
  for (int64_t i = size - 1; i >= size - k; --i) {
    std::swap((*rows)[i], (*rows)[rng->Below(static_cast<uint64_t>(i + 1))]);
  }
}

// How many rows of each class validate: count_c * val / n, rounded by largest remainders so
// that the counts add up to val exactly.
std::vector<int64_t> StratumSizes(const std::vector<int64_t>& counts, int64_t n, int64_t val) {
  std::vector<int64_t> take(counts.size());
  std::vector<std::pair<int64_t, size_t>> remainders;  // (remainder of count_c * val, class)
  int64_t given = 0;
  for (size_t c = 0; c < counts.size(); ++c) {
    // 128-bit product: counts and val are at most 2^40 rows apart in practice, but be exact.
    const __int128 p = static_cast<__int128>(counts[c]) * val;
    take[c] = static_cast<int64_t>(p / n);
    given += take[c];
    remainders.push_back({static_cast<int64_t>(p % n), c});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; given < val && i < remainders.size(); ++i, ++given) {
    ++take[remainders[i].second];
  }
  return take;
}

std::string MissingClassWarning(const TrainConfig& tc, const Dataset& train,
                                const TrainSplit& split) {
  if (train.labels.empty()) return "";  // regression targets: no classes to miss
  std::vector<char> in_train(256, 0), in_val(256, 0);
  for (int64_t r : split.train) in_train[train.labels[r]] = 1;
  for (int64_t r : split.val) in_val[train.labels[r]] = 1;
  std::string missing;
  int count = 0;
  for (int c = 0; c < 256; ++c) {
    if (!in_train[c] || in_val[c]) continue;
    if (++count <= 10) missing += (missing.empty() ? "" : ", ") + std::to_string(c);
  }
  if (count == 0) return "";
  if (count > 10) missing += " and " + std::to_string(count - 10) + " more";
  std::string how = tc.validation_stratify ? "drawn class by class"
                    : tc.validation_shuffle ? "drawn at random"
                                            : "the last " + std::to_string(split.val.size()) +
                                                  " training rows, as Keras takes them";
  return "the validation rows (" + how + ") hold no example of class" +
         (count > 1 ? "es " : " ") + missing + ", which the training rows have" +
         (tc.validation_shuffle || tc.validation_stratify
              ? ": that class has too few rows for validation_split " +
                    std::to_string(tc.validation_split)
              : ": are the rows ordered by label? set validation_stratify: true");
}

}  // namespace

TrainSplit SplitTraining(const TrainConfig& tc, const Dataset& train, int64_t n, int64_t split_at) {
  TrainSplit s;
  std::vector<int64_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0);
  const int64_t val = n - split_at;
  if (tc.validation != Validation::kSplit || val == 0) {
    s.train = std::move(rows);
    return s;
  }
  Rng rng(Rng::Mix(kSplitSeed, static_cast<uint64_t>(n)));
  if (tc.validation_stratify) {
    std::vector<std::vector<int64_t>> by_class(256);
    std::vector<int64_t> counts(256, 0);
    for (int64_t r = 0; r < n; ++r) by_class[train.labels[r]].push_back(r);
    for (size_t c = 0; c < counts.size(); ++c) counts[c] = static_cast<int64_t>(by_class[c].size());
    const std::vector<int64_t> take = StratumSizes(counts, n, val);
    for (size_t c = 0; c < by_class.size(); ++c) {
      std::vector<int64_t>& cls = by_class[c];
      DrawToEnd(&cls, take[c], &rng);
      const auto cut = cls.end() - take[c];
      s.train.insert(s.train.end(), cls.begin(), cut);
      s.val.insert(s.val.end(), cut, cls.end());
    }
  } else if (tc.validation_shuffle) {
    DrawToEnd(&rows, val, &rng);
    s.train.assign(rows.begin(), rows.end() - val);
    s.val.assign(rows.end() - val, rows.end());
  } else {
    s.train.assign(rows.begin(), rows.begin() + split_at);
    s.val.assign(rows.begin() + split_at, rows.end());
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.val.begin(), s.val.end());
  s.warning = MissingClassWarning(tc, train, s);
  return s;
}

}  // namespace hpsweep
