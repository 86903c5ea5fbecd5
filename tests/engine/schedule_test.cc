// Tests for engine/schedule.h: each learning-rate schedule's rate per epoch and per step against
// values computed by hand (Keras's formulas), cosine with and without warmup, and
// ReduceLROnPlateau's patience, min_delta and floor.
#include "engine/schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace hpsweep::schedule_test {
namespace {

TrainConfig Train(const std::vector<std::pair<std::string, std::string>>& kv) {
  TrialConfig c;
  c.train.validation_split = 0.2;  // reduce_on_plateau needs validation data
  for (const auto& [k, v] : kv) {
    Status s = ApplyKey(k, v, &c);
    EXPECT_TRUE(s.ok()) << k << "=" << v << ": " << s.ToString();
  }
  EXPECT_TRUE(Validate(c).ok()) << Validate(c).ToString();
  return c.train;
}

TEST(ScheduleTest, ConstantIsTheLearningRate) {
  LrScheduler s(Train({{"learning_rate", "0.01"}}), 10);
  for (int64_t step : {0, 1, 9, 1000}) EXPECT_FLOAT_EQ(s.Rate(1 + step / 10, step), 0.01f);
  LrScheduler d(Train({{"optimizer", "sgd"}}), 10);  // Keras's default rate of the optimizer
  EXPECT_FLOAT_EQ(d.Rate(1, 0), 0.01f);
}

TEST(ScheduleTest, StepDropsEveryLrEveryEpochs) {
  // lr .1, halved every 2 epochs: epochs 1..5 -> .1 .1 .05 .05 .025, whatever the step.
  LrScheduler s(Train({{"learning_rate", "0.1"},
                       {"lr_schedule", "step"},
                       {"lr_drop", "0.5"},
                       {"lr_every", "2"}}),
                10);
  const double want[] = {0.1, 0.1, 0.05, 0.05, 0.025};
  for (int e = 1; e <= 5; ++e) {
    EXPECT_FLOAT_EQ(s.Rate(e, (e - 1) * 10), want[e - 1]) << "epoch " << e;
    EXPECT_FLOAT_EQ(s.Rate(e, e * 10 - 1), want[e - 1]) << "epoch " << e << " last step";
  }
}

TEST(ScheduleTest, ExponentialDecaysPerStepWithoutStaircase) {
  // ExponentialDecay(.1, decay_steps=10, decay_rate=.5): .1 * .5^(s / 10).
  LrScheduler s(Train({{"learning_rate", "0.1"},
                       {"lr_schedule", "exponential"},
                       {"lr_decay_rate", "0.5"},
                       {"lr_decay_steps", "10"}}),
                7);
  EXPECT_FLOAT_EQ(s.Rate(1, 0), 0.1f);
  EXPECT_FLOAT_EQ(s.Rate(1, 5), 0.1f / std::sqrt(2.0f));  // not staircased: between the drops
  EXPECT_FLOAT_EQ(s.Rate(2, 10), 0.05f);
  EXPECT_FLOAT_EQ(s.Rate(3, 20), 0.025f);
  EXPECT_FLOAT_EQ(s.Rate(5, 30), 0.0125f);  // epochs do not matter, only steps
}

TEST(ScheduleTest, CosineDecaysOverTheWholeRun) {
  // 4 epochs of 10 steps, no warmup: CosineDecay(.2, 40): .2 * .5 * (1 + cos(pi s / 40)).
  LrScheduler s(Train({{"learning_rate", "0.2"}, {"lr_schedule", "cosine"}, {"epochs", "4"}}), 10);
  EXPECT_FLOAT_EQ(s.Rate(1, 0), 0.2f);
  EXPECT_FLOAT_EQ(s.Rate(2, 10), 0.2f * 0.5f * (1.0f + std::sqrt(0.5f)));  // cos(pi/4)
  EXPECT_FLOAT_EQ(s.Rate(3, 20), 0.1f);
  EXPECT_NEAR(s.Rate(4, 30), 0.2 * 0.5 * (1 - std::sqrt(0.5)), 1e-8);
  EXPECT_NEAR(s.Rate(4, 39), 0.2 * 0.5 * (1 + std::cos(3.14159265358979323846 * 39 / 40)), 1e-9);
  EXPECT_NEAR(s.Rate(5, 40), 0.0, 1e-9);
  EXPECT_NEAR(s.Rate(6, 55), 0.0, 1e-9);  // past the end: stays at alpha = 0
}

TEST(ScheduleTest, CosineWarmsUpLinearlyFromZero) {
  // 4 epochs of 10 steps, 1 warmup epoch: W = 10 steps from 0 up to .2, then
  // CosineDecay over D = 30 steps: .2 * .5 * (1 + cos(pi (s - 10) / 30)).
  LrScheduler s(Train({{"learning_rate", "0.2"},
                       {"lr_schedule", "cosine"},
                       {"epochs", "4"},
                       {"warmup_epochs", "1"}}),
                10);
  EXPECT_EQ(s.Rate(1, 0), 0.0f);  // Keras: the first warmup step has rate 0
  EXPECT_FLOAT_EQ(s.Rate(1, 1), 0.02f);
  EXPECT_FLOAT_EQ(s.Rate(1, 5), 0.1f);
  EXPECT_FLOAT_EQ(s.Rate(1, 9), 0.18f);
  EXPECT_FLOAT_EQ(s.Rate(2, 10), 0.2f);          // the peak, at the first step after warmup
  EXPECT_FLOAT_EQ(s.Rate(2, 20), 0.2f * 0.75f);  // cos(pi/3) = .5
  EXPECT_FLOAT_EQ(s.Rate(3, 25), 0.1f);          // halfway through the decay
  EXPECT_NEAR(s.Rate(4, 40), 0.0, 1e-9);
}

TEST(ScheduleTest, PlateauReducesAfterPatienceEpochsWithoutImprovement) {
  // factor .5, patience 2, min .02; an improvement is a val_loss below best - 1e-4.
  LrScheduler s(Train({{"learning_rate", "0.1"},
                       {"lr_schedule", "reduce_on_plateau"},
                       {"lr_factor", "0.5"},
                       {"lr_patience", "2"},
                       {"lr_min", "0.02"}}),
                10);
  struct Epoch {
    double val_loss;
    float lr_after;  // the rate of the next epoch
    int wait_after;
  };
  const Epoch epochs[] = {
      {1.0, 0.1f, 0},      // first: the best
      {0.99995, 0.1f, 1},  // better, but by less than min_delta: waits
      {1.2, 0.05f, 0},     // wait 2 = patience: halved, wait restarts
      {0.5, 0.05f, 0},     // new best
      {0.6, 0.05f, 1},     //
      {0.7, 0.025f, 0},    // patience again: halved
      {0.8, 0.025f, 1},    //
      {0.9, 0.02f, 0},     // .0125 is under lr_min: floored at .02
      {1.0, 0.02f, 1},     //
      {1.1, 0.02f, 2},     // at lr_min already: no change, and the wait is not reset (Keras)
      {1.2, 0.02f, 3},     //
      {0.4, 0.02f, 0},     // an improvement still resets it
  };
  EXPECT_FLOAT_EQ(s.Rate(1, 0), 0.1f);
  int e = 1;
  for (const Epoch& ep : epochs) {
    s.EndEpoch(ep.val_loss);
    ++e;
    EXPECT_FLOAT_EQ(s.Rate(e, 0), ep.lr_after) << "after epoch " << e - 1;
    EXPECT_EQ(s.plateau().wait, ep.wait_after) << "after epoch " << e - 1;
  }
  EXPECT_EQ(s.plateau().best, 0.4);
}

TEST(ScheduleTest, PlateauWithPatienceZeroReducesOnEveryEpochWithoutImprovement) {
  LrScheduler s(
      Train({{"learning_rate", "1"}, {"lr_schedule", "reduce_on_plateau"}, {"lr_patience", "0"}}),
      10);
  s.EndEpoch(1.0);  // the best: no reduction
  EXPECT_FLOAT_EQ(s.Rate(2, 0), 1.0f);
  s.EndEpoch(1.0);  // not better: times the default factor .1
  EXPECT_FLOAT_EQ(s.Rate(3, 0), 0.1f);
  s.EndEpoch(2.0);
  EXPECT_FLOAT_EQ(s.Rate(4, 0), 0.01f);
}

TEST(ScheduleTest, PlateauStateCanBePutBack) {
  const TrainConfig c = Train({{"lr_schedule", "reduce_on_plateau"}, {"lr_patience", "1"}});
  LrScheduler a(c, 5);
  a.EndEpoch(1.0);
  a.EndEpoch(2.0);
  LrScheduler b(c, 5);
  b.set_plateau(a.plateau());
  EXPECT_EQ(b.Rate(3, 0), a.Rate(3, 0));
  EXPECT_EQ(b.plateau().best, 1.0);
  a.EndEpoch(3.0);
  b.EndEpoch(3.0);
  EXPECT_EQ(b.Rate(4, 0), a.Rate(4, 0));
  EXPECT_FLOAT_EQ(b.Rate(4, 0), 0.001f * 0.1f * 0.1f);
}

TEST(ScheduleTest, OtherSchedulesIgnoreEndEpoch) {
  LrScheduler s(Train({{"learning_rate", "0.1"}}), 10);
  for (int i = 0; i < 20; ++i) s.EndEpoch(1.0 + i);
  EXPECT_FLOAT_EQ(s.Rate(21, 200), 0.1f);
}

}  // namespace
}  // namespace hpsweep::schedule_test
