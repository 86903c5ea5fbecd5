// A Gaussian-process model of a sweep's results and the candidates it ranks: what method: bayes
// proposes from after its start-up when the space allows it (search/sampler.h, "GP"), as
// Optuna's GPSampler and SMAC's BO do. Internal to search/: sampler.cc is its one user.
//
// Points are coded one coordinate per axis: a numeric axis scaled to [0, 1] (the sampler's
// transformed domain: log for a log axis), a categorical axis as the index of its value. The
// kernel is Matérn 5/2 over the distance r^2 = sum_i d_i^2 / l_i^2, with d_i the difference of a
// numeric coordinate and 0 or 1 for a categorical one (equal or not), one length scale l_i per
// axis (ARD), a signal variance and a noise variance. Values are standardised (mean 0, sd 1);
// the hyperparameters maximise the marginal likelihood times log-normal priors (a short length
// scale or a large noise needs the data's support), found by iRprop on their logs from one
// fixed start: deterministic for the same points in the same order.
//
// Value types: a fitted model is immutable; every function is pure and safe from several threads.
#ifndef HPSWEEP_SEARCH_GP_H_
#define HPSWEEP_SEARCH_GP_H_

#include <Eigen/Dense>
#include <functional>
#include <vector>

#include "engine/tensor.h"
#include "search/parzen.h"

namespace hpsweep {
namespace gp {

using Point = std::vector<double>;

class GaussianProcess {
 public:
  // levels[i]: 0 for a numeric axis, else the number of values of a categorical one. x: n points
  // of levels.size() coordinates (n >= 1); y: their values (higher is better). Hyperparameters
  // are fitted to (x, y); then the model is conditioned on x and y plus `lies` at the lowest
  // value of y (the constant liar: points being trained count as bad without moving the fit).
  static GaussianProcess Fit(const std::vector<int>& levels, const std::vector<Point>& x,
                             const std::vector<double>& y, const std::vector<Point>& lies = {});

  // Posterior mean and variance of the latent function at u, in standardised units.
  void Predict(const Point& u, double* mean, double* variance) const;
  // log E[max(f(u) - best, 0)] with best the largest posterior mean at a point of y (the
  // plug-in form of EI for noisy values: the largest value seen is partly luck): finite however
  // far below best the mean is (an asymptotic form past 6 standard deviations).
  double LogExpectedImprovement(const Point& u) const;

  const std::vector<double>& length_scales() const { return length_; }
  double noise() const { return noise_; }
  double best() const { return best_; }

 private:
  double Kernel(const Point& a, const Point& b) const;

  std::vector<int> levels_;
  std::vector<double> length_;  // per axis
  double signal_ = 1, noise_ = 1e-2;
  double best_ = 0;
  std::vector<Point> x_;   // the points conditioned on (y's, then the lies)
  Eigen::VectorXd alpha_;  // K^-1 y
  Eigen::MatrixXd chol_;   // lower Cholesky factor of K
};

// Candidates for the next trial, best first by LogExpectedImprovement, at most `count`, no two
// equal: uniform draws, draws around the `incumbents` (the best points so far), and a local
// refinement of the best few. `snap` moves a coded point onto the space's grid (integers,
// steps, categorical indices in range) and is applied to every candidate before it is scored;
// only candidates `allowed` (when given) are kept.
std::vector<Point> RankCandidates(const GaussianProcess& model, const std::vector<int>& levels,
                                  const std::vector<Point>& incumbents,
                                  const std::function<void(Point*)>& snap, Rng* rng, int count,
                                  const std::function<bool(const Point&)>& allowed = nullptr);

// The best point moved to other cells of categorical values, its numeric values kept: every
// other cell (at most kMaxCellMoves, else that many drawn), snapped, best first by
// LogExpectedImprovement. What a turn away from the best cell tries first: a good learning rate,
// width and depth with another batch size or optimizer, rather than the numeric edges of another
// cell where the posterior's variance is largest.
constexpr uint64_t kMaxCellMoves = 512;
std::vector<Point> CellMoves(const GaussianProcess& model, const std::vector<int>& levels,
                             const Point& best, const std::function<void(Point*)>& snap, Rng* rng);

// Whether u is within kMinDistance of one of `points`: the same categorical values and a
// Euclidean distance under kMinDistance over the numeric coordinates (each in [0, 1]; 0.1 is a
// factor of 2 in a learning rate over 1e-4..1e-1, or 22 units of 32..256). A proposal keeps that
// far from every tried and running point: trained models' values at neighbouring points differ
// by about as much as their noise, so expected improvement, trusting the fitted noise, proposed
// the best points' neighbourhoods again and again (issue 22's design space: a fifth of the
// trials after the start-up within 0.02 of an earlier one in the same cell; docs/benchmarks.md).
constexpr double kMinDistance = 0.1;
bool NearAny(const std::vector<int>& levels, const std::vector<Point>& points, const Point& u);

// The sampler's side (search/sampler.h, "GP"), over its axes (search/parzen.h) and their
// transformed points: levels 0 for a numeric axis, the count of values for a categorical one.
std::vector<int> Levels(const std::vector<tpe::Axis>& axes);
// A transformed point coded for the GP: a numeric axis scaled to [0, 1], a categorical one its
// value's index.
Point Code(const std::vector<tpe::Axis>& axes, const std::vector<double>& x);
// The transformed point of a coded one, on the space's grid: a categorical index in range, an
// integer or stepped axis rounded, an int_log axis rounded in its own units.
std::vector<double> Decode(const std::vector<tpe::Axis>& axes, const Point& u);
// A proposal's candidates as transformed points, best first (at most kProposalCandidates): a GP
// fitted to the transformed points x with scores y (higher is better) and `lies` (points being
// trained, or pruned) at the lowest score, ranked by RankCandidates around the best five of x,
// only those not NearAny point of x or lies (all when there are none such). With `elsewhere`,
// the best point's CellMoves first (those NearAny point last), then only candidates whose
// categorical values are not all the best point's (all when there are none such). The sampler
// asks for that on every kElsewhereEvery-th trial number: expected improvement alone, after a
// start-up whose best cell of categorical values is a poor one, refines that cell and may never
// leave it (a batch size or optimizer it never tries again).
constexpr int kProposalCandidates = 256, kElsewhereEvery = 5;
std::vector<std::vector<double>> ProposeCandidates(const std::vector<tpe::Axis>& axes,
                                                   const std::vector<std::vector<double>>& x,
                                                   const std::vector<double>& y,
                                                   const std::vector<std::vector<double>>& lies,
                                                   Rng* rng, bool elsewhere = false);

}  // namespace gp
}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_GP_H_
