// Tests for engine/optimizer.h: two steps of every optimizer on a 3-element buffer against Keras's
// update rules computed by hand (or with the rule written out here in double precision); gradient
// clipping (clipnorm per tensor, global_clipnorm, clipvalue) and decoupled weight decay by hand.
#include "engine/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace hpsweep::optimizer_test {
namespace {

const std::vector<float> kW0 = {1.0f, -2.0f, 0.5f};
const std::vector<float> kG1 = {0.5f, -1.0f, 2.0f};
const std::vector<float> kG2 = {1.0f, 0.0f, -0.5f};

TrainConfig Opt(Optimizer o, float lr = 0.0f, float momentum = 0.0f, bool nesterov = false) {
  TrainConfig c;
  c.optimizer = o;
  c.learning_rate = lr;
  c.momentum = momentum;
  c.nesterov = nesterov;
  return c;
}

// Two steps from kW0 with kG1 then kG2.
std::vector<float> TwoSteps(const TrainConfig& c, std::vector<float>* after_one = nullptr) {
  std::vector<float> w = kW0;
  OptimizerState opt(c, 3);
  EXPECT_EQ(opt.steps(), 0);
  opt.Step(w.data(), kG1.data());
  EXPECT_EQ(opt.steps(), 1);
  if (after_one) *after_one = w;
  opt.Step(w.data(), kG2.data());
  EXPECT_EQ(opt.steps(), 2);
  return w;
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double tol,
                const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol) << what << " [" << i << "]";
}

TEST(LearningRateTest, KerasDefaults) {
  EXPECT_FLOAT_EQ(Opt(Optimizer::kSgd).EffectiveLearningRate(), 0.01f);
  EXPECT_FLOAT_EQ(Opt(Optimizer::kAdam).EffectiveLearningRate(), 0.001f);
  EXPECT_FLOAT_EQ(Opt(Optimizer::kRmsprop).EffectiveLearningRate(), 0.001f);
  EXPECT_FLOAT_EQ(Opt(Optimizer::kSgd, 0.3f).EffectiveLearningRate(), 0.3f);
  EXPECT_FLOAT_EQ(Opt(Optimizer::kAdam, 0.02f).EffectiveLearningRate(), 0.02f);
  EXPECT_EQ(TrainConfig().optimizer, Optimizer::kAdam);  // Keras examples' usual choice
}

TEST(SgdTest, PlainDefaultLearningRate) {
  // w -= 0.01 g, twice: [1 - .005 - .01, -2 + .01 - 0, .5 - .02 + .005]
  std::vector<float> one;
  std::vector<float> w = TwoSteps(Opt(Optimizer::kSgd), &one);
  ExpectNear(one, {0.995, -1.99, 0.48}, 1e-6, "step 1");
  ExpectNear(w, {0.985, -1.99, 0.485}, 1e-6, "step 2");
}

TEST(SgdTest, Momentum) {
  // lr .1, mu .9: v1 = -.1 g1 = [-.05, .1, -.2], w1 = [.95, -1.9, .3]
  // v2 = .9 v1 - .1 g2 = [-.145, .09, -.13], w2 = [.805, -1.81, .17]
  std::vector<float> one;
  std::vector<float> w = TwoSteps(Opt(Optimizer::kSgd, 0.1f, 0.9f), &one);
  ExpectNear(one, {0.95, -1.9, 0.3}, 1e-6, "step 1");
  ExpectNear(w, {0.805, -1.81, 0.17}, 1e-6, "step 2");
}

TEST(SgdTest, Nesterov) {
  // Keras: v = mu v - lr g; w += mu v - lr g.
  // step 1: v1 = [-.05, .1, -.2]; w1 = w0 + .9 v1 - .1 g1 = [.905, -1.81, .12]
  // step 2: v2 = [-.145, .09, -.13]; w2 = w1 + .9 v2 - .1 g2 = [.6745, -1.729, .053]
  std::vector<float> one;
  std::vector<float> w = TwoSteps(Opt(Optimizer::kSgd, 0.1f, 0.9f, true), &one);
  ExpectNear(one, {0.905, -1.81, 0.12}, 1e-6, "step 1");
  ExpectNear(w, {0.6745, -1.729, 0.053}, 1e-6, "step 2");
}

TEST(AdamTest, TwoStepsMatchKerasRule) {
  for (float lr : {0.0f, 0.05f}) {  // the default 0.001, then an explicit rate
    const double alpha = lr > 0 ? lr : 0.001;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-7;
    std::vector<double> w(kW0.begin(), kW0.end()), m(3, 0), v(3, 0), w1;
    const std::vector<float>* gs[] = {&kG1, &kG2};
    for (int t = 1; t <= 2; ++t) {
      const double lr_t = alpha * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
      for (int i = 0; i < 3; ++i) {
        const double g = (*gs[t - 1])[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
      }
      if (t == 1) w1 = w;
    }
    std::vector<float> one;
    std::vector<float> got = TwoSteps(Opt(Optimizer::kAdam, lr), &one);
    ExpectNear(one, w1, 1e-6, "adam step 1");
    ExpectNear(got, w, 1e-6, "adam step 2");
    // By hand: the first Adam step moves every weight with g != 0 by ~lr against the gradient's
    // sign (m/sqrt(v) = g/|g| after bias correction).
    for (int i = 0; i < 3; ++i) {
      EXPECT_NEAR(one[i], kW0[i] - alpha * (kG1[i] > 0 ? 1 : -1), alpha * 1e-3) << i;
    }
  }
}

TEST(AdamTest, ZeroGradientLeavesWeight) {
  TrainConfig c = Opt(Optimizer::kAdam);
  std::vector<float> w = {3.0f}, g = {0.0f};
  OptimizerState opt(c, 1);
  opt.Step(w.data(), g.data());
  opt.Step(w.data(), g.data());
  EXPECT_EQ(w[0], 3.0f);
}

TEST(RmspropTest, TwoStepsMatchKerasRule) {
  // rho .9, eps 1e-7, lr .001 (default).
  const double lr = 0.001, rho = 0.9, eps = 1e-7;
  std::vector<double> w(kW0.begin(), kW0.end()), v(3, 0), w1;
  const std::vector<float>* gs[] = {&kG1, &kG2};
  for (int t = 0; t < 2; ++t) {
    for (int i = 0; i < 3; ++i) {
      const double g = (*gs[t])[i];
      v[i] = rho * v[i] + (1 - rho) * g * g;
      w[i] -= lr * g / (std::sqrt(v[i]) + eps);
    }
    if (t == 0) w1 = w;
  }
  std::vector<float> one;
  std::vector<float> got = TwoSteps(Opt(Optimizer::kRmsprop), &one);
  ExpectNear(one, w1, 1e-6, "rmsprop step 1");
  ExpectNear(got, w, 1e-6, "rmsprop step 2");
  // By hand, step 1: v = .1 g^2, so w -= .001 g / (sqrt(.1) |g|) = .001 sqrt(10) sign(g).
  const double s = 0.001 * std::sqrt(10.0);
  ExpectNear(one, {1.0 - s, -2.0 + s, 0.5 - s}, 1e-6, "rmsprop by hand");
}

TEST(OptimizerTest, LargeBufferUsesSameRuleEverywhere) {
  // The update is element-wise: a long buffer (parallel loop) gives each element the 1-element
  // result.
  const int64_t n = 100000;
  for (Optimizer o : {Optimizer::kSgd, Optimizer::kAdam, Optimizer::kRmsprop}) {
    TrainConfig c = Opt(o);
    std::vector<float> w(n), g(n);
    for (int64_t i = 0; i < n; ++i) {
      w[i] = static_cast<float>(std::sin(0.1 * i));
      g[i] = static_cast<float>(std::cos(0.37 * i));
    }
    std::vector<float> big = w;
    OptimizerState opt(c, n);
    opt.Step(big.data(), g.data());
    opt.Step(big.data(), g.data());
    for (int64_t i = 0; i < n; i += 997) {
      std::vector<float> one = {w[i]};
      OptimizerState o1(c, 1);
      o1.Step(one.data(), &g[i]);
      o1.Step(one.data(), &g[i]);
      EXPECT_FLOAT_EQ(big[i], one[0]) << OptimizerName(o) << " element " << i;
    }
  }
}

// --- Gradient clipping: g = [3, 4 | 12], two tensors of sizes 2 and 1 ----------------------------

std::vector<float> Clipped(const char* key, float value, std::vector<float> g,
                           const std::vector<int64_t>& sizes = {2, 1}) {
  TrainConfig c;
  if (std::string(key) == "clipnorm") c.clipnorm = value;
  if (std::string(key) == "clipvalue") c.clipvalue = value;
  if (std::string(key) == "global_clipnorm") c.global_clipnorm = value;
  ClipGradients(c, sizes, g.data());
  return g;
}

TEST(ClipTest, ClipnormRescalesEachTensorOverTheNorm) {
  // ||[3, 4]|| = 5 > 2.5: times 0.5; ||[12]|| = 12 > 2.5: to 2.5.
  ExpectNear(Clipped("clipnorm", 2.5f, {3, 4, 12}), {1.5, 2.0, 2.5}, 1e-6, "clipnorm 2.5");
  // 6: the first tensor (norm 5) is under it and stays; the second goes to 6.
  ExpectNear(Clipped("clipnorm", 6.0f, {3, 4, 12}), {3, 4, 6}, 1e-6, "clipnorm 6");
  ExpectNear(Clipped("clipnorm", 13.0f, {3, 4, -12}), {3, 4, -12}, 0, "clipnorm 13");
  // One tensor of all three: norm 13 -> times 6.5 / 13.
  ExpectNear(Clipped("clipnorm", 6.5f, {3, 4, 12}, {3}), {1.5, 2.0, 6.0}, 1e-6, "one tensor");
}

TEST(ClipTest, GlobalClipnormRescalesAllTogether) {
  // ||[3, 4, 12]|| = 13 > 6.5: everything times 0.5, whatever the tensors.
  ExpectNear(Clipped("global_clipnorm", 6.5f, {3, 4, 12}), {1.5, 2.0, 6.0}, 1e-6, "global 6.5");
  ExpectNear(Clipped("global_clipnorm", 13.0f, {3, 4, 12}), {3, 4, 12}, 0, "global 13");
  ExpectNear(Clipped("global_clipnorm", 1.3f, {-3, 4, 12}), {-0.3, 0.4, 1.2}, 1e-6, "global 1.3");
}

TEST(ClipTest, ClipvalueClampsEachElement) {
  ExpectNear(Clipped("clipvalue", 3.5f, {3, 4, 12}), {3, 3.5, 3.5}, 0, "clipvalue");
  ExpectNear(Clipped("clipvalue", 0.5f, {-5, 0.2f, 4}), {-0.5, 0.2f, 0.5}, 0, "negative");
}

TEST(ClipTest, OffLeavesTheGradient) {
  ExpectNear(Clipped("none", 0, {3, 4, 12}), {3, 4, 12}, 0, "off");
}

TEST(ClipTest, OptimizerStepUsesTheClippedGradientAndKeepsTheOriginal) {
  // SGD lr 1 with clipnorm 2.5 over tensors {2, 1}: w -= [1.5, 2, 2.5].
  TrainConfig c = Opt(Optimizer::kSgd, 1.0f);
  c.clipnorm = 2.5f;
  std::vector<float> w = {0, 0, 0};
  const std::vector<float> g = {3, 4, 12};
  OptimizerState opt(c, 3, {2, 1});
  opt.Step(w.data(), g.data());
  ExpectNear(w, {-1.5, -2.0, -2.5}, 1e-6, "clipped step");
  ExpectNear(g, {3, 4, 12}, 0, "gradient untouched");
}

// --- Decoupled weight decay: w -= lr * wd * w, then the rule ------------------------------------

TEST(WeightDecayTest, SgdOneStepByHand) {
  // lr .1, wd .5: w * (1 - .05) - .1 g = [.95 - .05, -1.9 + .1, .475 - .2].
  TrainConfig c = Opt(Optimizer::kSgd, 0.1f);
  c.weight_decay = 0.5f;
  std::vector<float> w = kW0;
  OptimizerState opt(c, 3);
  opt.Step(w.data(), kG1.data());
  ExpectNear(w, {0.9, -1.8, 0.275}, 1e-6, "sgd + weight decay");
}

TEST(WeightDecayTest, AdamDecaysWithTheScheduledRateBeforeItsRule) {
  // AdamW as Keras: w *= 1 - lr * wd with the step's lr (here set to .02, not the config's .05),
  // then Adam's step (lr_t m / (sqrt(v) + eps)) with that lr, from the gradient at the old w.
  TrainConfig c = Opt(Optimizer::kAdam, 0.05f);
  c.weight_decay = 0.25f;
  std::vector<float> w = kW0;
  OptimizerState opt(c, 3);
  opt.set_learning_rate(0.02f);
  opt.Step(w.data(), kG1.data());
  const double lr = 0.02, lr_t = lr * std::sqrt(1 - 0.999) / (1 - 0.9);
  std::vector<double> want(3);
  for (int i = 0; i < 3; ++i) {
    const double g = kG1[i], m = 0.1 * g, v = 0.001 * g * g;
    want[i] = kW0[i] * (1 - lr * 0.25) - lr_t * m / (std::sqrt(v) + 1e-7);
  }
  ExpectNear(w, want, 1e-6, "adamw step 1");
  // By hand: [1 * .995 - .02, -2 * .995 + .02, .5 * .995 - .02] (Adam's first step ~ lr sign(g)).
  ExpectNear(w, {0.975, -1.97, 0.4775}, 1e-5, "adamw by hand");
}

TEST(WeightDecayTest, SetLearningRateChangesTheStep) {
  TrainConfig c = Opt(Optimizer::kSgd, 0.1f);
  std::vector<float> w = {1.0f}, g = {1.0f};
  OptimizerState opt(c, 1);
  EXPECT_FLOAT_EQ(opt.learning_rate(), 0.1f);
  opt.set_learning_rate(0.25f);
  opt.Step(w.data(), g.data());
  EXPECT_FLOAT_EQ(w[0], 0.75f);
}

}  // namespace
}  // namespace hpsweep::optimizer_test
