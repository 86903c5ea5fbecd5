// Tests for engine/bidirectional.cc (MakeBidirectional in engine/layers.h) and the models built
// with bidirectional=true: a hand-computed bidirectional SimpleRNN; the backward direction is the
// unidirectional layer run on the time-reversed input (bit for bit, last state and sequences);
// each direction draws its own recurrent-dropout mask; parameter counts, weight tensors and
// summary lines equal Keras's; each direction is initialised as its own layer. Gradients are in
// gradient_test.cc, determinism and learning in trainer_test.cc, files in model_io_test.cc and
// checkpoint_test.cc.
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "engine/config.h"
#include "engine/layers.h"
#include "engine/network.h"
#include "tests/engine/model_testing.h"

namespace hpsweep::bidirectional_test {
namespace {

// A time-major (T*B, F) tensor.
Tensor<double> Sequence(int steps, int batch, int features, const std::vector<double>& values) {
  Tensor<double> x;
  x.steps = steps;
  x.data.resize(steps * batch, features);
  for (Eigen::Index i = 0; i < x.data.size(); ++i) x.data.data()[i] = values[i];
  return x;
}

TEST(BidirectionalTest, HandComputedLinearSimpleRnn) {
  // One unit, linear: forward h(t) = x(t) + 0.5 h(t-1); backward h = 2 x + 0.5 h over x reversed.
  // Sample 0 reads 1, 2, 3: forward 1, 2.5, 4.25; backward reads 3, 2, 1: 6, 7, 5.5.
  // Sample 1 reads 0, 0, 1: forward 0, 0, 1; backward reads 1, 0, 0: 2, 1, 0.5.
  const Tensor<double> x = Sequence(3, 2, 1, {1, 0, 2, 0, 3, 1});  // rows t*B + b
  const std::vector<double> params = {1, 0.5, 0, 2, 0.5, 0};       // kernel, recurrent, bias; twice
  std::vector<double> grads(6, 0.0);
  for (bool seq : {false, true}) {
    SCOPED_TRACE(seq ? "return_sequences" : "last state");
    auto layer =
        MakeBidirectional<double>(MakeSimpleRnn<double>(3, 1, 1, Activation::kLinear, seq, 0.0f),
                                  MakeSimpleRnn<double>(3, 1, 1, Activation::kLinear, seq, 0.0f));
    ASSERT_EQ(layer->NumParams(), 6);
    EXPECT_EQ(layer->Kind(), "Bidirectional");
    EXPECT_EQ(layer->OutputShape().features, 2);
    EXPECT_EQ(layer->OutputShape().steps, seq ? 3 : 0);
    layer->Bind(params.data(), grads.data());
    const Tensor<double>& y = layer->Forward(x, ForwardContext{});
    Mat<double> want;
    if (seq) {
      // Row t*B + b: [forward h(t), backward's state once it has read x(T-1)..x(t)].
      want.resize(6, 2);
      want << 1, 5.5,  //
          0, 0.5,      //
          2.5, 7,      //
          0, 1,        //
          4.25, 6,     //
          1, 2;
      EXPECT_EQ(y.steps, 3);
    } else {
      want.resize(2, 2);
      want << 4.25, 5.5,  //
          1, 0.5;
      EXPECT_EQ(y.steps, 1);
    }
    EXPECT_EQ(y.data, want);
  }
}

// A bidirectional layer's output against the unidirectional layer of the same cell run by hand:
// forward on x, backward on x reversed in time, each bound to its half of the parameters.
template <typename Make>
void ExpectBackwardReadsReversed(Make make, bool seq) {
  const int T = 5, B = 3, F = 4, H = 6;
  auto bi = MakeBidirectional<double>(make(T, F, H, seq), make(T, F, H, seq));
  auto fwd = make(T, F, H, seq);
  auto bwd = make(T, F, H, seq);
  const int64_t half = fwd->NumParams();
  ASSERT_EQ(bi->NumParams(), 2 * half);
  std::vector<double> params(2 * half), grads(2 * half, 0.0);
  Rng rng(3);
  for (double& p : params) p = rng.Uniform(-0.6, 0.6);
  bi->Bind(params.data(), grads.data());
  fwd->Bind(params.data(), grads.data());
  bwd->Bind(params.data() + half, grads.data() + half);

  Tensor<double> x, xrev;
  x.steps = xrev.steps = T;
  x.data.resize(T * B, F);
  for (Eigen::Index i = 0; i < x.data.size(); ++i) x.data.data()[i] = rng.Uniform(-1, 1);
  xrev.data.resize(T * B, F);
  for (int t = 0; t < T; ++t)
    xrev.data.middleRows((T - 1 - t) * B, B) = x.data.middleRows(t * B, B);

  const Mat<double> y = bi->Forward(x, ForwardContext{}).data;
  const Mat<double> yf = fwd->Forward(x, ForwardContext{}).data;
  const Mat<double> yb = bwd->Forward(xrev, ForwardContext{}).data;
  ASSERT_EQ(y.cols(), 2 * H);
  EXPECT_EQ(Mat<double>(y.leftCols(H)), yf);
  if (seq) {
    ASSERT_EQ(y.rows(), T * B);
    for (int t = 0; t < T; ++t) {
      EXPECT_EQ(Mat<double>(y.middleRows(t * B, B).rightCols(H)),
                Mat<double>(yb.middleRows((T - 1 - t) * B, B)))
          << "step " << t;
    }
  } else {
    ASSERT_EQ(y.rows(), B);
    EXPECT_EQ(Mat<double>(y.rightCols(H)), yb);
  }
  // And it is not the forward layer's output again: the reversal matters.
  EXPECT_GT((Mat<double>(y.rightCols(H)) - Mat<double>(y.leftCols(H))).cwiseAbs().maxCoeff(), 1e-3);
}

TEST(BidirectionalTest, BackwardDirectionIsTheLayerOnTheReversedSequence) {
  for (bool seq : {false, true}) {
    SCOPED_TRACE(seq ? "return_sequences" : "last state");
    ExpectBackwardReadsReversed(
        [](int t, int f, int h, bool s) {
          return MakeSimpleRnn<double>(t, f, h, Activation::kTanh, s, 0.0f);
        },
        seq);
    ExpectBackwardReadsReversed(
        [](int t, int f, int h, bool s) {
          return MakeLstm<double>(t, f, h, Activation::kTanh, s, 0.0f);
        },
        seq);
    ExpectBackwardReadsReversed(
        [](int t, int f, int h, bool s) {
          return MakeGru<double>(t, f, h, Activation::kTanh, s, 0.0f);
        },
        seq);
  }
}

TEST(BidirectionalTest, EachDirectionHasItsOwnRecurrentDropoutMask) {
  // Both directions with the same weights on a palindrome: without dropout they end in the same
  // state; with recurrent dropout in training they differ, because their masks differ.
  const int T = 4, B = 8, F = 3, H = 16;
  auto bi = MakeBidirectional<double>(MakeLstm<double>(T, F, H, Activation::kTanh, false, 0.5f),
                                      MakeLstm<double>(T, F, H, Activation::kTanh, false, 0.5f));
  const int64_t half = bi->NumParams() / 2;
  std::vector<double> params(2 * half), grads(2 * half, 0.0);
  Rng rng(8);
  for (int64_t i = 0; i < half; ++i) params[i] = params[half + i] = rng.Uniform(-0.5, 0.5);
  bi->Bind(params.data(), grads.data());
  Tensor<double> x;
  x.steps = T;
  x.data.resize(T * B, F);
  for (int t = 0; t < T / 2; ++t) {
    for (Eigen::Index i = 0; i < B * F; ++i) {
      const double v = rng.Uniform(-1, 1);
      x.data.middleRows(t * B, B).data()[i] = v;
      x.data.middleRows((T - 1 - t) * B, B).data()[i] = v;
    }
  }
  const Mat<double> plain = bi->Forward(x, ForwardContext{}).data;
  EXPECT_EQ(Mat<double>(plain.leftCols(H)), Mat<double>(plain.rightCols(H)));
  Rng masks(21);
  const Mat<double> dropped = bi->Forward(x, ForwardContext{true, &masks}).data;
  EXPECT_GT(
      (Mat<double>(dropped.leftCols(H)) - Mat<double>(dropped.rightCols(H))).cwiseAbs().maxCoeff(),
      1e-3);
}

TEST(BidirectionalTest, ParamCountsMatchKerasFormulas) {
  struct Case {
    const char* cell;
    int64_t (*p)(int64_t, int64_t);
  };
  for (const Case& c : {Case{"simple_rnn", RnnP}, Case{"lstm", LstmP}, Case{"gru", GruP}}) {
    SCOPED_TRACE(c.cell);
    // Bidirectional(cell(128)) on 28 features + Dense(10) on the 256 concatenated features.
    const TrialConfig one = ModelTestConfig({{"cell", c.cell}, {"bidirectional", "true"}});
    const int64_t want1 = 2 * c.p(28, 128) + DenseP(256, 10);
    EXPECT_EQ(CountParams(one.model), want1);
    EXPECT_EQ(ParamCount(one), want1);
    // Stacked: the second layer reads 2H features; a head on top.
    const TrialConfig two = ModelTestConfig({{"cell", c.cell},
                                             {"bidirectional", "true"},
                                             {"units", "32"},
                                             {"layers", "2"},
                                             {"dense", "[16]"}});
    const int64_t want2 = 2 * c.p(28, 32) + 2 * c.p(64, 32) + DenseP(64, 16) + DenseP(16, 10);
    EXPECT_EQ(CountParams(two.model), want2);
    EXPECT_EQ(ParamCount(two), want2);
    std::vector<float> params(want2), grads(want2);
    Network<float> net(two.model, params.data(), grads.data());
    EXPECT_EQ(net.NumParams(), want2);
  }
  // The brief's number: Keras's Bidirectional(LSTM(128)) on 28 features.
  EXPECT_EQ(2 * LstmP(28, 128), 160768);
}

TEST(BidirectionalTest, WeightTensorsAreForwardsThenBackwards) {
  const int64_t F = 28, H = 8;
  // GRU's bias is one (2, 3H) variable per direction.
  EXPECT_EQ(
      WeightTensorSizes(
          ModelTestConfig({{"cell", "gru"}, {"units", "8"}, {"bidirectional", "true"}}).model),
      (std::vector<int64_t>{F * 3 * H, H * 3 * H, 6 * H, F * 3 * H, H * 3 * H, 6 * H, 16 * 10,
                            10}));
  for (const char* cell : {"simple_rnn", "lstm", "gru"}) {
    const TrialConfig c = ModelTestConfig(
        {{"cell", cell}, {"layers", "3"}, {"dense", "[7]"}, {"bidirectional", "true"}});
    int64_t sum = 0;
    for (int64_t n : WeightTensorSizes(c.model)) sum += n;
    EXPECT_EQ(sum, CountParams(c.model)) << cell;
  }
}

TEST(BidirectionalTest, SummaryNamesTheLayerAsKerasDoes) {
  const std::string one = Summary(
      ModelTestConfig({{"cell", "lstm"}, {"units", "128"}, {"bidirectional", "true"}}).model);
  // Keras cuts the 29-character name at its column (26) and goes on below, columns kept.
  const std::string line = LineWith(one, "bidirectional (Bidirection ");
  EXPECT_EQ(line.find("(None, 256)"), 29u) << one;
  EXPECT_NE(one.find(line + "\n al)\n"), std::string::npos) << one;
  EXPECT_NE(line.find("160768"), std::string::npos) << one;
  EXPECT_NE(LineWith(one, "dense (Dense)").find(std::to_string(DenseP(256, 10))), std::string::npos)
      << one;
  EXPECT_NE(one.find("Total params: 163,338"), std::string::npos) << one;
  EXPECT_EQ(LineWith(one, "lstm"), "") << one;  // the wrapped layer is not a line of its own

  const std::string two = Summary(ModelTestConfig({{"cell", "gru"},
                                                   {"units", "16"},
                                                   {"layers", "2"},
                                                   {"dropout", "0.2,0.1"},
                                                   {"bidirectional", "true"}})
                                      .model);
  EXPECT_EQ(LineWith(two, "bidirectional (Bidirection ").find("(None, 28, 32)"), 29u) << two;
  EXPECT_NE(LineWith(two, "dropout (Dropout)").find("(None, 28, 32)"), std::string::npos) << two;
  const std::string second = LineWith(two, "bidirectional_1 (Bidirecti");
  EXPECT_EQ(second.find("(None, 32)"), 29u) << two;
  EXPECT_NE(two.find(second + "\n onal)\n"), std::string::npos) << two;
  EXPECT_NE(second.find(std::to_string(2 * GruP(32, 16))), std::string::npos) << two;
}

TEST(BidirectionalTest, EachDirectionIsInitialisedAsItsOwnLayer) {
  const int F = 28, H = 16;
  const TrialConfig c =
      ModelTestConfig({{"cell", "lstm"}, {"units", "16"}, {"bidirectional", "true"}});
  std::vector<float> p(CountParams(c.model), -99.0f);
  Network<float>::Init(c.model, 4, p.data());
  const int64_t half = LstmP(F, H);
  const int64_t bias = F * 4 * H + H * 4 * H;
  for (int64_t base : {int64_t{0}, half}) {
    for (int g = 0; g < 4 * H; ++g) {
      EXPECT_EQ(p[base + bias + g], (g >= H && g < 2 * H) ? 1.0f : 0.0f) << base << " " << g;
    }
    // The recurrent kernel (H, 4H) has orthonormal rows.
    Eigen::MatrixXd w(H, 4 * H);
    for (int r = 0; r < H; ++r)
      for (int k = 0; k < 4 * H; ++k) w(r, k) = p[base + F * 4 * H + r * 4 * H + k];
    EXPECT_LT((w * w.transpose() - Eigen::MatrixXd::Identity(H, H)).cwiseAbs().maxCoeff(), 1e-5);
  }
  // Drawn one after the other: the two kernels differ.
  int same = 0;
  for (int64_t i = 0; i < F * 4 * H; ++i) same += p[i] == p[half + i];
  EXPECT_LT(same, 10);
  for (float v : p) EXPECT_NE(v, -99.0f);
}

}  // namespace
}  // namespace hpsweep::bidirectional_test
