// Tests for engine/layers.h: forward values of every layer against scalar formulas written here
// (Keras weight layouts and gate orders), the time-major layout of return_sequences, dropout and
// recurrent dropout; each layer in bf16 against itself in fp32 on odd shapes.
#include "engine/layers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace hpsweep::layers_test {
namespace {

constexpr double kTol = 1e-5;

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double Act(Activation a, double x) {
  switch (a) {
    case Activation::kLinear: return x;
    case Activation::kRelu: return x > 0 ? x : 0;
    case Activation::kTanh: return std::tanh(x);
    case Activation::kSigmoid: return Sigmoid(x);
    case Activation::kSoftmax: break;
  }
  ADD_FAILURE() << "softmax is not element-wise";
  return 0;
}

// A (rows, cols) tensor with the given values (row-major) and `steps` time steps.
Tensor<float> MakeTensor(int rows, int cols, const std::vector<double>& values, int steps = 1) {
  EXPECT_EQ(values.size(), static_cast<size_t>(rows * cols));
  Tensor<float> t;
  t.steps = steps;
  t.data.resize(rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) t.data(r, c) = static_cast<float>(values[r * cols + c]);
  return t;
}

// Deterministic, irregular parameter values in about [-0.8, 0.8] (not from the engine's Rng).
std::vector<float> Params(int64_t n, double phase) {
  std::vector<float> p(n);
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(0.8 * std::sin(1.7 * i + phase));
  return p;
}

// Sequence input: x[t][b][f] stored at row t*B + b.
std::vector<double> SeqInput(int T, int B, int F, double phase) {
  std::vector<double> v(static_cast<size_t>(T) * B * F);
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::cos(0.9 * i + phase);
  return v;
}

// --- Scalar references (double) --------------------------------------------------------------
// x is time-major: x[(t*B + b)*F + f]. Params in the Keras layout. Return all hidden states,
// hs[(t*B + b)*H + j].

std::vector<double> RefSimpleRnn(const std::vector<float>& p, const std::vector<double>& x, int T,
                                 int B, int F, int H, Activation act) {
  const float* wx = p.data();
  const float* wh = wx + F * H;
  const float* bias = wh + H * H;
  std::vector<double> hs(static_cast<size_t>(T) * B * H);
  for (int b = 0; b < B; ++b) {
    std::vector<double> h(H, 0.0);
    for (int t = 0; t < T; ++t) {
      std::vector<double> nh(H);
      for (int j = 0; j < H; ++j) {
        double s = bias[j];
        for (int f = 0; f < F; ++f) s += x[(t * B + b) * F + f] * wx[f * H + j];
        for (int k = 0; k < H; ++k) s += h[k] * wh[k * H + j];
        nh[j] = Act(act, s);
      }
      h = nh;
      for (int j = 0; j < H; ++j) hs[(t * B + b) * H + j] = h[j];
    }
  }
  return hs;
}

std::vector<double> RefLstm(const std::vector<float>& p, const std::vector<double>& x, int T, int B,
                            int F, int H, Activation act) {
  const int G = 4 * H;
  const float* wx = p.data();
  const float* wh = wx + F * G;
  const float* bias = wh + H * G;
  std::vector<double> hs(static_cast<size_t>(T) * B * H);
  for (int b = 0; b < B; ++b) {
    std::vector<double> h(H, 0.0), c(H, 0.0);
    for (int t = 0; t < T; ++t) {
      std::vector<double> z(G);
      for (int g = 0; g < G; ++g) {
        double s = bias[g];
        for (int f = 0; f < F; ++f) s += x[(t * B + b) * F + f] * wx[f * G + g];
        for (int k = 0; k < H; ++k) s += h[k] * wh[k * G + g];
        z[g] = s;
      }
      for (int j = 0; j < H; ++j) {
        const double i = Sigmoid(z[j]);
        const double fg = Sigmoid(z[H + j]);
        const double cc = Act(act, z[2 * H + j]);
        const double o = Sigmoid(z[3 * H + j]);
        c[j] = fg * c[j] + i * cc;
        h[j] = o * Act(act, c[j]);
      }
      for (int j = 0; j < H; ++j) hs[(t * B + b) * H + j] = h[j];
    }
  }
  return hs;
}

std::vector<double> RefGru(const std::vector<float>& p, const std::vector<double>& x, int T, int B,
                           int F, int H, Activation act) {
  const int G = 3 * H;
  const float* wx = p.data();
  const float* wh = wx + F * G;
  const float* b_in = wh + H * G;
  const float* b_rec = b_in + G;
  std::vector<double> hs(static_cast<size_t>(T) * B * H);
  for (int b = 0; b < B; ++b) {
    std::vector<double> h(H, 0.0);
    for (int t = 0; t < T; ++t) {
      std::vector<double> xi(G), hr(G);
      for (int g = 0; g < G; ++g) {
        double s = b_in[g];
        for (int f = 0; f < F; ++f) s += x[(t * B + b) * F + f] * wx[f * G + g];
        xi[g] = s;
        double r = b_rec[g];
        for (int k = 0; k < H; ++k) r += h[k] * wh[k * G + g];
        hr[g] = r;
      }
      std::vector<double> nh(H);
      for (int j = 0; j < H; ++j) {
        const double z = Sigmoid(xi[j] + hr[j]);
        const double r = Sigmoid(xi[H + j] + hr[H + j]);
        const double hh = Act(act, xi[2 * H + j] + r * hr[2 * H + j]);
        nh[j] = z * h[j] + (1 - z) * hh;
      }
      h = nh;
      for (int j = 0; j < H; ++j) hs[(t * B + b) * H + j] = h[j];
    }
  }
  return hs;
}

void ExpectMatches(const Mat<float>& got, const std::vector<double>& want, int rows, int cols,
                   const char* what) {
  ASSERT_EQ(got.rows(), rows) << what;
  ASSERT_EQ(got.cols(), cols) << what;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      EXPECT_NEAR(got(r, c), want[r * cols + c], kTol) << what << " at (" << r << ", " << c << ")";
}

// The last step's rows of all hidden states: (B, H).
std::vector<double> LastStep(const std::vector<double>& hs, int T, int B, int H) {
  return std::vector<double>(hs.begin() + static_cast<size_t>(T - 1) * B * H, hs.end());
}

// --- Dense ------------------------------------------------------------------------------------

TEST(DenseTest, HandComputedLinearAndRelu) {
  // W = [[1, -2], [0.5, 3]], b = [0.25, -1]; x = [[2, 1], [-1, 0.5]].
  // x W + b: row 0 = [2 + 0.5 + 0.25, -4 + 3 - 1] = [2.75, -2]
  //          row 1 = [-1 + 0.25 + 0.25, 2 + 1.5 - 1] = [-0.5, 2.5]
  std::vector<float> p = {1, -2, 0.5f, 3, 0.25f, -1};
  Tensor<float> x = MakeTensor(2, 2, {2, 1, -1, 0.5});
  ForwardContext ctx;
  auto lin = MakeDense<float>(2, 2, Activation::kLinear);
  lin->Bind(p.data(), nullptr);
  ExpectMatches(lin->Forward(x, ctx).data, {2.75, -2, -0.5, 2.5}, 2, 2, "linear");
  auto relu = MakeDense<float>(2, 2, Activation::kRelu);
  relu->Bind(p.data(), nullptr);
  ExpectMatches(relu->Forward(x, ctx).data, {2.75, 0, 0, 2.5}, 2, 2, "relu");
  EXPECT_EQ(lin->NumParams(), 6);
  EXPECT_EQ(lin->Kind(), "Dense");
  EXPECT_EQ(lin->OutputShape().steps, 0);
  EXPECT_EQ(lin->OutputShape().features, 2);
}

TEST(DenseTest, AllActivationsMatchScalarFormulas) {
  const int F = 3, U = 4, B = 2;
  std::vector<float> p = Params(F * U + U, 0.3);
  std::vector<double> xv = {0.5, -1.0, 2.0, 1.5, 0.25, -0.75};
  Tensor<float> x = MakeTensor(B, F, xv);
  std::vector<double> pre(B * U);
  for (int b = 0; b < B; ++b)
    for (int u = 0; u < U; ++u) {
      double s = p[F * U + u];
      for (int f = 0; f < F; ++f) s += xv[b * F + f] * p[f * U + u];
      pre[b * U + u] = s;
    }
  for (Activation a : {Activation::kLinear, Activation::kRelu, Activation::kTanh,
                       Activation::kSigmoid, Activation::kSoftmax}) {
    std::vector<double> want(B * U);
    if (a == Activation::kSoftmax) {
      for (int b = 0; b < B; ++b) {
        double sum = 0;
        for (int u = 0; u < U; ++u) sum += std::exp(pre[b * U + u]);
        for (int u = 0; u < U; ++u) want[b * U + u] = std::exp(pre[b * U + u]) / sum;
      }
    } else {
      for (int i = 0; i < B * U; ++i) want[i] = Act(a, pre[i]);
    }
    auto layer = MakeDense<float>(F, U, a);
    layer->Bind(p.data(), nullptr);
    ExpectMatches(layer->Forward(x, ForwardContext{}).data, want, B, U, ActivationName(a));
  }
}

TEST(DenseTest, SoftmaxRowsSumToOneForLargeInputs) {
  // Large pre-activations must not overflow: 1000 and 999 differ by 1.
  std::vector<float> p = {1, 1, 0, -1};  // W (1, 2) = [1, 1], b = [0, -1]
  Tensor<float> x = MakeTensor(1, 1, {1000});
  auto layer = MakeDense<float>(1, 2, Activation::kSoftmax);
  layer->Bind(p.data(), nullptr);
  const Mat<float>& y = layer->Forward(x, ForwardContext{}).data;
  const double e = std::exp(-1.0);
  EXPECT_NEAR(y(0, 0), 1 / (1 + e), kTol);
  EXPECT_NEAR(y(0, 1), e / (1 + e), kTol);
}

// --- SimpleRNN --------------------------------------------------------------------------------

TEST(SimpleRnnTest, HandComputedOneUnit) {
  // F=1, H=1, T=2, B=1: Wx = 0.5, Wh = -1, b = 0.1, x = [1, 2].
  // h1 = tanh(0.5 + 0.1), h2 = tanh(2*0.5 - h1 + 0.1).
  std::vector<float> p = {0.5f, -1.0f, 0.1f};
  auto layer = MakeSimpleRnn<float>(2, 1, 1, Activation::kTanh, false, 0.0f);
  EXPECT_EQ(layer->NumParams(), 3);
  layer->Bind(p.data(), nullptr);
  Tensor<float> x = MakeTensor(2, 1, {1, 2}, 2);
  const Tensor<float>& y = layer->Forward(x, ForwardContext{});
  const double h1 = std::tanh(0.6);
  const double h2 = std::tanh(1.0 - h1 + 0.1);
  ASSERT_EQ(y.data.rows(), 1);
  ASSERT_EQ(y.data.cols(), 1);
  EXPECT_NEAR(y.data(0, 0), h2, kTol);
}

TEST(SimpleRnnTest, MatchesReferenceTanhAndRelu) {
  const int T = 3, B = 2, F = 2, H = 2;
  for (Activation a : {Activation::kTanh, Activation::kRelu}) {
    std::vector<float> p = Params(H * (F + H + 1), 0.1);
    std::vector<double> xv = SeqInput(T, B, F, 0.2);
    std::vector<double> hs = RefSimpleRnn(p, xv, T, B, F, H, a);
    auto last = MakeSimpleRnn<float>(T, F, H, a, false, 0.0f);
    last->Bind(p.data(), nullptr);
    Tensor<float> x = MakeTensor(T * B, F, xv, T);
    ExpectMatches(last->Forward(x, ForwardContext{}).data, LastStep(hs, T, B, H), B, H,
                  ActivationName(a));
    auto seq = MakeSimpleRnn<float>(T, F, H, a, true, 0.0f);
    seq->Bind(p.data(), nullptr);
    const Tensor<float>& y = seq->Forward(x, ForwardContext{});
    EXPECT_EQ(y.steps, T);
    ExpectMatches(y.data, hs, T * B, H, "return_sequences");
    EXPECT_EQ(seq->OutputShape().steps, T);
    EXPECT_EQ(last->OutputShape().steps, 0);
  }
}

// --- LSTM -------------------------------------------------------------------------------------

TEST(LstmTest, HandComputedOneUnit) {
  // F=1, H=1, T=2, B=1. Kernel [Wi, Wf, Wc, Wo] = [1, -1, 2, 0.5], recurrent [0.5, 0.25, -1, 1],
  // bias [0, 1, 0.5, -0.5], x = [1, -2].
  std::vector<float> p = {1, -1, 2, 0.5f, 0.5f, 0.25f, -1, 1, 0, 1, 0.5f, -0.5f};
  // t = 1: zi = 1, zf = -1 + 1 = 0, zc = 2 + 0.5 = 2.5, zo = 0.5 - 0.5 = 0.
  const double i1 = Sigmoid(1), f1 = 0.5, g1 = std::tanh(2.5), o1 = 0.5;
  const double c1 = f1 * 0 + i1 * g1;
  const double h1 = o1 * std::tanh(c1);
  // t = 2: x = -2.
  const double i2 = Sigmoid(-2 + 0.5 * h1);
  const double f2 = Sigmoid(2 + 0.25 * h1 + 1);
  const double g2 = std::tanh(-4 - h1 + 0.5);
  const double o2 = Sigmoid(-1 + h1 - 0.5);
  const double c2 = f2 * c1 + i2 * g2;
  const double h2 = o2 * std::tanh(c2);
  auto layer = MakeLstm<float>(2, 1, 1, Activation::kTanh, true, 0.0f);
  EXPECT_EQ(layer->NumParams(), 12);
  EXPECT_EQ(layer->Kind(), "LSTM");
  layer->Bind(p.data(), nullptr);
  Tensor<float> x = MakeTensor(2, 1, {1, -2}, 2);
  ExpectMatches(layer->Forward(x, ForwardContext{}).data, {h1, h2}, 2, 1, "lstm");
}

TEST(LstmTest, MatchesReferenceTanhAndRelu) {
  const int T = 3, B = 2, F = 2, H = 2;
  for (Activation a : {Activation::kTanh, Activation::kRelu}) {
    std::vector<float> p = Params(4 * H * (F + H + 1), 0.7);
    std::vector<double> xv = SeqInput(T, B, F, 1.1);
    std::vector<double> hs = RefLstm(p, xv, T, B, F, H, a);
    Tensor<float> x = MakeTensor(T * B, F, xv, T);
    auto last = MakeLstm<float>(T, F, H, a, false, 0.0f);
    last->Bind(p.data(), nullptr);
    ExpectMatches(last->Forward(x, ForwardContext{}).data, LastStep(hs, T, B, H), B, H,
                  ActivationName(a));
    auto seq = MakeLstm<float>(T, F, H, a, true, 0.0f);
    seq->Bind(p.data(), nullptr);
    ExpectMatches(seq->Forward(x, ForwardContext{}).data, hs, T * B, H, "return_sequences");
  }
}

TEST(LstmTest, ReturnSequencesIsTimeMajor) {
  // Two samples that differ: row t*B + b must be sample b's step t, which equals the output of the
  // same layer run on sample b alone, truncated to t+1 steps (causality).
  const int T = 2, B = 2, F = 2, H = 2;
  std::vector<float> p = Params(4 * H * (F + H + 1), 0.2);
  std::vector<double> xv = {0.1,  0.2,   // t0 b0
                            -0.9, 0.8,   // t0 b1
                            0.5,  -0.5,  // t1 b0
                            1.0,  0.3};  // t1 b1
  auto seq = MakeLstm<float>(T, F, H, Activation::kTanh, true, 0.0f);
  seq->Bind(p.data(), nullptr);
  Tensor<float> x = MakeTensor(T * B, F, xv, T);
  const Mat<float> y = seq->Forward(x, ForwardContext{}).data;
  for (int b = 0; b < B; ++b) {
    auto one = MakeLstm<float>(1, F, H, Activation::kTanh, false, 0.0f);
    one->Bind(p.data(), nullptr);
    Tensor<float> x0 = MakeTensor(1, F, {xv[b * F], xv[b * F + 1]}, 1);
    const Mat<float> y0 = one->Forward(x0, ForwardContext{}).data;
    auto two = MakeLstm<float>(2, F, H, Activation::kTanh, false, 0.0f);
    two->Bind(p.data(), nullptr);
    Tensor<float> x1 =
        MakeTensor(2, F, {xv[b * F], xv[b * F + 1], xv[(B + b) * F], xv[(B + b) * F + 1]}, 2);
    const Mat<float> y1 = two->Forward(x1, ForwardContext{}).data;
    for (int j = 0; j < H; ++j) {
      EXPECT_NEAR(y(0 * B + b, j), y0(0, j), kTol);
      EXPECT_NEAR(y(1 * B + b, j), y1(0, j), kTol);
    }
  }
}

// --- GRU --------------------------------------------------------------------------------------

TEST(GruTest, HandComputedOneUnit) {
  // F=1, H=1, T=2, B=1. Kernel [Wz, Wr, Wh] = [1, -1, 2], recurrent [0.5, 1, -1],
  // bias: input [0.1, 0.2, 0.3], recurrent [-0.1, 0.4, 0.5]; x = [1, -1].
  std::vector<float> p = {1, -1, 2, 0.5f, 1, -1, 0.1f, 0.2f, 0.3f, -0.1f, 0.4f, 0.5f};
  // t = 1 (h0 = 0): the recurrent bias still enters, and b_rec_h is scaled by r (reset_after).
  const double z1 = Sigmoid(1 + 0.1 - 0.1);
  const double r1 = Sigmoid(-1 + 0.2 + 0.4);
  const double hh1 = std::tanh(2 + 0.3 + r1 * 0.5);
  const double h1 = z1 * 0 + (1 - z1) * hh1;
  // t = 2: x = -1.
  const double z2 = Sigmoid(-1 + 0.1 + 0.5 * h1 - 0.1);
  const double r2 = Sigmoid(1 + 0.2 + 1 * h1 + 0.4);
  const double hh2 = std::tanh(-2 + 0.3 + r2 * (-1 * h1 + 0.5));
  const double h2 = z2 * h1 + (1 - z2) * hh2;
  auto layer = MakeGru<float>(2, 1, 1, Activation::kTanh, true, 0.0f);
  EXPECT_EQ(layer->NumParams(), 12);
  EXPECT_EQ(layer->Kind(), "GRU");
  layer->Bind(p.data(), nullptr);
  Tensor<float> x = MakeTensor(2, 1, {1, -1}, 2);
  ExpectMatches(layer->Forward(x, ForwardContext{}).data, {h1, h2}, 2, 1, "gru");
}

TEST(GruTest, MatchesReferenceTanhAndRelu) {
  const int T = 3, B = 2, F = 2, H = 2;
  for (Activation a : {Activation::kTanh, Activation::kRelu}) {
    std::vector<float> p = Params(3 * H * (F + H + 2), 1.3);
    std::vector<double> xv = SeqInput(T, B, F, 0.4);
    std::vector<double> hs = RefGru(p, xv, T, B, F, H, a);
    Tensor<float> x = MakeTensor(T * B, F, xv, T);
    auto last = MakeGru<float>(T, F, H, a, false, 0.0f);
    last->Bind(p.data(), nullptr);
    ExpectMatches(last->Forward(x, ForwardContext{}).data, LastStep(hs, T, B, H), B, H,
                  ActivationName(a));
    auto seq = MakeGru<float>(T, F, H, a, true, 0.0f);
    seq->Bind(p.data(), nullptr);
    ExpectMatches(seq->Forward(x, ForwardContext{}).data, hs, T * B, H, "return_sequences");
  }
}

// --- Dropout ----------------------------------------------------------------------------------

TEST(DropoutTest, TrainingScalesKeptValuesAndDropsAboutRate) {
  const int rows = 200, cols = 100;
  const float rate = 0.3f;
  std::vector<double> xv(rows * cols);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = 0.5 + 0.01 * (i % 97);  // all non-zero
  Tensor<float> x = MakeTensor(rows, cols, xv);
  auto layer = MakeDropout<float>({0, cols}, rate);
  EXPECT_EQ(layer->NumParams(), 0);
  EXPECT_EQ(layer->Kind(), "Dropout");
  Rng rng(42);
  const Mat<float> y = layer->Forward(x, ForwardContext{true, &rng}).data;
  ASSERT_EQ(y.rows(), rows);
  ASSERT_EQ(y.cols(), cols);
  int64_t zeros = 0, other = 0;
  double mask_sum = 0;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const double ratio = y(r, c) / x.data(r, c);
      if (y(r, c) == 0.0f) {
        ++zeros;
      } else if (std::abs(ratio - 1.0 / (1.0 - rate)) > 1e-5) {
        ++other;
      }
      mask_sum += ratio;
    }
  }
  EXPECT_EQ(other, 0) << "outputs must be 0 or x/(1-rate)";
  const double n = rows * cols;
  // Binomial(20000, 0.3): sd of the fraction ~0.0032; allow ~6 sd.
  EXPECT_NEAR(zeros / n, rate, 0.02);
  EXPECT_NEAR(mask_sum / n, 1.0, 0.03);
}

TEST(DropoutTest, InferenceIsIdentity) {
  Tensor<float> x = MakeTensor(3, 2, {1, -2, 3, 4, -5, 6});
  auto layer = MakeDropout<float>({0, 2}, 0.5f);
  Rng rng(1);
  const Mat<float> y = layer->Forward(x, ForwardContext{false, &rng}).data;
  EXPECT_EQ(y, x.data);
  const Mat<float> y2 = layer->Forward(x, ForwardContext{false, nullptr}).data;
  EXPECT_EQ(y2, x.data);
}

TEST(DropoutTest, SameSeedSameMaskDifferentSeedDifferentMask) {
  const int rows = 20, cols = 16;
  std::vector<double> xv(rows * cols, 1.0);
  Tensor<float> x = MakeTensor(rows, cols, xv);
  auto a = MakeDropout<float>({0, cols}, 0.5f);
  auto b = MakeDropout<float>({0, cols}, 0.5f);
  Rng r1(7), r2(7), r3(8);
  const Mat<float> ya = a->Forward(x, ForwardContext{true, &r1}).data;
  const Mat<float> yb = b->Forward(x, ForwardContext{true, &r2}).data;
  EXPECT_EQ(ya, yb);
  const Mat<float> yc = b->Forward(x, ForwardContext{true, &r3}).data;
  EXPECT_NE(ya, yc);
}

TEST(DropoutTest, WorksOnSequences) {
  const int T = 3, B = 2, F = 4;
  std::vector<double> xv(T * B * F, 2.0);
  Tensor<float> x = MakeTensor(T * B, F, xv, T);
  auto layer = MakeDropout<float>({T, F}, 0.5f);
  Rng rng(3);
  const Tensor<float>& y = layer->Forward(x, ForwardContext{true, &rng});
  EXPECT_EQ(y.steps, T);
  ASSERT_EQ(y.data.rows(), T * B);
  for (int i = 0; i < y.data.size(); ++i) {
    const float v = y.data.data()[i];
    EXPECT_TRUE(v == 0.0f || std::abs(v - 4.0f) < 1e-6f) << v;
  }
}

// --- Recurrent dropout ------------------------------------------------------------------------

TEST(RecurrentDropoutTest, InferenceEqualsNoDropoutLayer) {
  const int T = 4, B = 3, F = 2, H = 3;
  std::vector<double> xv = SeqInput(T, B, F, 0.6);
  Tensor<float> x = MakeTensor(T * B, F, xv, T);
  struct Maker {
    const char* name;
    int gates;
    std::unique_ptr<Layer<float>> (*make)(int, int, int, Activation, bool, float);
  };
  const Maker makers[] = {{"simple_rnn", 1, &MakeSimpleRnn<float>},
                          {"lstm", 4, &MakeLstm<float>},
                          {"gru", 3, &MakeGru<float>}};
  for (const Maker& m : makers) {
    auto plain = m.make(T, F, H, Activation::kTanh, true, 0.0f);
    auto dropped = m.make(T, F, H, Activation::kTanh, true, 0.5f);
    ASSERT_EQ(plain->NumParams(), dropped->NumParams());
    std::vector<float> p = Params(plain->NumParams(), 0.9);
    plain->Bind(p.data(), nullptr);
    dropped->Bind(p.data(), nullptr);
    const Mat<float> want = plain->Forward(x, ForwardContext{}).data;
    Rng rng(5);
    const Mat<float> got = dropped->Forward(x, ForwardContext{false, &rng}).data;
    EXPECT_EQ(got, want) << m.name;
    // In training mode the mask changes the later steps, but not step 0 (h(-1) = 0).
    Rng rng2(5);
    const Mat<float> train = dropped->Forward(x, ForwardContext{true, &rng2}).data;
    EXPECT_TRUE(train.topRows(B).isApprox(want.topRows(B), 1e-6f)) << m.name;
    EXPECT_GT((train.bottomRows((T - 1) * B) - want.bottomRows((T - 1) * B)).cwiseAbs().maxCoeff(),
              1e-4f)
        << m.name;
  }
}

TEST(RecurrentDropoutTest, OneMaskPerSequenceOnPreviousState) {
  // SimpleRNN, H=1, linear: h(t) = x(t) Wx + m h(t-1) Wh + b with m in {0, 1/(1-rate)} drawn once
  // per sequence. Recover m from step 1 and check step 2 uses the same m.
  const int T = 3, B = 64, F = 1, H = 1;
  const float rate = 0.5f;
  std::vector<float> p = {1.0f, 0.5f, 0.25f};  // Wx, Wh, b
  std::vector<double> xv(T * B);
  for (int i = 0; i < T * B; ++i) xv[i] = 0.3 + 0.01 * i;
  Tensor<float> x = MakeTensor(T * B, F, xv, T);
  auto layer = MakeSimpleRnn<float>(T, F, H, Activation::kLinear, true, rate);
  layer->Bind(p.data(), nullptr);
  Rng rng(11);
  const Mat<float> y = layer->Forward(x, ForwardContext{true, &rng}).data;
  int dropped = 0;
  for (int b = 0; b < B; ++b) {
    const double h0 = xv[b] * 1.0 + 0.25;
    EXPECT_NEAR(y(b, 0), h0, kTol);
    const double no_rec = xv[B + b] + 0.25;
    const double m = (y(B + b, 0) - no_rec) / (0.5 * y(b, 0));
    const bool zero = std::abs(m) < 1e-3;
    EXPECT_TRUE(zero || std::abs(m - 1.0 / (1.0 - rate)) < 1e-3) << "mask " << m;
    dropped += zero;
    const double mm = zero ? 0.0 : 1.0 / (1.0 - rate);
    const double h2 = xv[2 * B + b] + mm * y(B + b, 0) * 0.5 + 0.25;
    EXPECT_NEAR(y(2 * B + b, 0), h2, 1e-4) << "sample " << b << " step 2 uses another mask";
  }
  EXPECT_GT(dropped, 8);
  EXPECT_LT(dropped, B - 8);
}

}  // namespace
}  // namespace hpsweep::layers_test

namespace hpsweep::layers_test {
namespace {

// --- Where the buffers are ----------------------------------------------------------------------

// Backward's gradients must not depend on the address of the gradient buffer: the trainer's
// per-thread buffers are plain std::vectors, wherever the heap puts them, and trainer.h promises
// identical results from run to run.
TEST(GradientBufferTest, GradientsDoNotDependOnBufferAlignment) {
  const int T = 3, B = 32, F = 5, H = 24;
  struct Case {
    const char* name;
    std::unique_ptr<Layer<float>> layer;
    int steps;
  };
  std::vector<Case> cases;
  cases.push_back({"dense", MakeDense<float>(F, H, Activation::kTanh), 1});
  cases.push_back({"simple_rnn", MakeSimpleRnn<float>(T, F, H, Activation::kTanh, false, 0), T});
  cases.push_back({"lstm", MakeLstm<float>(T, F, H, Activation::kTanh, false, 0), T});
  cases.push_back({"gru", MakeGru<float>(T, F, H, Activation::kTanh, false, 0), T});
  for (Case& c : cases) {
    const int64_t n = c.layer->NumParams();
    const std::vector<float> p = Params(n, 0.5);
    Tensor<float> x = MakeTensor(c.steps * B, F, SeqInput(c.steps, B, F, 0.3), c.steps);
    Tensor<float> dy;
    dy.data.resize(B, H);
    for (Eigen::Index i = 0; i < dy.data.size(); ++i) {
      dy.data.data()[i] = static_cast<float>(std::sin(2.3 * i + 0.1));
    }
    std::vector<float> reference;
    for (int offset = 0; offset < 16; ++offset) {
      std::vector<float> g(n + 16, 0.0f);
      c.layer->Bind(p.data(), g.data() + offset);
      c.layer->Forward(x, ForwardContext{});
      c.layer->Backward(dy, false);
      std::vector<float> got(g.begin() + offset, g.begin() + offset + n);
      if (offset == 0) {
        reference = got;
        continue;
      }
      int64_t differ = 0, first = -1;
      for (int64_t i = 0; i < n; ++i) {
        if (got[i] != reference[i]) {
          if (first < 0) first = i;
          ++differ;
        }
      }
      EXPECT_EQ(differ, 0) << c.name << ": gradient buffer shifted by " << offset
                           << " floats changes " << differ << " of " << n << " gradients, first at "
                           << first << " (bias block starts at "
                           << n - (c.layer->Kind() == "GRU"    ? 6
                                   : c.layer->Kind() == "LSTM" ? 4
                                                               : 1) *
                                      H
                           << ")";
    }
  }
}

// Backward writes every gradient and reads none of what the buffer held: the trainer does not
// clear its buffers between steps. A buffer full of NaN before Backward must come out with the same
// gradients as a zeroed one, for every layer kind, a one-step recurrent layer (no dWh sum) and a
// bidirectional one, in fp32 and in bf16 where the CPU has it.
TEST(GradientBufferTest, BackwardWritesEveryGradient) {
  const int T = 3, B = 6, F = 5, H = 20;
  auto make = [&](const std::string& kind, int steps) -> std::unique_ptr<Layer<float>> {
    if (kind == "dense") return MakeDense<float>(F, H, Activation::kTanh);
    if (kind == "simple_rnn") return MakeSimpleRnn<float>(steps, F, H, Activation::kTanh, false, 0);
    if (kind == "lstm") return MakeLstm<float>(steps, F, H, Activation::kTanh, false, 0);
    if (kind == "gru") return MakeGru<float>(steps, F, H, Activation::kTanh, false, 0);
    return MakeBidirectional<float>(MakeGru<float>(steps, F, H, Activation::kTanh, true, 0),
                                    MakeGru<float>(steps, F, H, Activation::kTanh, true, 0));
  };
  std::vector<Precision> precisions = {Precision::kFp32};
  if (Bf16Supported()) precisions.push_back(Precision::kBf16);
  for (Precision precision : precisions) {
    for (const std::string kind : {"dense", "simple_rnn", "lstm", "gru", "bidirectional"}) {
      for (int steps : {1, T}) {
        if (kind == "dense" && steps > 1) continue;
        SCOPED_TRACE(testing::Message() << kind << " steps " << steps << " bf16 "
                                        << (precision == Precision::kBf16));
        std::vector<float> before[2];
        for (int fill = 0; fill < 2; ++fill) {
          std::unique_ptr<Layer<float>> layer = make(kind, steps);
          layer->SetPrecision(precision);
          const int64_t n = layer->NumParams();
          const std::vector<float> p = Params(n, 0.5);
          before[fill].assign(n, fill == 0 ? 0.0f : std::numeric_limits<float>::quiet_NaN());
          layer->Bind(p.data(), before[fill].data());
          Tensor<float> x = MakeTensor(steps * B, F, SeqInput(steps, B, F, 0.3), steps);
          const Tensor<float>& y = layer->Forward(x, ForwardContext{});
          Tensor<float> dy;
          dy.steps = y.steps;
          dy.data.resize(y.data.rows(), y.data.cols());
          for (Eigen::Index i = 0; i < dy.data.size(); ++i) {
            dy.data.data()[i] = static_cast<float>(std::sin(1.7 * i + 0.2));
          }
          layer->Backward(dy, true);
        }
        int64_t differ = 0;
        for (size_t i = 0; i < before[0].size(); ++i) {
          differ += !(before[0][i] == before[1][i]) || std::isnan(before[1][i]);
        }
        EXPECT_EQ(differ, 0) << differ << " of " << before[0].size()
                             << " gradients read the buffer's old values";
      }
    }
  }
}

}  // namespace
}  // namespace hpsweep::layers_test

namespace hpsweep::layers_test {
namespace {

// bf16 products against fp32 ones, layer by layer, on odd shapes: batch 1, one step, widths that
// are not a multiple of the 16-wide vectors, odd input sizes. Outputs and gradients within bf16's
// rounding (relative L2 1e-2) of the fp32 layer's, and not equal to them.
TEST(Bf16LayerTest, MatchesTheFp32LayerOnOddShapes) {
  if (!Bf16Supported()) {
    GTEST_SKIP() << "this CPU has no avx512_bf16 (or it was turned off): bf16 is not run here";
  }
  struct Case {
    const char* kind;
    int steps, batch, in, units;
  } cases[] = {{"dense", 1, 1, 17, 33},  {"dense", 1, 5, 3, 1},     {"lstm", 1, 1, 7, 33},
               {"lstm", 3, 1, 19, 17},   {"gru", 1, 3, 5, 9},       {"gru", 4, 2, 13, 31},
               {"simple_rnn", 1, 1, 1, 15}, {"simple_rnn", 6, 7, 29, 65}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.kind << " steps " << c.steps << " batch " << c.batch
                                    << " in " << c.in << " units " << c.units);
    auto make = [&]() -> std::unique_ptr<Layer<float>> {
      const std::string k = c.kind;
      if (k == "dense") return MakeDense<float>(c.in, c.units, Activation::kTanh);
      if (k == "lstm") return MakeLstm<float>(c.steps, c.in, c.units, Activation::kTanh, true, 0);
      if (k == "gru") return MakeGru<float>(c.steps, c.in, c.units, Activation::kTanh, true, 0);
      return MakeSimpleRnn<float>(c.steps, c.in, c.units, Activation::kTanh, true, 0);
    };
    std::unique_ptr<Layer<float>> fp = make(), bf = make();
    bf->SetPrecision(Precision::kBf16);
    Rng rng(3);
    std::vector<float> params(fp->NumParams()), gfp(params.size(), 0.0f), gbf(params.size(), 0.0f);
    fp->Init(params.data(), &rng);
    for (float& p : params) p += static_cast<float>(0.2 * (rng.Uniform() - 0.5));
    fp->Bind(params.data(), gfp.data());
    bf->Bind(params.data(), gbf.data());
    Tensor<float> x;
    x.steps = c.steps;
    x.data.resize(static_cast<Eigen::Index>(c.steps) * c.batch, c.in);
    for (Eigen::Index i = 0; i < x.data.size(); ++i) {
      x.data.data()[i] = static_cast<float>(rng.Uniform(-1, 1));
    }
    ForwardContext ctx;
    const Tensor<float>& yf = fp->Forward(x, ctx);
    const Tensor<float>& yb = bf->Forward(x, ctx);
    ASSERT_EQ(yf.data.rows(), yb.data.rows());
    ASSERT_EQ(yf.data.cols(), yb.data.cols());
    const double out_err = (yb.data - yf.data).norm() / yf.data.norm();
    EXPECT_LE(out_err, 1e-2);
    EXPECT_GT(out_err, 0.0) << "bf16 gave the fp32 bits: its kernels did not run";
    Tensor<float> dy{Mat<float>::Ones(yf.data.rows(), yf.data.cols()), yf.steps};
    const Tensor<float>* dxf = fp->Backward(dy, true);
    const Tensor<float>* dxb = bf->Backward(dy, true);
    ASSERT_TRUE(dxf != nullptr && dxb != nullptr);
    EXPECT_LE((dxb->data - dxf->data).norm() / dxf->data.norm(), 1e-2);
    double d2 = 0, n2 = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      d2 += (gbf[i] - gfp[i]) * (gbf[i] - gfp[i]);
      n2 += gfp[i] * gfp[i];
    }
    ASSERT_GT(n2, 0.0);
    EXPECT_LE(std::sqrt(d2 / n2), 1e-2);
  }
}

}  // namespace
}  // namespace hpsweep::layers_test
