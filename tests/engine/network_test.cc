// Tests for engine/network.h: parameter counts against Keras's formulas for the seed models,
// Summary() in Keras's format, the Keras default initialisers, and the layer stack's forward pass.
#include "engine/network.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/engine/model_testing.h"

namespace hpsweep::network_test {
namespace {

struct CountCase {
  const char* name;
  std::vector<std::pair<std::string, std::string>> keys;
  int64_t expected;
};

TEST(NetworkTest, ParamCountsMatchKerasFormulas) {
  const CountCase cases[] = {
      {"A1 SimpleRNN(128,relu)+Dense(64)+Dense(10)",
       {{"cell", "simple_rnn"}, {"units", "128"}, {"activation", "relu"}, {"dense", "[64]"}},
       RnnP(28, 128) + DenseP(128, 64) + DenseP(64, 10)},
      {"A3 LSTM(128)+Dense(64)+Dense(10)",
       {{"cell", "lstm"}, {"units", "128"}, {"dense", "[64]"}},
       LstmP(28, 128) + DenseP(128, 64) + DenseP(64, 10)},
      {"A4 LSTM(256)+Dense(10)",
       {{"cell", "lstm"}, {"units", "256"}},
       LstmP(28, 256) + DenseP(256, 10)},
      {"B2 LSTM(32)x2+Dense(10)",
       {{"cell", "lstm"}, {"units", "32"}, {"layers", "2"}},
       LstmP(28, 32) + LstmP(32, 32) + DenseP(32, 10)},
      {"C1 LSTM(128)x2+Dense(32)+Dense(10), dropout",
       {{"cell", "lstm"},
        {"units", "128"},
        {"layers", "2"},
        {"dense", "[32]"},
        {"dropout", "0.2,0.1,0.2"}},
       LstmP(28, 128) + LstmP(128, 128) + DenseP(128, 32) + DenseP(32, 10)},
      {"D1 Dense(10)", {{"cell", "dense"}, {"layers", "0"}}, DenseP(784, 10)},
      {"D2 Dense(128)+Dense(10)",
       {{"cell", "dense"}, {"layers", "1"}, {"units", "128"}},
       DenseP(784, 128) + DenseP(128, 10)},
      {"D3 Dense(256)+Dropout+Dense(10)",
       {{"cell", "dense"}, {"layers", "1"}, {"units", "256"}, {"dropout", "0.2"}},
       DenseP(784, 256) + DenseP(256, 10)},
      {"D4 Dense(512)x2+Dense(10)",
       {{"cell", "dense"}, {"layers", "2"}, {"units", "512"}},
       DenseP(784, 512) + DenseP(512, 512) + DenseP(512, 10)},
      {"E1 SimpleRNN(64)x2+Dense(32)+Dense(10)",
       {{"cell", "simple_rnn"}, {"units", "64"}, {"layers", "2"}, {"dense", "[32]"}},
       RnnP(28, 64) + RnnP(64, 64) + DenseP(64, 32) + DenseP(32, 10)},
      {"GRU(128)+Dense(10)", {{"cell", "gru"}, {"units", "128"}}, GruP(28, 128) + DenseP(128, 10)},
      {"GRU(64)x2+Dense(10)",
       {{"cell", "gru"}, {"units", "64"}, {"layers", "2"}},
       GruP(28, 64) + GruP(64, 64) + DenseP(64, 10)},
  };
  for (const CountCase& c : cases) {
    const TrialConfig cfg = ModelTestConfig(c.keys);
    EXPECT_EQ(CountParams(cfg.model), c.expected) << c.name;
    std::vector<float> params(c.expected), grads(c.expected);
    Network<float> net(cfg.model, params.data(), grads.data());
    EXPECT_EQ(net.NumParams(), c.expected) << c.name;
  }
  // Spot checks of the well-known totals.
  EXPECT_EQ(LstmP(28, 128) + DenseP(128, 64) + DenseP(64, 10), 89290);
  EXPECT_EQ(DenseP(784, 10), 7850);
  EXPECT_EQ(DenseP(784, 512) + DenseP(512, 512) + DenseP(512, 10), 669706);
}

TEST(NetworkTest, LayerStackOfSeedC1) {
  const TrialConfig cfg = ModelTestConfig({{"cell", "lstm"},
                                           {"units", "128"},
                                           {"layers", "2"},
                                           {"dense", "[32]"},
                                           {"dropout", "0.2,0.1,0.2"}});
  auto layers = BuildLayers<float>(cfg.model);
  const char* kinds[] = {"LSTM", "Dropout", "LSTM", "Dropout", "Dense", "Dropout", "Dense"};
  ASSERT_EQ(layers.size(), 7u);
  for (size_t i = 0; i < layers.size(); ++i) EXPECT_EQ(layers[i]->Kind(), kinds[i]) << i;
  EXPECT_EQ(layers[0]->OutputShape().steps, 28);  // return_sequences below another LSTM
  EXPECT_EQ(layers[1]->OutputShape().steps, 28);
  EXPECT_EQ(layers[2]->OutputShape().steps, 0);
  EXPECT_EQ(layers[6]->OutputShape().features, 10);
}

TEST(NetworkTest, ZeroDropoutRatesAddNoLayer) {
  const TrialConfig cfg =
      ModelTestConfig({{"cell", "dense"}, {"layers", "2"}, {"units", "8"}, {"dropout", "0,0.5"}});
  auto layers = BuildLayers<float>(cfg.model);
  ASSERT_EQ(layers.size(), 4u);
  EXPECT_EQ(layers[0]->Kind(), "Dense");
  EXPECT_EQ(layers[1]->Kind(), "Dense");
  EXPECT_EQ(layers[2]->Kind(), "Dropout");
  EXPECT_EQ(layers[3]->Kind(), "Dense");
}

TEST(SummaryTest, SeedA3) {
  const TrialConfig cfg = ModelTestConfig({{"cell", "lstm"}, {"units", "128"}, {"dense", "[64]"}});
  const std::string s = Summary(cfg.model);
  EXPECT_NE(s.find("Total params: 89,290"), std::string::npos) << s;
  EXPECT_NE(s.find("Trainable params: 89,290"), std::string::npos) << s;
  EXPECT_NE(s.find("Non-trainable params: 0"), std::string::npos) << s;
  const std::string lstm = LineWith(s, "lstm (LSTM)");
  EXPECT_NE(lstm.find("(None, 128)"), std::string::npos) << s;
  EXPECT_NE(lstm.find(std::to_string(LstmP(28, 128))), std::string::npos) << lstm;
  const std::string d0 = LineWith(s, "dense (Dense)");
  EXPECT_NE(d0.find("(None, 64)"), std::string::npos) << s;
  EXPECT_NE(d0.find(std::to_string(DenseP(128, 64))), std::string::npos) << d0;
  const std::string d1 = LineWith(s, "dense_1 (Dense)");
  EXPECT_NE(d1.find("(None, 10)"), std::string::npos) << s;
  EXPECT_NE(d1.find(std::to_string(DenseP(64, 10))), std::string::npos) << d1;
  EXPECT_EQ(LineWith(s, "dense_2"), "") << s;
  // Layers in order.
  EXPECT_LT(s.find("lstm (LSTM)"), s.find("dense (Dense)"));
  EXPECT_LT(s.find("dense (Dense)"), s.find("dense_1 (Dense)"));
}

TEST(SummaryTest, SeedC1ShowsSequencesAndDropout) {
  const TrialConfig cfg = ModelTestConfig({{"cell", "lstm"},
                                           {"units", "128"},
                                           {"layers", "2"},
                                           {"dense", "[32]"},
                                           {"dropout", "0.2,0.1,0.2"}});
  const std::string s = Summary(cfg.model);
  EXPECT_NE(LineWith(s, "lstm (LSTM)").find("(None, 28, 128)"), std::string::npos) << s;
  EXPECT_NE(LineWith(s, "dropout (Dropout)").find("(None, 28, 128)"), std::string::npos) << s;
  EXPECT_NE(LineWith(s, "lstm_1 (LSTM)").find("(None, 128)"), std::string::npos) << s;
  EXPECT_NE(LineWith(s, "dropout_1 (Dropout)").find("(None, 128)"), std::string::npos) << s;
  EXPECT_NE(LineWith(s, "dropout_2 (Dropout)").find("(None, 32)"), std::string::npos) << s;
  EXPECT_NE(LineWith(s, "dense (Dense)").find("(None, 32)"), std::string::npos) << s;
  EXPECT_NE(LineWith(s, "dense_1 (Dense)").find("(None, 10)"), std::string::npos) << s;
  const int64_t total = LstmP(28, 128) + LstmP(128, 128) + DenseP(128, 32) + DenseP(32, 10);
  EXPECT_EQ(total, 216426);
  EXPECT_NE(s.find("Total params: 216,426"), std::string::npos) << s;
}

TEST(SummaryTest, OtherCellNames) {
  EXPECT_NE(Summary(ModelTestConfig({{"cell", "simple_rnn"}, {"units", "8"}}).model)
                .find("simple_rnn (SimpleRNN)"),
            std::string::npos);
  const std::string g = Summary(ModelTestConfig({{"cell", "gru"}, {"units", "8"}}).model);
  EXPECT_NE(g.find("gru (GRU)"), std::string::npos) << g;
  EXPECT_NE(g.find(std::to_string(GruP(28, 8))), std::string::npos) << g;
  const std::string d = Summary(ModelTestConfig({{"cell", "dense"}, {"layers", "0"}}).model);
  EXPECT_NE(d.find("Total params: 7,850"), std::string::npos) << d;
  const std::string d4 =
      Summary(ModelTestConfig({{"cell", "dense"}, {"layers", "2"}, {"units", "512"}}).model);
  EXPECT_NE(d4.find("Total params: 669,706"), std::string::npos) << d4;
}

// --- Initialisers -----------------------------------------------------------------------------

// (rows, cols) row-major slice of params at offset.
Eigen::MatrixXd Slice(const std::vector<float>& p, int64_t offset, int rows, int cols) {
  Eigen::MatrixXd m(rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) m(r, c) = p[offset + static_cast<int64_t>(r) * cols + c];
  return m;
}

void ExpectGlorot(const Eigen::MatrixXd& w, int fan_in, int fan_out, const std::string& what) {
  const double limit = std::sqrt(6.0 / (fan_in + fan_out));
  EXPECT_LE(w.cwiseAbs().maxCoeff(), limit * (1 + 1e-6)) << what;
  EXPECT_GT(w.maxCoeff() - w.minCoeff(), limit) << what << ": values look constant";
  // Uniform(-l, l): mean 0, variance l^2/3. Wide tolerances (statistical).
  const double n = static_cast<double>(w.size());
  const double mean = w.sum() / n;
  const double var = (w.array() - mean).square().sum() / n;
  EXPECT_NEAR(mean, 0.0, 4 * limit / std::sqrt(3 * n) + 1e-12) << what;
  // Relative sd of the sample variance of a uniform is sqrt(0.8/n): check only where that is small.
  if (n >= 1000) {
    EXPECT_NEAR(var / (limit * limit / 3), 1.0, 0.15) << what;
  }
}

void ExpectRowsOrthonormal(const Eigen::MatrixXd& w, const std::string& what) {
  const Eigen::MatrixXd g = w * w.transpose();
  EXPECT_LT((g - Eigen::MatrixXd::Identity(g.rows(), g.cols())).cwiseAbs().maxCoeff(), 1e-5)
      << what;
}

TEST(InitTest, LstmBiasKernelsAndHead) {
  const int F = 28, H = 32;
  const TrialConfig cfg = ModelTestConfig({{"cell", "lstm"}, {"units", "32"}, {"dense", "[16]"}});
  std::vector<float> p(CountParams(cfg.model), -99.0f);
  Network<float>::Init(cfg.model, 3, p.data());
  const int64_t kx = 0, kh = F * 4 * H, kb = kh + H * 4 * H;
  ExpectGlorot(Slice(p, kx, F, 4 * H), F, 4 * H, "lstm kernel");
  ExpectRowsOrthonormal(Slice(p, kh, H, 4 * H), "lstm recurrent kernel");
  for (int g = 0; g < 4 * H; ++g) {
    const float want = (g >= H && g < 2 * H) ? 1.0f : 0.0f;  // forget gate bias = 1
    EXPECT_EQ(p[kb + g], want) << "bias " << g;
  }
  const int64_t d0 = kb + 4 * H;
  ExpectGlorot(Slice(p, d0, H, 16), H, 16, "dense kernel");
  for (int u = 0; u < 16; ++u) EXPECT_EQ(p[d0 + H * 16 + u], 0.0f);
  const int64_t d1 = d0 + DenseP(H, 16);
  ExpectGlorot(Slice(p, d1, 16, 10), 16, 10, "output kernel");
  for (int u = 0; u < 10; ++u) EXPECT_EQ(p[d1 + 16 * 10 + u], 0.0f);
  EXPECT_EQ(d1 + DenseP(16, 10), static_cast<int64_t>(p.size()));
}

TEST(WeightTensorSizesTest, KerasVariablesInBufferOrder) {
  const int64_t F = 28, H = 32;
  // LSTM(32) + Dense(16) + Dense(10): the offsets of InitTest.LstmBiasKernelsAndHead.
  EXPECT_EQ(WeightTensorSizes(
                ModelTestConfig({{"cell", "lstm"}, {"units", "32"}, {"dense", "[16]"}}).model),
            (std::vector<int64_t>{F * 4 * H, H * 4 * H, 4 * H, H * 16, 16, 16 * 10, 10}));
  // GRU's bias is one (2, 3H) variable (reset_after).
  EXPECT_EQ(WeightTensorSizes(ModelTestConfig({{"cell", "gru"}, {"units", "8"}}).model),
            (std::vector<int64_t>{F * 24, 8 * 24, 48, 80, 10}));
  EXPECT_EQ(WeightTensorSizes(ModelTestConfig({{"cell", "dense"}, {"layers", "0"}}).model),
            (std::vector<int64_t>{784 * 10, 10}));
  // Any model: they add up to the parameter count.
  for (const char* cell : {"dense", "simple_rnn", "lstm", "gru"}) {
    for (const char* layers : {"1", "3"}) {
      const TrialConfig c =
          ModelTestConfig({{"cell", cell}, {"layers", layers}, {"dense", "[7, 5]"}});
      int64_t sum = 0;
      for (int64_t n : WeightTensorSizes(c.model)) sum += n;
      EXPECT_EQ(sum, CountParams(c.model)) << cell << " x" << layers;
    }
  }
}

TEST(InitTest, StackedLstmSecondLayerUsesItsOwnFans) {
  const int F = 28, H = 16;
  const TrialConfig cfg = ModelTestConfig({{"cell", "lstm"}, {"units", "16"}, {"layers", "2"}});
  std::vector<float> p(CountParams(cfg.model));
  Network<float>::Init(cfg.model, 9, p.data());
  const int64_t l1 = LstmP(F, H);
  ExpectGlorot(Slice(p, l1, H, 4 * H), H, 4 * H, "second lstm kernel");
  ExpectRowsOrthonormal(Slice(p, l1 + H * 4 * H, H, 4 * H), "second recurrent kernel");
  EXPECT_EQ(p[l1 + H * 4 * H + H * 4 * H + H], 1.0f);  // forget bias of layer 2
}

TEST(InitTest, SimpleRnnAndGruRecurrentKernelsOrthonormal) {
  {
    const int F = 28, H = 20;
    const TrialConfig cfg = ModelTestConfig({{"cell", "simple_rnn"}, {"units", "20"}});
    std::vector<float> p(CountParams(cfg.model));
    Network<float>::Init(cfg.model, 1, p.data());
    const Eigen::MatrixXd wh = Slice(p, F * H, H, H);
    ExpectRowsOrthonormal(wh, "simple_rnn");
    // Square: the columns are orthonormal too.
    EXPECT_LT((wh.transpose() * wh - Eigen::MatrixXd::Identity(H, H)).cwiseAbs().maxCoeff(), 1e-5);
    for (int j = 0; j < H; ++j) EXPECT_EQ(p[F * H + H * H + j], 0.0f);
  }
  {
    const int F = 28, H = 12;
    const TrialConfig cfg = ModelTestConfig({{"cell", "gru"}, {"units", "12"}});
    std::vector<float> p(CountParams(cfg.model));
    Network<float>::Init(cfg.model, 1, p.data());
    ExpectGlorot(Slice(p, 0, F, 3 * H), F, 3 * H, "gru kernel");
    ExpectRowsOrthonormal(Slice(p, F * 3 * H, H, 3 * H), "gru");
    for (int j = 0; j < 6 * H; ++j) EXPECT_EQ(p[F * 3 * H + H * 3 * H + j], 0.0f);
  }
}

TEST(InitTest, SeedDeterminesParams) {
  const TrialConfig cfg = ModelTestConfig({{"cell", "gru"}, {"units", "16"}, {"dense", "[8]"}});
  const int64_t n = CountParams(cfg.model);
  std::vector<float> a(n), b(n), c(n);
  Network<float>::Init(cfg.model, 42, a.data());
  Network<float>::Init(cfg.model, 42, b.data());
  Network<float>::Init(cfg.model, 43, c.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  int64_t same = 0;
  for (int64_t i = 0; i < n; ++i) same += (a[i] == c[i] && a[i] != 0.0f);
  EXPECT_LT(same, n / 100) << "different seeds give mostly the same non-zero values";
}

// --- Forward ----------------------------------------------------------------------------------

TEST(NetworkForwardTest, PerceptronIsAffine) {
  TrialConfig cfg = ModelTestConfig({{"cell", "dense"}, {"layers", "0"}});
  cfg.model.steps = 2;
  cfg.model.features = 2;
  cfg.model.classes = 3;
  ASSERT_EQ(CountParams(cfg.model), DenseP(4, 3));
  // W (4, 3), b (3).
  std::vector<float> p = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0.5f, -0.5f, 2};
  std::vector<float> g(p.size());
  Network<float> net(cfg.model, p.data(), g.data());
  Tensor<float> x;
  x.data.resize(2, 4);
  x.data << 1, 2, 3, 4, -1, 0, 0.5f, 2;
  const Mat<float>& logits = net.Forward(x, ForwardContext{});
  ASSERT_EQ(logits.rows(), 2);
  ASSERT_EQ(logits.cols(), 3);
  // row 0: [1 + 4 + 0.5, 2 + 4 - 0.5, 3 + 4 + 2]; row 1: [-1 + 2 + 0.5, 0 + 2 - 0.5, 0.5 + 2 + 2]
  const float want[2][3] = {{5.5f, 5.5f, 9.0f}, {1.5f, 1.5f, 4.5f}};
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(logits(r, c), want[r][c], 1e-6) << r << "," << c;
}

TEST(NetworkForwardTest, DropoutModelInInferenceEqualsModelWithoutDropout) {
  TrialConfig with = ModelTestConfig({{"cell", "lstm"},
                                      {"units", "8"},
                                      {"layers", "2"},
                                      {"dense", "[6]"},
                                      {"dropout", "0.5"},
                                      {"recurrent_dropout", "0.3"}});
  TrialConfig without =
      ModelTestConfig({{"cell", "lstm"}, {"units", "8"}, {"layers", "2"}, {"dense", "[6]"}});
  for (TrialConfig* c : {&with, &without}) {
    c->model.steps = 4;
    c->model.features = 3;
  }
  const int64_t n = CountParams(without.model);
  ASSERT_EQ(CountParams(with.model), n);
  std::vector<float> p(n), g1(n), g2(n);
  Network<float>::Init(without.model, 5, p.data());
  Network<float> a(with.model, p.data(), g1.data()), b(without.model, p.data(), g2.data());
  const int B = 3;
  Tensor<float> x;
  x.steps = 4;
  x.data.resize(4 * B, 3);
  Rng rng(2);
  for (Eigen::Index i = 0; i < x.data.size(); ++i) x.data.data()[i] = rng.UniformFloat();
  Rng r(1);
  const Mat<float> ya = a.Forward(x, ForwardContext{false, &r});
  const Mat<float> yb = b.Forward(x, ForwardContext{});
  EXPECT_EQ(ya.rows(), B);
  EXPECT_EQ(ya.cols(), 10);
  EXPECT_EQ(ya, yb);
  Rng r2(1);
  const Mat<float> yt = a.Forward(x, ForwardContext{true, &r2});
  EXPECT_GT((yt - yb).cwiseAbs().maxCoeff(), 1e-6f) << "dropout had no effect in training";
}

}  // namespace
}  // namespace hpsweep::network_test
