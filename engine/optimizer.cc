#include "engine/optimizer.h"

#include <cmath>
#include <string>

namespace hpsweep {

OptimizerState::OptimizerState(const TrainConfig& config, int64_t num_params)
    : kind_(config.optimizer),
      lr_(config.EffectiveLearningRate()),
      momentum_(config.momentum),
      nesterov_(config.nesterov),
      n_(num_params),
      m_(num_params, 0.0f),
      v_(kind_ == Optimizer::kSgd ? 0 : num_params, 0.0f) {}

Status OptimizerState::Restore(int64_t steps, const std::vector<float>& m,
                               const std::vector<float>& v) {
  if (steps < 0 || m.size() != m_.size() || v.size() != v_.size()) {
    return InvalidArgument("optimizer state of " + std::to_string(m.size()) + " + " +
                           std::to_string(v.size()) + " values at step " + std::to_string(steps) +
                           "; this optimizer keeps " + std::to_string(m_.size()) + " + " +
                           std::to_string(v_.size()));
  }
  t_ = steps;
  m_ = m;
  v_ = v;
  return Status::Ok();
}

void OptimizerState::Step(float* w, const float* g) {
  ++t_;
  const int64_t n = n_;
  float* m = m_.data();
  float* v = v_.data();
  switch (kind_) {
    case Optimizer::kSgd: {
      const float lr = lr_, mu = momentum_;
      if (mu == 0) {
        for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
      } else if (nesterov_) {
        for (int64_t i = 0; i < n; ++i) {
          m[i] = mu * m[i] - lr * g[i];
          w[i] += mu * m[i] - lr * g[i];
        }
      } else {
        for (int64_t i = 0; i < n; ++i) {
          m[i] = mu * m[i] - lr * g[i];
          w[i] += m[i];
        }
      }
      break;
    }
    case Optimizer::kAdam: {
      const double b1 = 0.9, b2 = 0.999;
      const float eps = 1e-7f;
      const float lr_t =
          static_cast<float>(lr_ * std::sqrt(1.0 - std::pow(b2, t_)) / (1.0 - std::pow(b1, t_)));
      const float fb1 = 0.9f, fb2 = 0.999f;
      for (int64_t i = 0; i < n; ++i) {
        m[i] = fb1 * m[i] + (1.0f - fb1) * g[i];
        v[i] = fb2 * v[i] + (1.0f - fb2) * g[i] * g[i];
        w[i] -= lr_t * m[i] / (std::sqrt(v[i]) + eps);
      }
      break;
    }
    case Optimizer::kRmsprop: {
      const float rho = 0.9f, eps = 1e-7f, lr = lr_;
      for (int64_t i = 0; i < n; ++i) {
        v[i] = rho * v[i] + (1.0f - rho) * g[i] * g[i];
        w[i] -= lr * g[i] / (std::sqrt(v[i]) + eps);
      }
      break;
    }
  }
}

}  // namespace hpsweep
