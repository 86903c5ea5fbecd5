// Tests for search/pruner.h: the rungs of hyperband brackets, ASHA's promotion rule and the
// median rule against examples worked by hand (the expected decision and why in a comment next to
// each), the direction of a minimised metric, and that the decisions are a pure function of the
// epochs fed (any order of Add gives the same answers).
#include "search/pruner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace hpsweep::pruner_test {
namespace {

using Type = EarlyTerminateSpec::Type;

EarlyTerminateSpec Hyperband(int min_iter, int eta, int brackets = 1, int max_iter = 0) {
  EarlyTerminateSpec s;
  s.type = Type::kHyperband;
  s.min_iter = min_iter;
  s.eta = eta;
  s.brackets = brackets;
  s.max_iter = max_iter;
  return s;
}

EarlyTerminateSpec Median(int warmup, int min_trials) {
  EarlyTerminateSpec s;
  s.type = Type::kMedian;
  s.warmup = warmup;
  s.min_trials = min_trials;
  return s;
}

// Feeds epochs one at a time, as reports arrive, and asks after each: the scheduler's live use.
// Trial ids are their numbers; recorded_at is the order of the calls.
class Feeder {
 public:
  Feeder(const EarlyTerminateSpec& spec, const Objective& objective, int epochs = 9)
      : pruner_(MakePruner(spec, objective)), epochs_(epochs) {}
  // Reports (trial number, epoch, value); returns the pruner's decision.
  bool Report(int number, int epoch, double value) {
    PrunerEpoch e{number, number, epoch, value, ++clock_};
    fed_.push_back(e);
    pruner_->Add(e);
    return pruner_->ShouldPrune(number, epoch, epochs_);
  }
  Pruner* pruner() { return pruner_.get(); }
  const std::vector<PrunerEpoch>& fed() const { return fed_; }

 private:
  std::unique_ptr<Pruner> pruner_;
  int epochs_;
  double clock_ = 100;
  std::vector<PrunerEpoch> fed_;
};

TEST(HyperbandRungsTest, PowersOfEtaBelowTheEpochsAndMaxIter) {
  // 1, 3 (9 is the last epoch: no rung there).
  EXPECT_EQ(HyperbandRungs(Hyperband(1, 3), 0, 9), (std::vector<int>{1, 3}));
  EXPECT_EQ(HyperbandRungs(Hyperband(1, 3), 0, 10), (std::vector<int>{1, 3, 9}));
  // max_iter 9 caps a 27-epoch trial's rungs at 1, 3.
  EXPECT_EQ(HyperbandRungs(Hyperband(1, 3, 1, 9), 0, 27), (std::vector<int>{1, 3}));
  // Bracket 1 starts one rung later: 3, 9; bracket 2: 9.
  EXPECT_EQ(HyperbandRungs(Hyperband(1, 3, 3), 1, 27), (std::vector<int>{3, 9}));
  EXPECT_EQ(HyperbandRungs(Hyperband(1, 3, 3), 2, 27), (std::vector<int>{9}));
  EXPECT_EQ(HyperbandRungs(Hyperband(2, 2), 0, 20), (std::vector<int>{2, 4, 8, 16}));
  EXPECT_TRUE(HyperbandRungs(Hyperband(3, 3), 0, 3).empty());  // first rung at the last epoch
  EXPECT_TRUE(HyperbandRungs(Median(0, 1), 0, 9).empty());
}

TEST(HyperbandPrunerTest, AshaPromotesTheTopThirdOfEachRungSoFar) {
  // eta 3, rungs at epochs 1 and 3 of 9. Continue iff fewer than max(1, floor(n/3)) of the n
  // trials at the rung so far (counting itself) are strictly better.
  Feeder f(Hyperband(1, 3), Objective("val_accuracy", true));
  EXPECT_FALSE(f.Report(1, 1, 0.50));  // n=1: the first at a rung always continues
  EXPECT_TRUE(f.Report(2, 1, 0.40));   // n=2, k=1; #1 (0.50) is better: 1 >= 1, pruned
  EXPECT_FALSE(f.Report(3, 1, 0.60));  // n=3, k=1; none better
  EXPECT_TRUE(f.Report(4, 1, 0.55));   // n=4, k=1; #3 (0.60) better: pruned
  EXPECT_TRUE(f.Report(5, 1, 0.45));   // n=5, k=1; 3 better
  EXPECT_FALSE(f.Report(6, 1, 0.70));  // n=6, k=2; none better
  EXPECT_FALSE(f.Report(7, 1, 0.65));  // n=7, k=2; one better (#6): 1 < 2, continues
  EXPECT_TRUE(f.Report(8, 1, 0.62));   // n=8, k=2; #6, #7 better: 2 >= 2, pruned
  EXPECT_FALSE(f.Report(9, 1, 0.63));  // n=9, k=3; #6, #7 better: 2 < 3, continues
  EXPECT_TRUE(f.Report(10, 1, 0.60));  // n=10, k=3; #6 #7 #8 #9 better (#3's 0.60 ties): pruned
}

TEST(HyperbandPrunerTest, TiesFavourTheTrialAndLaterRungsHaveTheirOwnRecord) {
  Feeder f(Hyperband(1, 3), Objective("val_accuracy", true));
  EXPECT_FALSE(f.Report(1, 1, 0.50));
  EXPECT_FALSE(f.Report(2, 1, 0.50));  // n=2, k=1; a tie is not better: continues
  EXPECT_FALSE(f.Report(1, 2, 0.10));  // epoch 2 is no rung: never pruned there
  EXPECT_FALSE(f.Report(1, 3, 0.80));  // rung 3, n=1
  EXPECT_TRUE(f.Report(2, 3, 0.70));   // rung 3, n=2, k=1; #1 (0.80) better: pruned
  EXPECT_FALSE(f.Report(1, 9, 0.01));  // the last epoch is no rung
}

TEST(HyperbandPrunerTest, MinimisedMetricPrunesTheHighLosses) {
  // val_loss, minimised: lower is better.
  Feeder f(Hyperband(1, 3), Objective("val_loss", false));
  EXPECT_FALSE(f.Report(1, 1, 0.30));  // n=1
  EXPECT_FALSE(f.Report(2, 1, 0.20));  // n=2, k=1; 0.30 is worse: none better, continues
  EXPECT_TRUE(f.Report(3, 1, 0.50));   // n=3, k=1; 0.30 and 0.20 better: pruned
  // The same values maximised would have pruned #2 instead.
  Feeder g(Hyperband(1, 3), Objective("val_accuracy", true));
  EXPECT_FALSE(g.Report(1, 1, 0.30));
  EXPECT_TRUE(g.Report(2, 1, 0.20));
  EXPECT_FALSE(g.Report(3, 1, 0.50));
  // A test_loss sweep prunes on val_loss, minimised, too.
  Feeder h(Hyperband(1, 3), Objective("test_loss", false));
  EXPECT_FALSE(h.Report(1, 1, 0.30));
  EXPECT_FALSE(h.Report(2, 1, 0.20));
  EXPECT_TRUE(h.Report(3, 1, 0.50));
}

TEST(HyperbandPrunerTest, AnEpochWithoutAValueIsWorseThanAny) {
  Feeder f(Hyperband(1, 3), Objective("val_loss", false));
  EXPECT_FALSE(f.Report(1, 1, 2.0));
  EXPECT_TRUE(f.Report(2, 1, std::nan("")));  // n=2, k=1; a NaN loss is worse than 2.0
}

TEST(HyperbandPrunerTest, BracketsByTrialNumberModS) {
  // s = 2: even numbers in bracket 0 (rungs 1, 3), odd numbers in bracket 1 (rung 3 only).
  Feeder f(Hyperband(1, 3, 2), Objective("val_accuracy", true));
  EXPECT_FALSE(f.Report(2, 1, 0.50));  // bracket 0, rung 1, n=1
  EXPECT_FALSE(f.Report(1, 1, 0.10));  // bracket 1: epoch 1 is no rung there
  EXPECT_TRUE(f.Report(4, 1, 0.40));   // bracket 0, rung 1, n=2; #2 better: pruned
  EXPECT_FALSE(f.Report(3, 1, 0.05));  // bracket 1: no rung
  EXPECT_FALSE(f.Report(2, 3, 0.99));  // bracket 0, rung 3, n=1
  EXPECT_FALSE(f.Report(1, 3, 0.50));  // bracket 1, rung 3, n=1 (#2's 0.99 is another bracket's)
  EXPECT_TRUE(f.Report(3, 3, 0.40));   // bracket 1, rung 3, n=2; #1 better: pruned
}

TEST(MedianPrunerTest, BestSoFarAgainstTheMedianOfEarlierTrialsAtThatEpoch) {
  // warmup 1 (epoch 1 never pruned), at least 2 other trials at the epoch, maximised.
  Feeder f(Median(1, 2), Objective("val_accuracy", true));
  EXPECT_FALSE(f.Report(1, 1, 0.50));
  EXPECT_FALSE(f.Report(1, 2, 0.60));  // no others at epoch 2
  EXPECT_FALSE(f.Report(1, 3, 0.70));
  EXPECT_FALSE(f.Report(2, 1, 0.40));  // warmup
  EXPECT_FALSE(f.Report(2, 2, 0.50));  // one other at epoch 2 (#1: 0.60) < min_trials 2
  EXPECT_FALSE(f.Report(2, 3, 0.55));  // one other at epoch 3
  EXPECT_FALSE(f.Report(3, 1, 0.30));  // warmup, however bad
  EXPECT_FALSE(f.Report(3, 2, 0.58));  // others 0.60, 0.50: median 0.55; best 0.58 >= 0.55
  EXPECT_FALSE(f.Report(4, 1, 0.90));  // warmup
  EXPECT_FALSE(f.Report(4, 2, 0.52));  // others 0.60 0.50 0.58: median 0.58; best so far 0.90
  EXPECT_FALSE(f.Report(5, 1, 0.20));
  EXPECT_TRUE(f.Report(5, 2, 0.45));  // others .60 .50 .58 .52: median .55; best .45 < .55
  EXPECT_TRUE(f.Report(3, 3, 0.50));  // others at 3: .70 .55: median .625; best .58 < .625
}

// A trial's last epoch is never pruned: its training is done, and a prune would only skip its
// test pass. (It was: a trial pruned after its last epoch ended "pruned", saving nothing.)
TEST(MedianPrunerTest, LastEpochIsNeverPruned) {
  Feeder f(Median(0, 1), Objective("val_accuracy", true), /*epochs=*/3);
  EXPECT_FALSE(f.Report(1, 1, 0.90));
  EXPECT_FALSE(f.Report(1, 2, 0.91));
  EXPECT_FALSE(f.Report(1, 3, 0.92));
  EXPECT_TRUE(f.Report(2, 2, 0.10));   // far behind at epoch 2 of 3: pruned
  EXPECT_FALSE(f.Report(3, 3, 0.10));  // as far behind at epoch 3 of 3: runs to its end
}

TEST(MedianPrunerTest, MinimisedMetric) {
  Feeder f(Median(0, 2), Objective("val_loss", false));
  EXPECT_FALSE(f.Report(1, 1, 0.30));
  EXPECT_FALSE(f.Report(2, 1, 0.50));  // one other (< min_trials 2)
  EXPECT_FALSE(f.Report(3, 1, 0.35));  // others .30 .50: median .40; .35 is lower: continues
  EXPECT_TRUE(f.Report(4, 1, 0.45));   // others .30 .50 .35: median .35; .45 is higher: pruned
}

// The decision for (trial, epoch) depends on the epochs fed and their recorded_at only, not on
// the order of Add: a coordinator that feeds the stored epochs again after a restart (in
// whatever order) answers as the live one did, for every epoch of every trial.
TEST(PrunerDeterminismTest, AnyOrderOfAddGivesTheLiveDecisions) {
  for (const EarlyTerminateSpec& spec : {Hyperband(1, 3), Hyperband(1, 2, 2), Median(1, 2)}) {
    Feeder live(spec, Objective("val_loss", false));
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> loss(0.1, 2.0);
    std::vector<bool> decisions;
    // 12 trials, 9 epochs each, interleaved: trial t reports epoch e at step e*12 + t.
    for (int e = 1; e <= 9; ++e) {
      for (int t = 1; t <= 12; ++t) decisions.push_back(live.Report(t, e, loss(rng)));
    }
    std::vector<PrunerEpoch> shuffled = live.fed();
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::unique_ptr<Pruner> rebuilt = MakePruner(spec, Objective("val_loss", false));
    for (const PrunerEpoch& e : shuffled) rebuilt->Add(e);
    int pruned = 0;
    for (size_t i = 0; i < live.fed().size(); ++i) {
      const PrunerEpoch& e = live.fed()[i];
      EXPECT_EQ(rebuilt->ShouldPrune(e.trial_id, e.epoch, 9), decisions[i])
          << DescribeEarlyTerminate(spec) << " trial " << e.trial_id << " epoch " << e.epoch;
      EXPECT_EQ(rebuilt->RecordedAt(e.trial_id, e.epoch), e.recorded_at);
      pruned += decisions[i];
    }
    EXPECT_GT(pruned, 0) << DescribeEarlyTerminate(spec);  // the example does prune
  }
}

TEST(PrunerTest, ForgetDropsATrialFromEveryRecord) {
  Feeder f(Hyperband(1, 3), Objective("val_accuracy", true));
  EXPECT_FALSE(f.Report(1, 1, 0.90));
  f.pruner()->Forget(1);  // #1 was leased again: its epochs are gone
  EXPECT_EQ(f.pruner()->RecordedAt(1, 1), -1);
  EXPECT_FALSE(f.Report(2, 1, 0.10));  // n=1 again: the first at the rung
}

TEST(PrunerTest, DescribeAndNone) {
  EXPECT_EQ(MakePruner(EarlyTerminateSpec(), Objective()), nullptr);
  EXPECT_EQ(DescribeEarlyTerminate(Hyperband(1, 3)), "hyperband (min_iter 1, eta 3, s 1)");
  EXPECT_EQ(DescribeEarlyTerminate(Hyperband(2, 3, 2, 27)),
            "hyperband (min_iter 2, eta 3, max_iter 27, s 2)");
  EXPECT_EQ(DescribeEarlyTerminate(Median(2, 5)), "median (warmup 2, min_trials 5)");
}

}  // namespace
}  // namespace hpsweep::pruner_test
