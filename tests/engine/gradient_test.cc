// Finite-difference gradient checks in double precision for every layer, both losses (sparse and
// one-hot, softmax output and logits), stacked recurrent layers, recurrent dropout and dropout with
// fixed masks, and bidirectional layers (both directions' weights); and the regression losses
// (mse, mae away from its kink, huber on both sides of delta) through a Dense head and an LSTM
// with two linear targets. The analytic gradient from Backward must match central differences
// of the loss.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/gemm.h"
#include "engine/loss.h"
#include "engine/network.h"

namespace hpsweep::gradient_test {
namespace {

struct GradCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> keys;
  bool categorical = false;
  bool training = false;  // dropout masks active (fixed by reseeding before every forward)
};

void PrintTo(const GradCase& c, std::ostream* os) { *os << c.name; }

TrialConfig Make(const GradCase& c) {
  TrialConfig cfg;
  cfg.model.steps = 5;
  cfg.model.features = 4;
  cfg.model.classes = 3;
  cfg.model.units = 6;
  for (const auto& [k, v] : c.keys) {
    Status s = ApplyKey(k, v, &cfg);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  EXPECT_TRUE(Validate(cfg).ok()) << Validate(cfg).ToString();
  return cfg;
}

class GradientTest : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradientTest, MatchesCentralDifferences) {
  const GradCase& c = GetParam();
  const TrialConfig cfg = Make(c);
  const ModelConfig& m = cfg.model;
  const int B = 3;
  const int64_t n = CountParams(m);
  std::vector<double> params(n), grads(n, 0.0);
  Network<double>::Init(m, 11, params.data());
  // Non-zero biases and a wider spread than the initialisers give, so every path is exercised.
  Rng rng(5);
  for (double& p : params) p += 0.3 * (rng.Uniform() - 0.5);

  Tensor<double> x;
  if (m.cell == Cell::kDense) {
    x.steps = 1;
    x.data.resize(B, m.steps * m.features);
  } else {
    x.steps = m.steps;
    x.data.resize(m.steps * B, m.features);
  }
  for (Eigen::Index i = 0; i < x.data.size(); ++i) x.data.data()[i] = rng.Uniform(-1, 1);
  std::vector<uint8_t> labels = {0, 2, 1};
  Mat<double> targets = Mat<double>::Zero(B, m.classes);
  for (int b = 0; b < B; ++b) targets(b, labels[b]) = 1.0;
  // A soft target row, so the one-hot path is checked for general targets too.
  targets.row(1) << 0.2, 0.3, 0.5;

  Network<double> net(m, params.data(), grads.data());
  auto loss = [&](Mat<double>* dlogits) {
    Rng mask_rng(77);  // the same masks on every forward
    ForwardContext ctx{c.training, &mask_rng};
    const Mat<double>& logits = net.Forward(x, ctx);
    LossResult r = c.categorical ? SoftmaxCrossEntropy<double>(logits, nullptr, &targets, !m.logits,
                                                               1.0 / B, dlogits)
                                 : SoftmaxCrossEntropy<double>(logits, labels.data(), nullptr,
                                                               !m.logits, 1.0 / B, dlogits);
    return r.loss_sum / B;
  };
  Mat<double> dlogits;
  loss(&dlogits);
  net.Backward(dlogits);

  const double h = 1e-6;
  double worst = 0;
  int64_t worst_i = -1;
  for (int64_t i = 0; i < n; ++i) {
    const double saved = params[i];
    params[i] = saved + h;
    const double up = loss(nullptr);
    params[i] = saved - h;
    const double down = loss(nullptr);
    params[i] = saved;
    const double numeric = (up - down) / (2 * h);
    // Relative error, with a floor: central differences of a loss near 1 carry ~1e-10 of rounding
    // noise, which would swamp a relative error on gradients below ~1e-6.
    const double err =
        std::abs(numeric - grads[i]) / std::max(1e-4, std::abs(numeric) + std::abs(grads[i]));
    if (err > worst) {
      worst = err;
      worst_i = i;
    }
  }
  EXPECT_LT(worst, 1e-5) << c.name << ": worst relative error at parameter " << worst_i << " of "
                         << n << " (analytic " << grads[worst_i] << ")";
  // The check must have looked at real gradients.
  double norm = 0;
  for (double g : grads) norm += g * g;
  EXPECT_GT(norm, 1e-8);
  if (m.bidirectional) {
    // Both directions of every layer got real gradients: a backward direction left out of the
    // loss would pass the comparison above with zeros.
    const std::vector<int64_t> sizes = WeightTensorSizes(m);
    int64_t offset = 0;
    for (int part = 0; part < 2 * m.layers; ++part) {  // forward's 3 tensors, then backward's
      const int64_t len = sizes[3 * part] + sizes[3 * part + 1] + sizes[3 * part + 2];
      double n2 = 0;
      for (int64_t i = offset; i < offset + len; ++i) n2 += grads[i] * grads[i];
      EXPECT_GT(n2, 1e-10) << "layer " << part / 2 << (part % 2 ? " backward" : " forward");
      offset += len;
    }
  }
}

const GradCase kCases[] = {
    {"dense_perceptron", {{"cell", "dense"}, {"layers", "0"}}},
    {"dense_relu", {{"cell", "dense"}, {"layers", "2"}, {"activation", "relu"}}},
    {"dense_tanh_logits",
     {{"cell", "dense"}, {"layers", "1"}, {"activation", "tanh"}, {"output", "logits"}}},
    {"dense_sigmoid_categorical",
     {{"cell", "dense"}, {"layers", "1"}, {"activation", "sigmoid"}},
     true},
    {"dense_dropout", {{"cell", "dense"}, {"layers", "2"}, {"dropout", "0.3"}}, false, true},
    {"simple_rnn_tanh", {{"cell", "simple_rnn"}}},
    {"simple_rnn_relu_head", {{"cell", "simple_rnn"}, {"activation", "relu"}, {"dense", "[5]"}}},
    {"simple_rnn_stacked", {{"cell", "simple_rnn"}, {"layers", "2"}}},
    {"simple_rnn_recurrent_dropout",
     {{"cell", "simple_rnn"}, {"recurrent_dropout", "0.4"}},
     false,
     true},
    {"lstm_tanh", {{"cell", "lstm"}}},
    {"lstm_relu", {{"cell", "lstm"}, {"activation", "relu"}}},
    {"lstm_stacked_3", {{"cell", "lstm"}, {"layers", "3"}}},
    {"lstm_head_tanh_categorical",
     {{"cell", "lstm"}, {"dense", "[5]"}, {"dense_activation", "tanh"}},
     true},
    {"lstm_recurrent_dropout", {{"cell", "lstm"}, {"recurrent_dropout", "0.3"}}, false, true},
    {"lstm_seed_c1_shape",
     {{"cell", "lstm"},
      {"layers", "2"},
      {"dropout", "0.2,0.1,0.2"},
      {"dense", "[5]"},
      {"output", "logits"}},
     false,
     true},
    {"gru_tanh", {{"cell", "gru"}}},
    {"gru_stacked", {{"cell", "gru"}, {"layers", "2"}}},
    {"gru_relu_recurrent_dropout",
     {{"cell", "gru"}, {"activation", "relu"}, {"recurrent_dropout", "0.3"}},
     false,
     true},
    {"bidirectional_simple_rnn", {{"cell", "simple_rnn"}, {"bidirectional", "true"}}},
    {"bidirectional_simple_rnn_stacked",
     {{"cell", "simple_rnn"}, {"bidirectional", "true"}, {"layers", "2"}}},
    {"bidirectional_simple_rnn_dropouts",
     {{"cell", "simple_rnn"},
      {"bidirectional", "true"},
      {"layers", "2"},
      {"dropout", "0.3"},
      {"recurrent_dropout", "0.4"}},
     false,
     true},
    {"bidirectional_lstm", {{"cell", "lstm"}, {"bidirectional", "true"}}},
    {"bidirectional_lstm_stacked_head",
     {{"cell", "lstm"}, {"bidirectional", "true"}, {"layers", "2"}, {"dense", "[5]"}},
     true},
    {"bidirectional_lstm_dropouts",
     {{"cell", "lstm"},
      {"bidirectional", "true"},
      {"layers", "2"},
      {"dropout", "0.2,0.1"},
      {"recurrent_dropout", "0.3"}},
     false,
     true},
    {"bidirectional_gru", {{"cell", "gru"}, {"bidirectional", "true"}}},
    {"bidirectional_gru_stacked_logits",
     {{"cell", "gru"}, {"bidirectional", "true"}, {"layers", "2"}, {"output", "logits"}}},
    {"bidirectional_gru_relu_dropouts",
     {{"cell", "gru"},
      {"activation", "relu"},
      {"bidirectional", "true"},
      {"layers", "2"},
      {"dropout", "0.3"},
      {"recurrent_dropout", "0.3"}},
     false,
     true},
};

INSTANTIATE_TEST_SUITE_P(Layers, GradientTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

// bf16 products (engine/gemm.h): the float network's gradient, with every matrix product's
// operands rounded to bf16, against central differences of the double network's loss. The
// stated tolerance: relative L2 error at most 3e-2 and cosine at least 0.9995 (bf16 keeps 8
// bits: each operand is off by up to 2^-9, and the errors add up through the steps; on these
// cases the error is 2e-3 to 9e-3, and 2.4e-2 for two stacked bidirectional SimpleRNNs with
// both dropouts). Batch 4
// packs the gradients step by step, batch 3 (odd) all at once at the end.
class Bf16GradientTest : public ::testing::TestWithParam<GradCase> {};

TEST_P(Bf16GradientTest, IsWithinBf16RoundingOfCentralDifferences) {
  if (!Bf16Supported()) {
    GTEST_SKIP() << "this CPU has no avx512_bf16 (or it was turned off): bf16 is not run here";
  }
  const GradCase& c = GetParam();
  const TrialConfig cfg = Make(c);
  const ModelConfig& m = cfg.model;
  const int64_t n = CountParams(m);
  for (const int B : {4, 3}) {
    SCOPED_TRACE(testing::Message() << "batch " << B);
    std::vector<double> params(n), unused(n, 0.0);
    Network<double>::Init(m, 11, params.data());
    Rng rng(5);
    for (double& p : params) p += 0.3 * (rng.Uniform() - 0.5);
    Tensor<double> x;
    x.steps = m.cell == Cell::kDense ? 1 : m.steps;
    x.data.resize(m.cell == Cell::kDense ? B : m.steps * B,
                  m.cell == Cell::kDense ? m.steps * m.features : m.features);
    for (Eigen::Index i = 0; i < x.data.size(); ++i) x.data.data()[i] = rng.Uniform(-1, 1);
    std::vector<uint8_t> labels = {0, 2, 1, 1};
    Mat<double> targets = Mat<double>::Zero(B, m.classes);
    for (int b = 0; b < B; ++b) targets(b, labels[b]) = 1.0;
    targets.row(1) << 0.2, 0.3, 0.5;

    // The same model in float with bf16 products, on the same values.
    std::vector<float> fparams(params.begin(), params.end()), fgrads(n, 0.0f);
    Network<float> fnet(m, fparams.data(), fgrads.data());
    fnet.SetPrecision(Precision::kBf16);
    Tensor<float> fx{x.data.cast<float>(), x.steps};
    Mat<float> ftargets = targets.cast<float>(), fdlogits;
    {
      Rng mask_rng(77);
      ForwardContext ctx{c.training, &mask_rng};
      const Mat<float>& logits = fnet.Forward(fx, ctx);
      if (c.categorical) {
        SoftmaxCrossEntropy<float>(logits, nullptr, &ftargets, !m.logits, 1.0f / B, &fdlogits);
      } else {
        SoftmaxCrossEntropy<float>(logits, labels.data(), nullptr, !m.logits, 1.0f / B,
                                   &fdlogits);
      }
      fnet.Backward(fdlogits);
    }

    Network<double> net(m, params.data(), unused.data());
    auto loss = [&] {
      Rng mask_rng(77);
      ForwardContext ctx{c.training, &mask_rng};
      const Mat<double>& logits = net.Forward(x, ctx);
      LossResult r = c.categorical
                         ? SoftmaxCrossEntropy<double>(logits, nullptr, &targets, !m.logits,
                                                       1.0 / B, nullptr)
                         : SoftmaxCrossEntropy<double>(logits, labels.data(), nullptr, !m.logits,
                                                       1.0 / B, nullptr);
      return r.loss_sum / B;
    };
    const double h = 1e-6;
    double diff2 = 0, ref2 = 0, got2 = 0, dot = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double saved = params[i];
      params[i] = saved + h;
      const double up = loss();
      params[i] = saved - h;
      const double down = loss();
      params[i] = saved;
      const double numeric = (up - down) / (2 * h);
      const double got = fgrads[i];
      diff2 += (got - numeric) * (got - numeric);
      ref2 += numeric * numeric;
      got2 += got * got;
      dot += got * numeric;
    }
    ASSERT_GT(ref2, 1e-8);
    const double rel = std::sqrt(diff2 / ref2), cosine = dot / std::sqrt(ref2 * got2);
    EXPECT_LE(rel, 3e-2) << c.name << " (cosine " << cosine << ")";
    EXPECT_GE(cosine, 0.9995) << c.name << " (relative L2 error " << rel << ")";
    // And bf16 rounding is really in it: an fp32 network would be within ~1e-6.
    EXPECT_GT(rel, 1e-5) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Layers, Bf16GradientTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.name; });

// ---- Regression: mse, mae, huber through a linear Dense(2) output ----

struct RegressionCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> keys;
  Loss loss;
};

void PrintTo(const RegressionCase& c, std::ostream* os) { *os << c.name; }

class RegressionGradientTest : public ::testing::TestWithParam<RegressionCase> {};

TEST_P(RegressionGradientTest, MatchesCentralDifferences) {
  const RegressionCase& c = GetParam();
  TrialConfig cfg;
  cfg.model.steps = 5;
  cfg.model.features = 4;
  cfg.model.units = 6;
  cfg.model.task = Task::kRegression;
  cfg.model.classes = 2;  // two targets
  cfg.train.loss = c.loss;
  for (const auto& [k, v] : c.keys) ASSERT_TRUE(ApplyKey(k, v, &cfg).ok()) << k;
  ASSERT_TRUE(Validate(cfg).ok()) << Validate(cfg).ToString();
  const ModelConfig& m = cfg.model;
  const int B = 3, K = 2;
  const double delta = 1.0;
  const int64_t n = CountParams(m);
  std::vector<double> params(n), grads(n, 0.0);
  Network<double>::Init(m, 11, params.data());
  Rng rng(5);
  for (double& p : params) p += 0.3 * (rng.Uniform() - 0.5);
  Tensor<double> x;
  x.steps = m.cell == Cell::kDense ? 1 : m.steps;
  x.data.resize(m.cell == Cell::kDense ? B : m.steps * B,
                m.cell == Cell::kDense ? m.steps * m.features : m.features);
  for (Eigen::Index i = 0; i < x.data.size(); ++i) x.data.data()[i] = rng.Uniform(-1, 1);

  Network<double> net(m, params.data(), grads.data());
  ForwardContext ctx{false, nullptr};
  // Targets at fixed errors from the initial outputs: |e| is never near 0 (mae's kink) nor near
  // delta (huber's switch), and huber sees both sides: 0.3 and 0.6 inside, 1.7 and 2.2 beyond.
  const double errors[B * K] = {0.3, -1.7, -0.6, 2.2, 1.4, -0.45};
  Mat<double> targets = net.Forward(x, ctx);
  ASSERT_EQ(targets.rows(), B);
  ASSERT_EQ(targets.cols(), K);
  for (int i = 0; i < B * K; ++i) targets(i / K, i % K) -= errors[i];

  auto loss = [&](Mat<double>* dpred) {
    const Mat<double>& out = net.Forward(x, ctx);
    return RegressionLoss<double>(out, targets, c.loss, delta, 1.0 / B, dpred).loss_sum / B;
  };
  Mat<double> dpred;
  loss(&dpred);
  net.Backward(dpred);
  const double h = 1e-6;
  double worst = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double saved = params[i];
    params[i] = saved + h;
    const double up = loss(nullptr);
    params[i] = saved - h;
    const double down = loss(nullptr);
    params[i] = saved;
    const double numeric = (up - down) / (2 * h);
    worst = std::max(worst, std::abs(numeric - grads[i]) /
                                std::max(1e-4, std::abs(numeric) + std::abs(grads[i])));
    norm += grads[i] * grads[i];
  }
  EXPECT_LT(worst, 1e-5) << c.name;
  EXPECT_GT(norm, 1e-8) << c.name;
}

const RegressionCase kRegressionCases[] = {
    {"DenseHeadMse", {{"cell", "dense"}, {"layers", "1"}, {"dense", "5"}}, Loss::kMse},
    {"DenseHeadMae", {{"cell", "dense"}, {"layers", "1"}, {"dense", "5"}}, Loss::kMae},
    {"DenseHeadHuber", {{"cell", "dense"}, {"layers", "1"}, {"dense", "5"}}, Loss::kHuber},
    {"LstmMse", {{"cell", "lstm"}}, Loss::kMse},
    {"LstmMae", {{"cell", "lstm"}}, Loss::kMae},
    {"LstmHuber", {{"cell", "lstm"}, {"dense", "4"}}, Loss::kHuber},
    {"GruHuber", {{"cell", "gru"}}, Loss::kHuber},
};

INSTANTIATE_TEST_SUITE_P(Losses, RegressionGradientTest, ::testing::ValuesIn(kRegressionCases),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace hpsweep::gradient_test
