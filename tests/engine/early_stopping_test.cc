// Tests for engine/early_stopping.h: Keras's EarlyStopping rule and the kept epoch on sequences of
// monitored values whose stopping epoch is worked out by hand in each test.
#include "engine/early_stopping.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace hpsweep::early_stopping_test {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The 1-based epoch after which EarlyStoppingEnd stops on `values`; 0 if it never does.
int StopEpoch(const std::vector<double>& values, bool maximize, double min_delta, int patience) {
  EarlyStoppingState s;
  for (size_t i = 0; i < values.size(); ++i) {
    if (EarlyStoppingEnd(static_cast<int>(i) + 1, values[i], maximize, min_delta, patience, &s)) {
      return static_cast<int>(i) + 1;
    }
  }
  return 0;
}

TEST(ImprovesTest, StrictAndBeyondMinDeltaEitherWay) {
  EXPECT_TRUE(Improves(0.6, 0.5, /*maximize=*/true, 0.0));
  EXPECT_FALSE(Improves(0.5, 0.5, true, 0.0));  // a tie is no improvement
  EXPECT_FALSE(Improves(0.55, 0.5, true, 0.1));
  EXPECT_TRUE(Improves(0.65, 0.5, true, 0.1));
  EXPECT_TRUE(Improves(0.4, 0.5, /*maximize=*/false, 0.0));
  EXPECT_FALSE(Improves(0.45, 0.5, false, 0.1));
  EXPECT_TRUE(Improves(0.3, 0.5, false, 0.1));
  // NaN: "none" as the best (anything improves on it), never an improvement itself.
  EXPECT_TRUE(Improves(0.0, kNaN, true, 0.0));
  EXPECT_TRUE(Improves(100.0, kNaN, false, 0.0));
  EXPECT_FALSE(Improves(kNaN, 0.5, true, 0.0));
  EXPECT_FALSE(Improves(kNaN, kNaN, false, 0.0));
}

TEST(EarlyStoppingTest, StopsAfterPatienceEpochsWithoutImprovement) {
  // val_loss, patience 2: 1.0 best, 0.8 best, 0.85 (wait 1), 0.79 best, 0.80 (wait 1),
  // 0.81 (wait 2 = patience): stops after epoch 6; the seventh is never seen.
  const std::vector<double> loss = {1.0, 0.8, 0.85, 0.79, 0.80, 0.81, 0.5};
  EXPECT_EQ(StopEpoch(loss, /*maximize=*/false, 0.0, 2), 6);
  // patience 3: 0.5 at epoch 7 is an improvement, so it never stops.
  EXPECT_EQ(StopEpoch(loss, false, 0.0, 3), 0);
  // patience 0: the first epoch without improvement, the third.
  EXPECT_EQ(StopEpoch(loss, false, 0.0, 0), 3);
}

TEST(EarlyStoppingTest, MinDeltaIsRespected) {
  // min_delta 0.02: 0.8 improves on 1.0 by more; 0.85 does not (wait 1); 0.79 improves on 0.8 by
  // only 0.01 (wait 2 = patience): stops after epoch 4 where min_delta 0 went on to epoch 6.
  const std::vector<double> loss = {1.0, 0.8, 0.85, 0.79, 0.80, 0.81, 0.5};
  EXPECT_EQ(StopEpoch(loss, false, 0.02, 2), 4);
  // val_accuracy, maximize, min_delta 0.05: 0.50, 0.54 (wait 1), 0.56 (improves 0.50 by 0.06),
  // 0.60 (by 0.04 only: wait 1), 0.605 (by 0.045: wait 2): stops after epoch 5.
  const std::vector<double> acc = {0.50, 0.54, 0.56, 0.60, 0.605, 0.70};
  EXPECT_EQ(StopEpoch(acc, /*maximize=*/true, 0.05, 2), 5);
  EXPECT_EQ(StopEpoch(acc, true, 0.0, 2), 0);  // every epoch improves
}

TEST(EarlyStoppingTest, TiesDoNotImproveAndTheFirstEpochNeverStops) {
  EXPECT_EQ(StopEpoch({0.5, 0.6, 0.6, 0.55}, true, 0.0, 1), 3);
  // A NaN first epoch is no improvement (wait 1 >= patience 0) but Keras never stops after the
  // first epoch; the second improves on "none".
  EXPECT_EQ(StopEpoch({kNaN, 0.5, 0.4}, true, 0.0, 0), 3);
  EXPECT_EQ(StopEpoch({kNaN, kNaN}, true, 0.0, 0), 2);
}

TEST(EarlyStoppingTest, StateCarriesTheBestAndTheWait) {
  EarlyStoppingState s;
  EXPECT_FALSE(EarlyStoppingEnd(1, 0.9, false, 0.0, 5, &s));
  EXPECT_FALSE(EarlyStoppingEnd(2, 1.0, false, 0.0, 5, &s));
  EXPECT_FALSE(EarlyStoppingEnd(3, 1.1, false, 0.0, 5, &s));
  EXPECT_EQ(s.best, 0.9);
  EXPECT_EQ(s.wait, 2);
  // Resumed from that state (a checkpoint), three more epochs without improvement stop it.
  EarlyStoppingState resumed = s;
  EXPECT_FALSE(EarlyStoppingEnd(4, 0.95, false, 0.0, 5, &resumed));
  EXPECT_FALSE(EarlyStoppingEnd(5, 0.95, false, 0.0, 5, &resumed));
  EXPECT_TRUE(EarlyStoppingEnd(6, 0.95, false, 0.0, 5, &resumed));
}

// The epochs KeepsEpoch takes in turn on `values`.
std::vector<int> KeptEpochs(const std::vector<double>& values, bool maximize, double min_delta) {
  KeptWeights kept;
  std::vector<int> taken;
  for (size_t i = 0; i < values.size(); ++i) {
    if (KeepsEpoch(static_cast<int>(i) + 1, values[i], maximize, min_delta, &kept)) {
      taken.push_back(static_cast<int>(i) + 1);
    }
  }
  EXPECT_EQ(kept.epoch, taken.empty() ? 0 : taken.back());
  return taken;
}

TEST(KeepsEpochTest, TheFirstBestEpochAsTheLeaderboardPicksIt) {
  // val_accuracy: 0.7 first at epoch 2; the tie at 3 and the fall at 4 keep epoch 2.
  EXPECT_EQ(KeptEpochs({0.5, 0.7, 0.7, 0.6}, true, 0.0), (std::vector<int>{1, 2}));
  // val_loss: lowest first.
  EXPECT_EQ(KeptEpochs({0.9, 1.0, 0.4, 0.5}, false, 0.0), (std::vector<int>{1, 3}));
  // A NaN first epoch is kept (Keras: the first epoch's weights when none improved) and any
  // number improves on it.
  EXPECT_EQ(KeptEpochs({kNaN, 0.3, kNaN}, true, 0.0), (std::vector<int>{1, 2}));
  // restore_best_weights's rule: by more than min_delta.
  EXPECT_EQ(KeptEpochs({0.5, 0.55, 0.65}, true, 0.1), (std::vector<int>{1, 3}));
}

}  // namespace
}  // namespace hpsweep::early_stopping_test
