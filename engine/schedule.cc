#include "engine/schedule.h"

#include <algorithm>
#include <cmath>

namespace hpsweep {

namespace {
constexpr double kPi = 3.14159265358979323846;
constexpr double kPlateauMinDelta = 1e-4;  // Keras's ReduceLROnPlateau min_delta
}  // namespace

LrScheduler::LrScheduler(const TrainConfig& config, int64_t steps_per_epoch)
    : config_(config),
      lr_(config.EffectiveLearningRate()),
      steps_per_epoch_(std::max<int64_t>(1, steps_per_epoch)) {
  plateau_.lr = config.EffectiveLearningRate();
}

float LrScheduler::Rate(int epoch, int64_t step) const {
  const TrainConfig& t = config_;
  switch (t.lr_schedule) {
    case LrSchedule::kConstant: return static_cast<float>(lr_);
    case LrSchedule::kStep: {
      const int drops = (std::max(epoch, 1) - 1) / t.lr_every;
      return static_cast<float>(lr_ * std::pow(static_cast<double>(t.lr_drop), drops));
    }
    case LrSchedule::kExponential: {
      const double p = static_cast<double>(step) / t.lr_decay_steps;
      return static_cast<float>(lr_ * std::pow(static_cast<double>(t.lr_decay_rate), p));
    }
    case LrSchedule::kCosine: {
      const double warmup = static_cast<double>(t.warmup_epochs) * steps_per_epoch_;
      const double decay = std::max(1.0, static_cast<double>(t.epochs) * steps_per_epoch_ - warmup);
      const double s = std::min(static_cast<double>(step), decay + warmup);
      if (s < warmup) return static_cast<float>(lr_ * s / warmup);
      return static_cast<float>(lr_ * 0.5 * (1.0 + std::cos(kPi * (s - warmup) / decay)));
    }
    case LrSchedule::kReduceOnPlateau: return plateau_.lr;
  }
  return static_cast<float>(lr_);
}

void LrScheduler::EndEpoch(double val_loss) {
  if (config_.lr_schedule != LrSchedule::kReduceOnPlateau) return;
  PlateauState& p = plateau_;
  if (val_loss < p.best - kPlateauMinDelta) {
    p.best = val_loss;
    p.wait = 0;
    return;
  }
  ++p.wait;
  if (p.wait >= config_.lr_patience && p.lr > config_.lr_min) {
    const double reduced = static_cast<double>(p.lr) * config_.lr_factor;
    p.lr = static_cast<float>(std::max(reduced, static_cast<double>(config_.lr_min)));
    p.wait = 0;
  }
}

}  // namespace hpsweep
