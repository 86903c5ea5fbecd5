// Tests for engine/split.h: which training rows validate (Keras's last fraction, a seeded draw,
// a draw class by class), the warning for a validation set that lacks a class, the keys' checks,
// and that Train trains only on its training rows and validates on the drawn ones.
#include "engine/split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "engine/trainer.h"

namespace hpsweep::split_test {
namespace {

// count rows of 2x2 images; labels sorted ascending (class c holds sizes[c] consecutive rows),
// the first pixel says the class so that a model can learn it.
Dataset SortedByLabel(const std::vector<int64_t>& sizes) {
  Dataset d;
  d.rows = 2;
  d.cols = 2;
  d.num_classes = static_cast<int>(sizes.size());
  for (size_t c = 0; c < sizes.size(); ++c) {
    for (int64_t i = 0; i < sizes[c]; ++i) {
      d.labels.push_back(static_cast<uint8_t>(c));
      const float v = static_cast<float>(c) / static_cast<float>(sizes.size());
      d.images.insert(d.images.end(), {v, 0.5f, 1.0f - v, 0.25f});
    }
  }
  d.count = static_cast<int64_t>(d.labels.size());
  return d;
}

TrainConfig Split(double fraction, bool shuffle, bool stratify) {
  TrainConfig t;
  t.validation_split = fraction;
  t.validation_shuffle = shuffle;
  t.validation_stratify = stratify;
  return t;
}

int64_t KerasSplitAt(int64_t n, double fraction) {
  return static_cast<int64_t>(static_cast<double>(n) * (1.0 - fraction));
}

// Train and val are ascending, disjoint, and together every row of [0, n) once.
void ExpectPartition(const TrainSplit& s, int64_t n) {
  EXPECT_TRUE(std::is_sorted(s.train.begin(), s.train.end()));
  EXPECT_TRUE(std::is_sorted(s.val.begin(), s.val.end()));
  std::vector<int64_t> all = s.train;
  all.insert(all.end(), s.val.begin(), s.val.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> want(n);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(all, want);
}

std::map<int, int64_t> ClassCounts(const Dataset& d, const std::vector<int64_t>& rows) {
  std::map<int, int64_t> counts;
  for (int64_t r : rows) ++counts[d.labels[r]];
  return counts;
}

TEST(SplitTest, KerasTakesTheLastRowsAndWarnsWhenTheyLackAClass) {
  const Dataset d = SortedByLabel({20, 20, 20, 20, 20, 20, 20, 20, 20, 20});
  const TrainSplit s = SplitTraining(Split(0.2, false, false), d, 200, KerasSplitAt(200, 0.2));
  ASSERT_EQ(s.train.size(), 160u);
  ASSERT_EQ(s.val.size(), 40u);
  EXPECT_EQ(s.val.front(), 160);
  EXPECT_EQ(s.val.back(), 199);
  ExpectPartition(s, 200);
  // The last 40 rows are classes 8 and 9: 0..7 train but never validate.
  EXPECT_NE(s.warning.find("classes 0, 1, 2, 3, 4, 5, 6, 7,"), std::string::npos) << s.warning;
  EXPECT_NE(s.warning.find("validation_stratify: true"), std::string::npos) << s.warning;
}

TEST(SplitTest, NoWarningWhenEveryClassValidates) {
  Dataset d = SortedByLabel({10, 10});
  // Interleave the labels: the last rows hold both classes.
  for (int64_t i = 0; i < d.count; ++i) d.labels[i] = static_cast<uint8_t>(i % 2);
  const TrainSplit s = SplitTraining(Split(0.2, false, false), d, 20, KerasSplitAt(20, 0.2));
  EXPECT_EQ(s.warning, "");
}

TEST(SplitTest, ShuffleDrawsAsManyRowsTheSameWayForEveryTrialSeed) {
  const Dataset d = SortedByLabel({50, 50, 50, 50});
  TrainConfig t = Split(0.25, true, false);
  const TrainSplit a = SplitTraining(t, d, 200, KerasSplitAt(200, 0.25));
  ExpectPartition(a, 200);
  EXPECT_EQ(a.val.size(), 50u);
  EXPECT_NE(a.val.front(), 150) << "not the last rows";
  // Drawn from every part of the data: each class validates (50 of 200 rows at random).
  EXPECT_EQ(ClassCounts(d, a.val).size(), 4u);
  EXPECT_EQ(a.warning, "");
  t.seed = 12345;  // the trial's seed does not move the validation rows
  const TrainSplit b = SplitTraining(t, d, 200, KerasSplitAt(200, 0.25));
  EXPECT_EQ(a.val, b.val);
  EXPECT_EQ(a.train, b.train);
}

TEST(SplitTest, StratifyGivesEachClassItsShareExactly) {
  const Dataset d = SortedByLabel({20, 20, 20, 20, 20, 20, 20, 20, 20, 20});
  const TrainSplit s = SplitTraining(Split(0.2, false, true), d, 200, KerasSplitAt(200, 0.2));
  ExpectPartition(s, 200);
  ASSERT_EQ(s.val.size(), 40u);
  const std::map<int, int64_t> val = ClassCounts(d, s.val);
  ASSERT_EQ(val.size(), 10u);
  for (const auto& [c, k] : val) EXPECT_EQ(k, 4) << "class " << c;
  EXPECT_EQ(s.warning, "");
}

TEST(SplitTest, StratifyRoundsByLargestRemaindersToKerasCount) {
  // 7 + 13 + 3 = 23 rows, validation_split 0.3: Keras trains int(23 * 0.7) = 16, validates 7.
  // Shares 2.1, 3.9, 0.9: floors 2, 3, 0 (5) plus the two largest remainders (0.9, 0.9).
  const Dataset d = SortedByLabel({7, 13, 3});
  const TrainSplit s = SplitTraining(Split(0.3, false, true), d, 23, KerasSplitAt(23, 0.3));
  ExpectPartition(s, 23);
  ASSERT_EQ(s.train.size(), 16u);
  const std::map<int, int64_t> val = ClassCounts(d, s.val);
  EXPECT_EQ(val.at(0), 2);
  EXPECT_EQ(val.at(1), 4);
  EXPECT_EQ(val.at(2), 1);
}

TEST(SplitTest, AClassTooSmallToValidateIsWarnedOfEvenWhenStratified) {
  const Dataset d = SortedByLabel({40, 40, 1});  // class 2: 1 row, share 0.1 -> 0 rows
  const TrainSplit s = SplitTraining(Split(0.1, false, true), d, 81, KerasSplitAt(81, 0.1));
  ExpectPartition(s, 81);
  EXPECT_NE(s.warning.find("class 2,"), std::string::npos) << s.warning;
  EXPECT_NE(s.warning.find("too few rows"), std::string::npos) << s.warning;
}

TEST(SplitTest, OnlyTheFirstNRowsAreSplit) {
  const Dataset d = SortedByLabel({30, 30});
  const TrainSplit s = SplitTraining(Split(0.5, true, false), d, 40, KerasSplitAt(40, 0.5));
  ExpectPartition(s, 40);
  EXPECT_EQ(s.val.size(), 20u);
}

TEST(SplitTest, NoSplitOrTheTestSetTrainsOnEveryRow) {
  const Dataset d = SortedByLabel({5, 5});
  TrainSplit s = SplitTraining(Split(0.0, false, false), d, 10, 10);
  EXPECT_EQ(s.train.size(), 10u);
  EXPECT_TRUE(s.val.empty());
  TrainConfig t = Split(0.5, false, false);
  t.validation = Validation::kTest;
  s = SplitTraining(t, d, 10, 10);
  EXPECT_EQ(s.train.size(), 10u);
  EXPECT_TRUE(s.val.empty());
  EXPECT_EQ(s.warning, "");
}

TEST(SplitKeysTest, ParsedCheckedAndRefusedWithoutASplit) {
  TrialConfig c;
  ASSERT_TRUE(ApplyKey("validation_stratify", "true", &c).ok());
  EXPECT_TRUE(c.train.validation_stratify);
  EXPECT_EQ(GetKey(c, "validation_stratify"), "true");
  EXPECT_EQ(GetKey(c, "validation_shuffle"), "false");
  Status s = ApplyKey("validation_shuffle", "sometimes", &c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("validation_shuffle"), std::string::npos) << s.ToString();
  s = Validate(c);  // validation_split is 0
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find("validation_stratify"), std::string::npos) << s.ToString();
  EXPECT_NE(s.ToString().find("validation_split > 0"), std::string::npos) << s.ToString();
  ASSERT_TRUE(ApplyKey("validation_split", "0.2", &c).ok());
  EXPECT_TRUE(Validate(c).ok()) << Validate(c).ToString();
  ASSERT_TRUE(ApplyKey("validation", "test", &c).ok());
  EXPECT_FALSE(Validate(c).ok());
}

TrialConfig SmallMlp() {
  TrialConfig c;
  c.model.cell = Cell::kDense;
  c.model.layers = 1;
  c.model.units = 8;
  c.model.steps = 2;
  c.model.features = 2;
  c.model.classes = 4;
  c.train.epochs = 1;
  c.train.batch_size = 16;
  c.train.validation_split = 0.25;
  return c;
}

TEST(SplitTrainTest, TrainsOnlyOnItsRowsAndValidatesOnTheDrawnOnes) {
  Mnist data;
  data.train = SortedByLabel({40, 40, 40, 40});
  data.test = SortedByLabel({5, 5, 5, 5});
  TrialConfig c = SmallMlp();
  c.train.validation_stratify = true;
  ASSERT_TRUE(Validate(c).ok()) << Validate(c).ToString();
  const TrainSplit split = SplitTraining(c.train, data.train, 160, 120);
  // Poison the validation rows: training must never read them, validation must.
  Mnist poisoned = data;
  for (int64_t r : split.val) {
    for (int k = 0; k < 4; ++k) {
      poisoned.train.images[r * 4 + k] = std::numeric_limits<float>::quiet_NaN();
    }
  }
  int warnings = 0;
  TrainOptions options;
  options.on_warning = [&warnings](const std::string&) { ++warnings; };
  StatusOr<TrainResult> r = Train(c, poisoned, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train_count, 120);
  EXPECT_EQ(r->val_count, 40);
  for (float p : r->model.params) ASSERT_TRUE(std::isfinite(p)) << "trained on a validation row";
  EXPECT_TRUE(std::isnan(r->history[0].val_loss)) << "did not validate on the drawn rows";
  EXPECT_EQ(warnings, 0);
  EXPECT_EQ(r->validation_warning, "");

  // Clean data: the recorded validation metrics are those of the model on the drawn rows.
  StatusOr<TrainResult> clean = Train(c, data, TrainOptions{});
  ASSERT_TRUE(clean.ok());
  const Evaluation val = EvaluateRows(clean->model, data.train, split.val, 1);
  EXPECT_NEAR(clean->history[0].val_loss, val.loss, 1e-9);
  EXPECT_NEAR(clean->history[0].val_accuracy, val.accuracy, 1e-12);
}

TEST(SplitTrainTest, TheLastRowsOfSortedDataWarnOnceBeforeTraining) {
  Mnist data;
  data.train = SortedByLabel({40, 40, 40, 40});
  data.test = SortedByLabel({5, 5, 5, 5});
  const TrialConfig c = SmallMlp();
  std::vector<std::string> warnings;
  int epochs_seen_at_warning = -1, epochs = 0;
  TrainOptions options;
  options.on_epoch = [&epochs](const EpochMetrics&) { return ++epochs > 0; };
  options.on_warning = [&](const std::string& w) {
    warnings.push_back(w);
    epochs_seen_at_warning = epochs;
  };
  StatusOr<TrainResult> r = Train(c, data, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(epochs_seen_at_warning, 0);
  EXPECT_EQ(warnings[0], r->validation_warning);
  EXPECT_NE(warnings[0].find("classes 0, 1, 2"), std::string::npos) << warnings[0];
  // The validation set is one class, and the metric says so: not a model to select on.
  EXPECT_EQ(r->val_count, 40);
}

TEST(EvaluateRowsTest, RowsInAnyOrderMatchTheRangeAndPredictInTheirOrder) {
  Mnist data;
  data.train = SortedByLabel({10, 10, 10, 10});
  const TrialConfig c = SmallMlp();
  const Model m = InitModel(c);
  const Evaluation range = Evaluate(m, data.train, 5, 25, 2, true);
  std::vector<int64_t> rows(20);
  std::iota(rows.begin(), rows.end(), 5);
  const Evaluation same = EvaluateRows(m, data.train, rows, 1, true);
  EXPECT_NEAR(same.loss, range.loss, 1e-9);
  EXPECT_EQ(same.confusion, range.confusion);
  EXPECT_EQ(same.predictions, range.predictions);
  std::reverse(rows.begin(), rows.end());
  const Evaluation reversed = EvaluateRows(m, data.train, rows, 2, true);
  EXPECT_EQ(reversed.confusion, range.confusion);
  std::vector<uint8_t> back(range.predictions.rbegin(), range.predictions.rend());
  EXPECT_EQ(reversed.predictions, back);
}

}  // namespace
}  // namespace hpsweep::split_test
