// The Parzen estimator of the TPE sampler (search/sampler.h): an axis of its space in the
// transformed domain it models, and a multivariate mixture fitted to observations. Internal to
// search/: sampler.cc is its one user.
//
// A value type: immutable once built, safe to read from several threads.
#ifndef HPSWEEP_SEARCH_PARZEN_H_
#define HPSWEEP_SEARCH_PARZEN_H_

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace hpsweep {
namespace tpe {

// Optuna's defaults.
constexpr double kPriorWeight = 1.0;
constexpr double kSigma0 = 0.2;
constexpr int kFullWeights = 25;  // the latest trials of a group keep weight 1

struct Axis {
  bool categorical = false;
  bool log = false;
  bool integer = false;
  // A grid axis (uniform or int_uniform with q): an integer axis over the index k of the point
  // min + k * q (lo -0.5, hi count - 0.5); 0: values are the axis itself.
  double step = 0;
  bool int_log = false;                // int_log_uniform: a log axis rounded to integers
  double lo = 0, hi = 0;               // the transformed domain (numeric)
  std::vector<std::string> canonical;  // GetKey form of each value (categorical)
};

inline double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

inline double LogSumExp(const std::vector<double>& v) {
  double m = -std::numeric_limits<double>::infinity();
  for (double x : v) m = std::max(m, x);
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : v) s += std::exp(x - m);
  return m + std::log(s);
}

// Optuna's default_weights: 1 for the latest kFullWeights, a ramp from 1/n for older ones.
inline std::vector<double> DefaultWeights(size_t n) {
  std::vector<double> w(n, 1.0);
  if (n <= static_cast<size_t>(kFullWeights)) return w;
  const size_t ramp = n - kFullWeights;
  for (size_t i = 0; i < ramp; ++i) {
    const double start = 1.0 / static_cast<double>(n);
    w[i] = ramp == 1 ? start : start + (1.0 - start) * static_cast<double>(i) / (ramp - 1);
  }
  return w;
}

// A multivariate Parzen estimator: components (one per observation, then the prior) with
// weights; per component and axis a truncated Gaussian (numeric) or a distribution over values.
class Parzen {
 public:
  Parzen(const std::vector<Axis>& axes, const std::vector<std::vector<double>>& obs) : axes_(axes) {
    const size_t n = obs.size();
    const size_t k = n + 1;
    weights_ = DefaultWeights(n);
    weights_.push_back(kPriorWeight);
    double total = 0;
    for (double w : weights_) total += w;
    log_weights_.resize(k);
    for (size_t i = 0; i < k; ++i) {
      weights_[i] /= total;
      log_weights_[i] = std::log(weights_[i]);
    }
    const double d = static_cast<double>(axes.size());
    mu_.assign(axes.size(), std::vector<double>(k, 0));
    sigma_.assign(axes.size(), std::vector<double>(k, 1));
    cat_.assign(axes.size(), {});
    for (size_t a = 0; a < axes.size(); ++a) {
      const Axis& ax = axes[a];
      if (ax.categorical) {
        const size_t c = ax.canonical.size();
        cat_[a].assign(k, std::vector<double>(c, 0));
        for (size_t i = 0; i < k; ++i) {
          std::vector<double>& row = cat_[a][i];
          std::fill(row.begin(), row.end(), kPriorWeight / static_cast<double>(k));
          if (i < n) row[static_cast<size_t>(obs[i][a])] += 1;
          double s = 0;
          for (double x : row) s += x;
          for (double& x : row) x = std::log(x / s);
        }
        continue;
      }
      const double width = ax.hi - ax.lo;
      const double sigma = std::clamp(
          kSigma0 * std::pow(static_cast<double>(std::max<size_t>(n, 1)), -1.0 / (d + 4)) * width,
          width / std::min(100.0, 1.0 + static_cast<double>(n)), width);
      for (size_t i = 0; i < n; ++i) {
        mu_[a][i] = obs[i][a];
        sigma_[a][i] = sigma;
      }
      mu_[a][n] = 0.5 * (ax.lo + ax.hi);
      sigma_[a][n] = width;
    }
    // Each numeric component's log normaliser: its mass inside [lo, hi] (the truncation) and,
    // for a float axis, the Gaussian's own; LogPdf adds it to every evaluation.
    log_norm_.assign(axes.size(), std::vector<double>(k, 0));
    for (size_t a = 0; a < axes.size(); ++a) {
      const Axis& ax = axes[a];
      if (ax.categorical) continue;
      for (size_t i = 0; i < k; ++i) {
        const double mu = mu_[a][i], sg = sigma_[a][i];
        const double z = NormalCdf((ax.hi - mu) / sg) - NormalCdf((ax.lo - mu) / sg);
        log_norm_[a][i] = -std::log(std::max(z, 1e-300)) -
                          (ax.integer ? 0.0 : std::log(sg * std::sqrt(2 * M_PI)));
      }
    }
  }

  std::vector<double> Sample(Rng* rng) const {
    double u = rng->Uniform();
    size_t k = 0;
    while (k + 1 < weights_.size() && u >= weights_[k]) u -= weights_[k++];
    std::vector<double> x(axes_.size());
    for (size_t a = 0; a < axes_.size(); ++a) {
      const Axis& ax = axes_[a];
      if (ax.categorical) {
        double v = rng->Uniform();
        size_t c = 0;
        const std::vector<double>& row = cat_[a][k];
        while (c + 1 < row.size() && v >= std::exp(row[c])) v -= std::exp(row[c++]);
        x[a] = static_cast<double>(c);
        continue;
      }
      // Rejection from the Gaussian: sigma <= width and mu inside, so most draws land inside.
      double v = mu_[a][k];
      for (int t = 0; t < 100; ++t) {
        const double draw = mu_[a][k] + sigma_[a][k] * rng->Normal();
        if (draw >= ax.lo && draw <= ax.hi) {
          v = draw;
          break;
        }
      }
      if (ax.integer) v = std::clamp(std::round(v), ax.lo + 0.5, ax.hi - 0.5);
      x[a] = v;
    }
    return x;
  }

  double LogPdf(const std::vector<double>& x) const {
    std::vector<double> terms(weights_.size());
    for (size_t k = 0; k < weights_.size(); ++k) {
      double s = log_weights_[k];
      for (size_t a = 0; a < axes_.size(); ++a) {
        const Axis& ax = axes_[a];
        if (ax.categorical) {
          s += cat_[a][k][static_cast<size_t>(x[a])];
          continue;
        }
        const double mu = mu_[a][k], sg = sigma_[a][k];
        if (ax.integer) {
          const double p = NormalCdf((x[a] + 0.5 - mu) / sg) - NormalCdf((x[a] - 0.5 - mu) / sg);
          s += std::log(std::max(p, 1e-300)) + log_norm_[a][k];
        } else {
          const double t = (x[a] - mu) / sg;
          s += -0.5 * t * t + log_norm_[a][k];
        }
      }
      terms[k] = s;
    }
    return LogSumExp(terms);
  }

 private:
  const std::vector<Axis>& axes_;
  std::vector<double> weights_, log_weights_;
  std::vector<std::vector<double>> mu_, sigma_;        // [axis][component]
  std::vector<std::vector<double>> log_norm_;          // [axis][component], numeric axes
  std::vector<std::vector<std::vector<double>>> cat_;  // [axis][component][value]: log p
};

}  // namespace tpe
}  // namespace hpsweep

#endif  // HPSWEEP_SEARCH_PARZEN_H_
