// Learning-rate schedules with Keras's formulas: the rate of each optimizer step, from the
// optimizer's step count and the epoch, and ReduceLROnPlateau's state between epochs.
//
// With lr the trial's learning rate (TrainConfig::EffectiveLearningRate), s the optimizer's
// iterations before the update (0 for the first step, as Keras passes them to a schedule), e the
// 1-based epoch and S the training steps of one epoch:
//   constant:          lr
//   step:              lr * lr_drop^floor((e - 1) / lr_every)                 (per epoch)
//   exponential:       lr * lr_decay_rate^(s / lr_decay_steps)  (ExponentialDecay, staircase off)
//   cosine:            CosineDecay(0, decay_steps=D, alpha=0, warmup_target=lr, warmup_steps=W)
//                      with W = warmup_epochs * S and D = epochs * S - W (the trial's whole run):
//                        s < W:  lr * s / W                             (linear warmup from 0)
//                        else:   lr * 0.5 * (1 + cos(pi * min(s - W, D) / D))
//                      (without warmup, W = 0: Keras's CosineDecay(lr, epochs * S))
//   reduce_on_plateau: ReduceLROnPlateau(monitor="val_loss", factor=lr_factor,
//                      patience=lr_patience, min_lr=lr_min, min_delta=1e-4, cooldown=0): the
//                      rate starts at lr; after each epoch, a val_loss below best - 1e-4 becomes
//                      the best and resets the wait, otherwise the wait grows and on reaching
//                      lr_patience the rate, if above lr_min, becomes max(rate * lr_factor, lr_min)
//                      and the wait restarts. The new rate applies from the next epoch.
// Rates are computed in double and rounded to float once (Keras: float32 throughout; they agree
// to float rounding).
//
// Thread-safety: none; one per training run.
#ifndef HPSWEEP_ENGINE_SCHEDULE_H_
#define HPSWEEP_ENGINE_SCHEDULE_H_

#include <cstdint>
#include <limits>

#include "engine/config.h"

namespace hpsweep {

// ReduceLROnPlateau's state between epochs (saved in checkpoints, engine/checkpoint.h).
struct PlateauState {
  float lr = 0.0f;                                        // the rate of the next epoch
  double best = std::numeric_limits<double>::infinity();  // lowest val_loss so far
  int wait = 0;                                           // epochs since the best
};

class LrScheduler {
 public:
  // REQUIRES: steps_per_epoch >= 1; Validate(config) is ok.
  LrScheduler(const TrainConfig& config, int64_t steps_per_epoch);

  // The learning rate of the optimizer step with `step` iterations before it, in `epoch`.
  float Rate(int epoch, int64_t step) const;
  // After each epoch, with its val_loss: ReduceLROnPlateau's on_epoch_end (other schedules: no
  // change). Not to be called for an epoch without validation data (Keras skips it too).
  void EndEpoch(double val_loss);

  const PlateauState& plateau() const { return plateau_; }
  void set_plateau(const PlateauState& state) { plateau_ = state; }

 private:
  TrainConfig config_;
  double lr_;
  int64_t steps_per_epoch_;
  PlateauState plateau_;
};

}  // namespace hpsweep

#endif  // HPSWEEP_ENGINE_SCHEDULE_H_
