// Tests for engine/loss.h: softmax cross-entropy values, gradients and counts against hand
// computation, in its sparse/one-hot and logits/softmax-output (clipped) forms.
#include "engine/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace hpsweep::loss_test {
namespace {

template <typename T>
Mat<T> M(int rows, int cols, const std::vector<double>& v) {
  Mat<T> m(rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) m(r, c) = static_cast<T>(v[r * cols + c]);
  return m;
}

TEST(LossTest, HandComputedLn2) {
  // softmax([0, ln 2, 0]) = [1/4, 1/2, 1/4]; label 1 -> -ln(1/2) = ln 2.
  const Mat<float> logits = M<float>(1, 3, {0, std::log(2.0), 0});
  const uint8_t label = 1;
  for (bool clip : {false, true}) {
    Mat<float> d;
    LossResult r = SoftmaxCrossEntropy<float>(logits, &label, nullptr, clip, 0.5f, &d);
    EXPECT_NEAR(r.loss_sum, std::log(2.0), 1e-6) << "clip " << clip;
    EXPECT_EQ(r.correct, 1);
    // dlogits = 0.5 * ([1/4, 1/2, 1/4] - [0, 1, 0])
    ASSERT_EQ(d.rows(), 1);
    ASSERT_EQ(d.cols(), 3);
    EXPECT_NEAR(d(0, 0), 0.125, 1e-6);
    EXPECT_NEAR(d(0, 1), -0.25, 1e-6);
    EXPECT_NEAR(d(0, 2), 0.125, 1e-6);
  }
}

TEST(LossTest, SumOverRowsAndCorrectCount) {
  // Row 0: [1, 2, 3] label 0 (wrong: arg-max 2). Row 1: [2, -1, 0.5] label 0 (right).
  // Row 2: [0, 0, 5] label 2 (right).
  const Mat<double> logits = M<double>(3, 3, {1, 2, 3, 2, -1, 0.5, 0, 0, 5});
  const uint8_t labels[] = {0, 0, 2};
  auto lse = [](double a, double b, double c) {
    return std::log(std::exp(a) + std::exp(b) + std::exp(c));
  };
  const double want = (lse(1, 2, 3) - 1) + (lse(2, -1, 0.5) - 2) + (lse(0, 0, 5) - 5);
  LossResult r = SoftmaxCrossEntropy<double>(logits, labels, nullptr, false, 1.0, nullptr);
  EXPECT_NEAR(r.loss_sum, want, 1e-12);
  EXPECT_EQ(r.correct, 2);
  LossResult rc = SoftmaxCrossEntropy<double>(logits, labels, nullptr, true, 1.0, nullptr);
  EXPECT_NEAR(rc.loss_sum, want, 1e-12);
  EXPECT_EQ(rc.correct, 2);
}

TEST(LossTest, GradientIsScaledSoftmaxMinusOneHot) {
  const Mat<double> logits = M<double>(2, 4, {0.3, -1.2, 2.0, 0.0, 1.0, 1.5, -0.5, 0.25});
  const uint8_t labels[] = {2, 0};
  const double scale = 1.0 / 2;
  Mat<double> d;
  SoftmaxCrossEntropy<double>(logits, labels, nullptr, false, scale, &d);
  ASSERT_EQ(d.rows(), 2);
  ASSERT_EQ(d.cols(), 4);
  for (int r = 0; r < 2; ++r) {
    double sum = 0;
    for (int c = 0; c < 4; ++c) sum += std::exp(logits(r, c));
    for (int c = 0; c < 4; ++c) {
      const double want = scale * (std::exp(logits(r, c)) / sum - (c == labels[r] ? 1 : 0));
      EXPECT_NEAR(d(r, c), want, 1e-12) << r << "," << c;
    }
    EXPECT_NEAR(d.row(r).sum(), 0.0, 1e-12);
  }
}

TEST(LossTest, SparseEqualsOneHot) {
  const Mat<float> logits =
      M<float>(3, 4, {0.1, 0.2, -0.3, 1.0, 2.0, -1.0, 0.0, 0.5, -0.2, -0.1, 3.0, 0.0});
  const uint8_t labels[] = {3, 1, 2};
  Mat<float> onehot = Mat<float>::Zero(3, 4);
  for (int r = 0; r < 3; ++r) onehot(r, labels[r]) = 1.0f;
  for (bool clip : {false, true}) {
    Mat<float> ds, dc;
    LossResult s = SoftmaxCrossEntropy<float>(logits, labels, nullptr, clip, 0.25f, &ds);
    LossResult c = SoftmaxCrossEntropy<float>(logits, nullptr, &onehot, clip, 0.25f, &dc);
    EXPECT_NEAR(s.loss_sum, c.loss_sum, 1e-6) << "clip " << clip;
    EXPECT_EQ(s.correct, c.correct);
    EXPECT_EQ(s.correct, 2);  // row 1 predicts 0, label 1
    EXPECT_TRUE(ds.isApprox(dc, 1e-6f)) << "clip " << clip;
  }
}

TEST(LossTest, SoftTargets) {
  // targets [0.2, 0.3, 0.5] on logits [1, 0, -1]: loss = -sum y log p, dlogits = p - y.
  const Mat<double> logits = M<double>(1, 3, {1, 0, -1});
  const Mat<double> targets = M<double>(1, 3, {0.2, 0.3, 0.5});
  const double z = std::exp(1.0) + 1 + std::exp(-1.0);
  const double p[3] = {std::exp(1.0) / z, 1 / z, std::exp(-1.0) / z};
  const double want = -(0.2 * std::log(p[0]) + 0.3 * std::log(p[1]) + 0.5 * std::log(p[2]));
  for (bool clip : {false, true}) {
    Mat<double> d;
    LossResult r = SoftmaxCrossEntropy<double>(logits, nullptr, &targets, clip, 1.0, &d);
    EXPECT_NEAR(r.loss_sum, want, 1e-12);
    EXPECT_EQ(r.correct, 0);  // arg-max of the target is 2, prediction is 0
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(d(0, c), p[c] - targets(0, c), 1e-12);
  }
}

TEST(LossTest, ClipBoundsAHopelessPrediction) {
  // p(label) = e^-100 / (...) is far below 1e-7: Keras clips it, so the loss is -log(1e-7).
  const Mat<float> logits = M<float>(1, 3, {0, 100, 0});
  const uint8_t label = 0;
  LossResult clipped = SoftmaxCrossEntropy<float>(logits, &label, nullptr, true, 1.0f, nullptr);
  EXPECT_NEAR(clipped.loss_sum, -std::log(1e-7), 1e-4);
  EXPECT_EQ(clipped.correct, 0);
  // From logits there is no clip: logsumexp([0, 100, 0]) - 0 = 100 + log(1 + 2 e^-100).
  LossResult raw = SoftmaxCrossEntropy<float>(logits, &label, nullptr, false, 1.0f, nullptr);
  EXPECT_NEAR(raw.loss_sum, 100.0, 1e-4);
  // One-hot form clips the same way.
  const Mat<float> onehot = M<float>(1, 3, {1, 0, 0});
  LossResult c = SoftmaxCrossEntropy<float>(logits, nullptr, &onehot, true, 1.0f, nullptr);
  EXPECT_NEAR(c.loss_sum, -std::log(1e-7), 1e-4);
  // And a certain, correct prediction costs -log(1 - 1e-7) ~ 1e-7, not 0.
  const uint8_t right = 1;
  LossResult sure = SoftmaxCrossEntropy<double>(M<double>(1, 3, {0, 100, 0}), &right, nullptr, true,
                                                1.0, nullptr);
  EXPECT_NEAR(sure.loss_sum, -std::log(1 - 1e-7), 1e-12);
  EXPECT_GT(sure.loss_sum, 0.0);
}

TEST(LossTest, LogitsAndSoftmaxFormsAgreeAwayFromTheClip) {
  const Mat<float> logits = M<float>(2, 3, {0.5, -0.5, 1.5, -2.0, 1.0, 0.0});
  const uint8_t labels[] = {0, 1};
  Mat<float> d1, d2;
  LossResult a = SoftmaxCrossEntropy<float>(logits, labels, nullptr, false, 1.0f, &d1);
  LossResult b = SoftmaxCrossEntropy<float>(logits, labels, nullptr, true, 1.0f, &d2);
  EXPECT_NEAR(a.loss_sum, b.loss_sum, 1e-5);
  EXPECT_TRUE(d1.isApprox(d2, 1e-6f));
}

TEST(LossTest, ShiftInvariantForLargeLogits) {
  // Adding 1000 to every logit changes nothing (logsumexp must not overflow).
  const Mat<double> small = M<double>(1, 3, {1, 2, 3});
  const Mat<double> big = M<double>(1, 3, {1001, 1002, 1003});
  const uint8_t label = 1;
  for (bool clip : {false, true}) {
    LossResult a = SoftmaxCrossEntropy<double>(small, &label, nullptr, clip, 1.0, nullptr);
    LossResult b = SoftmaxCrossEntropy<double>(big, &label, nullptr, clip, 1.0, nullptr);
    EXPECT_TRUE(std::isfinite(b.loss_sum));
    EXPECT_NEAR(a.loss_sum, b.loss_sum, 1e-9);
  }
}

TEST(SoftmaxTest, RowsAreProbabilities) {
  const Mat<double> logits = M<double>(2, 2, {0, std::log(3.0), 5, 5});
  Mat<double> p;
  Softmax<double>(logits, &p);
  ASSERT_EQ(p.rows(), 2);
  EXPECT_NEAR(p(0, 0), 0.25, 1e-12);
  EXPECT_NEAR(p(0, 1), 0.75, 1e-12);
  EXPECT_NEAR(p(1, 0), 0.5, 1e-12);
  EXPECT_NEAR(p(1, 1), 0.5, 1e-12);
}

// Regression losses against hand computation: pred - target = e per value, each row's loss the
// mean over its targets (Keras), the gradient scale/K times the derivative.
TEST(RegressionLossTest, HandComputedValuesAndGradients) {
  // Row 0: e = (0.5, -2); row 1: e = (0, 3).
  const Mat<double> pred = M<double>(2, 2, {1.5, 0.0, 2.0, 4.0});
  const Mat<double> y = M<double>(2, 2, {1.0, 2.0, 2.0, 1.0});
  Mat<double> d;
  // mse: row means (0.25 + 4) / 2 = 2.125 and (0 + 9) / 2 = 4.5; d = scale/2 * 2e.
  LossResult r = RegressionLoss<double>(pred, y, Loss::kMse, 1.0, 0.5, &d);
  EXPECT_NEAR(r.loss_sum, 2.125 + 4.5, 1e-12);
  EXPECT_NEAR(r.sq_sum, 2.125 + 4.5, 1e-12);
  EXPECT_NEAR(r.abs_sum, 1.25 + 1.5, 1e-12);
  EXPECT_NEAR(d(0, 0), 0.25 * 1.0, 1e-12);
  EXPECT_NEAR(d(0, 1), 0.25 * -4.0, 1e-12);
  EXPECT_NEAR(d(1, 1), 0.25 * 6.0, 1e-12);
  EXPECT_EQ(d(1, 0), 0.0);
  // mae: (0.5 + 2) / 2 = 1.25 and (0 + 3) / 2 = 1.5; d = scale/2 * sign(e), 0 at e = 0.
  r = RegressionLoss<double>(pred, y, Loss::kMae, 1.0, 0.5, &d);
  EXPECT_NEAR(r.loss_sum, 2.75, 1e-12);
  EXPECT_NEAR(d(0, 0), 0.25, 1e-12);
  EXPECT_NEAR(d(0, 1), -0.25, 1e-12);
  EXPECT_EQ(d(1, 0), 0.0);
  EXPECT_NEAR(d(1, 1), 0.25, 1e-12);
  // huber, delta 1: 0.5*0.25 = 0.125 and 1*(2 - 0.5) = 1.5 -> 0.8125; 0 and 3 - 0.5 = 2.5 ->
  // 1.25. d: e inside delta, delta * sign(e) beyond.
  r = RegressionLoss<double>(pred, y, Loss::kHuber, 1.0, 0.5, &d);
  EXPECT_NEAR(r.loss_sum, 0.8125 + 1.25, 1e-12);
  EXPECT_NEAR(d(0, 0), 0.25 * 0.5, 1e-12);
  EXPECT_NEAR(d(0, 1), 0.25 * -1.0, 1e-12);
  EXPECT_NEAR(d(1, 1), 0.25 * 1.0, 1e-12);
  // huber, delta 2.5: e = 3 is beyond (2.5 * (3 - 1.25) = 4.375), -2 inside (2).
  r = RegressionLoss<double>(pred, y, Loss::kHuber, 2.5, 1.0, &d);
  EXPECT_NEAR(r.loss_sum, (0.125 + 2.0) / 2 + (0 + 4.375) / 2, 1e-12);
  EXPECT_NEAR(d(0, 1), 0.5 * -2.0, 1e-12);
  EXPECT_NEAR(d(1, 1), 0.5 * 2.5, 1e-12);
  // Without dpred: the same values, nothing written.
  LossResult again = RegressionLoss<double>(pred, y, Loss::kHuber, 2.5, 1.0, nullptr);
  EXPECT_EQ(again.loss_sum, r.loss_sum);
}

TEST(RegressionLossTest, FloatMatchesDouble) {
  const Mat<float> pred = M<float>(1, 3, {0.1, -0.2, 3.0});
  const Mat<float> y = M<float>(1, 3, {0.0, 0.0, 0.0});
  LossResult r = RegressionLoss<float>(pred, y, Loss::kMse, 1.0, 1.0f, nullptr);
  EXPECT_NEAR(r.loss_sum, (0.01 + 0.04 + 9.0) / 3, 1e-6);
  EXPECT_NEAR(r.abs_sum, 3.3 / 3, 1e-6);
}

}  // namespace
}  // namespace hpsweep::loss_test
