#include "engine/optimizer.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace hpsweep {

namespace {

// The sum of g[i]^2 over [0, n) in double, in 8 interleaved partial sums added in a fixed order:
// the same bits for the same input, without one long chain of dependent additions.
double SumSquares(const float* g, int64_t n) {
  double part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) part[k] += static_cast<double>(g[i + k]) * g[i + k];
  }
  for (; i < n; ++i) part[0] += static_cast<double>(g[i]) * g[i];
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

}  // namespace

void ClipGradients(const TrainConfig& c, const std::vector<int64_t>& tensor_sizes, float* g) {
  if (c.clipnorm > 0) {
    int64_t at = 0;
    for (int64_t size : tensor_sizes) {
      const double norm = std::sqrt(SumSquares(g + at, size));
      if (norm > c.clipnorm) {
        const float scale = static_cast<float>(c.clipnorm / norm);
        for (int64_t i = at; i < at + size; ++i) g[i] *= scale;
      }
      at += size;
    }
  } else if (c.global_clipnorm > 0) {
    int64_t n = 0;
    for (int64_t size : tensor_sizes) n += size;
    const double norm = std::sqrt(SumSquares(g, n));
    if (!(norm <= c.global_clipnorm)) {
      const float scale = static_cast<float>(c.global_clipnorm / norm);
      for (int64_t i = 0; i < n; ++i) g[i] *= scale;
    }
  } else if (c.clipvalue > 0) {
    int64_t n = 0;
    for (int64_t size : tensor_sizes) n += size;
    const float v = c.clipvalue;
    for (int64_t i = 0; i < n; ++i) g[i] = std::clamp(g[i], -v, v);
  }
}

OptimizerState::OptimizerState(const TrainConfig& config, int64_t num_params,
                               std::vector<int64_t> tensor_sizes)
    : config_(config),
      kind_(config.optimizer),
      lr_(config.EffectiveLearningRate()),
      momentum_(config.momentum),
      nesterov_(config.nesterov),
      n_(num_params),
      m_(num_params, 0.0f),
      v_(kind_ == Optimizer::kSgd ? 0 : num_params, 0.0f),
      tensors_(std::move(tensor_sizes)) {
  if (tensors_.empty()) tensors_.push_back(num_params);
  if (config.clipnorm > 0 || config.clipvalue > 0 || config.global_clipnorm > 0) {
    clipped_.resize(num_params);
  }
}

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
  if (!clipped_.empty()) {
    std::copy(g, g + n_, clipped_.begin());
    ClipGradients(config_, tensors_, clipped_.data());
    g = clipped_.data();
  }
  if (config_.weight_decay > 0) {
    const float decay = lr_ * config_.weight_decay;
    for (int64_t i = 0; i < n_; ++i) w[i] -= w[i] * decay;
  }
  Update(w, g);
}

void OptimizerState::Update(float* w, const float* g) {
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
