// Tests for search/objective.h: the one ranking rule (direction, missing values, NaN, ties),
// and that the scheduler's views of a val_loss/minimize sweep (Leaderboard, LeaderboardProto,
// Counts' best, the best epoch) all follow it. The trials' val_loss order differs from their
// val_accuracy order, so a view that ranks by accuracy shows up.
#include "search/objective.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/scheduler.h"
#include "coordinator/service.h"
#include "coordinator/store/storage.h"
#include "search/sweep_file.h"

namespace hpsweep::objective_test {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(ObjectiveTest, MaximizeRanksLargerFirst) {
  const Objective o("val_accuracy", true);
  EXPECT_TRUE(o.Better(0.9, 0.8));
  EXPECT_FALSE(o.Better(0.8, 0.9));
  EXPECT_FALSE(o.Better(0.9, 0.9));
  EXPECT_EQ(o.Score(0.9), 0.9);
  EXPECT_EQ(o.DisplayName(), "val_accuracy (max)");
}

TEST(ObjectiveTest, MinimizeRanksSmallerFirst) {
  const Objective o("val_loss", false);
  EXPECT_TRUE(o.Better(0.2, 0.5));
  EXPECT_FALSE(o.Better(0.5, 0.2));
  EXPECT_EQ(o.Score(0.2), -0.2);
  EXPECT_GT(o.Score(0.2), o.Score(0.5));
  EXPECT_EQ(o.DisplayName(), "val_loss (min)");
  // 0 is a value (a perfect loss), not "none".
  EXPECT_TRUE(o.Better(0.0, 0.1));
}

TEST(ObjectiveTest, MissingValuesRankLastAndNaNNeverWins) {
  for (bool maximize : {true, false}) {
    const Objective o("val_loss", maximize);
    for (double none : {-1.0, kNaN, std::numeric_limits<double>::infinity()}) {
      EXPECT_FALSE(Objective::HasValue(none));
      EXPECT_FALSE(o.Better(none, 0.5)) << none << " maximize " << maximize;
      EXPECT_TRUE(o.Better(0.5, none)) << none << " maximize " << maximize;
      EXPECT_FALSE(o.Better(none, none));
      // Even a huge loss under minimize beats no value.
      EXPECT_TRUE(o.Better(1e9, none));
      EXPECT_TRUE(o.RanksBefore(1e9, 9, none, 1));
      EXPECT_FALSE(o.RanksBefore(none, 1, 1e9, 9));
    }
    EXPECT_FALSE(o.Better(kNaN, -1));
    EXPECT_FALSE(o.Better(-1, kNaN));
  }
}

TEST(ObjectiveTest, TiesGoToTheLowerTrialNumber) {
  const Objective o("val_loss", false);
  EXPECT_TRUE(o.RanksBefore(0.3, 2, 0.3, 5));
  EXPECT_FALSE(o.RanksBefore(0.3, 5, 0.3, 2));
  EXPECT_FALSE(o.RanksBefore(0.3, 2, 0.3, 2));
  // Two trials without a value tie too: by number.
  EXPECT_TRUE(o.RanksBefore(-1, 1, kNaN, 2));
  EXPECT_FALSE(o.RanksBefore(kNaN, 2, -1, 1));
  // A better value wins over a lower number.
  EXPECT_TRUE(o.RanksBefore(0.2, 9, 0.3, 1));
}

TEST(ObjectiveTest, ValueOfPicksTheMetricsColumn) {
  TrialRow t;
  t.best_val_accuracy = 0.9;
  t.best_val_loss = 0.4;
  t.test_accuracy = 0.88;
  t.test_loss = 0.45;
  EXPECT_EQ(Objective("val_accuracy", true).ValueOf(t), 0.9);
  EXPECT_EQ(Objective("val_loss", false).ValueOf(t), 0.4);
  EXPECT_EQ(Objective("test_accuracy", true).ValueOf(t), 0.88);
  EXPECT_EQ(Objective("test_loss", false).ValueOf(t), 0.45);
  // Any other name is a program's metric: its value is metric_value, NaN when none.
  EXPECT_TRUE(std::isnan(Objective("no_such_metric", true).ValueOf(t)));
  t.metric_value = -3.5;
  EXPECT_EQ(Objective("no_such_metric", true).ValueOf(t), -3.5);
  EXPECT_TRUE(Objective("no_such_metric", true).Has(-3.5));
  EXPECT_FALSE(Objective("val_loss", false).Has(-3.5));
  t.best_val_loss = kNaN;
  EXPECT_EQ(Objective("val_loss", false).ValueOf(t), -1);
  TrialRow fresh;  // no epoch yet
  EXPECT_EQ(Objective("val_loss", false).ValueOf(fresh), -1);
  EXPECT_EQ(Objective("test_accuracy", true).ValueOf(fresh), -1);
}

TEST(ObjectiveTest, BestEpochRule) {
  EXPECT_EQ(Objective("val_loss", false).ForEpochs().metric(), "val_loss");
  EXPECT_FALSE(Objective("val_loss", false).ForEpochs().maximize());
  EXPECT_EQ(Objective("test_accuracy", true).ForEpochs().metric(), "val_accuracy");
  EXPECT_TRUE(Objective("test_accuracy", true).ForEpochs().maximize());
  EXPECT_EQ(Objective("test_loss", false).ForEpochs().metric(), "val_loss");
}

class FixedClock : public Clock {
 public:
  double Now() override { return 1000; }
};

EpochReport Epoch(int epoch, double val_accuracy, double val_loss) {
  EpochReport r;
  r.epoch = epoch;
  r.train_loss = 0.5;
  r.train_accuracy = 0.5;
  r.val_loss = val_loss;
  r.val_accuracy = val_accuracy;
  r.seconds = 1;
  return r;
}

// A val_loss/minimize sweep of four trials, as the scheduler holds them after:
//   #1: val_acc 0.90, val_loss 0.50   (best by accuracy)
//   #2: val_acc 0.80, val_loss 0.20   (best by loss)
//   #3: val_acc 0.85, val_loss 0.30
//   #4: leased, no epoch yet          (no value: last, never first)
// By loss: #2, #3, #1. By accuracy it would be #1, #3, #2.
class MinimizeSweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto st = OpenSqliteStorage(":memory:");
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    storage_ = std::move(st).value();
    sched_ = std::make_unique<Scheduler>(storage_.get(), &clock_);
    const std::string yaml =
        "name: loss\nmethod: grid\nmetric: {name: val_loss, goal: minimize}\n"
        "fixed:\n  cell: lstm\n  epochs: 2\nparameters:\n  units: {values: [1, 2, 3, 4]}\n";
    auto spec = ParseSweep(yaml, "loss.yaml");
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    auto trials = ExpandSweep(*spec, "loss.yaml");
    ASSERT_TRUE(trials.ok()) << trials.status().ToString();
    auto id = sched_->Submit(*spec, *trials, yaml, "loss.yaml");
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    sweep_id_ = *id;
    auto w = sched_->RegisterWorker("w", 1);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    // Epoch 2 of each is worse by loss but better by accuracy: the best epoch must be epoch 1.
    const double results[3][2] = {{0.90, 0.50}, {0.80, 0.20}, {0.85, 0.30}};
    for (const auto& r : results) {
      auto g = sched_->Lease(*w);
      ASSERT_TRUE(g.ok() && g->has_value());
      Completion c;
      c.history = {Epoch(1, r[0], r[1]), Epoch(2, r[0] + 0.05, r[1] + 0.5)};
      c.test_accuracy = 0.5;
      c.test_loss = 1;
      ASSERT_TRUE(sched_->Complete((*g)->lease_id, c).ok());
    }
    auto g = sched_->Lease(*w);  // #4: running, no epoch
    ASSERT_TRUE(g.ok() && g->has_value());
  }

  static std::vector<int> Numbers(const std::vector<TrialRow>& rows) {
    std::vector<int> n;
    for (const TrialRow& t : rows) n.push_back(t.number);
    return n;
  }

  FixedClock clock_;
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<Scheduler> sched_;
  int64_t sweep_id_ = 0;
};

TEST_F(MinimizeSweepTest, LeaderboardRanksByLossAscending) {
  SweepRow sw;
  auto rows = sched_->Leaderboard(sweep_id_, 0, &sw);
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(Numbers(*rows), (std::vector<int>{2, 3, 1}));
  for (const TrialRow& t : *rows) EXPECT_EQ(t.best_epoch, 1) << "trial #" << t.number;
  auto top = sched_->Leaderboard(sweep_id_, 1, &sw);
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(Numbers(*top), (std::vector<int>{2}));

  const v1::GetLeaderboardResponse lb = LeaderboardProto(sw, *rows);
  EXPECT_EQ(lb.metric_name(), "val_loss");
  EXPECT_FALSE(lb.maximize());
  ASSERT_EQ(lb.rows_size(), 3);
  const int want[] = {2, 3, 1};
  const double loss[] = {0.20, 0.30, 0.50};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lb.rows(i).rank(), i + 1);
    EXPECT_EQ(lb.rows(i).number(), want[i]);
    EXPECT_EQ(lb.rows(i).metric_value(), loss[i]);
  }
}

// Before Objective, Counts took the highest best_val_accuracy (0.90, trial #1) as the sweep's
// best: status and the progress line said "best" for the worst trial by the sweep's own metric.
TEST_F(MinimizeSweepTest, StatusBestIsTheLowestLoss) {
  const std::vector<SweepCounts> counts = sched_->Counts(sweep_id_);
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].best, 0.20);
  EXPECT_EQ(counts[0].sweep.metric, "val_loss");
  EXPECT_FALSE(counts[0].sweep.maximize);
}

}  // namespace
}  // namespace hpsweep::objective_test
