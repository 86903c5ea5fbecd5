// Tests for search/gp.h: the Gaussian process fits what it is shown (its mean follows a smooth
// function, it is surer at its data, an axis that does not matter gets a long length scale, a
// categorical axis is learned), expected improvement heads for the optimum, a lie lowers it
// where a trial is being trained, degenerate data gives finite values, the candidates are a
// function of their inputs and keep their distance from tried and running points.
#include "search/gp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace hpsweep::gp {
namespace {

// n points of `levels` drawn with seed, and f of each.
void Draw(const std::vector<int>& levels, int n, uint64_t seed,
          const std::function<double(const Point&)>& f, std::vector<Point>* x,
          std::vector<double>* y) {
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    Point u(levels.size());
    for (size_t a = 0; a < levels.size(); ++a) {
      u[a] = levels[a] > 0 ? static_cast<double>(rng.Below(static_cast<uint64_t>(levels[a])))
                           : rng.Uniform();
    }
    y->push_back(f(u));
    x->push_back(std::move(u));
  }
}

double Correlation(const std::vector<double>& a, const std::vector<double>& b) {
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[i];
  ma /= static_cast<double>(a.size());
  mb /= static_cast<double>(b.size());
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

// Each value's rank (0 = smallest; values distinct).
std::vector<double> Ranks(const std::vector<double>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    for (size_t j = 0; j < v.size(); ++j) r[i] += v[j] < v[i];
  }
  return r;
}

void NoSnap(Point*) {}

// Shown 13 points of sin(6u) over [0, 0.6], its mean follows the curve there (in order: the
// model sees the values' normal scores), and it is far less sure at 0.95, away from the data,
// than at a data point.
TEST(GaussianProcessTest, ItsMeanFollowsASmoothFunctionAndItIsSurerAtItsData) {
  auto f = [](const Point& u) { return std::sin(6 * u[0]); };
  std::vector<Point> x;
  std::vector<double> y;
  for (int i = 0; i <= 12; ++i) {
    x.push_back({i * 0.05});
    y.push_back(f(x.back()));
  }
  const GaussianProcess gp = GaussianProcess::Fit({0}, x, y);
  std::vector<double> truth, mean;
  for (int i = 0; i <= 60; ++i) {
    const Point u = {i / 100.0};
    double m = 0, v = 0;
    gp.Predict(u, &m, &v);
    truth.push_back(f(u));
    mean.push_back(m);
  }
  EXPECT_GT(Correlation(Ranks(truth), Ranks(mean)), 0.97);
  double m = 0, at_data = 0, far = 0;
  gp.Predict(x[3], &m, &at_data);
  gp.Predict({0.95}, &m, &far);
  EXPECT_LT(at_data * 10, far);
}

TEST(GaussianProcessTest, AnAxisThatDoesNotMatterGetsALongLengthScale) {
  std::vector<Point> x;
  std::vector<double> y;
  Draw(
      {0, 0}, 30, 2, [](const Point& u) { return std::sin(6 * u[0]); }, &x, &y);
  const GaussianProcess gp = GaussianProcess::Fit({0, 0}, x, y);
  ASSERT_EQ(gp.length_scales().size(), 2u);
  EXPECT_GT(gp.length_scales()[1], 3 * gp.length_scales()[0])
      << gp.length_scales()[0] << " " << gp.length_scales()[1];
}

// Value 2 of a categorical axis is best; on the numeric axis the optimum is at 0.3. The best
// candidate by expected improvement takes value 2 near 0.3.
TEST(GaussianProcessTest, ExpectedImprovementHeadsForTheOptimum) {
  const std::vector<int> levels = {0, 3};
  auto f = [](const Point& u) {
    return -(u[0] - 0.3) * (u[0] - 0.3) * 4 + (u[1] == 2 ? 0.5 : u[1] == 1 ? 0.2 : 0);
  };
  std::vector<Point> x;
  std::vector<double> y;
  Draw(levels, 25, 3, f, &x, &y);
  const GaussianProcess gp = GaussianProcess::Fit(levels, x, y);
  size_t best = 0;
  for (size_t i = 1; i < y.size(); ++i) {
    if (y[i] > y[best]) best = i;
  }
  Rng rng(4);
  const std::vector<Point> c = RankCandidates(gp, levels, {x[best]}, NoSnap, &rng, 10);
  ASSERT_EQ(c.size(), 10u);
  EXPECT_EQ(c[0][1], 2);
  EXPECT_NEAR(c[0][0], 0.3, 0.1);
  // Ranked best first, no two equal.
  for (size_t i = 1; i < c.size(); ++i) {
    EXPECT_GE(gp.LogExpectedImprovement(c[i - 1]), gp.LogExpectedImprovement(c[i]));
    EXPECT_NE(c[i - 1], c[i]);
  }
}

// A point being trained (a lie at the lowest value) lowers the expected improvement around it,
// so a second worker is sent elsewhere.
TEST(GaussianProcessTest, ALieLowersTheExpectedImprovementWhereItIs) {
  std::vector<Point> x;
  std::vector<double> y;
  Draw(
      {0}, 10, 5, [](const Point& u) { return -(u[0] - 0.5) * (u[0] - 0.5); }, &x, &y);
  const GaussianProcess plain = GaussianProcess::Fit({0}, x, y);
  Rng rng(6);
  const Point top = RankCandidates(plain, {0}, {}, NoSnap, &rng, 1).at(0);
  const GaussianProcess lied = GaussianProcess::Fit({0}, x, y, {top});
  EXPECT_LT(lied.LogExpectedImprovement(top), plain.LogExpectedImprovement(top) - 1);
  EXPECT_EQ(lied.length_scales(), plain.length_scales());  // (the fit is not moved)
}

// Equal values, a repeated point, a lie on a data point, one point: all finite.
TEST(GaussianProcessTest, DegenerateDataGivesFiniteValues) {
  const std::vector<Point> x = {{0.2, 1}, {0.2, 1}, {0.8, 0}};
  const GaussianProcess flat = GaussianProcess::Fit({0, 2}, x, {0.5, 0.5, 0.5}, {{0.8, 0}});
  const GaussianProcess one = GaussianProcess::Fit({0, 2}, {{0.4, 0}}, {0.9});
  for (const GaussianProcess* gp : {&flat, &one}) {
    for (const Point& u : {Point{0.2, 1}, Point{0.8, 0}, Point{0.5, 1}}) {
      EXPECT_TRUE(std::isfinite(gp->LogExpectedImprovement(u)));
      double m = 0, v = 0;
      gp->Predict(u, &m, &v);
      EXPECT_TRUE(std::isfinite(m));
      EXPECT_GT(v, 0);
    }
  }
  // Far below the best the improvement is tiny but still ordered, not -inf.
  std::vector<Point> xs;
  std::vector<double> ys;
  Draw(
      {0}, 12, 7, [](const Point& u) { return u[0] > 0.9 ? 1.0 : 0.0; }, &xs, &ys);
  const GaussianProcess steep = GaussianProcess::Fit({0}, xs, ys);
  EXPECT_TRUE(std::isfinite(steep.LogExpectedImprovement({0.0})));
}

TEST(GaussianProcessTest, CandidatesAreAFunctionOfTheirInputsAndSnapped) {
  const std::vector<int> levels = {0, 0, 4};
  std::vector<Point> x;
  std::vector<double> y;
  Draw(
      levels, 20, 8, [](const Point& u) { return u[0] - u[1] + 0.1 * u[2]; }, &x, &y);
  const GaussianProcess a = GaussianProcess::Fit(levels, x, y);
  const GaussianProcess b = GaussianProcess::Fit(levels, x, y);
  // Snapping the second axis to tenths.
  auto snap = [](Point* u) { (*u)[1] = std::round((*u)[1] * 10) / 10; };
  Rng r1(9), r2(9);
  const std::vector<Point> c1 = RankCandidates(a, levels, {x[0], x[1]}, snap, &r1, 50);
  const std::vector<Point> c2 = RankCandidates(b, levels, {x[0], x[1]}, snap, &r2, 50);
  EXPECT_EQ(c1, c2);
  ASSERT_EQ(c1.size(), 50u);
  for (const Point& u : c1) {
    EXPECT_DOUBLE_EQ(u[1], std::round(u[1] * 10) / 10);
    EXPECT_GE(u[0], 0);
    EXPECT_LE(u[0], 1);
    EXPECT_TRUE(u[2] == 0 || u[2] == 1 || u[2] == 2 || u[2] == 3) << u[2];
  }
}

// An elsewhere turn's candidates leave the best point's cell of categorical values; a plain turn's
// best candidate stays in it; a space with no other cell gets candidates all the same.
TEST(GaussianProcessTest, ElsewhereCandidatesLeaveTheBestCell) {
  tpe::Axis rate, optimizer;
  rate.lo = 0, rate.hi = 1;
  optimizer.categorical = true;
  optimizer.canonical = {"adam", "rmsprop", "sgd"};
  const std::vector<tpe::Axis> axes = {rate, optimizer};
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  // The best is rmsprop near 0.65, untried (the nearest rmsprop rates 0.5 and 0.9); the other
  // cells' rates are below 0.4, kMinDistance from the best rate tried.
  const std::vector<std::vector<double>> rates = {
      {0.02, 0.1, 0.18, 0.26, 0.34}, {0.1, 0.3, 0.5, 0.9}, {0.06, 0.14, 0.22, 0.3, 0.38}};
  for (int o = 0; o < 3; ++o) {
    for (double r : rates[static_cast<size_t>(o)]) {
      x.push_back({r, static_cast<double>(o)});
      y.push_back((o == 1 ? 0.8 : 0.5) - (r - 0.65) * (r - 0.65));
    }
  }
  Rng r1(3), r2(3), r3(3);
  const std::vector<std::vector<double>> plain = ProposeCandidates(axes, x, y, {}, &r1);
  ASSERT_FALSE(plain.empty());
  EXPECT_EQ(plain[0][1], 1);
  const std::vector<std::vector<double>> away = ProposeCandidates(axes, x, y, {}, &r2, true);
  ASSERT_FALSE(away.empty());
  for (const std::vector<double>& c : away) EXPECT_NE(c[1], 1);
  // The turn tries the best point's rate in the two other cells first (CellMoves), not the rate
  // where another cell's posterior is most uncertain.
  const size_t best = static_cast<size_t>(std::max_element(y.begin(), y.end()) - y.begin());
  ASSERT_GE(away.size(), 2u);
  EXPECT_DOUBLE_EQ(away[0][0], x[best][0]);
  EXPECT_DOUBLE_EQ(away[1][0], x[best][0]);
  EXPECT_NE(away[0][1], away[1][1]);

  const std::vector<tpe::Axis> numeric = {rate};
  std::vector<std::vector<double>> xn;
  for (const std::vector<double>& p : x) xn.push_back({p[0]});
  EXPECT_FALSE(ProposeCandidates(numeric, xn, y, {}, &r3, true).empty());
}

// NearAny: the same categorical values and a numeric distance under kMinDistance; another value
// of a categorical axis is never near.
TEST(GaussianProcessTest, NearMeansTheSameCellAndWithinTheMinimumDistance) {
  const std::vector<int> levels = {0, 0, 3};
  const std::vector<Point> points = {{0.5, 0.5, 1}};
  const double d = kMinDistance / std::sqrt(2.0);
  EXPECT_TRUE(NearAny(levels, points, {0.5, 0.5, 1}));
  EXPECT_TRUE(NearAny(levels, points, {0.5 + 0.99 * d, 0.5 - 0.99 * d, 1}));
  EXPECT_FALSE(NearAny(levels, points, {0.5 + 1.01 * d, 0.5 - 1.01 * d, 1}));
  EXPECT_FALSE(NearAny(levels, points, {0.5, 0.5, 2}));
  EXPECT_FALSE(NearAny(levels, {}, {0.5, 0.5, 1}));
}

// A proposal's candidates keep kMinDistance from every tried point and every lie (a point being
// trained), though expected improvement is highest at the best tried point; where the whole space
// is near (one numeric axis, tried every 0.05), the candidates are the ranked ones all the same.
TEST(GaussianProcessTest, CandidatesKeepTheirDistanceFromTriedAndRunningPoints) {
  tpe::Axis rate, width;
  rate.lo = 0, rate.hi = 1;
  width.lo = 0, width.hi = 1;
  const std::vector<tpe::Axis> axes = {rate, width};
  const std::vector<int> levels = Levels(axes);
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  // A jagged objective, as trained models give: neighbouring points differ by about 0.02. Its
  // fitted noise keeps expected improvement highest right next to the best points.
  for (int i = 0; i < 30; ++i) {
    const double r = std::fmod(0.618 * i, 1.0), w = std::fmod(0.37 * i, 1.0);
    x.push_back({r, w});
    y.push_back(-(r - 0.45) * (r - 0.45) - (w - 0.4) * (w - 0.4) + 0.02 * std::sin(97.0 * i));
  }
  for (int i = 0; i < 6; ++i) {  // the optimum's neighbourhood, tried
    x.push_back({0.45 + 0.01 * i, 0.4 - 0.007 * i});
    y.push_back(0.02 * std::sin(31.0 * i));
  }
  const std::vector<std::vector<double>> lies = {{0.5, 0.45}};
  Rng rng(5);
  const std::vector<std::vector<double>> c = ProposeCandidates(axes, x, y, lies, &rng);
  ASSERT_GE(c.size(), 10u);
  std::vector<Point> held;
  for (const auto& p : x) held.push_back(Code(axes, p));
  for (const auto& p : lies) held.push_back(Code(axes, p));
  for (const std::vector<double>& u : c) EXPECT_FALSE(NearAny(levels, held, Code(axes, u)));
  // The best candidate is still near the optimum: just outside the held points' reach.
  EXPECT_LT(std::hypot(c[0][0] - 0.45, c[0][1] - 0.4), 0.25);

  const std::vector<tpe::Axis> one = {rate};
  std::vector<std::vector<double>> full;
  std::vector<double> fy;
  for (int i = 0; i <= 40; ++i) {
    full.push_back({i / 40.0});
    fy.push_back(-(i / 40.0 - 0.5) * (i / 40.0 - 0.5));
  }
  Rng rng2(5);
  EXPECT_FALSE(ProposeCandidates(one, full, fy, {}, &rng2).empty());
}

}  // namespace
}  // namespace hpsweep::gp
