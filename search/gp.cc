#include "search/gp.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>

namespace hpsweep {
namespace gp {
namespace {

constexpr double kSqrt5 = 2.2360679774997896;
constexpr double kLog2Pi = 1.8378770664093453;
// iRprop on the log hyperparameters: this many steps from one fixed start (the best visited is
// kept), each step's size growing by kGrow while its gradient keeps its sign.
constexpr int kFitSteps = 80;
constexpr double kFirstStep = 0.1, kGrow = 1.2, kShrink = 0.5, kMaxStep = 1.0;
// Log-normal priors (mean of the log, its sd): a numeric axis's length scale about half the
// axis, a categorical one's about 1 (another value is half as alike), the signal's variance
// that of the standardised values, the noise about 1% of it.
constexpr double kNumericLength = -0.6931471805599453, kCategoricalLength = 0.0, kLengthSd = 1.0;
constexpr double kSignal = 0.0, kSignalSd = 1.0;
constexpr double kNoise = -4.605170185988091, kNoiseSd = 1.5;
// Bounds on the logs: length scales 0.01..100, signal 0.01..100, noise 1e-6..1.
constexpr double kMinLogLength = -4.605170185988091, kMaxLogLength = 4.605170185988091;
constexpr double kMinLogSignal = -4.605170185988091, kMaxLogSignal = 4.605170185988091;
constexpr double kMinLogNoise = -13.815510557964274, kMaxLogNoise = 0.0;
constexpr double kJitter = 1e-8;
// Candidate search: uniform draws, draws around each incumbent, then local refinement of the
// best few with shrinking steps (in units of a numeric axis).
constexpr int kUniformDraws = 1000, kIncumbents = 5, kDrawsPerIncumbent = 60;
constexpr double kIncumbentSd = 0.1;
constexpr int kRefined = 5, kRefineTries = 20;
constexpr double kRefineSd[] = {0.1, 0.03, 0.01};

// A candidate's rank: its log expected improvement, -infinity where that is not finite.
double Score(const GaussianProcess& model, const Point& u) {
  const double s = model.LogExpectedImprovement(u);
  return std::isfinite(s) ? s : -std::numeric_limits<double>::infinity();
}

// Matérn 5/2 of distance r, without the signal variance.
double Matern(double r) { return (1 + kSqrt5 * r + 5.0 / 3.0 * r * r) * std::exp(-kSqrt5 * r); }

double AxisDistance2(int levels, double a, double b) {
  if (levels > 0) return a == b ? 0.0 : 1.0;
  return (a - b) * (a - b);
}

// The log marginal likelihood of standardised y under log hyperparameters theta (d length
// scales, the signal, the noise) plus the log priors; its gradient in *grad. -inf when K is not
// positive definite. d2[i]: the axis-i squared distances of every pair.
double Objective(const std::vector<int>& levels, const std::vector<Eigen::MatrixXd>& d2,
                 const Eigen::VectorXd& y, const std::vector<double>& theta,
                 std::vector<double>* grad) {
  const size_t d = levels.size();
  const Eigen::Index n = y.size();
  const double signal = std::exp(theta[d]), noise = std::exp(theta[d + 1]);
  std::vector<double> inv_l2(d);
  for (size_t i = 0; i < d; ++i) inv_l2[i] = std::exp(-2 * theta[i]);
  Eigen::MatrixXd kf(n, n), g(n, n);  // kernel; signal * 5/3 (1 + sqrt5 r) exp(-sqrt5 r)
  for (Eigen::Index a = 0; a < n; ++a) {
    for (Eigen::Index b = 0; b <= a; ++b) {
      double r2 = 0;
      for (size_t i = 0; i < d; ++i) r2 += d2[i](a, b) * inv_l2[i];
      const double r = std::sqrt(r2);
      kf(a, b) = kf(b, a) = signal * Matern(r);
      g(a, b) = g(b, a) = signal * 5.0 / 3.0 * (1 + kSqrt5 * r) * std::exp(-kSqrt5 * r);
    }
  }
  Eigen::MatrixXd k = kf;
  k.diagonal().array() += noise + kJitter;
  Eigen::LLT<Eigen::MatrixXd> llt(k);
  if (llt.info() != Eigen::Success) return -std::numeric_limits<double>::infinity();
  const Eigen::VectorXd alpha = llt.solve(y);
  const Eigen::MatrixXd l = llt.matrixL();
  double value = -0.5 * y.dot(alpha) - l.diagonal().array().log().sum() -
                 0.5 * static_cast<double>(n) * kLog2Pi;
  const Eigen::MatrixXd w = alpha * alpha.transpose() - llt.solve(Eigen::MatrixXd::Identity(n, n));
  grad->assign(d + 2, 0.0);
  for (size_t i = 0; i < d; ++i) {
    (*grad)[i] = 0.5 * inv_l2[i] * (w.array() * g.array() * d2[i].array()).sum();
  }
  (*grad)[d] = 0.5 * (w.array() * kf.array()).sum();
  (*grad)[d + 1] = 0.5 * noise * w.trace();
  for (size_t j = 0; j < d + 2; ++j) {
    const double mean = j < d    ? (levels[j] > 0 ? kCategoricalLength : kNumericLength)
                        : j == d ? kSignal
                                 : kNoise;
    const double sd = j < d ? kLengthSd : j == d ? kSignalSd : kNoiseSd;
    value -= 0.5 * (theta[j] - mean) * (theta[j] - mean) / (sd * sd);
    (*grad)[j] -= (theta[j] - mean) / (sd * sd);
  }
  return value;
}

// The hyperparameters' logs: iRprop- from the priors' means, the best visited kept.
std::vector<double> FitHyperparameters(const std::vector<int>& levels, const std::vector<Point>& x,
                                       const Eigen::VectorXd& y) {
  const size_t d = levels.size();
  const Eigen::Index n = y.size();
  std::vector<Eigen::MatrixXd> d2(d, Eigen::MatrixXd(n, n));
  for (size_t i = 0; i < d; ++i) {
    for (Eigen::Index a = 0; a < n; ++a) {
      for (Eigen::Index b = 0; b < n; ++b) {
        d2[i](a, b) =
            AxisDistance2(levels[i], x[static_cast<size_t>(a)][i], x[static_cast<size_t>(b)][i]);
      }
    }
  }
  std::vector<double> theta(d + 2), lo(d + 2), hi(d + 2);
  for (size_t i = 0; i < d; ++i) {
    theta[i] = levels[i] > 0 ? kCategoricalLength : kNumericLength;
    lo[i] = kMinLogLength, hi[i] = kMaxLogLength;
  }
  theta[d] = kSignal, lo[d] = kMinLogSignal, hi[d] = kMaxLogSignal;
  theta[d + 1] = kNoise, lo[d + 1] = kMinLogNoise, hi[d + 1] = kMaxLogNoise;
  std::vector<double> best = theta, grad, last(d + 2, 0.0), step(d + 2, kFirstStep);
  double best_value = -std::numeric_limits<double>::infinity();
  for (int it = 0; it < kFitSteps; ++it) {
    const double value = Objective(levels, d2, y, theta, &grad);
    if (!std::isfinite(value)) {  // (not positive definite: back towards the best, smaller)
      for (size_t j = 0; j < theta.size(); ++j) {
        theta[j] = 0.5 * (theta[j] + best[j]);
        step[j] *= kShrink;
      }
      continue;
    }
    if (value > best_value) best_value = value, best = theta;
    for (size_t j = 0; j < theta.size(); ++j) {
      if (grad[j] * last[j] > 0) {
        step[j] = std::min(step[j] * kGrow, kMaxStep);
      } else if (grad[j] * last[j] < 0) {
        step[j] *= kShrink;
        grad[j] = 0;  // (iRprop-: no move after a change of sign)
      }
      last[j] = grad[j];
      if (grad[j] != 0)
        theta[j] = std::clamp(theta[j] + (grad[j] > 0 ? step[j] : -step[j]), lo[j], hi[j]);
    }
  }
  return best;
}

// The z with NormalCdf(z) = p, 0 < p < 1 (bisection: exact to double's resolution of z).
double NormalQuantile(double p) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (tpe::NormalCdf(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// y's normal scores (a Gaussian copula): each value's rank r of n (ties share their mean rank)
// as the standard normal quantile of (r + 0.5) / n. The GP models the order of the values, so a
// few failed trials far below the rest do not flatten the differences among the good ones.
Eigen::VectorXd NormalScores(const std::vector<double>& y) {
  const size_t n = y.size();
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return y[a] < y[b]; });
  Eigen::VectorXd z(static_cast<Eigen::Index>(n));
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && y[order[j + 1]] == y[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + j);
    const double q = NormalQuantile((rank + 0.5) / static_cast<double>(n));
    for (size_t k = i; k <= j; ++k) z(static_cast<Eigen::Index>(order[k])) = q;
    i = j + 1;
  }
  return z;
}

}  // namespace

bool NearAny(const std::vector<int>& levels, const std::vector<Point>& points, const Point& u) {
  for (const Point& p : points) {
    double d2 = 0;
    for (size_t a = 0; a < levels.size() && d2 < kMinDistance * kMinDistance; ++a) {
      if (levels[a] > 0) {
        if (p[a] != u[a]) d2 = std::numeric_limits<double>::infinity();
      } else {
        d2 += (p[a] - u[a]) * (p[a] - u[a]);
      }
    }
    if (d2 < kMinDistance * kMinDistance) return true;
  }
  return false;
}

GaussianProcess GaussianProcess::Fit(const std::vector<int>& levels, const std::vector<Point>& x,
                                     const std::vector<double>& y, const std::vector<Point>& lies) {
  GaussianProcess gp;
  gp.levels_ = levels;
  const size_t d = levels.size(), n = y.size();
  const Eigen::VectorXd ys = NormalScores(y);
  const std::vector<double> theta = FitHyperparameters(levels, x, ys);
  gp.length_.resize(d);
  for (size_t i = 0; i < d; ++i) gp.length_[i] = std::exp(theta[i]);
  gp.signal_ = std::exp(theta[d]);
  gp.noise_ = std::exp(theta[d + 1]);
  const double lie = n > 0 ? ys.minCoeff() : 0.0;

  gp.x_ = x;
  gp.x_.insert(gp.x_.end(), lies.begin(), lies.end());
  const Eigen::Index m = static_cast<Eigen::Index>(gp.x_.size());
  Eigen::VectorXd all(m);
  all.head(static_cast<Eigen::Index>(n)) = ys;
  all.tail(m - static_cast<Eigen::Index>(n)).setConstant(lie);
  Eigen::MatrixXd k(m, m);
  for (Eigen::Index a = 0; a < m; ++a) {
    for (Eigen::Index b = 0; b <= a; ++b) {
      k(a, b) = k(b, a) = gp.Kernel(gp.x_[static_cast<size_t>(a)], gp.x_[static_cast<size_t>(b)]);
    }
  }
  // A lie at a point already held would make K singular without noise: the noise and a jitter
  // growing until the factor exists keep it positive definite.
  for (double jitter = kJitter;; jitter *= 10) {
    Eigen::MatrixXd kn = k;
    kn.diagonal().array() += gp.noise_ + jitter;
    Eigen::LLT<Eigen::MatrixXd> llt(kn);
    if (llt.info() == Eigen::Success || jitter > 1) {
      gp.chol_ = llt.matrixL();
      gp.alpha_ = llt.solve(all);
      break;
    }
  }
  // The best is the largest posterior mean at a point of y (the plug-in of noisy EI): with
  // noise, the largest value seen is partly luck, and improving on it would favour the unsure.
  gp.best_ = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < n; ++i) {
    double m = 0, v = 0;
    gp.Predict(x[i], &m, &v);
    gp.best_ = std::max(gp.best_, m);
  }
  if (n == 0) gp.best_ = 0;
  return gp;
}

double GaussianProcess::Kernel(const Point& a, const Point& b) const {
  double r2 = 0;
  for (size_t i = 0; i < levels_.size(); ++i) {
    r2 += AxisDistance2(levels_[i], a[i], b[i]) / (length_[i] * length_[i]);
  }
  return signal_ * Matern(std::sqrt(r2));
}

void GaussianProcess::Predict(const Point& u, double* mean, double* variance) const {
  const Eigen::Index m = static_cast<Eigen::Index>(x_.size());
  Eigen::VectorXd ks(m);
  for (Eigen::Index j = 0; j < m; ++j) ks(j) = Kernel(u, x_[static_cast<size_t>(j)]);
  *mean = ks.dot(alpha_);
  const Eigen::VectorXd v = chol_.triangularView<Eigen::Lower>().solve(ks);
  *variance = std::max(signal_ - v.squaredNorm(), 1e-12);
}

double GaussianProcess::LogExpectedImprovement(const Point& u) const {
  double mean = 0, variance = 0;
  Predict(u, &mean, &variance);
  const double sigma = std::sqrt(variance);
  const double z = (mean - best_) / sigma;
  if (z > -6) {
    const double phi = std::exp(-0.5 * z * z - 0.5 * kLog2Pi);
    return std::log(std::max(sigma * (z * tpe::NormalCdf(z) + phi), 1e-300));
  }
  // z Phi(z) + phi(z) = phi(z) / z^2 (1 - 3 / z^2 + 15 / z^4 - ...) as z -> -inf.
  const double z2 = z * z;
  return std::log(sigma) - 0.5 * z2 - 0.5 * kLog2Pi - std::log(z2) +
         std::log(1 - 3 / z2 + 15 / (z2 * z2));
}

std::vector<Point> RankCandidates(const GaussianProcess& model, const std::vector<int>& levels,
                                  const std::vector<Point>& incumbents,
                                  const std::function<void(Point*)>& snap, Rng* rng, int count,
                                  const std::function<bool(const Point&)>& allowed) {
  const size_t d = levels.size();
  std::vector<std::pair<double, Point>> scored;
  std::set<Point> seen;
  auto score = [&](Point u) -> double {
    snap(&u);
    if (allowed && !allowed(u)) return -std::numeric_limits<double>::infinity();
    const double s = Score(model, u);
    if (seen.insert(u).second) scored.emplace_back(s, std::move(u));
    return s;
  };
  // Moves one coordinate (axis a): a numeric one by a normal step of sd, a categorical one to
  // another value.
  auto move = [&](Point* u, size_t a, double sd) {
    if (levels[a] > 0) {
      if (levels[a] < 2) return;
      const double other = static_cast<double>(rng->Below(static_cast<uint64_t>(levels[a]) - 1));
      (*u)[a] = other >= (*u)[a] ? other + 1 : other;
    } else {
      (*u)[a] = std::clamp((*u)[a] + sd * rng->Normal(), 0.0, 1.0);
    }
  };
  for (int i = 0; i < kUniformDraws; ++i) {
    Point u(d);
    for (size_t a = 0; a < d; ++a) {
      u[a] = levels[a] > 0 ? static_cast<double>(rng->Below(static_cast<uint64_t>(levels[a])))
                           : rng->Uniform();
    }
    score(std::move(u));
  }
  for (size_t k = 0; k < incumbents.size() && k < static_cast<size_t>(kIncumbents); ++k) {
    for (int i = 0; i < kDrawsPerIncumbent; ++i) {
      Point u = incumbents[k];
      const size_t first = static_cast<size_t>(rng->Below(d));
      for (size_t a = 0; a < d; ++a) {
        if (a == first || rng->Uniform() < 1.0 / static_cast<double>(d)) move(&u, a, kIncumbentSd);
      }
      score(std::move(u));
    }
  }
  auto by_score = [](const std::pair<double, Point>& a, const std::pair<double, Point>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::sort(scored.begin(), scored.end(), by_score);
  const size_t refined = std::min<size_t>(scored.size(), kRefined);
  std::vector<std::pair<double, Point>> starts(scored.begin(),
                                               scored.begin() + static_cast<long>(refined));
  for (auto& [s, u] : starts) {
    for (double sd : kRefineSd) {
      for (int i = 0; i < kRefineTries; ++i) {
        Point v = u;
        move(&v, static_cast<size_t>(rng->Below(d)), sd);
        snap(&v);  // (score snaps its own copy; v is kept snapped)
        const double t = score(v);
        if (t > s) s = t, u = std::move(v);
      }
    }
  }
  std::sort(scored.begin(), scored.end(), by_score);
  std::vector<Point> out;
  for (auto& [s, u] : scored) {
    if (static_cast<int>(out.size()) == count) break;
    out.push_back(std::move(u));
  }
  return out;
}

std::vector<Point> CellMoves(const GaussianProcess& model, const std::vector<int>& levels,
                             const Point& best, const std::function<void(Point*)>& snap, Rng* rng) {
  std::vector<size_t> cats;
  uint64_t cells = 1;
  for (size_t a = 0; a < levels.size(); ++a) {
    if (levels[a] < 2) continue;
    cats.push_back(a);
    cells = std::min<uint64_t>(cells * static_cast<uint64_t>(levels[a]), kMaxCellMoves + 1);
  }
  // Every other cell where there are at most kMaxCellMoves, else as many drawn at random.
  std::vector<Point> points;
  std::set<Point> seen = {best};
  for (uint64_t i = 0; i < std::min<uint64_t>(cells, kMaxCellMoves); ++i) {
    Point u = best;
    uint64_t rest = i;
    for (size_t a : cats) {
      const uint64_t n = static_cast<uint64_t>(levels[a]);
      u[a] = static_cast<double>(cells > kMaxCellMoves ? rng->Below(n) : rest % n);
      rest /= n;
    }
    snap(&u);
    if (seen.insert(u).second) points.push_back(std::move(u));
  }
  std::vector<std::pair<double, Point>> scored;
  for (Point& u : points) {
    const double s = Score(model, u);
    scored.emplace_back(s, std::move(u));
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<Point> out;
  for (auto& [s, u] : scored) out.push_back(std::move(u));
  return out;
}

std::vector<int> Levels(const std::vector<tpe::Axis>& axes) {
  std::vector<int> levels(axes.size(), 0);
  for (size_t a = 0; a < axes.size(); ++a) {
    if (axes[a].categorical) levels[a] = static_cast<int>(axes[a].canonical.size());
  }
  return levels;
}

Point Code(const std::vector<tpe::Axis>& axes, const std::vector<double>& x) {
  Point u(x.size());
  for (size_t a = 0; a < axes.size(); ++a) {
    const tpe::Axis& ax = axes[a];
    u[a] = ax.categorical ? x[a] : (x[a] - ax.lo) / (ax.hi - ax.lo);
  }
  return u;
}

std::vector<double> Decode(const std::vector<tpe::Axis>& axes, const Point& u) {
  std::vector<double> x(u.size());
  for (size_t a = 0; a < axes.size(); ++a) {
    const tpe::Axis& ax = axes[a];
    if (ax.categorical) {
      const double top = static_cast<double>(ax.canonical.size()) - 1;
      x[a] = std::clamp(std::round(u[a]), 0.0, top);
      continue;
    }
    x[a] = ax.lo + std::clamp(u[a], 0.0, 1.0) * (ax.hi - ax.lo);
    if (ax.int_log) {
      const double v = std::clamp(std::round(std::exp(x[a])), std::round(std::exp(ax.lo) + 0.5),
                                  std::round(std::exp(ax.hi) - 0.5));
      x[a] = std::log(v);
    } else if (ax.integer) {
      x[a] = std::clamp(std::round(x[a]), ax.lo + 0.5, ax.hi - 0.5);
    }
  }
  return x;
}

std::vector<std::vector<double>> ProposeCandidates(const std::vector<tpe::Axis>& axes,
                                                   const std::vector<std::vector<double>>& x,
                                                   const std::vector<double>& y,
                                                   const std::vector<std::vector<double>>& lies,
                                                   Rng* rng, bool elsewhere) {
  const std::vector<int> levels = Levels(axes);
  std::vector<Point> coded, coded_lies, incumbents;
  for (const std::vector<double>& p : x) coded.push_back(Code(axes, p));
  for (const std::vector<double>& p : lies) coded_lies.push_back(Code(axes, p));
  std::vector<size_t> order(y.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return y[a] > y[b]; });
  for (size_t i : order) incumbents.push_back(coded[i]);
  const GaussianProcess model = GaussianProcess::Fit(levels, coded, y, coded_lies);
  std::vector<std::vector<double>> out;
  const bool turn = elsewhere && !incumbents.empty();
  auto leaves_best_cell = [&](const Point& u) {
    for (size_t a = 0; a < levels.size(); ++a) {
      if (levels[a] > 0 && u[a] != incumbents[0][a]) return true;
    }
    return false;
  };
  std::vector<Point> held = coded;  // tried and being trained: what a proposal keeps away from
  held.insert(held.end(), coded_lies.begin(), coded_lies.end());
  auto far = [&](const Point& u) { return !NearAny(levels, held, u); };
  auto snap = [&axes](Point* p) { *p = Code(axes, Decode(axes, *p)); };
  std::vector<Point> ranked, near_moves;  // a turn's cell moves: far ones first, near ones last
  if (turn) {
    for (Point& u : CellMoves(model, levels, incumbents[0], snap, rng)) {
      (far(u) ? ranked : near_moves).push_back(std::move(u));
    }
  }
  // The candidates far from every held point (and, on a turn, outside the best cell); where none
  // is, the rule is dropped: first the distance, then the turn.
  std::vector<Point> more = RankCandidates(
      model, levels, incumbents, snap, rng, kProposalCandidates,
      [&](const Point& u) { return far(u) && (!turn || leaves_best_cell(u)); });
  if (more.empty() && turn) {
    more = RankCandidates(model, levels, incumbents, snap, rng, kProposalCandidates,
                          leaves_best_cell);
  }
  if (more.empty()) {
    more = RankCandidates(model, levels, incumbents, snap, rng, kProposalCandidates);
  }
  ranked.insert(ranked.end(), more.begin(), more.end());
  ranked.insert(ranked.end(), near_moves.begin(), near_moves.end());
  for (const Point& u : ranked) {
    out.push_back(Decode(axes, u));
  }
  return out;
}

}  // namespace gp
}  // namespace hpsweep
